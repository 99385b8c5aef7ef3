"""Where the per-tile job's files go, and how a failed run takes back what an earlier run wrote.

Per tile-date: the detections (GeoParquet), the class mask (COG), the tile_runs row and the
STAC item; every path comes from :mod:`asm_core.results.result_paths`.
"""

from __future__ import annotations

from pathlib import Path

import shapely

from asm_core.detection.objects.vectorize import utm_zone_of
from asm_core.jobs.records import DetectionRecord, TileRunRecord, records_bounds
from asm_core.results.result_paths import ITEM_FILES, file_name, item_utm_zone, partition_dir
from asm_core.results.results_stac import results_item, withdraw_results_item, write_results_item
from asm_core.results.store import detections_table, tile_run_table, write_atomic
from asm_core.sources.reader import BandFiles
from asm_core.sources.stac import SceneItem


def utm_zone(item: SceneItem, files: BandFiles | None) -> int:
    """The item's UTM zone: from its MGRS tile, else from the CRS its bands were read in."""
    if files is None or (item.mgrs_tile and item.mgrs_tile[:2].isdigit()):
        return item_utm_zone(item)
    lon = shapely.geometry.shape(item.geometry).centroid.x if item.geometry else 0.0
    return utm_zone_of(files.crs, lon)


def item_file(out_dir: Path, folder: str, item: SceneItem, zone: int) -> Path:
    return partition_dir(out_dir, folder, item.acquired, zone) / file_name(
        item.item_id, ITEM_FILES[folder]
    )


def write_detections(
    out_dir: Path, item: SceneItem, files: BandFiles, records: list[DetectionRecord]
) -> None:
    write_atomic(
        detections_table([r.as_row() for r in records], records_bounds(records)),
        item_file(out_dir, "detections", item, utm_zone(item, files)),
    )


def write_run(
    record: TileRunRecord, item: SceneItem, files: BandFiles | None, out_dir: Path
) -> None:
    write_atomic(
        tile_run_table(record.as_row()),
        item_file(out_dir, "tile_runs", item, utm_zone(item, files)),
    )


def withdraw_detections(item: SceneItem, out_dir: Path, files: BandFiles | None = None) -> None:
    """Remove an item's detections file and class mask from an earlier run: a failed run's
    tile_runs row says no detections, and the folder must not say otherwise (the next scan
    re-runs failed items, so the withdrawn files come back with a successful run)."""
    zones = {utm_zone(item, None)} | ({utm_zone(item, files)} if files is not None else set())
    for zone in zones:
        for folder in ("detections", "masks"):
            item_file(out_dir, folder, item, zone).unlink(missing_ok=True)
    withdraw_results_item(out_dir, item.item_id)


def write_stac_item(
    out_dir: Path,
    item: SceneItem,
    record: TileRunRecord,
    files: BandFiles,
    quicklook: Path | None,
) -> None:
    """The tile-date's STAC item, its assets the files just written."""
    zone = utm_zone(item, files)
    assets = {
        "detections": item_file(out_dir, "detections", item, zone),
        "mask": item_file(out_dir, "masks", item, zone),
        "tile_run": item_file(out_dir, "tile_runs", item, zone),
    }
    if quicklook is not None:
        assets["quicklook"] = quicklook
    epsg = files.crs.to_epsg()
    grid: dict[str, object] = {
        "proj:code": f"EPSG:{epsg}" if epsg else None,
        "proj:shape": list(files.shape),
        "proj:transform": list(files.transform)[:6],
    }
    if epsg is None:
        grid["proj:wkt2"] = files.crs.to_wkt()
    write_results_item(out_dir, results_item(out_dir, item, record, assets, grid))
