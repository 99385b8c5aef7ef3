"""Candidate pixels to objects: morphology, connected components, and per-object measurements.

Everything per object works on the object's bounding-box crop (plus a ring margin), so cost
grows with the number and size of objects, not with the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from asm_core.detection.objects.components import (
    Components,
    label_components,
)
from asm_core.detection.objects.morphology import dilate
from asm_core.detection.pixels.packed_mask import Bool, PackedMask

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass
class Labelled:
    """Connected components of a mask and which of them are kept (big enough)."""

    components: Components
    kept: npt.NDArray[np.int64]

    @property
    def count(self) -> int:
        return int(self.kept.shape[0])


def label_objects(
    mask: Bool | PackedMask, min_pixels: int, max_pixels: int | None = None
) -> Labelled:
    """8-connected components of at least ``min_pixels`` (and at most ``max_pixels``)."""
    parts = label_components(mask)
    keep = parts.sizes >= min_pixels
    if max_pixels is not None:
        keep &= parts.sizes <= max_pixels
    return Labelled(parts, np.flatnonzero(keep))


@dataclass
class ObjectCrop:
    """One object's window on the grid and its masks within that window."""

    label: int
    rows: slice
    cols: slice
    mask: Bool
    filled: Bool
    ring: Bool

    @property
    def pixels(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def anchor(self) -> tuple[int, int]:
        """Grid (row, col) of the object's first pixel in raster order: a stable identity."""
        first = int(np.argmax(self.mask.ravel()))
        r, c = divmod(first, self.mask.shape[1])
        return r + self.rows.start, c + self.cols.start


def _fill_holes(mask: Bool) -> Bool:
    """The object with every hole filled: all but the background reachable from outside."""
    padded = np.pad(mask, 1).view(np.uint8)
    outside = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), dtype=np.uint8)
    cv2.floodFill(padded.copy(), outside, (0, 0), 1, flags=4 | cv2.FLOODFILL_MASK_ONLY)
    return np.asarray(outside[2:-2, 2:-2] == 0)


def object_crops(objects: Labelled, ring_px: int) -> list[ObjectCrop]:
    """Crops (with a ring of ``ring_px`` around the hole-filled object) for every kept object,
    in raster order of their first pixel."""
    crops = []
    for index, (rows, cols), mask in objects.components.crops(objects.kept, ring_px):
        filled = _fill_holes(mask)
        ring = dilate(filled, ring_px) & ~filled
        crops.append(ObjectCrop(index, rows, cols, mask, filled, ring))
    return sorted(crops, key=lambda crop: crop.anchor)


def ring_fraction(crop: ObjectCrop, layer: Bool | PackedMask, invert: bool = False) -> float:
    """Share of the object's ring pixels set in a full-grid layer (or unset, with ``invert``)."""
    ring = crop.ring
    total = int(ring.sum())
    if total == 0:
        return 0.0
    window = layer[crop.rows, crop.cols]
    hits = np.count_nonzero(~window & ring) if invert else np.count_nonzero(window & ring)
    return float(hits) / total


def inside_fraction(crop: ObjectCrop, layer: Bool | PackedMask) -> float:
    """Share of the object's own pixels set in a full-grid layer."""
    window = layer[crop.rows, crop.cols]
    return float(np.count_nonzero(window & crop.mask)) / max(1, crop.pixels)


def radius_px(distance_m: float, pixel_m: float) -> int:
    """A distance in metres as a whole number of pixels (at least 1)."""
    return max(1, math.ceil(distance_m / pixel_m))
