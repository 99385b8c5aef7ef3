"""Per-object measurements: each object's pixels read back from the bands in raster order (a
crop at a time, never the scene), its index means and percentiles, the NDVI of the ring around
it and the local texture of its surface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from asm_core.detection.objects.objects import ObjectCrop
from asm_core.detection.objects.texture import TEXTURE_BANDS, coarse_variation, surface_texture
from asm_core.detection.pixels.layers import ScenePixels
from asm_core.detection.pixels.packed_mask import Bool, PackedMask
from asm_core.detection.pixels.pixel_samples import PixelSamples
from asm_core.rules import DisturbanceSettings
from asm_core.sources.reader import expand_window
from asm_core.spectral.indices import ROW_INDICES, compute_indices
from asm_core.spectral.reflectance import to_reflectance


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


#: Rows of every band read at once for the objects whose pixels the strip pass did not keep.
#: Read one by one, each object decoded the COG blocks it touches again: on a real farmland
#: tile (~23,000 objects) that was 107 of 635 CPU-s; rows at a time, a block is decoded about
#: twice in all. 512 rows of six 10 m bands are 67 MB.
READ_BACK_ROWS = 512


#: Pixels (object, ring and filled pits) whose values are held at once while measuring: the
#: objects are measured in groups of about this many, so memory does not grow with their count
#: (all at once, the real farmland tile peaked at 2.25 GB).
STATS_CHUNK_PIXELS = 4_000_000


class _ReadBack:
    """Whole-width rows of each band, moving down the grid with raster-ordered objects."""

    def __init__(self, pixels: ScenePixels) -> None:
        self.files = pixels.files
        self.names = sorted(pixels.reflectance_bands)
        self.r0 = self.r1 = 0
        self.rows: dict[str, npt.NDArray[np.integer]] = {}

    def crop(self, crop: ObjectCrop) -> dict[str, npt.NDArray[np.integer]]:
        """Each band's fine-grid pixels over the crop's window."""
        r, c = crop.rows, crop.cols
        if r.start < self.r0 or r.stop > self.r1:
            self.rows = {}  # before the next rows are decoded
            self.r0, self.r1 = (
                r.start,
                min(self.files.shape[0], max(r.stop, r.start + READ_BACK_ROWS)),
            )
            self.rows = {n: self.files.read(n, self.r0, self.r1) for n in self.names}
        out = {}
        for name in self.names:
            f = self.files.factors[name]
            stored = self.rows[name][
                r.start // f - self.r0 // f : (r.stop - 1) // f - self.r0 // f + 1,
                c.start // f : (c.stop - 1) // f + 1,
            ]
            out[name] = expand_window(
                stored, f, r.start, c.start, r.stop - r.start, c.stop - c.start
            )
        return out


def _crop_dn(
    pixels: ScenePixels,
    crop: ObjectCrop,
    need: Bool,
    samples: PixelSamples | None,
    read_back: _ReadBack,
) -> dict[str, npt.NDArray[np.integer]]:
    """DN per reflectance band at the crop's ``need`` pixels (1-D, raster order): from the
    kept samples when they hold them all, else read back from the files."""
    r, c = crop.rows, crop.cols
    if samples is not None:
        rows, cols = np.nonzero(need)
        flat = (rows.astype(np.int64) + r.start) * samples.width + cols + c.start
        kept = samples.lookup(flat)
        if kept is not None:
            return {n: v for n, v in kept.items() if n in pixels.reflectance_bands}
    return {name: window[need] for name, window in read_back.crop(crop).items()}


def _ring_and_inside(crop: ObjectCrop, valid: Bool | PackedMask) -> tuple[Bool, Bool, Bool]:
    valid_here = valid[crop.rows, crop.cols]
    return crop.mask & valid_here, crop.ring & valid_here, crop.filled & valid_here


def objects_stats(
    pixels: ScenePixels,
    crops: list[ObjectCrop],
    valid: Bool | PackedMask,
    indices: tuple[str, ...],
    samples: PixelSamples | None = None,
    *,
    texture_percentile: float,
    ground: DisturbanceSettings | None = None,
) -> list[ObjectStats]:
    """Per object: means (and p10/p90 of NDVI and BSI) of the indices over its valid pixels,
    the mean NDVI of its ring, and in ``extra`` its mean brightness and its texture (the
    ``texture_percentile`` of its local variation: pits and spoil heaps cover part of a working,
    flat tailings the rest). With ``ground`` (disturbed ground where nearly all land is bare),
    also how it stands out from the ground around: see :func:`_ground_measures`.
    Reflectances and indices of a group's pixels are computed in one
    vectorised pass (per-object numpy calls cost more than the maths); ``crops`` in raster
    order read back what the samples lack rows at a time."""
    read_back = _ReadBack(pixels)
    out: list[ObjectStats] = []
    start = 0
    while start < len(crops):
        held, stop = 0, start
        while stop < len(crops) and (stop == start or held < STATS_CHUNK_PIXELS):
            held += crops[stop].mask.size  # the crop's window bounds what it needs
            stop += 1
        out += _stats(
            pixels,
            crops[start:stop],
            valid,
            indices,
            samples,
            read_back,
            (texture_percentile, ground),
        )
        start = stop
    return out


def _gathered(
    pixels: ScenePixels,
    crops: list[ObjectCrop],
    valid: Bool | PackedMask,
    samples: PixelSamples | None,
    read_back: _ReadBack,
) -> tuple[list[dict[str, Any]], list[Any], list[Any], list[Bool]]:
    """Each object's pixels (inside, ring and holes) as DN, whose object each is, and where
    (bit 1 inside, 2 in the ring, 4 in the hole-filled extent)."""
    parts, owner, where, needs = [], [], [], []
    for i, crop in enumerate(crops):
        inside, around, filled = _ring_and_inside(crop, valid)
        need = inside | around | filled
        parts.append(_crop_dn(pixels, crop, need, samples, read_back))
        owner.append(np.full(int(need.sum()), i, dtype=np.int64))
        where.append(
            inside[need].astype(np.int8)
            + 2 * around[need].astype(np.int8)
            + 4 * filled[need].astype(np.int8)
        )
        needs.append(need)
    return parts, owner, where, needs


def _stats(
    pixels: ScenePixels,
    crops: list[ObjectCrop],
    valid: Bool | PackedMask,
    indices: tuple[str, ...],
    samples: PixelSamples | None,
    read_back: _ReadBack,
    settings: tuple[float, DisturbanceSettings | None],
) -> list[ObjectStats]:
    """:func:`objects_stats` of one group of objects (``settings``: its texture percentile
    and the disturbed ground's, if measured)."""
    texture_percentile, ground = settings
    parts, owner, where, needs = _gathered(pixels, crops, valid, samples, read_back)
    dn = {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}
    bands = {n: to_reflectance(v, pixels.assets[n].scale, pixels.dn_offset) for n, v in dn.items()}
    values = {**bands, **compute_indices(indices, bands)}
    ids, kind = np.concatenate(owner), np.concatenate(where)
    inside_at, around_at = (kind & 1).astype(bool), (kind & 2).astype(bool)
    filled_at = (kind & 4).astype(bool)
    present = [bands[b] for b in TEXTURE_BANDS if b in bands]
    brightness = np.mean(present, axis=0) if present else None
    bounds = np.searchsorted(ids, np.arange(len(crops) + 1))
    n = len(crops)
    means = {name: _group_means(values[name], ids, inside_at, n) for name in indices}
    ring = _group_means(values["ndvi"], ids, around_at, n) if "ndvi" in values else [None] * n
    grounds: list[dict[str, float]] = [{} for _ in crops]
    if ground is not None and brightness is not None and "ferric_iron" in values:
        grounds = _ground_measures(
            values["ferric_iron"],
            brightness,
            ids,
            (inside_at, around_at),
            ground.spoil_brighter_min,
            n,
        )
    percentiles = {
        name: _group_percentiles(values[name], ids, inside_at, n)
        for name in ("ndvi", "bsi")
        if name in values
    }
    inside_counts = np.bincount(ids[inside_at], minlength=n)
    out = []
    for i, crop in enumerate(crops):
        row_means: dict[str, float | None] = {name: None for name in ROW_INDICES}
        row_means.update({name: means[name][i] for name in indices})
        row_percentiles: dict[str, float | None] = {}
        for name in ("ndvi", "bsi"):
            low, high = percentiles[name][i] if name in percentiles else (None, None)
            row_percentiles[f"{name}_p10"], row_percentiles[f"{name}_p90"] = low, high
        total = crop.pixels
        share = float(inside_counts[i]) / total if total else 0.0
        part = slice(bounds[i], bounds[i + 1])
        texture = surface_texture(
            needs[i],
            filled_at[part],
            None if brightness is None else brightness[part],
            texture_percentile,
        )
        extra = {} if texture is None else {"texture": texture}
        if brightness is not None and inside_counts[i]:
            extra["brightness"] = round(float(brightness[part][inside_at[part]].mean()), 5)
        extra.update(grounds[i])
        if ground is not None and brightness is not None:
            coarse = coarse_variation(
                needs[i], filled_at[part], brightness[part], ground.coarse_sigma_px
            )
            if coarse is not None:
                extra["coarse_variation"] = coarse
        out.append(ObjectStats(row_means, row_percentiles, share, ring[i], extra))
    return out


def _ground_measures(
    ferric: npt.NDArray[np.float32],
    brightness: npt.NDArray[np.float32],
    ids: npt.NDArray[np.int64],
    where: tuple[Bool, Bool],
    brighter_min: float,
    n: int,
) -> list[dict[str, float]]:
    """Per object, how it stands out from the ground around it: the median brightness and
    B4/B3 of its ring (``ring_brightness``, ``ring_ferric``: medians, so a wadi's pale sand
    or a track crossing part of the ring does not become the ground), and the mean B4/B3 and
    share of its *spoil* pixels, those at least (1 + ``brighter_min``) times as bright as the
    ring (``spoil_ferric``, ``spoil_share``: pale heaps and berms, not the shaded pits and
    trenches between them)."""
    inside_at, around_at = where
    ring_brightness = _group_medians(brightness, ids, around_at, n)
    ring_ferric = _group_medians(ferric, ids, around_at, n)
    with np.errstate(invalid="ignore"):  # no ring: NaN, never spoil
        spoil_at = inside_at & (brightness >= (1.0 + brighter_min) * ring_brightness[ids])
    spoil_ferric = _group_means(ferric, ids, spoil_at, n)
    spoil_counts = np.bincount(ids[spoil_at], minlength=n)
    inside_counts = np.bincount(ids[inside_at], minlength=n)
    out: list[dict[str, float]] = []
    for i in range(n):
        measures = {
            key: round(float(value), 5)
            for key, value in (
                ("ring_brightness", ring_brightness[i]),
                ("ring_ferric", ring_ferric[i]),
            )
            if np.isfinite(value)
        }
        if spoil_ferric[i] is not None:
            measures["spoil_ferric"] = spoil_ferric[i]  # type: ignore[assignment]
        if inside_counts[i]:
            measures["spoil_share"] = round(float(spoil_counts[i] / inside_counts[i]), 5)
        out.append(measures)
    return out


def _group_medians(
    values: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], chosen: Bool, n: int
) -> npt.NDArray[np.float64]:
    """Median (numpy's linear method) of the finite chosen values of each group; NaN for none."""
    ok = chosen & np.isfinite(values)
    group, kept = ids[ok], values[ok]
    order = np.lexsort((kept, group))
    group, kept = group[order], kept[order]
    return _sorted_percentile(kept, np.searchsorted(group, np.arange(n + 1)), 50)


def _group_means(
    values: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], chosen: Bool, n: int
) -> list[float | None]:
    """Mean of the finite chosen values of each group (float64 sums), rounded to 5 places."""
    ok = chosen & np.isfinite(values)
    counts = np.bincount(ids[ok], minlength=n)
    sums = np.bincount(ids[ok], weights=values[ok].astype(np.float64), minlength=n)
    return [round(float(s / c), 5) if c else None for s, c in zip(sums, counts, strict=True)]


def _group_percentiles(
    values: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], chosen: Bool, n: int
) -> list[tuple[float | None, float | None]]:
    """p10 and p90 (numpy's linear method) of the finite chosen values of each group."""
    ok = chosen & np.isfinite(values)
    group, kept = ids[ok], values[ok]
    order = np.lexsort((kept, group))
    group, kept = group[order], kept[order]
    bounds = np.searchsorted(group, np.arange(n + 1))
    low, high = (_sorted_percentile(kept, bounds, q) for q in (10, 90))
    return [
        (None, None) if np.isnan(lo) else (round(float(lo), 5), round(float(hi), 5))
        for lo, hi in zip(low, high, strict=True)
    ]


def _sorted_percentile(
    kept: npt.NDArray[np.float32], bounds: npt.NDArray[np.intp], q: float
) -> npt.NDArray[np.float64]:
    """``np.percentile(kept[bounds[i]:bounds[i + 1]], q)`` for every group of sorted values at
    once, in numpy's own arithmetic (its linear method, float32 differences, the upper form
    from gamma 0.5), so the figures are the same to the last bit; NaN for an empty group.
    (One np.percentile per object was 10 of 119 CPU-s on a real farmland tile.)"""
    counts = np.diff(bounds)
    has = counts > 0
    start, size = bounds[:-1][has], counts[has]
    virtual = (size - 1) * (np.float64(q) / 100)
    previous = np.floor(virtual)
    gamma = virtual - previous
    below = previous.astype(np.int64)
    a, b = kept[start + below], kept[start + np.minimum(below + 1, size - 1)]
    diff = b - a
    value = a + diff * gamma
    upper = gamma >= 0.5
    value[upper] = (b - diff * (1 - gamma))[upper]
    out = np.full(len(counts), np.nan)
    out[has] = value
    return out
