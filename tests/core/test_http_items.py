"""An item and its COGs served over HTTP on 127.0.0.1, read by GDAL with range requests."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from asm_core.cli import main
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte-range support, as object stores serve COGs."""

    ranges: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        header = self.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "")
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        start = int(match.group(1))
        end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
        RangeHandler.ranges.append(header or "")
        self.send_response(206)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])


@pytest.fixture()
def served(small_scene: WrittenScene) -> Iterator[str]:
    root = small_scene.item_path.parent.parent
    handler = functools.partial(RangeHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    rel = small_scene.item_path.relative_to(root).as_posix()
    yield f"http://{host}:{port}/{rel}"
    server.shutdown()


def test_item_url_with_relative_hrefs_is_read_over_http(
    served: str, small_scene: WrittenScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    RangeHandler.ranges.clear()
    assert main(["detect", served, "--out", str(tmp_path / "http")]) == 0
    capsys.readouterr()
    assert RangeHandler.ranges, "GDAL should fetch by range requests"
    local = run_item(load_item(str(small_scene.item_path)), load_rules(), tmp_path / "local")
    over_http = read_table(tmp_path / "http", "detections")
    over_disk = read_table(tmp_path / "local", "detections")
    assert local.status == "ok"
    assert (
        over_http.column("detection_id").to_pylist() == over_disk.column("detection_id").to_pylist()
    )
    assert over_http.column("geometry").to_pylist() == over_disk.column("geometry").to_pylist()
