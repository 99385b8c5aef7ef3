"""Where an item's results go: its UTM zone partition, its date partition and safe file names,
the same relative paths on disk and as S3 keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from asm_core.results.result_paths import (
    ZONE_OVERHANG_DEG,
    file_name,
    item_utm_zone,
    partition_dir,
    result_keys,
    utm_zones_between,
)
from asm_core.sources.stac import SceneItem


def _item(
    mgrs: str | None,
    geometry: dict[str, Any] | None = None,
    item_id: str = "S2B_5NQF_20240105_0_L2A",
) -> SceneItem:
    return SceneItem(
        item_id=item_id,
        acquired=datetime(2024, 1, 5, 10, 30, tzinfo=UTC),
        mgrs_tile=mgrs,
        baseline=(5, 10),
        boa_offset_flag=None,
        epsg=32605,
        bands={},
        geometry=geometry,
        source="test",
    )


def _box_at(lon: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon - 0.1, 1], [lon + 0.1, 1], [lon + 0.1, 2], [lon - 0.1, 2], [lon - 0.1, 1]]
        ],
    }


@pytest.mark.parametrize(
    ("mgrs", "geometry", "zone"),
    [
        ("05NQF", None, 5),  # the tile's own zone, not zero-padded as a number
        ("36NXF", _box_at(-170.0), 36),  # the tile's zone wins over its footprint
        ("5NQF", _box_at(-153.5), 5),  # a tile id without its leading zero: from the footprint
        (None, _box_at(-153.5), 5),
        (None, _box_at(179.9), 60),
        (None, _box_at(-179.9), 1),
        (None, _box_at(-174.0), 2),  # a zone's western edge belongs to it
        ("X1ABC", None, 31),  # nothing to go by: the zone of longitude 0
    ],
)
def test_an_item_s_zone_partition(mgrs: str | None, geometry: dict | None, zone: int) -> None:
    assert item_utm_zone(_item(mgrs, geometry)) == zone


def test_zones_a_bbox_can_touch_include_the_overhang_and_stop_at_the_ends() -> None:
    assert ZONE_OVERHANG_DEG == 3.5  # Svalbard's zones reach 3° past their bands
    assert utm_zones_between(0.0, 1.0) == (30, 31)  # -3.5 is zone 30, 4.5 zone 31
    # zone 31 runs from 0° (its own) to 6° (zone 32's): each edge 3.5° away
    assert utm_zones_between(3.5, 2.5) == (31, 32)
    assert utm_zones_between(3.4, 2.4) == (30, 31)  # (a bbox is never inside out; edges apart)
    assert utm_zones_between(-180.0, 180.0) == (1, 60)
    assert utm_zones_between(-180.0, -179.0) == (1, 1)
    assert utm_zones_between(178.0, 179.0) == (60, 60)


def test_result_keys_are_hive_partitions_with_safe_names() -> None:
    keys = result_keys(_item("05NQF", item_id="S2B 5NQF/2024:01"))
    assert keys == {
        "detections": "detections/dt=2024-01-05/utm_zone=5/S2B_5NQF_2024_01.parquet",
        "tile_runs": "tile_runs/dt=2024-01-05/utm_zone=5/S2B_5NQF_2024_01.parquet",
        "masks": "masks/dt=2024-01-05/utm_zone=5/S2B_5NQF_2024_01.tif",
        "stac_item": "stac/items/S2B_5NQF_2024_01.json",
    }
    assert file_name("a.b_c-D9") == "a.b_c-D9.parquet"
    assert file_name("ü") == "_.parquet"
    when = datetime(2023, 12, 31, 23, 59, tzinfo=UTC)
    assert partition_dir(Path("/r"), "tile_runs", when, 60) == Path(
        "/r/tile_runs/dt=2023-12-31/utm_zone=60"
    )
