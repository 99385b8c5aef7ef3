"""``asm serve``: the API's very handler on 127.0.0.1, for a user without AWS (a command this
package adds to ``asm`` through the ``asm_watch.commands`` entry point: the core never imports
the handlers).

Each HTTP request becomes an API Gateway (REST, proxy) event and goes through
:func:`asm_watch_functions.api.app.handler`; scans run on this machine and results land in a folder.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import click

from asm_core.sources.stac import PUBLIC_COG_SOURCES
from asm_watch_functions.api.app import handler, use_services
from asm_watch_functions.api.local_services import LocalScanServices


@dataclass
class LocalContext:
    """What the Lambda runtime would pass as ``context``."""

    function_name: str = "asm-watch-api-local"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:asm-watch-api"
    aws_request_id: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def proxy_event(
    method: str, target: str, headers: dict[str, str], body: str | None
) -> dict[str, Any]:
    """An API Gateway REST proxy event for one HTTP request."""
    url = urlsplit(target)
    pairs = parse_qsl(url.query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {
        "resource": url.path,
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(pairs) or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": uuid.uuid4().hex,
            "stage": "local",
            "httpMethod": method,
            "path": url.path,
            "resourcePath": url.path,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


#: The largest request body read (API Gateway takes 10 MB; every request here is small).
MAX_BODY_BYTES = 1_000_000


class _Requests(BaseHTTPRequestHandler):
    #: seconds a connection may stall (a Content-Length larger than the body sent) before the
    #: handler thread gives up on it
    timeout = 30

    def _dispatch(self) -> None:
        raw = self.headers.get("Content-Length") or "0"
        if not raw.isdigit():
            self._reply(400, {"error": f"Content-Length {raw[:20]!r} is not a byte count"})
            return
        length = int(raw)
        if length > MAX_BODY_BYTES:  # refused before reading any of it
            self._reply(413, {"error": f"body of {length} bytes; at most {MAX_BODY_BYTES}"})
            return
        try:
            body = self.rfile.read(length).decode("utf-8") if length else None
        except UnicodeDecodeError:
            self._reply(400, {"error": "the body is not UTF-8 text"})
            return
        event = proxy_event(self.command, self.path, dict(self.headers.items()), body)
        result = handler(event, LocalContext(aws_request_id=event["requestContext"]["requestId"]))
        headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers.setdefault(key, str(values[-1]) if values else "")
        self._reply(int(result["statusCode"]), result.get("body") or "", headers)

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        self.send_response(status)
        for key, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:
        print(json.dumps({"request": format % args}))


def make_server(results: Path, port: int, services: LocalScanServices) -> ThreadingHTTPServer:
    """The API on 127.0.0.1:port (0 picks a free port), serving ``services``."""
    use_services(services, require_api_key=False)
    return ThreadingHTTPServer(("127.0.0.1", port), _Requests)


@click.command("serve")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--results",
    default=Path("asm-results"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder the API's scans write to and its detections are read from.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--asset-source",
    "asset_sources",
    multiple=True,
    help="A URL or folder prefix the bands of items posted to /scans may be read from; repeat "
    "for more (default: Earth Search's public COGs only).",
)
def serve_command(port: int, results: Path, workers: int, asset_sources: tuple[str, ...]) -> None:
    """Run the REST API (the Lambda's own handler) on 127.0.0.1, scans on this machine."""
    sources = asset_sources or PUBLIC_COG_SOURCES
    server = make_server(results, port, LocalScanServices(results, workers, asset_sources=sources))
    bound = server.server_address[1]
    click.echo(f"ASM Watch API on http://127.0.0.1:{bound} (results in {results}); Ctrl-C stops")
    try:
        server.serve_forever()
    finally:
        server.server_close()
