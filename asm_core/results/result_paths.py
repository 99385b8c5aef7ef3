"""Where results go: the Hive-partitioned path of an item's files, the same on disk and as S3
keys. Apart from :mod:`asm_core.results.store` (which reads and writes the tables with pyarrow) so
that planning a scan imports no table library."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import shapely

from asm_core.sources.stac import SceneItem

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def item_utm_zone(item: SceneItem) -> int:
    """The UTM zone partition of an item's results: its MGRS tile's zone, or the zone of its
    footprint's centre."""
    if item.mgrs_tile and item.mgrs_tile[:2].isdigit():
        return int(item.mgrs_tile[:2])
    lon = shapely.geometry.shape(item.geometry).centroid.x if item.geometry else 0.0
    return _zone_at(lon)


#: How far (degrees of longitude) a tile's detections may lie outside its UTM zone's nominal
#: 6° band: MGRS tiles overlap the next zone by tens of km, and the Norway and Svalbard zones
#: (32V, 31X-37X) stretch up to 3° past their nominal bands.
ZONE_OVERHANG_DEG = 3.5


def _zone_at(lon: float) -> int:
    return min(60, max(1, int((lon + 180.0) // 6.0) + 1))


def utm_zones_between(west: float, east: float) -> tuple[int, int]:
    """The first and last UTM zone partitions that can hold detections between two
    longitudes (``west`` ≤ ``east``; no antimeridian crossing)."""
    return _zone_at(west - ZONE_OVERHANG_DEG), _zone_at(east + ZONE_OVERHANG_DEG)


#: an item's files: the folder (a table, or the class masks) and the file's suffix
ITEM_FILES = {"detections": ".parquet", "tile_runs": ".parquet", "masks": ".tif"}


def result_keys(item: SceneItem) -> dict[str, str]:
    """Where an item's detections, tile_runs, class mask and STAC item go, relative to a results
    root (POSIX paths, the same on disk and as S3 keys): deterministic, so a retry overwrites."""
    zone = item_utm_zone(item)
    keys = {
        folder: (
            partition_dir(Path(), folder, item.acquired, zone) / file_name(item.item_id, suffix)
        ).as_posix()
        for folder, suffix in ITEM_FILES.items()
    }
    # the tile-date's STAC item (asm_core.results.results_stac)
    keys["stac_item"] = f"stac/items/{file_name(item.item_id, '.json')}"
    return keys


def partition_name(acquired: datetime, utm_zone: int) -> str:
    """The Hive partition (``dt=…/utm_zone=…``) of an acquisition date and zone, the same in
    every per-tile-date table."""
    return f"dt={acquired:%Y-%m-%d}/utm_zone={utm_zone}"


def item_partition(item: SceneItem) -> str:
    """The partition an item's rows go to."""
    return partition_name(item.acquired, item_utm_zone(item))


def partition_dir(root: Path, table: str, acquired: datetime, utm_zone: int) -> Path:
    """Hive partition folder of one item's rows."""
    return root / table / partition_name(acquired, utm_zone)


def file_name(item_id: str, suffix: str = ".parquet") -> str:
    return _SAFE_NAME.sub("_", item_id) + suffix
