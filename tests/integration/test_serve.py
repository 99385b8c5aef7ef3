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

from asm_core.synthetic.scene import WrittenScene
from functions.api.local_services import LocalScanServices
from functions.api.serve import make_server
from tests.conftest import edit_item


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    server = make_server(tmp_path / "results", 0, LocalScanServices(tmp_path / "results"))
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
    assert (status, started["scan_id"]) == (202, "http-scan")
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
    assert len(found["features"]) == sum(summary["detections"].values()) > 0
    status, again = _request(
        f"{api}/scans",
        {"scan_id": "http-scan", "items": items, "start": "2020-01-01", "end": "2030-01-01"},
    )
    assert status == 400 and "is taken" in again["error"]
    status, missing = _request(f"{api}/scans/none")
    assert status == 404 and missing == {"error": "no scan with id 'none'"}
