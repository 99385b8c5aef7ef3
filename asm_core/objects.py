"""Candidate pixels to objects: morphology, connected components, and per-object measurements.

Everything per object works on the object's bounding-box crop (plus a ring margin), so cost
grows with the number and size of objects, not with the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from asm_core.indices import ROW_INDICES
from asm_core.layers import Bool, ScenePixels

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


#: After the opening, pixels of the original mask within this many pixels of a surviving body
#: are given back: thin spurs of a real scar return, an isolated road does not (a road touching a
#: scar only keeps a stub this long).
RECONSTRUCT_PX = 2


def clean_mask(mask: Bool, opening_px: int, closing_px: int) -> Bool:
    """Opening removes lines narrower than 2·opening+1 px (roads, edges); closing fills gaps."""
    out = mask
    if opening_px:
        out = ndimage.binary_opening(out, structure=EIGHT_CONNECTED, iterations=opening_px)
        out = (
            ndimage.binary_dilation(out, structure=EIGHT_CONNECTED, iterations=RECONSTRUCT_PX)
            & mask
        )
    if closing_px:
        out = ndimage.binary_closing(out, structure=EIGHT_CONNECTED, iterations=closing_px)
        out &= ndimage.binary_dilation(mask, structure=EIGHT_CONNECTED, iterations=closing_px)
    return np.asarray(out, dtype=bool)


@dataclass
class Labelled:
    """Connected components of a mask: raw labels, their bounding boxes and which to keep.

    Labels are never renumbered: a full-scene fancy-index remap costs more than the labelling.
    """

    labels: npt.NDArray[np.int32]
    boxes: list[tuple[slice, slice] | None]
    kept: list[int]

    @property
    def count(self) -> int:
        return len(self.kept)

    def mask_of(self, ids: list[int], like: Bool) -> Bool:
        """A full-grid mask of the given components, written box by box."""
        out = np.zeros_like(like)
        for index in ids:
            box = self.boxes[index - 1]
            if box is not None:
                out[box] |= self.labels[box] == index
        return out


def label_components(
    mask: Bool, min_pixels: int = 1, structure: Bool = EIGHT_CONNECTED
) -> Labelled:
    """Components of at least ``min_pixels``, in raster order of their first pixel."""
    labels, count = ndimage.label(mask, structure=structure)
    labels = labels.astype(np.int32, copy=False)
    if count == 0:
        return Labelled(labels, [], [])
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    kept = [int(i) for i in np.flatnonzero(sizes >= min_pixels) if i != 0]
    return Labelled(labels, list(ndimage.find_objects(labels)), kept)


def grow_from_seeds(seeds: Bool, allowed: Bool) -> Bool:
    """Hysteresis: the connected parts of ``seeds | allowed`` that contain a seed pixel."""
    parts = label_components(seeds | allowed)
    if not parts.kept:
        return seeds
    touched = np.unique(parts.labels[seeds])
    return parts.mask_of([int(i) for i in touched if i != 0], seeds)


def fill_small_holes(mask: Bool, max_pixels: int) -> Bool:
    """Fill holes of fewer than ``max_pixels`` (pits and puddles inside a scar are part of it);
    larger holes (ponds big enough to map on their own) stay open."""
    # one labelling of the background is ~3x cheaper than scipy's iterative fill_holes
    background = label_components(
        ~mask, structure=np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    )
    if not background.kept:
        return mask
    labels = background.labels
    sizes = np.bincount(labels.ravel())
    edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    border = set(np.unique(edges).tolist())
    small = [i for i in background.kept if sizes[i] < max_pixels and i not in border]
    return np.asarray(mask | background.mask_of(small, mask), dtype=bool)


def label_objects(mask: Bool, min_pixels: int) -> Labelled:
    """8-connected components of at least ``min_pixels``."""
    return label_components(mask, min_pixels)


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
        return int(self.mask.sum())

    @property
    def anchor(self) -> tuple[int, int]:
        """Grid (row, col) of the object's first pixel in raster order: a stable identity."""
        r, c = np.argwhere(self.mask)[0]
        return int(r) + self.rows.start, int(c) + self.cols.start


def object_crops(objects: Labelled, ring_px: int) -> list[ObjectCrop]:
    """Crops (with a ring of ``ring_px`` around the hole-filled object) for every kept object."""
    labels = objects.labels
    height, width = labels.shape
    crops = []
    for index in objects.kept:
        bbox = objects.boxes[index - 1]
        if bbox is None:
            continue
        r0 = max(0, bbox[0].start - ring_px)
        r1 = min(height, bbox[0].stop + ring_px)
        c0 = max(0, bbox[1].start - ring_px)
        c1 = min(width, bbox[1].stop + ring_px)
        mask = labels[r0:r1, c0:c1] == index
        filled = ndimage.binary_fill_holes(mask)
        grown = ndimage.binary_dilation(filled, structure=EIGHT_CONNECTED, iterations=ring_px)
        crops.append(ObjectCrop(index, slice(r0, r1), slice(c0, c1), mask, filled, grown & ~filled))
    return crops


def ring_fraction(crop: ObjectCrop, layer: Bool, invert: bool = False) -> float:
    """Share of the object's ring pixels set in a full-grid layer (or unset, with ``invert``)."""
    ring = crop.ring
    total = int(ring.sum())
    if total == 0:
        return 0.0
    window = layer[crop.rows, crop.cols]
    hits = np.count_nonzero(~window & ring) if invert else np.count_nonzero(window & ring)
    return float(hits) / total


@dataclass
class ObjectStats:
    """Index statistics over an object's valid pixels, and of its surroundings."""

    means: dict[str, float | None]
    percentiles: dict[str, float | None]
    valid_fraction: float
    ring_ndvi: float | None
    extra: dict[str, float] = field(default_factory=dict)


def _mean(values: npt.NDArray[np.float32]) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(finite.mean(dtype=np.float64)), 5) if finite.size else None


def object_stats(
    pixels: ScenePixels, crop: ObjectCrop, valid: Bool, indices: tuple[str, ...]
) -> ObjectStats:
    """Means (and p10/p90 of NDVI and BSI) of the indices over the object's valid pixels."""
    r, c = crop.rows, crop.cols
    values = pixels.window(indices, r.start, r.stop, c.start, c.stop)
    inside = crop.mask & valid[r, c]
    means: dict[str, float | None] = {n: None for n in ROW_INDICES}
    percentiles: dict[str, float | None] = {}
    for name in indices:
        means[name] = _mean(values[name][inside])
    for name in ("ndvi", "bsi"):
        finite = values[name][inside] if name in values else np.empty(0, np.float32)
        finite = finite[np.isfinite(finite)]
        for q in (10, 90):
            percentiles[f"{name}_p{q}"] = (
                round(float(np.percentile(finite, q)), 5) if finite.size else None
            )
    around = crop.ring & valid[r, c]
    ring_ndvi = _mean(values["ndvi"][around]) if "ndvi" in values else None
    total = crop.pixels
    return ObjectStats(means, percentiles, inside.sum() / total if total else 0.0, ring_ndvi)


def radius_px(distance_m: float, pixel_m: float) -> int:
    """A distance in metres as a whole number of pixels (at least 1)."""
    return max(1, math.ceil(distance_m / pixel_m))
