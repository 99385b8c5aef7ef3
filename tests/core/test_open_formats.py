"""Results that open everywhere: every file the demo writes, judged by tools we did not write
(the GeoParquet validator's OGC abstract tests, geopandas, GDAL, pystac's validator)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import geopandas as gpd
import geoparquet_validator
import pyarrow.parquet as pq
import pytest
import shapely

from asm_core.schema import covering_bbox
from tests.conftest import DemoRun


def _geometry_files(root: Path) -> list[Path]:
    return [
        p
        for p in sorted(root.rglob("*.parquet"))
        if "geometry" in pq.read_schema(p).names or b"geo" in (pq.read_schema(p).metadata or {})
    ]


def test_every_geometry_file_of_the_demo_is_conformant_geoparquet(demo_run: DemoRun) -> None:
    files = _geometry_files(demo_run.out)
    tables = {p.parent.name if "=" not in p.parent.name else "detections" for p in files}
    assert {"detections", "sites"} <= tables, tables
    findings = {}
    for path in files:
        report = geoparquet_validator.check(str(path))
        failed = [o for o in report["outcomes"] if o["status"] == "fail"]
        if failed:
            findings[str(path.relative_to(demo_run.out))] = [
                (o["id"], o["message"]) for o in failed
            ]
    assert findings == {}


def test_sites_open_in_geopandas_with_their_crs(demo_run: DemoRun) -> None:
    (path,) = (demo_run.out / "monitoring" / "results" / "sites").glob("*.parquet")
    sites = gpd.read_parquet(path)
    assert sites.crs is not None and sites.crs.to_epsg() == 4326
    assert len(sites) > 0 and sites.geometry.is_valid.all()
    # each row's covering bbox (which geopandas hides) holds its footprint
    boxes = pq.read_table(path, columns=["bbox"]).column("bbox").to_pylist()
    for box, geometry in zip(boxes, sites.geometry, strict=True):
        xmin, ymin, xmax, ymax = geometry.bounds
        assert box["xmin"] <= xmin and box["ymin"] <= ymin
        assert box["xmax"] >= xmax and box["ymax"] >= ymax


def test_results_are_readable_by_others(demo_run: DemoRun) -> None:
    """Not 0600 (what a temporary file is made with): what the umask gives a new file."""
    mask = os.umask(0o022)
    os.umask(mask)
    expected = 0o666 & ~mask
    modes = {
        oct(stat.S_IMODE(p.stat().st_mode))
        for p in (demo_run.out / "monitoring").rglob("*")
        if p.is_file() and p.suffix in {".parquet", ".geojson", ".html", ".json", ".png"}
    }
    assert modes == {oct(expected)}


@pytest.mark.parametrize(
    "bounds",
    [
        (-2.83342914, 7.19862774, -2.81449661, 7.20739902),
        (0.0, -0.0, 1e-9, 180.0),
        (-179.99999995, -89.99999999, 179.99999991, 89.99999999),
        # a value whose nearest 1e-7 step lies inside it (rounding to nearest fails here)
        (12.34567894999, 1.00000005, 12.34567896, 1.00000015),
    ],
)
def test_a_row_bbox_is_rounded_outward(bounds: tuple[float, float, float, float]) -> None:
    box = covering_bbox(bounds)
    assert box["xmin"] <= bounds[0] and box["ymin"] <= bounds[1]
    assert box["xmax"] >= bounds[2] and box["ymax"] >= bounds[3]
    # and not by more than the rounding step
    assert all(abs(box[k] - v) <= 1.0000001e-7 for k, v in zip(box, bounds, strict=True))
    assert shapely.box(*box.values()).covers(shapely.box(*bounds))
