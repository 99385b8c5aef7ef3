"""The per-tile job: one STAC item in, GeoParquet detections and one tile_runs row out.

This is the pure function the CLI runs in-process and the Lambda will run per manifest row.
Every item ends as a tile_runs row: ``ok``, ``no_data`` (nothing valid to look at) or ``failed``
with the error. A failure never touches detections an earlier run wrote for the same item.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.errors import RasterioError

import asm_core
from asm_core.detection.objects.baseline import BaselineNdvi, open_baseline
from asm_core.detection.objects.detector import Detection, SceneDetections, detect_objects
from asm_core.detection.objects.objects import radius_px
from asm_core.detection.objects.observed import NdviGridBuilder, observed_grid
from asm_core.detection.objects.vectorize import (
    WGS84,
    crs_key,
    metric_geometry,
    reproject,
    utm_zone_of,
)
from asm_core.detection.pixels.heap import release_free_heap
from asm_core.detection.pixels.layers import ScenePixels, compute_layers
from asm_core.detection.pixels.pixel_samples import PixelSamples
from asm_core.errors import AsmError, BandError
from asm_core.monitoring.countries import countries_at
from asm_core.planning.baseline_looks import baseline_looks
from asm_core.report.quicklook import write_quicklook
from asm_core.results.class_mask import write_class_mask
from asm_core.results.result_paths import ITEM_FILES, file_name, item_utm_zone, partition_dir
from asm_core.results.results_stac import results_item, withdraw_results_item, write_results_item
from asm_core.results.schema import RunStatus, covering_bbox
from asm_core.results.store import (
    detections_table,
    tile_run_table,
    write_atomic,
)
from asm_core.rules import RuleSet
from asm_core.rules.scene_statistics import scene_rules, scene_statistics
from asm_core.sources.reader import BandFiles, open_bands
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS
from asm_core.sources.stac import SceneItem
from asm_core.spectral.geology import GEOLOGY_BANDS, tile_background
from asm_core.spectral.reflectance import OffsetDecision, decide_boa_offset, pixel_evidence

#: Pixels per band sampled (from COG overviews) to check the BOA offset: a million is plenty
#: for the histogram tests in reflectance.py, and a full tile's 30M would cost 0.5 s.
EVIDENCE_SAMPLES = 1_000_000
#: GDAL's block cache (bytes; rasterio takes GDAL_CACHEMAX in bytes). The strip pass reads
#: each block once, so it only needs to carry the 20 m blocks that straddle two strips; the
#: per-object reads that follow go in raster order and need about two rows of blocks of every
#: band (a full tile's decoded bands would be 1.1 GB).
STRIP_CACHE_BYTES = 32 << 20
OBJECT_CACHE_BYTES = 96 << 20
#: Layers whose pixels (and surroundings) become objects: their DN are kept for statistics.
OBJECT_LAYERS = ("scar", "scar_grow", "water")


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


def _offset_decision(item: SceneItem, files: BandFiles) -> OffsetDecision:
    samples = []
    for name in ("blue", "red", "nir"):
        if name in files.names:
            height, width = files.shape
            step = max(1, math.isqrt(height * width // EVIDENCE_SAMPLES))
            sample = files.read_decimated(name, step)
            samples.append(sample[sample > 0])
    return decide_boa_offset(
        item.baseline, item.boa_offset_flag, item.bands, pixel_evidence(samples)
    )


def _pixel_metres(files: BandFiles) -> float:
    r, c = files.shape[0] // 2, files.shape[1] // 2
    x0, y0 = files.transform @ (c, r)
    x1, y1 = files.transform @ (c + 1, r + 1)
    pixel = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return math.sqrt(float(metric_geometry(pixel, files.crs).area))


def _utm_zone(item: SceneItem, files: BandFiles | None) -> int:
    if files is None or (item.mgrs_tile and item.mgrs_tile[:2].isdigit()):
        return item_utm_zone(item)
    lon = shapely.geometry.shape(item.geometry).centroid.x if item.geometry else 0.0
    return utm_zone_of(files.crs, lon)


def _detection_row(
    d: Detection, item: SceneItem, rules: RuleSet, files: BandFiles
) -> dict[str, Any]:
    lonlat = reproject(d.geometry, crs_key(files.crs), WGS84)
    centre = lonlat.centroid
    means = {f"{k}_mean": v for k, v in d.stats.means.items()}
    compactness = 4 * math.pi * d.area_m2 / d.perimeter_m**2 if d.perimeter_m else None
    return {
        "detection_id": d.detection_id,
        "site_id": d.site_id,
        "item_id": item.item_id,
        "mgrs_tile": item.mgrs_tile,
        "acquired": item.acquired,
        "processing_baseline": item.baseline_text,
        "ruleset_version": rules.version_tag,
        "ruleset_hash": rules.content_hash,
        "class": d.cls,
        "confidence": d.confidence,
        "cues": d.cues,
        "area_m2": d.area_m2,
        "perimeter_m": d.perimeter_m,
        "compactness": round(compactness, 4) if compactness is not None else None,
        "rectangularity": d.rectangularity,
        "pixels": d.pixels,
        "valid_fraction": round(float(d.stats.valid_fraction), 4),
        "lon": round(centre.x, 7),
        "lat": round(centre.y, 7),
        "bbox": covering_bbox(lonlat.bounds),
        **means,
        **d.stats.percentiles,
        "ring_ndvi_mean": d.stats.ring_ndvi,
        "baseline_ndvi": d.baseline_ndvi,
        "geometry": shapely.to_wkb(lonlat),
    }


def _baseline(
    looks: Sequence[SceneItem],
    rules: RuleSet,
    item: SceneItem,
    files: BandFiles,
    row: dict[str, Any],
    stack: ExitStack,
) -> BaselineNdvi | None:
    """The same-season looks opened for windowed reads, or None; a look that cannot be used
    costs the tile nothing but that look (``baseline_skipped`` says why), and no usable look
    costs it the vegetation-loss cue (``baseline_error``), never its scars."""
    if not looks:
        return None
    if item.epsg is None:
        row["baseline_error"] = "the item has no proj:epsg to match the baseline looks against"
        return None
    days = rules.tracking.baseline_days
    inside = baseline_looks(item, looks, days)
    outside = [
        f"{look.item_id}: outside the window ({days} days of the same date a year before)"
        for look in looks
        if look not in inside
    ]
    baseline = open_baseline(
        inside,
        item.epsg,
        files.transform,
        stack,
        rules.tracking.baseline_resolution_m,
        rules.mask.invalid_scl,
        blocks=True,
    )
    baseline.skipped[:0] = outside
    _record_baseline(baseline, row)
    return baseline if baseline.opened else None


def _record_baseline(baseline: BaselineNdvi | None, row: dict[str, Any]) -> None:
    """The looks that made the composite, and those dropped while reading it."""
    if baseline is None:
        return
    row["baseline_skipped"] = baseline.skipped
    if baseline.opened:
        row["baseline_looks"] = baseline.looks
    else:
        row["baseline_error"] = "no usable baseline look: " + "; ".join(baseline.skipped)


def _base_row(item: SceneItem, rules: RuleSet) -> dict[str, Any]:
    present = set(item.bands)
    return {
        "item_id": item.item_id,
        "mgrs_tile": item.mgrs_tile,
        "acquired": item.acquired,
        "processing_baseline": item.baseline_text,
        "status": RunStatus.FAILED,
        "error": None,
        "error_type": None,
        "detections": 0,
        "sites": 0,
        "valid_fraction": None,
        "valid_area_km2": None,
        "seconds": 0.0,
        "ruleset_version": rules.version_tag,
        "ruleset_hash": rules.content_hash,
        "rules_skipped": rules.runnable(present)[1],
        "rules_fallback": rules.fallbacks_used(present),
        "bands_missing": [b for b in (*REFLECTANCE_BANDS, "scl") if b not in present],
        "boa_offset_dn": None,
        "boa_offset_source": None,
        "boa_offset_detail": None,
        "suppressed": [],
        "rescued_pond_pixels": 0,
        "open_share": None,
        "scene_thresholds": [],
        "known_sites": 0,
        "bytes_read": 0,
        "source": item.source,
        "band_hrefs": [(name, band.href) for name, band in sorted(item.bands.items())],
        "aoi": None,
        "stage_seconds": [],
        "asm_version": asm_core.__version__,
    }


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
        item: the scene.
        rules: the rule set.
        out_dir: results root (``detections/`` and ``tile_runs/`` go under it).
        gdal_options: GDAL configuration for reading the bands.
        quicklook_dir: where to write a quicklook PNG, if wanted.
        aoi: (west, south, east, north) in degrees to process only part of the item.
        baseline: the same-season looks a year before
        (:func:`asm_core.detection.objects.baseline.baseline_looks`)
            whose median NDVI composite judges vegetation loss; none, no such cue.
        known_sites: footprints (lon/lat) of the sites already tracked on this tile
            (:func:`asm_core.detection.objects.known_sites.known_site_footprints`), re-detected
            with less evidence than a new site needs.

    Example:
        >>> from asm_core.rules import load_rules
        >>> from asm_core.sources.stac import load_item
        >>> run = run_item(load_item("item.json"), load_rules(), Path("out"))  # doctest: +SKIP
        >>> run.status, run.detections  # doctest: +SKIP
        ('ok', 12)
    """
    started = time.perf_counter()
    row = _base_row(item, rules)
    row["aoi"] = list(aoi) if aoi is not None else None
    row["known_sites"] = len(known_sites)
    opened: BandFiles | None = None
    found: SceneDetections | None = None
    quicklook = None
    stages: dict[str, float] = {}
    lap = [time.perf_counter()]

    def stage(name: str) -> None:
        now = time.perf_counter()
        stages[name] = round(stages.get(name, 0.0) + now - lap[0], 3)
        lap[0] = now

    try:
        runnable, skipped = rules.runnable(set(item.bands))
        if not runnable:
            raise BandError(
                f"item {item.item_id!r} has bands {sorted(item.bands) or 'none'}, too few for"
                f" any rule: {'; '.join(skipped)}"
            )
        needed = sorted(
            set().union(*(r.required_bands() for r in runnable))
            | {"scl"}
            # the geology proxy's ratios, when the item has their bands (swir22 costs a 20 m
            # band's decode: about 2 % of the job)
            | (set(GEOLOGY_BANDS) & set(item.bands))
        )
        options = {"GDAL_CACHEMAX": OBJECT_CACHE_BYTES, **(gdal_options or {})}
        with (
            open_bands(item.bands, needed, item.epsg, options, aoi) as files,
            ExitStack() as looks_open,
        ):
            opened = files
            with rasterio.Env(GDAL_CACHEMAX=STRIP_CACHE_BYTES):
                offset = _offset_decision(item, files)
                row.update(tile_background(files, item.bands, offset.dn_offset))
                scene = scene_statistics(
                    files, item.bands, offset.dn_offset, runnable, rules.scene.sample_pixels
                )
                runnable, thresholds = scene_rules(rules, runnable, scene)
                row["scene_thresholds"] = list(thresholds.items())
                composite = _baseline(baseline, rules, item, files, row, looks_open)
                stage("open")
                pixels = ScenePixels(files, item.bands, offset.dn_offset)
                pixel_m = _pixel_metres(files)
                margin = radius_px(rules.objects.ring_width_m, pixel_m) + 1
                samples = PixelSamples(files.shape[1], margin)
                cell_px = max(1, round(rules.tracking.footprint_grid_m / pixel_m))
                greenness = NdviGridBuilder(
                    files.shape,
                    cell_px,
                    files.transform,
                    files.crs,
                    rules.tracking.footprint_water_ndvi,
                )
                layers = compute_layers(
                    pixels, runnable, rules.mask, samples, OBJECT_LAYERS, ndvi_grid=greenness
                )
                greenness_row = greenness.grid().to_row(rules.tracking.footprint_vegetated_ndvi)
                del greenness  # its sums are as large as a layer: gone before the objects
                stages.update(layers.seconds)  # decoding strips, and the kernel on them
                lap[0] = time.perf_counter()
            with rasterio.Env(GDAL_CACHEMAX=0):
                pass  # drop the strip pass's cached blocks: objects start again at the top
            release_free_heap()
            valid_pixels = layers.valid.count()
            row.update(
                valid_area_km2=round(valid_pixels * pixel_m**2 / 1e6, 4),
                boa_offset_dn=offset.dn_offset,
                boa_offset_source=offset.source,
                boa_offset_detail=offset.detail,
                valid_fraction=round(valid_pixels / (files.shape[0] * files.shape[1]), 4),
                **observed_grid(layers.valid, files.transform, files.crs).to_row(),
                **greenness_row,
            )
            if valid_pixels == 0:
                row["status"] = RunStatus.NO_DATA
                found = SceneDetections([])
            else:
                found = detect_objects(
                    pixels,
                    layers,
                    rules,
                    item.item_id,
                    pixel_m,
                    composite,
                    fallback=bool(row["rules_fallback"]),
                    known_sites=[
                        metric_geometry(reproject(g, WGS84, crs_key(files.crs)), files.crs)
                        for g in known_sites
                    ],
                )
                _record_baseline(composite, row)
                row["status"] = RunStatus.OK
            stage("post_process")
            write_class_mask(
                _item_file(out_dir, "masks", item, _utm_zone(item, files)),
                found.detections,
                layers.valid,
                files.transform,
                files.crs,
            )
            stage("mask")
            del layers
            with rasterio.Env(GDAL_CACHEMAX=0):
                pass  # drop cached blocks (and the layers) before the rows are built
            release_free_heap()
            rows = [_detection_row(d, item, rules, files) for d in found.detections]
            codes = countries_at([r["lon"] for r in rows], [r["lat"] for r in rows])
            for r, code in zip(rows, codes, strict=True):
                r["country_iso3"] = code
            row["bytes_read"] = files.bytes_read
            stage("post_process")
            bounds = _bounds(rows)
            zone = _utm_zone(item, files)
            write_atomic(
                detections_table(rows, bounds),
                partition_dir(out_dir, "detections", item.acquired, zone) / file_name(item.item_id),
            )
            row.update(
                detections=len(rows),
                sites=len({r["site_id"] for r in rows if r["site_id"]}),
                suppressed=list(found.suppressed.items()),
                rescued_pond_pixels=found.rescued_pond_pixels,
                open_share=found.open_share,
            )
            stage("write")
            if quicklook_dir is not None:
                quicklook = write_quicklook(
                    pixels,
                    found.detections,
                    quicklook_dir / f"{file_name(item.item_id)[:-8]}.png",
                )
    except (AsmError, RasterioError, OSError, ValueError, MemoryError) as e:
        row.update(_failure(e))
    row["seconds"] = round(time.perf_counter() - started, 3)
    row["stage_seconds"] = list(stages.items())
    if row["status"] == RunStatus.FAILED:
        withdraw_detections(item, out_dir, opened)
    _write_run(row, item, opened, out_dir)
    if row["status"] != RunStatus.FAILED and opened is not None:
        _write_stac_item(out_dir, item, row, opened, quicklook)
    dets = found.detections if found and row["status"] != RunStatus.FAILED else []
    classes: dict[str, int] = {}
    for d in dets:
        classes[d.cls] = classes.get(d.cls, 0) + 1
    return TileRun(
        item.item_id,
        row["status"],
        row["detections"],
        row["sites"],
        row["seconds"],
        row["error"],
        classes,
        float(sum(d.area_m2 for d in dets)),
        quicklook,
        int(row["bytes_read"] or 0),
        dict(stages),
        tuple(row.get("baseline_looks") or ()),
        tuple(row.get("baseline_skipped") or ()),
    )


def _failure(error: BaseException) -> dict[str, Any]:
    message = str(error).splitlines()[0][:1000] if str(error) else type(error).__name__
    return {"status": RunStatus.FAILED, "error": message, "error_type": type(error).__name__}


def _write_run(
    row: dict[str, Any], item: SceneItem, files: BandFiles | None, out_dir: Path
) -> None:
    write_atomic(
        tile_run_table(row),
        partition_dir(out_dir, "tile_runs", item.acquired, _utm_zone(item, files))
        / file_name(item.item_id),
    )


def withdraw_detections(item: SceneItem, out_dir: Path, files: BandFiles | None = None) -> None:
    """Remove an item's detections file and class mask from an earlier run: a failed run's
    tile_runs row says no detections, and the folder must not say otherwise (the next scan
    re-runs failed items, so the withdrawn files come back with a successful run)."""
    zones = {_utm_zone(item, None)} | ({_utm_zone(item, files)} if files is not None else set())
    for zone in zones:
        for folder in ("detections", "masks"):
            _item_file(out_dir, folder, item, zone).unlink(missing_ok=True)
    withdraw_results_item(out_dir, item.item_id)


def _write_stac_item(
    out_dir: Path, item: SceneItem, row: dict[str, Any], files: BandFiles, quicklook: Path | None
) -> None:
    """The tile-date's STAC item, its assets the files just written."""
    zone = _utm_zone(item, files)
    written = {
        "detections": _item_file(out_dir, "detections", item, zone),
        "mask": _item_file(out_dir, "masks", item, zone),
        "tile_run": _item_file(out_dir, "tile_runs", item, zone),
    }
    if quicklook is not None:
        written["quicklook"] = quicklook
    epsg = files.crs.to_epsg()
    grid = {
        "proj:code": f"EPSG:{epsg}" if epsg else None,
        "proj:shape": list(files.shape),
        "proj:transform": list(files.transform)[:6],
    }
    if epsg is None:
        grid["proj:wkt2"] = files.crs.to_wkt()
    write_results_item(out_dir, results_item(out_dir, item, row, written, grid))


def _item_file(out_dir: Path, folder: str, item: SceneItem, zone: int) -> Path:
    return partition_dir(out_dir, folder, item.acquired, zone) / file_name(
        item.item_id, ITEM_FILES[folder]
    )


def record_failure(item: SceneItem, rules: RuleSet, out_dir: Path, error: BaseException) -> TileRun:
    """Write a ``failed`` tile_runs row for an item whose job could not even report (and
    withdraw its detections of an earlier run from ``out_dir``)."""
    withdraw_detections(item, out_dir)
    row = _base_row(item, rules) | _failure(error)
    _write_run(row, item, None, out_dir)
    return TileRun(item.item_id, RunStatus.FAILED, 0, 0, 0.0, row["error"], {}, 0.0)


def _bounds(rows: list[dict[str, Any]]) -> list[float] | None:
    if not rows:
        return None
    boxes = np.array([[r["bbox"][k] for k in ("xmin", "ymin", "xmax", "ymax")] for r in rows])
    return [
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    ]
