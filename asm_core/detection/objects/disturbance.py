"""Ground dug where the landscape is as bare as the dig (a desert, a dry plain): found in the
open land by its roughness.

Where everything is bare, bareness says nothing and there is no vegetation for a working to be
cut out of; what sets a working apart at 10-30 m is its surface: shafts and pits among spoil
heaps, trenches between berms. A pixel is *rough* where the local variation of its brightness
(the 3x3 coefficient of variation, :func:`asm_core.detection.objects.texture.local_variation`)
passes both a floor and a high quantile of the same variation over the bare ground searched:
the tile-date's own background, so a gullied or gravelly plain raises its own bar. Ground is
*disturbed* where rough pixels are dense around it (pits and heaps scattered over an area,
while the edge of a wadi, an outcrop or a track is a line that covers less of a window); nearby
disturbed ground joins into one working. Smooth ground can be a working too (a processing
yard of grey fines and tanks): ground that is both greyer (B4/B3) and no darker than the open
land's own median, in bodies no larger than a working (a wadi's sand sheet is one body of a
whole valley), is *spoil ground* and joins the disturbed ground. Everything here is a number of
the rule set's ``disturbance`` section.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt

from asm_core.detection.objects.morphology import clean_mask, fill_small_holes
from asm_core.detection.objects.objects import label_objects
from asm_core.detection.objects.texture import TEXTURE_BANDS, local_variation
from asm_core.detection.pixels.layers import ScenePixels
from asm_core.detection.pixels.packed_mask import Bool
from asm_core.rules import DisturbanceSettings

#: rows of the grid worked on at once (six 10 m bands of 512 full rows are 67 MB)
STRIP_ROWS = 512
#: local variation is kept in steps of 1/STEPS (0.002) up to 0.5 for its quantile: one byte a
#: pixel (a full tile's 120 M pixels), the range the roughness of ground spans (heaps among
#: shafts reach 0.3-0.5; above, it is all "very rough" alike)
STEPS = 500
LEVELS = 254


def _strips(rows: range, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """Strips of ``rows`` (r0, r1) with the rows read around them (e0, e1)."""
    for r0 in range(rows.start, rows.stop, STRIP_ROWS):
        r1 = min(rows.stop, r0 + STRIP_ROWS)
        yield r0, r1, max(0, r0 - margin), min(rows.stop, r1 + margin)


def _brightness(pixels: ScenePixels, e0: int, e1: int) -> npt.NDArray[np.float64] | None:
    bands = [b for b in TEXTURE_BANDS if b in pixels.reflectance_bands]
    if not bands:
        return None
    width = pixels.shape[1]
    stack = [pixels.reflectance(b, e0, e1, 0, width) for b in bands]
    return np.asarray(np.mean(stack, axis=0), dtype=np.float64)


def _variation_codes(pixels: ScenePixels, region: Bool, rows: range) -> npt.NDArray[np.uint8]:
    """The local variation over ``region`` as 1 + its steps (0: none, or outside)."""
    codes = np.zeros(region.shape, dtype=np.uint8)
    for r0, r1, e0, e1 in _strips(rows, 1):
        brightness = _brightness(pixels, e0, e1)
        if brightness is None:
            break
        variation = local_variation(brightness, region[e0:e1])[r0 - e0 : r1 - e0]
        known = np.isfinite(variation)
        steps = np.clip(variation[known] * STEPS, 0, LEVELS - 1).astype(np.uint8)
        codes[r0:r1][known] = 1 + steps
    return codes


def _rough_threshold(codes: npt.NDArray[np.uint8], settings: DisturbanceSettings) -> int:
    """The code from which a pixel is rough: the floor, or the quantile of the region's."""
    counts = np.bincount(codes.ravel(), minlength=LEVELS + 1)[1:]
    total = int(counts.sum())
    floor = 1 + round(settings.rough_min * STEPS)
    if not total:
        return floor
    level = int(np.searchsorted(np.cumsum(counts), settings.rough_quantile * total))
    return max(floor, 1 + level)


def disturbed_ground(
    pixels: ScenePixels, region: Bool, settings: DisturbanceSettings, hole_pixels: int
) -> Bool:
    """Disturbed ground (see the module docstring) within ``region`` (the scene's open land),
    its holes under ``hole_pixels`` filled (a pit or a heap the density missed)."""
    rows = np.flatnonzero(region.any(axis=1))
    out = np.zeros(region.shape, dtype=bool)
    if not rows.size:
        return out
    span = range(int(rows[0]), int(rows[-1]) + 1)
    codes = _variation_codes(pixels, region, span)
    rough = codes >= _rough_threshold(codes, settings)
    del codes
    window, half = settings.density_window_px, settings.density_window_px // 2
    for r0, r1, e0, e1 in _strips(span, half):
        share = cv2.boxFilter(
            rough[e0:e1].astype(np.float32),
            -1,
            (window, window),
            borderType=cv2.BORDER_CONSTANT,
        )[r0 - e0 : r1 - e0]
        out[r0:r1] = share >= settings.density_min
    if settings.join_px:
        size = 2 * settings.join_px + 1
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        out = cv2.morphologyEx(out.view(np.uint8), cv2.MORPH_CLOSE, disk).astype(bool)
    out &= region
    return fill_small_holes(out, hole_pixels)


#: B4/B3 and brightness are binned in steps of 1/MEDIAN_STEPS for their medians (0.002 apart,
#: finer than the margins compared with them), up to MEDIAN_BINS steps
MEDIAN_STEPS = 500
MEDIAN_BINS = 2000


def _ferric_and_brightness(
    pixels: ScenePixels, e0: int, e1: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    bands = pixels.reflectance_bands
    brightness = _brightness(pixels, e0, e1)
    if brightness is None or not {"red", "green"} <= bands:
        return None
    width = pixels.shape[1]
    red, green = (pixels.reflectance(b, e0, e1, 0, width) for b in ("red", "green"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ferric = np.asarray(red, dtype=np.float64) / green
    return ferric, brightness


def _median(counts: npt.NDArray[np.int64]) -> float:
    total = int(counts.sum())
    return float(np.searchsorted(np.cumsum(counts), total / 2)) / MEDIAN_STEPS


def _binned(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    finite = values[np.isfinite(values)]
    steps = np.clip(finite * MEDIAN_STEPS, 0, MEDIAN_BINS - 1).astype(np.int64)
    return np.bincount(steps, minlength=MEDIAN_BINS)


def spoil_ground(
    pixels: ScenePixels,
    region: Bool,
    settings: DisturbanceSettings,
    opening_px: int,
    sizes: tuple[int, int],
) -> Bool:
    """Spoil ground (see the module docstring) within ``region``: pixels at least
    ``spoil_greyer_min`` below the region's median B4/B3 and at least (1 +
    ``spoil_brighter_min``) times its median brightness, opened by ``opening_px`` (lone pixels
    go), holes filled (tanks), in bodies of ``sizes`` (min, max) pixels (a wadi's sand is one
    body of a whole valley, measured before anything narrow in it is cut), then opened by
    ``spoil_opening_px`` (what is left of pale tracks goes; a yard is compact)."""
    out = np.zeros(region.shape, dtype=bool)
    rows = np.flatnonzero(region.any(axis=1))
    if not rows.size:
        return out
    span = range(int(rows[0]), int(rows[-1]) + 1)
    ferric_counts = np.zeros(MEDIAN_BINS, dtype=np.int64)
    bright_counts = np.zeros(MEDIAN_BINS, dtype=np.int64)
    for r0, r1, _, _ in _strips(span, 0):
        measured = _ferric_and_brightness(pixels, r0, r1)
        if measured is None:
            return out
        inside = region[r0:r1]
        ferric_counts += _binned(measured[0][inside])
        bright_counts += _binned(measured[1][inside])
    greyer = _median(ferric_counts) - settings.spoil_greyer_min
    paler = (1.0 + settings.spoil_brighter_min) * _median(bright_counts)
    for r0, r1, _, _ in _strips(span, 0):
        ferric, brightness = _ferric_and_brightness(pixels, r0, r1)  # type: ignore[misc]
        with np.errstate(invalid="ignore"):
            out[r0:r1] = (ferric <= greyer) & (brightness >= paler) & region[r0:r1]
    out = clean_mask(out, opening_px, 0, 0)
    out = fill_small_holes(out, sizes[0])
    bodies = label_objects(out, sizes[0], sizes[1])
    keep = np.zeros(bodies.components.sizes.shape, dtype=bool)
    keep[bodies.kept] = True
    out = bodies.components.select(keep)
    wide = settings.spoil_opening_px
    return clean_mask(out, wide, 0, wide)
