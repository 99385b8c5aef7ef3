"""The per-tile job: one STAC item in, GeoParquet detections and one tile_runs row out.

This is the pure function the CLI runs in-process and the Lambda will run per manifest row.
Every item ends as a tile_runs row: ``ok``, ``no_data`` (nothing valid to look at) or ``failed``
with the error. A failure never touches detections an earlier run wrote for the same item.
The stages it runs are in :mod:`asm_core.jobs.tile_stages`, its rows in
:mod:`asm_core.jobs.records`, its files in :mod:`asm_core.jobs.tile_outputs`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import rasterio
import shapely
from rasterio.errors import RasterioError

from asm_core.detection.objects.detector import SceneDetections
from asm_core.detection.pixels.heap import release_free_heap
from asm_core.detection.pixels.layers import ScenePixels
from asm_core.errors import AsmError
from asm_core.jobs.records import TileRunRecord, detection_records
from asm_core.jobs.tile_outputs import (
    item_file,
    utm_zone,
    withdraw_detections,
    write_detections,
    write_run,
    write_stac_item,
)
from asm_core.jobs.tile_stages import (
    BaselineFacts,
    OpenedScene,
    PixelMap,
    find_objects,
    map_pixels,
    open_scene,
    runnable_rules,
)
from asm_core.report.quicklook import write_quicklook
from asm_core.results.class_mask import write_class_mask
from asm_core.results.result_paths import file_name
from asm_core.results.schema import RunStatus
from asm_core.rules import PixelRule, RuleSet
from asm_core.sources.reader import BandFiles, open_bands
from asm_core.sources.stac import SceneItem

#: GDAL's block cache (bytes; rasterio takes GDAL_CACHEMAX in bytes). The strip pass reads
#: each block once, so it only needs to carry the 20 m blocks that straddle two strips; the
#: per-object reads that follow go in raster order and need about two rows of blocks of every
#: band (a full tile's decoded bands would be 1.1 GB).
STRIP_CACHE_BYTES = 32 << 20
OBJECT_CACHE_BYTES = 96 << 20
#: what a run records as its failure (anything else is a bug, and raises)
RUN_FAILURES = (AsmError, RasterioError, OSError, ValueError, MemoryError)


@dataclass(frozen=True)
class TileRun:
    """What happened to one item (the tile_runs row, in Python)."""

    item_id: str
    status: str
    detections: int
    sites: int
    seconds: float
    error: str | None
    classes: dict[str, int]
    area_m2: float
    quicklook: Path | None = None
    bytes_read: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    #: the same-season baseline looks read, and those given but not used (with why)
    baseline_looks: tuple[str, ...] = ()
    baseline_skipped: tuple[str, ...] = ()


class StageClock:
    """Seconds per named stage of one run (a stage named twice adds up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lap = time.perf_counter()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._lap, 3)
        self._lap = now

    def add(self, seconds: Mapping[str, float]) -> None:
        """Stages timed elsewhere (the strip pass's decode and kernel), up to now."""
        self.seconds.update(seconds)
        self._lap = time.perf_counter()


def run_item(
    item: SceneItem,
    rules: RuleSet,
    out_dir: Path,
    gdal_options: Mapping[str, str | bool | int] | None = None,
    quicklook_dir: Path | None = None,
    aoi: tuple[float, float, float, float] | None = None,
    baseline: Sequence[SceneItem] = (),
    known_sites: Sequence[shapely.Geometry] = (),
) -> TileRun:
    """Detect ASM in one item and write its detections and tile_runs row under ``out_dir``.

    Args:
        out_dir: results root (``detections/``, ``tile_runs/``, ``masks/``, ``stac/`` under it).
        gdal_options: GDAL configuration for reading the bands.
        quicklook_dir: where to write a quicklook PNG, if wanted.
        aoi: (west, south, east, north) in degrees to process only part of the item.
        baseline: the same-season looks a year before
            (:func:`asm_core.planning.baseline_looks.baseline_looks`) whose median NDVI
            composite judges vegetation loss; none, no such cue.
        known_sites: footprints (lon/lat) of the sites already tracked on this tile
            (:func:`asm_core.detection.objects.known_sites.known_site_footprints`), re-detected
            with less evidence than a new site needs.

    Example: ``run_item(load_item("item.json"), load_rules(), Path("out")).status`` is ``'ok'``.
    """
    started = time.perf_counter()
    record = TileRunRecord.started(item, rules)
    record.aoi = list(aoi) if aoi is not None else None
    record.known_sites = len(known_sites)
    clock, opened, found, quicklook = StageClock(), None, None, None
    try:
        runnable, needed = runnable_rules(item, rules)
        options = {"GDAL_CACHEMAX": OBJECT_CACHE_BYTES, **(gdal_options or {})}
        with (
            open_bands(item.bands, needed, item.epsg, options, aoi) as files,
            ExitStack() as looks_open,
        ):
            opened = files
            scene, mapped = _open_and_map(item, files, rules, runnable, baseline, looks_open, clock)
            _record_scene(record, scene, mapped, files)
            found = find_objects(
                item, files, rules, scene, mapped, bool(record.rules_fallback), known_sites
            )
            _record_baseline(record, scene.baseline)  # looks may have failed while read
            clock.stage("post_process")
            _write_mask(item, files, mapped, found, out_dir)
            clock.stage("mask")
            pixels = mapped.pixels
            del mapped  # the layers go before the rows are built
            _drop_cached_blocks()
            _write_detections(item, rules, files, found, record, clock, out_dir)
            if quicklook_dir is not None:
                quicklook = _write_quicklook(item, pixels, found, quicklook_dir)
    except RUN_FAILURES as e:
        record.fail(e)
    record.seconds = round(time.perf_counter() - started, 3)
    return _finish(record, item, opened, out_dir, found, quicklook, clock)


def _open_and_map(
    item: SceneItem,
    files: BandFiles,
    rules: RuleSet,
    runnable: list[PixelRule],
    baseline: Sequence[SceneItem],
    looks_open: ExitStack,
    clock: StageClock,
) -> tuple[OpenedScene, PixelMap]:
    """Open the scene and classify its pixels strip by strip (with the small block cache a
    strip pass needs; emptied after, as objects start again at the top)."""
    with rasterio.Env(GDAL_CACHEMAX=STRIP_CACHE_BYTES):
        scene = open_scene(item, files, rules, runnable, baseline, looks_open)
        clock.stage("open")
        mapped = map_pixels(item, files, rules, scene)
        clock.add(mapped.layers.seconds)  # decoding strips, and the kernel on them
    _drop_cached_blocks()
    return scene, mapped


def _write_quicklook(
    item: SceneItem, pixels: ScenePixels, found: SceneDetections, folder: Path
) -> Path:
    return write_quicklook(pixels, found.detections, folder / f"{file_name(item.item_id)[:-8]}.png")


def _write_mask(
    item: SceneItem, files: BandFiles, mapped: PixelMap, found: SceneDetections, out_dir: Path
) -> None:
    write_class_mask(
        item_file(out_dir, "masks", item, utm_zone(item, files)),
        found.detections,
        mapped.layers.valid,
        files.transform,
        files.crs,
    )


def _write_detections(
    item: SceneItem,
    rules: RuleSet,
    files: BandFiles,
    found: SceneDetections,
    record: TileRunRecord,
    clock: StageClock,
    out_dir: Path,
) -> None:
    """The detections file, and what it holds on the tile_runs row."""
    records = detection_records(found.detections, item, rules, files)
    record.bytes_read = files.bytes_read
    clock.stage("post_process")
    write_detections(out_dir, item, files, records)
    record.detections = len(records)
    record.sites = len({r.site_id for r in records if r.site_id})
    record.suppressed = list(found.suppressed.items())
    record.rescued_pond_pixels = found.rescued_pond_pixels
    record.open_share = found.open_share
    clock.stage("write")


def _drop_cached_blocks() -> None:
    """Empty GDAL's block cache and give the freed heap back to the system."""
    with rasterio.Env(GDAL_CACHEMAX=0):
        pass
    release_free_heap()


def _record_scene(
    record: TileRunRecord, scene: OpenedScene, mapped: PixelMap, files: BandFiles
) -> None:
    """What the scene's opening and its pixels say, on the tile_runs row."""
    height, width = files.shape
    record.update(scene.background)
    record.update(mapped.grids)
    record.scene_thresholds = list(scene.thresholds.items())
    _record_baseline(record, scene.baseline)
    record.valid_area_km2 = round(mapped.valid_pixels * mapped.pixel_m**2 / 1e6, 4)
    record.valid_fraction = round(mapped.valid_pixels / (height * width), 4)
    record.boa_offset_dn = scene.offset.dn_offset
    record.boa_offset_source = scene.offset.source
    record.boa_offset_detail = scene.offset.detail
    record.status = RunStatus.OK if mapped.valid_pixels else RunStatus.NO_DATA


def _record_baseline(record: TileRunRecord, facts: BaselineFacts) -> None:
    record.baseline_looks = facts.looks
    record.baseline_skipped = facts.skipped
    record.baseline_error = facts.error


def _finish(
    record: TileRunRecord,
    item: SceneItem,
    files: BandFiles | None,
    out_dir: Path,
    found: SceneDetections | None,
    quicklook: Path | None,
    clock: StageClock,
) -> TileRun:
    """Write the run's row (and STAC item, or withdraw what a failed run cannot vouch for)."""
    record.stage_seconds = list(clock.seconds.items())
    failed = record.status == RunStatus.FAILED
    if failed:
        withdraw_detections(item, out_dir, files)
    write_run(record, item, files, out_dir)
    if not failed and files is not None:
        write_stac_item(out_dir, item, record, files, quicklook)
    detections = found.detections if found and not failed else []
    return TileRun(
        item_id=item.item_id,
        status=record.status,
        detections=record.detections,
        sites=record.sites,
        seconds=record.seconds,
        error=record.error,
        classes=dict(Counter(d.cls for d in detections)),
        area_m2=float(sum(d.area_m2 for d in detections)),
        quicklook=quicklook,
        bytes_read=record.bytes_read,
        stage_seconds=dict(clock.seconds),
        baseline_looks=tuple(record.baseline_looks or ()),
        baseline_skipped=tuple(record.baseline_skipped or ()),
    )


def record_failure(item: SceneItem, rules: RuleSet, out_dir: Path, error: BaseException) -> TileRun:
    """Write a ``failed`` tile_runs row for an item whose job could not even report (and
    withdraw its detections of an earlier run from ``out_dir``)."""
    withdraw_detections(item, out_dir)
    record = TileRunRecord.started(item, rules)
    record.fail(error)
    write_run(record, item, None, out_dir)
    return TileRun(item.item_id, RunStatus.FAILED, 0, 0, 0.0, record.error, {}, 0.0)
