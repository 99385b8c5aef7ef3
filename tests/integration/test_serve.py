"""``asm serve`` over real HTTP on 127.0.0.1: start a scan, follow it, query its detections."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_watch_functions.api.local_services import LocalScanServices
from asm_watch_functions.api.serve import make_server
from tests.conftest import edit_item


@pytest.fixture
def api(tmp_path: Path, scene_factory: Callable[..., WrittenScene]) -> Iterator[str]:
    # the synthetic scenes' folder is the one source the test's items may be read from
    scenes = str(scene_factory(seed=71, size=384, sites=2, baseline="05.10").item_path.parents[2])
    services = LocalScanServices(tmp_path / "results", asset_sources=[scenes])
    server = make_server(tmp_path / "results", 0, services)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _request(url: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_scan_started_over_http_runs_and_its_detections_can_be_queried(
    api: str, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scenes = [scene_factory(seed=s, size=384, sites=2, baseline="05.10") for s in (71, 72)]
    items = [
        json.loads(edit_item(s.item_path, tmp_path / str(i), lambda d: None).read_text())
        for i, s in enumerate(scenes)
    ]
    status, started = _request(
        f"{api}/scans",
        {"scan_id": "http-scan", "items": items, "start": "2020-01-01", "end": "2030-01-01"},
    )
    assert (status, started.get("scan_id")) == (202, "http-scan"), started
    for _ in range(300):
        status, scan = _request(f"{api}/scans/http-scan")
        if scan["status"] != "RUNNING":
            break
        time.sleep(0.2)
    assert (status, scan["status"]) == (200, "SUCCEEDED"), scan
    summary = scan["summary"]
    assert summary["statuses"]["ok"] == 2
    status, found = _request(f"{api}/detections?bbox=-180,-90,180,90&limit=5000")
    assert status == 200
    assert len(found["features"]) == summary["detections"] > 0
    assert sum(summary["detections_by_class"].values()) == summary["detections"]
    status, again = _request(
        f"{api}/scans",
        {"scan_id": "http-scan", "items": items, "start": "2020-01-01", "end": "2030-01-01"},
    )
    assert status == 400 and "is taken" in again["error"]
    status, missing = _request(f"{api}/scans/none")
    assert status == 404 and missing == {"error": "no scan with id 'none'"}


def test_items_whose_bands_are_elsewhere_are_refused(api: str) -> None:
    """An asset href is a read the server makes: a local file outside the allowed sources or
    a host inside the network is refused before any scan."""
    listener = "http://127.0.0.1:9/B04.tif"
    for href in ("/etc/passwd", listener, "file:///etc/passwd"):
        item = {
            "type": "Feature",
            "id": "S2A_30NVL_20240102_0_L2A",
            "properties": {"datetime": "2024-01-02T10:00:00Z"},
            "assets": {"red": {"href": href, "type": "image/tiff; application=geotiff"}},
            "links": [],
        }
        status, answer = _request(
            f"{api}/scans", {"items": [item], "start": "2020-01-01", "end": "2030-01-01"}
        )
        assert status == 400, answer
        assert "is not from an allowed source" in answer["error"]


def _raw(api: str, body: bytes, length: str | None = None) -> tuple[int, dict[str, Any]]:
    """A POST /scans with a body and a Content-Length of our choosing, over a bare socket."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(api)
    head = (
        f"POST /scans HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_bodies_too_large_too_deep_or_not_text_are_4xx_one_liners(api: str) -> None:
    status, answer = _raw(api, b"{}", length=str(50_000_000))  # refused before any read
    assert status == 413 and "at most 1000000" in answer["error"]
    status, answer = _raw(api, b"{}", length="-5")
    assert status == 400 and "is not a byte count" in answer["error"]
    status, answer = _raw(api, b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and "nested too deeply" in answer["error"]
    status, answer = _raw(api, b'{"scan_id": "\xff"}')
    assert status == 400 and "not UTF-8" in answer["error"]
