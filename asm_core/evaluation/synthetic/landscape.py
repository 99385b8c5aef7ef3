"""A synthetic tropical landscape with planted ASM sites and every kind of look-alike.

The landscape is painted into a surface reflectance cube (rows, cols, 6 bands) together with the
Sen2Cor scene class each pixel would get and a truth mask per planted feature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from asm_core.evaluation.synthetic.shapes import (
    Mask,
    irregular_blob,
    meander,
    near_polyline,
    polyline_distance,
    smooth_field,
    stamp,
)
from asm_core.evaluation.synthetic.spectra import spectrum

SCL_VEGETATION, SCL_BARE, SCL_WATER = 4, 5, 6
MIN_SITE_HA, MAX_SITE_HA = 0.3, 50.0


@dataclass
class Feature:
    """One planted thing, with its truth mask as a crop of the scene grid."""

    kind: str
    rows: slice
    cols: slice
    mask: Mask
    props: dict[str, float | str] = field(default_factory=dict)


@dataclass
class Landscape:
    """Surface reflectance, scene classes and truth for a square synthetic scene."""

    size: int
    rng: np.random.Generator
    reflectance: npt.NDArray[np.float32] = field(init=False)
    scl: npt.NDArray[np.uint8] = field(init=False)
    taken: Mask = field(init=False)
    water: Mask = field(init=False)
    features: list[Feature] = field(default_factory=list)
    rivers: list[npt.NDArray[np.float64]] = field(default_factory=list)
    _water_distance: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        shape = (self.size, self.size)
        forest_share = 1 / (1 + np.exp(-1.5 * smooth_field(self.rng, shape, self.size / 6)))
        texture = (
            1 + 0.06 * smooth_field(self.rng, shape, 3) + 0.04 * smooth_field(self.rng, shape, 25)
        )
        self.reflectance = (
            forest_share[..., None] * spectrum("forest")
            + (1 - forest_share[..., None]) * spectrum("savanna")
        ) * texture[..., None]
        self.reflectance = self.reflectance.astype(np.float32)
        self.scl = np.full(shape, SCL_VEGETATION, dtype=np.uint8)
        self.taken = np.zeros(shape, dtype=bool)
        self.water = np.zeros(shape, dtype=bool)

    def water_distance(self) -> npt.NDArray[np.float64]:
        """Distance (px) to the nearest river pixel, computed once after the rivers exist."""
        if self._water_distance is None:
            self._water_distance = np.asarray(ndimage.distance_transform_edt(~self.water))
        return self._water_distance

    # -- placement ---------------------------------------------------------------------------
    def _free_spot(
        self, local: Mask, margin: int, near: Mask | None = None, tries: int = 400
    ) -> tuple[slice, slice, Mask] | None:
        h, w = local.shape
        if h >= self.size or w >= self.size:  # a feature larger than a small patch
            return None
        grown = ndimage.binary_dilation(local, iterations=margin) if margin else local
        candidates = np.argwhere(near) if near is not None else None
        if candidates is not None and candidates.size == 0:
            return None
        for _ in range(tries):
            if candidates is not None:
                r, c = candidates[self.rng.integers(len(candidates))]
            else:
                r = int(self.rng.integers(h // 2, self.size - h // 2))
                c = int(self.rng.integers(w // 2, self.size - w // 2))
            rows, cols, clipped = stamp(self.taken, grown, (int(r), int(c)))
            if clipped.shape != grown.shape:
                continue
            if not np.any(self.taken[rows, cols] & clipped) and not np.any(
                self.water[rows, cols] & clipped
            ):
                inner_rows, inner_cols, inner = stamp(self.taken, local, (int(r), int(c)))
                self.taken[rows, cols] |= clipped
                return inner_rows, inner_cols, inner
        return None

    def paint(
        self, rows: slice, cols: slice, mask: Mask, values: npt.NDArray[np.float32], scl: int
    ) -> None:
        """Set reflectance (a spectrum or per-pixel cube) and scene class under a mask."""
        block = self.reflectance[rows, cols]
        block[mask] = values if values.ndim == 1 else values[mask]
        self.scl[rows, cols][mask] = scl

    def mix(
        self, rows: slice, cols: slice, a: str, b: str, share_b: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Per-pixel linear mixture of two spectra (share of ``b`` per pixel)."""
        s = share_b[..., None]
        return np.asarray((1 - s) * spectrum(a) + s * spectrum(b), dtype=np.float32)

    # -- features ----------------------------------------------------------------------------
    def add_river(self, amplitude: float) -> None:
        row0 = self.rng.uniform(0.25, 0.75) * self.size
        line = meander(self.rng, (self.size, self.size), row0, amplitude)
        width = self.rng.uniform(4, 8)
        rows, cols, river = near_polyline((self.size, self.size), line, width / 2)
        self.water[rows, cols] |= river
        self.paint(rows, cols, river, spectrum("clear_water"), SCL_WATER)
        self.rivers.append(line)
        self._sandbars(line, width)

    def _sandbars(self, line: npt.NDArray[np.float64], width: float) -> None:
        """Iron-stained sand bars mid-channel, where the river widens around them."""
        for _ in range(int(self.rng.integers(2, 4))):
            i = int(self.rng.integers(len(line) // 8, len(line) * 7 // 8))
            seg = line[i : i + int(self.rng.uniform(20, 45) * 4)]
            if len(seg) < 2:
                continue
            rows, cols, distance = polyline_distance(self.water.shape, seg, width / 2 + 5)
            channel, bar = distance <= width / 2 + 5, distance <= 2.2
            if bar.sum() < 20:
                continue
            if np.any(self.taken[rows, cols] & channel):
                continue
            self.taken[rows, cols] |= channel
            self.water[rows, cols] |= channel & ~bar
            self.paint(rows, cols, channel & ~bar, spectrum("clear_water"), SCL_WATER)
            self.paint(rows, cols, bar, spectrum("iron_stained_sand"), SCL_BARE)
            self.features.append(Feature("sandbar", rows, cols, bar.copy()))

    def place_site(
        self, near_river: bool, min_hectares: float = MIN_SITE_HA, max_parts: int = 3
    ) -> tuple[slice, slice, Mask] | None:
        """Shape and spot of an ASM site of ``min_hectares``–50 ha in up to ``max_parts`` pits
        (marked taken), or None if none is free."""
        hectares = math.exp(self.rng.uniform(math.log(min_hectares), math.log(MAX_SITE_HA)))
        area_px = hectares * 100.0
        single = self.rng.random() < 0.6 or area_px < 200 or max_parts == 1
        parts = 1 if single else int(self.rng.integers(2, max_parts + 1))
        local = self._site_shape(area_px, parts)
        near = None
        if near_river and self.water.any():
            distance = self.water_distance()
            reach = max(local.shape) / 2
            near = (distance > reach + 2) & (distance <= reach + 10)
        spot = self._free_spot(local, margin=25, near=near)
        if spot is None:
            return None
        rows, cols, mask = spot
        return rows, cols, mask & ~self.water[rows, cols]

    def site_spoil(
        self,
        shape: tuple[int, int],
        vegetation_level: float = 0.1,
        rng: np.random.Generator | None = None,
        texture: float = 0.06,
    ) -> npt.NDArray[np.float32]:
        """Per-pixel spectra of pitted lateritic spoil with a little (or, regrowing, more)
        vegetation, varying by ``texture``; drawn from ``rng`` (default: the landscape's)."""
        rng = rng or self.rng
        vegetation = np.clip(
            vegetation_level + texture * smooth_field(rng, shape, 3),
            vegetation_level - 0.1,
            vegetation_level + 0.1,
        )
        m = rng.uniform(0, 0.25)
        base = (
            (1 - m) * spectrum("laterite")
            + m / 2 * spectrum("iron_stained_sand")
            + m / 2 * spectrum("savanna")
        ).astype(np.float32)
        return np.asarray(
            (1 - vegetation[..., None]) * base + vegetation[..., None] * spectrum("forest"),
            dtype=np.float32,
        )

    def add_site(self, near_river: bool) -> bool:
        """An ASM site: pitted lateritic spoil with turbid ponds, of 0.3–50 ha."""
        placed = self.place_site(near_river)
        if placed is None:
            return False
        rows, cols, mask = placed
        self.paint(rows, cols, mask, self.site_spoil(mask.shape), SCL_BARE)
        self.paint(rows, cols, self.pond_mask(mask), spectrum("mining_pond"), SCL_WATER)
        self.mark_site(rows, cols, mask, near_river)
        return True

    def mark_site(self, rows: slice, cols: slice, mask: Mask, near_river: bool) -> None:
        """Record a painted site as truth, and cloud the river below it if it is beside one."""
        self.features.append(
            Feature(
                "mining_site",
                rows,
                cols,
                mask.copy(),
                {"hectares": round(float(mask.sum()) / 100.0, 3)},
            )
        )
        if near_river and self.water.any():
            self._turbid_plume(rows, cols)

    def _site_shape(self, area_px: float, parts: int) -> Mask:
        blobs = [
            irregular_blob(self.rng, area_px / parts, self.rng.uniform(1, 2.5), 0.3)
            for _ in range(parts)
        ]
        side = int(sum(max(b.shape) for b in blobs) + 10)
        canvas = np.zeros((side, side), dtype=bool)
        centre = side // 2
        for k, blob in enumerate(blobs):
            offset = 0 if k == 0 else int(max(blob.shape) * 0.55 + max(blobs[0].shape) * 0.45)
            angle = self.rng.uniform(0, 2 * math.pi)
            rr = centre + int(offset * math.sin(angle))
            cc = centre + int(offset * math.cos(angle))
            rows, cols, clipped = stamp(canvas, blob, (rr, cc))
            canvas[rows, cols] |= clipped
        r, c = np.nonzero(canvas)
        return canvas[r.min() : r.max() + 1, c.min() : c.max() + 1]

    def pond_mask(self, site: Mask) -> Mask:
        """Turbid pits inside a site (a crop-shaped mask), one to seven of them."""
        ponds = np.zeros_like(site)
        interior = ndimage.binary_erosion(site, iterations=2)
        spots = np.argwhere(interior)
        if len(spots) == 0:
            return ponds
        count = int(self.rng.integers(1, 2 + min(6, site.sum() // 400)))
        for _ in range(count):
            r, c = spots[self.rng.integers(len(spots))]
            pond = irregular_blob(
                self.rng,
                self.rng.uniform(6, min(90, site.sum() / 6 + 6)),
                self.rng.uniform(1, 2),
                0.2,
            )
            pr, pc, clipped = stamp(site, pond, (int(r), int(c)))
            ponds[pr, pc] |= clipped & site[pr, pc]
        return ponds

    def _turbid_plume(self, rows: slice, cols: slice) -> None:
        """Sediment-laden water downstream (eastwards) of a riverside site."""
        plume = self.plume_reach(rows, cols)
        if plume is None:
            return
        rs, cs, reach = plume
        self.paint(rs, cs, reach, spectrum("turbid_water"), SCL_WATER)
        self.features.append(Feature("turbid_reach", rs, cs, reach.copy()))

    def plume_reach(self, rows: slice, cols: slice) -> tuple[slice, slice, Mask] | None:
        """The river reach a riverside site's sediment would cloud: from the nearest point of
        the river downstream (eastwards) for 1.5–5 km; None if too little open water."""
        centre = np.array([(rows.start + rows.stop) / 2, (cols.start + cols.stop) / 2])
        line = self.rivers[0]
        i = int(np.argmin(np.hypot(line[:, 0] - centre[0], line[:, 1] - centre[1])))
        seg = line[i : i + int(self.rng.uniform(150, 500) * 4)]
        if len(seg) < 2:
            return None
        rs, cs, near = near_polyline(self.water.shape, seg, 8)
        reach = near & self.water[rs, cs] & (self.scl[rs, cs] == SCL_WATER)
        reach &= ~self._sand_or_bar(rs, cs)
        if reach.sum() < 50:
            return None
        return rs, cs, reach

    def _sand_or_bar(self, rows: slice, cols: slice) -> Mask:
        return np.asarray(self.scl[rows, cols] == SCL_BARE)
