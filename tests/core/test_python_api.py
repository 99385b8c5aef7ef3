"""The Python API as a notebook user calls it: ``asm_core.detect`` on a pystac.Item and
``asm_core.read_results`` on a results folder, GeoDataFrames out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pystac
import pytest

import asm_core
from asm_core.cli import main
from asm_core.errors import AsmError
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.results.store import read_table


def test_detect_on_a_pystac_item_matches_the_command_line(
    small_scene: WrittenScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = pystac.Item.from_file(str(small_scene.item_path))
    found = asm_core.detect(item)
    assert main(["detect", str(small_scene.item_path), "--out", str(tmp_path / "cli")]) == 0
    capsys.readouterr()
    by_cli = read_table(tmp_path / "cli", "detections")
    assert len(found) == by_cli.num_rows > 0
    assert sorted(found["detection_id"]) == sorted(by_cli.column("detection_id").to_pylist())
    assert found.crs.to_epsg() == 4326 and found.geometry.is_valid.all()
    assert found.attrs["tile_run"].status == "ok"
    assert {"class", "confidence", "area_m2", "cues"} <= set(found.columns)


def test_detect_keeps_results_when_asked_and_reads_them_back(
    small_scene: WrittenScene, tmp_path: Path
) -> None:
    out = tmp_path / "kept"
    found = asm_core.detect(str(small_scene.item_path), out=out)
    again = asm_core.read_results(out, "detections")
    assert sorted(again["detection_id"]) == sorted(found["detection_id"])
    # an area: only what the window holds, every detection inside it
    west, south, east, north = found.total_bounds
    half = (west, south, (west + east) / 2, north)
    part = asm_core.detect(small_scene.item_path, bbox=half)
    assert 0 < len(part) < len(found)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (42, "item of type int is not a pystac.Item"),
        ({"type": "Feature"}, "not a STAC item"),
        ("missing.json", "does not exist"),
    ],
)
def test_bad_items_are_one_line_errors(item: object, message: str) -> None:
    with pytest.raises(AsmError, match=message) as caught:
        asm_core.detect(item)
    assert "\n" not in str(caught.value)


def test_importing_the_package_loads_no_detector() -> None:
    code = (
        "import sys, asm_core; asm_core.read_results; "
        "print(sorted(m for m in ('numba', 'cv2', 'scipy', 'rasterio') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
