"""The stages of the per-tile job, each returning a typed value the next one takes.

``open_scene`` (BOA offset, the scene's own statistics, the baseline looks) → ``map_pixels``
(strip by strip: every rule's layers, the clear-sky and NDVI grids) → ``find_objects`` (the
layers become scored, filtered objects). :func:`asm_core.jobs.tile_job.run_item` runs them and
writes what they return (:mod:`asm_core.jobs.tile_outputs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import shapely

from asm_core.detection.objects.baseline import BaselineNdvi, open_baseline
from asm_core.detection.objects.detector import SceneDetections, detect_objects
from asm_core.detection.objects.objects import radius_px
from asm_core.detection.objects.observed import NdviGridBuilder, observed_grid
from asm_core.detection.objects.vectorize import WGS84, crs_key, metric_geometry, reproject
from asm_core.detection.pixels.layers import SceneLayers, ScenePixels, compute_layers
from asm_core.detection.pixels.pixel_samples import PixelSamples
from asm_core.errors import BandError
from asm_core.planning.baseline_looks import baseline_looks
from asm_core.rules import BoaOffsetSettings, PixelRule, RuleSet
from asm_core.rules.scene_statistics import scene_rules, scene_statistics
from asm_core.sources.reader import BandFiles
from asm_core.sources.stac import SceneItem
from asm_core.spectral.geology import GEOLOGY_BANDS, tile_background
from asm_core.spectral.reflectance import OffsetDecision, decide_boa_offset, pixel_evidence

#: Layers whose pixels (and surroundings) become objects: their DN are kept for statistics.
OBJECT_LAYERS = ("scar", "scar_grow", "water")


def runnable_rules(item: SceneItem, rules: RuleSet) -> tuple[list[PixelRule], list[str]]:
    """The rules the item's bands can run, and the bands to read for them (with the scene
    classification, and the geology proxy's bands when the item has them: swir22 costs a
    20 m band's decode, about 2 % of the job)."""
    runnable, skipped = rules.runnable(set(item.bands))
    if not runnable:
        raise BandError(
            f"item {item.item_id!r} has bands {sorted(item.bands) or 'none'}, too few for"
            f" any rule: {'; '.join(skipped)}"
        )
    needed = sorted(
        set().union(*(r.required_bands() for r in runnable))
        | {"scl"}
        | (set(GEOLOGY_BANDS) & set(item.bands))
    )
    return runnable, needed


@dataclass
class OpenedScene:
    """What the job knows of a scene before its pixels are classified."""

    offset: OffsetDecision
    #: the tile-date's land background of the geology ratios (tile_runs columns)
    background: dict[str, float | None]
    #: the rules to run, some bounds tightened by the scene's own statistics
    runnable: list[PixelRule]
    thresholds: dict[str, float]
    #: the same-season baseline looks, open; None without any usable look
    composite: BaselineNdvi | None
    baseline: BaselineFacts


@dataclass
class BaselineFacts:
    """The baseline looks read and those skipped (with why), for the tile_runs row."""

    looks: list[str] | None = None
    skipped: list[str] | None = None
    error: str | None = None

    @classmethod
    def of(cls, baseline: BaselineNdvi) -> BaselineFacts:
        if baseline.opened:
            return cls(looks=baseline.looks, skipped=baseline.skipped)
        return cls(
            skipped=baseline.skipped,
            error="no usable baseline look: " + "; ".join(baseline.skipped),
        )


def open_scene(
    item: SceneItem,
    files: BandFiles,
    rules: RuleSet,
    runnable: list[PixelRule],
    looks: Sequence[SceneItem],
    looks_open: ExitStack,
) -> OpenedScene:
    """Decide the BOA offset, read the scene's background statistics and open the baseline
    looks (kept open on ``looks_open`` for the object stage's windowed reads)."""
    offset = offset_decision(item, files, rules.boa_offset)
    background = tile_background(files, item.bands, offset.dn_offset, rules.scene)
    scene = scene_statistics(
        files, item.bands, offset.dn_offset, runnable, rules.scene.sample_pixels
    )
    runnable, thresholds = scene_rules(rules, runnable, scene)
    composite, facts = _open_baseline(looks, rules, item, files, looks_open)
    return OpenedScene(offset, background, runnable, thresholds, composite, facts)


def offset_decision(
    item: SceneItem, files: BandFiles, settings: BoaOffsetSettings
) -> OffsetDecision:
    """The BOA offset to subtract, from the item's metadata and its own pixels."""
    samples = []
    for name in ("blue", "red", "nir"):
        if name in files.names:
            height, width = files.shape
            step = max(1, math.isqrt(height * width // settings.evidence_samples))
            sample = files.read_decimated(name, step)
            samples.append(sample[sample > 0])
    return decide_boa_offset(
        item.baseline, item.boa_offset_flag, item.bands, pixel_evidence(samples, settings)
    )


def _open_baseline(
    looks: Sequence[SceneItem],
    rules: RuleSet,
    item: SceneItem,
    files: BandFiles,
    stack: ExitStack,
) -> tuple[BaselineNdvi | None, BaselineFacts]:
    """The same-season looks opened for windowed reads, or None; a look that cannot be used
    costs the tile nothing but that look (``baseline_skipped`` says why), and no usable look
    costs it the vegetation-loss cue (``baseline_error``), never its scars."""
    if not looks:
        return None, BaselineFacts()
    if item.epsg is None:
        return None, BaselineFacts(
            error="the item has no proj:epsg to match the baseline looks against"
        )
    days = rules.baseline.days
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
        rules.baseline.resolution_m,
        rules.mask.invalid_scl,
        blocks=True,
    )
    baseline.skipped[:0] = outside
    return (baseline if baseline.opened else None), BaselineFacts.of(baseline)


@dataclass
class PixelMap:
    """The scene classified pixel by pixel."""

    pixels: ScenePixels
    #: the pixel's side in metres (on the ground, at the tile's centre)
    pixel_m: float
    layers: SceneLayers
    #: the tile_runs columns of the clear-sky grid and the NDVI grid
    grids: dict[str, object]
    valid_pixels: int


def map_pixels(item: SceneItem, files: BandFiles, rules: RuleSet, scene: OpenedScene) -> PixelMap:
    """Every rule's layers over the tile, strip by strip, with the grids that say where it
    was seen clear and how green each footprint cell was."""
    pixels = ScenePixels(files, item.bands, scene.offset.dn_offset)
    pixel_m = pixel_metres(files)
    margin = radius_px(rules.objects.ring_width_m, pixel_m) + 1
    samples = PixelSamples(files.shape[1], margin)
    cell_px = max(1, round(rules.footprint_grid.cell_m / pixel_m))
    greenness = NdviGridBuilder(
        files.shape, cell_px, files.transform, files.crs, rules.footprint_grid.water_ndvi
    )
    layers = compute_layers(
        pixels, scene.runnable, rules.mask, samples, OBJECT_LAYERS, ndvi_grid=greenness
    )
    grids = observed_grid(
        layers.valid, files.transform, files.crs
    ).to_row() | greenness.grid().to_row(rules.footprint_grid.vegetated_ndvi)
    return PixelMap(pixels, pixel_m, layers, grids, layers.valid.count())


def pixel_metres(files: BandFiles) -> float:
    r, c = files.shape[0] // 2, files.shape[1] // 2
    x0, y0 = files.transform @ (c, r)
    x1, y1 = files.transform @ (c + 1, r + 1)
    pixel = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return math.sqrt(float(metric_geometry(pixel, files.crs).area))


def find_objects(
    item: SceneItem,
    files: BandFiles,
    rules: RuleSet,
    scene: OpenedScene,
    mapped: PixelMap,
    fallback: bool,
    known_sites: Sequence[shapely.Geometry],
) -> SceneDetections:
    """The layers as scored objects (none where nothing was seen); ``known_sites`` in lon/lat
    are re-detected with less evidence than a new site needs."""
    if mapped.valid_pixels == 0:
        return SceneDetections([])
    found = detect_objects(
        mapped.pixels,
        mapped.layers,
        rules,
        item.item_id,
        mapped.pixel_m,
        scene.composite,
        fallback=fallback,
        known_sites=[
            metric_geometry(reproject(g, WGS84, crs_key(files.crs)), files.crs) for g in known_sites
        ],
    )
    if scene.composite is not None:  # looks that failed while their windows were read
        scene.baseline = BaselineFacts.of(scene.composite)
    return found
