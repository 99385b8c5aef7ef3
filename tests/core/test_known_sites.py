"""Footprints of tracked sites, by tile, from a results folder's sites table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from asm_core.detection.objects.known_sites import known_site_footprints
from asm_core.results.schema import SITES


def _site(site_id: str, tile: str, geometry: shapely.Geometry) -> dict:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return {
        "site_id": site_id,
        "mgrs_tile": tile,
        "first_seen": when,
        "last_seen": when,
        "state": "persistent",
        "detections": 1,
        "max_area_m2": 1.0,
        "latest_area_m2": 1.0,
        "lon": geometry.centroid.x,
        "lat": geometry.centroid.y,
        "geometry": shapely.to_wkb(geometry),
    }


def test_footprints_of_the_tiles_sites_only(tmp_path: Path) -> None:
    here, there = shapely.box(-2.0, 6.0, -1.99, 6.01), shapely.box(10.0, 0.0, 10.01, 0.01)
    rows = [_site("a", "30NVL", here), _site("b", "32NMA", there)]
    (tmp_path / "sites").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=SITES), tmp_path / "sites" / "sites.parquet")
    (footprint,) = known_site_footprints(tmp_path, "30NVL")
    assert footprint.equals(here)
    assert known_site_footprints(tmp_path, "31NAA") == []
    assert known_site_footprints(tmp_path, None) == []


def test_no_sites_table_no_known_sites(tmp_path: Path) -> None:
    assert known_site_footprints(tmp_path, "30NVL") == []
    assert known_site_footprints(tmp_path / "absent", "30NVL") == []
