"""Real stand-ins on 127.0.0.1: moto's S3 server behind a recording proxy, and rustac's STAC API."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.venv_tools import venv_tool

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_HTTPS": "NO",
    "AWS_VIRTUAL_HOSTING": "FALSE",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ForwardingHandler(http.server.BaseHTTPRequestHandler):
    """Forwards requests to an upstream on 127.0.0.1, recording them; can fail the first N."""

    upstream: ClassVar[tuple[str, int]] = ("127.0.0.1", 0)
    log: ClassVar[list[tuple[str, str, str | None]]] = []
    fail_first: ClassVar[int] = 0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        cls = type(self)
        cls.log.append((self.command, self.path, self.headers.get("Range")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if cls.fail_first > 0:
            cls.fail_first -= 1
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        conn = http.client.HTTPConnection(*cls.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request(self.command, self.path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()


@dataclass
class Proxy:
    url: str
    handler: type[ForwardingHandler]
    server: http.server.ThreadingHTTPServer = field(repr=False)

    @property
    def log(self) -> list[tuple[str, str, str | None]]:
        return self.handler.log


def start_proxy(upstream_port: int) -> Proxy:
    handler = type(
        "Recording",
        (ForwardingHandler,),
        {"upstream": ("127.0.0.1", upstream_port), "log": [], "fail_first": 0},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Proxy(f"127.0.0.1:{server.server_address[1]}", handler, server)


@pytest.fixture(scope="session")
def s3() -> Iterator[tuple[Any, Proxy]]:
    """moto's S3 server, a recording proxy in front of it (GDAL's endpoint), and a boto3 client."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    _, port = server.get_host_and_port()
    proxy = start_proxy(port)
    saved = {k: os.environ.get(k) for k in [*S3_ENV, "AWS_S3_ENDPOINT"]}
    os.environ.update(S3_ENV | {"AWS_S3_ENDPOINT": proxy.url})
    _restart_scan_workers()  # so they read this endpoint, not the real S3
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(
        Bucket="sentinel-cogs", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    # like the real sentinel-cogs bucket: anyone may read, unsigned
    client.put_bucket_policy(
        Bucket="sentinel-cogs",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": ["arn:aws:s3:::sentinel-cogs", "arn:aws:s3:::sentinel-cogs/*"],
                    }
                ],
            }
        ),
    )
    yield client, proxy
    proxy.server.shutdown()
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _restart_scan_workers()


def _restart_scan_workers() -> None:
    """Stop the scan's fork server: its workers keep the environment the server started with
    (an earlier test's scan in this session started it before the endpoint was set, and its
    workers then asked the real S3 for the bands); the next scan starts a fresh one."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


@dataclass
class StacApi:
    url: str
    process: subprocess.Popen[bytes]
    proxy: Proxy


def start_stac_api(tmp: Path, collection: dict[str, Any], items: list[dict[str, Any]]) -> StacApi:
    """``rustac serve`` (memory backend) with a flaky-capable proxy in front."""
    exe = venv_tool("rustac")
    (tmp / "collection.json").write_text(json.dumps(collection))
    (tmp / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    port = free_port()
    proxy = start_proxy(port)  # links the API writes point at the proxy, so paging goes via it
    process = subprocess.Popen(
        [
            exe,
            "serve",
            "--addr",
            f"http://{proxy.url}",
            "--bind",
            f"127.0.0.1:{port}",
            str(tmp / "collection.json"),
            str(tmp / "items.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("rustac serve did not start") from None
            time.sleep(0.2)
    return StacApi(f"http://{proxy.url}", process, proxy)


def stop_stac_api(api: StacApi) -> None:
    api.proxy.server.shutdown()
    api.process.terminate()
    api.process.wait(timeout=10)
