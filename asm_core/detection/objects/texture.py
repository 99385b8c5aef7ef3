"""The surface texture of an object: the local variation of its brightness (pits and spoil heaps
make a working rough; a field or a tailings flat is smooth), at a percentile over its extent.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from asm_core.detection.pixels.packed_mask import Bool

#: Bands whose mean is the brightness a pitted texture is measured on (all 10 m bands, so the
#: texture is seen at 10 m and is there on visible/NIR-only items too).
TEXTURE_BANDS = ("blue", "green", "red", "nir")


def local_variation(brightness: npt.NDArray[np.float64], region: Bool) -> npt.NDArray[np.float64]:
    """Coefficient of variation (std / mean) of brightness in the 3x3 window of each region
    pixel whose window lies wholly in the region (NaN elsewhere): pits, ponds and spoil heaps
    10-30 m across vary within a window; a field, a sandbar or a paved yard does not, and the
    region's edge (against vegetation or water) is left out."""

    def window_sum(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(
            cv2.boxFilter(values, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        )

    x = np.where(region, brightness, 0.0)
    count = window_sum(region.astype(np.float64))
    total = window_sum(x)
    squares = window_sum(x * x)
    whole = region & (count > 8.5)
    out = np.full(brightness.shape, np.nan)
    mean = total[whole] / 9.0
    variance = np.maximum(squares[whole] / 9.0 - mean * mean, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[whole] = np.sqrt(variance) / mean
    return out


def _on_window(
    need: Bool, region_at: Bool, brightness: npt.NDArray[np.float32] | None
) -> tuple[npt.NDArray[np.float64], Bool] | None:
    """An object's gathered brightness and region put back on its crop's window (None when
    there is nothing to measure)."""
    if brightness is None or not region_at.any():
        return None
    image = np.zeros(need.shape, dtype=np.float64)
    region = np.zeros(need.shape, dtype=bool)
    image[need] = brightness
    region[need] = region_at
    return image, region


def surface_texture(
    need: Bool, region_at: Bool, brightness: npt.NDArray[np.float32] | None, percentile: float
) -> float | None:
    """Percentile of the local variation over one object's (hole-filled) region."""
    placed = _on_window(need, region_at, brightness)
    if placed is None:
        return None
    image, region = placed
    values = local_variation(image, region)
    values = values[np.isfinite(values)]
    return round(float(np.percentile(values, percentile)), 5) if values.size else None


def coarse_variation(
    need: Bool, region_at: Bool, brightness: npt.NDArray[np.float32] | None, sigma_px: float
) -> float | None:
    """Coefficient of variation, over one object's (hole-filled) region, of its brightness
    smoothed at ``sigma_px`` (a Gaussian normalised by the region, so the ground outside does
    not leak in): what is left of its variation at the scale of ~50 m. Pits and heaps 10-30 m
    apart average out there; a hill's shaded and sunlit faces, or a rock body's edge, do not."""
    placed = _on_window(need, region_at, brightness)
    if placed is None:
        return None
    image, region = placed
    weight = region.astype(np.float64)
    blurred = cv2.GaussianBlur(image * weight, (0, 0), sigma_px)
    covered = cv2.GaussianBlur(weight, (0, 0), sigma_px)
    smooth = blurred[region] / covered[region]
    mean = float(smooth.mean())
    return round(float(smooth.std()) / mean, 5) if mean > 0 else None
