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
disturbed ground joins into one working. Everything here is a number of the rule set's
``disturbance`` section.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt

from asm_core.detection.objects.morphology import fill_small_holes
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
