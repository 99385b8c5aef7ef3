"""What a tile-date showed, cell by cell: where it was seen, and how green the ground was.

Monitoring must tell "not seen" from "gone", and "missed" from "grown over", for any footprint
on any date without the pixels. The per-tile job keeps two coarse grids next to its tile_runs
row:

* the share of valid pixels in every 200 m cell (549² cells for a full tile, a few kB
  compressed): a site whose footprint was under cloud or outside the swath on a date is
  unobserved, never inactive;
* the mean NDVI of the clear land pixels (water left out: NDVI below ``footprint_water_ndvi``)
  in every ``footprint_grid_m`` cell (40 m: 2745² cells for a full tile, one byte each, NDVI
  above ``footprint_vegetated_ndvi`` stored as that: 0.85 MB compressed for a synthetic savanna-
  and-forest tile, less where forest dominates, more over dry farmland): a site not detected on
  a clear look whose ground is still as bare as when it was worked was missed, one whose ground
  is greening is revegetating, and one grown over is inactive; pits flooding in the rains do not
  make a footprint look barer (:mod:`asm_core.monitoring.site_states`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize

from asm_core.detection.objects.vectorize import WGS84, crs_key, reproject
from asm_core.detection.pixels.packed_mask import PackedMask
from asm_core.results.rows import TileRunRow

CELL_PX = 20

#: the clear share (0..1) of a footprint (lon/lat) on a tile-date
ClearShare = Callable[[TileRunRow, shapely.Geometry], float]
#: the mean NDVI of a footprint on a tile-date (of its land, or of the footprint itself)
FootprintNdvi = Callable[[TileRunRow, shapely.Geometry, bool], float | None]


def _packed(name: str, codes: npt.NDArray[np.uint8], transform: Affine) -> dict[str, object]:
    """A byte grid as the tile_runs columns ``<name>``, ``<name>_shape``, ``<name>_transform``."""
    return {
        name: zlib.compress(codes.tobytes(), 6),
        f"{name}_shape": list(codes.shape),
        f"{name}_transform": list(transform)[:6],
    }


def _unpacked(
    row: Mapping[str, object], name: str
) -> tuple[npt.NDArray[np.uint8], Affine, CRS] | None:
    """The byte grid, transform and CRS of a tile_runs row's ``<name>`` columns (None if the
    row has none: a failed tile, or one written before the grid existed)."""
    if not row.get(name) or not row.get("observed_grid_crs"):
        return None
    height, width = (int(v) for v in row[f"{name}_shape"])  # type: ignore[attr-defined]
    codes = np.frombuffer(zlib.decompress(row[name]), np.uint8)  # type: ignore[arg-type]
    return (
        codes.reshape(height, width),
        Affine(*row[f"{name}_transform"]),  # type: ignore[misc]
        CRS.from_user_input(row["observed_grid_crs"]),
    )


@dataclass(frozen=True)
class ObservedGrid:
    """Percent of valid pixels (0..100) per cell, on the scene's grid coarsened by ``CELL_PX``."""

    share: npt.NDArray[np.uint8]
    transform: Affine
    crs: CRS

    def to_row(self) -> dict[str, object]:
        """The tile_runs columns that carry the grid."""
        return _packed("observed_grid", self.share, self.transform) | {
            "observed_grid_crs": crs_key(self.crs)
        }

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> ObservedGrid | None:
        grid = _unpacked(row, "observed_grid")
        return None if grid is None else cls(*grid)

    def clear_share(self, footprint_lonlat: shapely.Geometry) -> float:
        """Share (0..1) of a footprint's cells that were clear, weighted by their valid share;
        0 where the footprint lies outside the scene."""
        local = reproject(footprint_lonlat, WGS84, crs_key(self.crs))
        cells = rasterize(
            [local], out_shape=self.share.shape, transform=self.transform, all_touched=True
        ).astype(bool)
        if not cells.any():
            return 0.0
        return float(self.share[cells].mean()) / 100.0


def observed_grid(valid: PackedMask, transform: Affine, crs: CRS) -> ObservedGrid:
    """The valid share per ``CELL_PX``² cell of a scene's valid mask, strip by strip."""
    height, width = valid.shape
    rows, cols = -(-height // CELL_PX), -(-width // CELL_PX)
    share = np.zeros((rows, cols), dtype=np.uint8)
    for r in range(rows):
        r0, r1 = r * CELL_PX, min(height, (r + 1) * CELL_PX)
        strip = valid.rows(r0, r1)
        padded = np.zeros((r1 - r0, cols * CELL_PX), dtype=np.uint16)
        padded[:, :width] = strip
        counts = padded.reshape(r1 - r0, cols, CELL_PX).sum(axis=(0, 2))
        sizes = np.full(cols, (r1 - r0) * CELL_PX, dtype=np.float64)
        sizes[-1] = (r1 - r0) * (width - (cols - 1) * CELL_PX)
        share[r] = np.round(100.0 * counts / sizes).astype(np.uint8)
    return ObservedGrid(share, transform @ Affine.scale(CELL_PX), crs)


#: NDVI is stored as one byte per cell: 0 = no clear land, 1..255 = NDVI -1..1.
NDVI_LEVELS = 254


@dataclass(frozen=True)
class NdviGrid:
    """Mean NDVI of the clear land pixels per cell (NaN: none), on a coarsened scene grid."""

    ndvi: npt.NDArray[np.float32]
    transform: Affine
    crs: CRS

    def to_row(self, ceiling: float = 1.0) -> dict[str, object]:
        """The tile_runs columns that carry the grid (its CRS is the observed grid's), NDVI
        above ``ceiling`` stored as the ceiling: all vegetation reads the same to the site
        states, and forest in one value compresses to almost nothing (a 10980² tile's grid
        is 7.5 M cells)."""
        known = np.isfinite(self.ndvi)
        codes = np.zeros(self.ndvi.shape, dtype=np.uint8)
        scaled = (np.clip(self.ndvi[known], -1, ceiling) + 1) / 2 * NDVI_LEVELS
        codes[known] = 1 + np.round(scaled).astype(np.uint8)
        return _packed("ndvi_grid", codes, self.transform)

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> NdviGrid | None:
        grid = _unpacked(row, "ndvi_grid")
        if grid is None:
            return None
        codes, transform, crs = grid
        ndvi = np.where(codes > 0, (codes.astype(np.float32) - 1) / NDVI_LEVELS * 2 - 1, np.nan)
        return cls(ndvi.astype(np.float32), transform, crs)

    def footprint_ndvi(
        self, footprint_lonlat: shapely.Geometry, inside_only: bool = False
    ) -> float | None:
        """Mean NDVI of the footprint's land, on the cells wholly inside it (their centre half a
        cell in from its edge: edge cells mix in the surroundings, whose seasons are not the
        site's); on the cells whose centre lies in it when none is, or on the cells it touches
        for a footprint smaller than a cell. With ``inside_only``, the median of the cells
        wholly inside only: the typical ground there, which a few green islands or a sliver
        of the surroundings do not move. None if none of them had clear land."""
        local = reproject(footprint_lonlat, WGS84, crs_key(self.crs))
        inner = local.buffer(-abs(self.transform.a) / 2)
        tries = [(inner, False)] if not inner.is_empty else []
        if not inside_only:
            tries += [(local, False), (local, True)]
        for shape, touched in tries:
            cells = rasterize(
                [shape], out_shape=self.ndvi.shape, transform=self.transform, all_touched=touched
            ).astype(bool)
            values = self.ndvi[cells]
            values = values[np.isfinite(values)]
            if values.size:
                return float(np.median(values) if inside_only else values.mean())
        return None


@numba.njit(cache=True, nogil=True)
def _accumulate_ndvi(
    red: npt.NDArray[np.uint16],
    nir: npt.NDArray[np.uint16],
    bits: npt.NDArray[np.uint8],
    row0: int,
    step: int,
    cell_px: int,
    offset: np.float32,
    water: np.float32,
    sums: npt.NDArray[np.float32],
    counts: npt.NDArray[np.uint8],
) -> None:
    # One pass, no temporaries: the numpy version took 0.2 s a strip (2.2 s a tile, 8 % of
    # the job) and its temporaries added 100 MB to the strip pass's peak; this 0.05 s.
    for i in range((-row0) % step, red.shape[0], step):
        cell_row = (row0 + i) // cell_px
        for j in range(0, red.shape[1], step):
            if not (bits[i, j >> 3] >> (7 - (j & 7))) & 1:
                continue
            r = np.float32(red[i, j]) - offset
            n = np.float32(nir[i, j]) - offset
            if n + r <= 0:
                continue
            ndvi = (n - r) / (n + r)
            if ndvi >= water:
                sums[cell_row, j // cell_px] += ndvi
                counts[cell_row, j // cell_px] += 1


class NdviGridBuilder:
    """Accumulates :class:`NdviGrid` strip by strip during the per-pixel pass.

    Red and NIR are sampled every other pixel (four samples per 40 m cell): the grid is a
    footprint statistic over many cells, and every pixel would cost four times as much.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        cell_px: int,
        transform: Affine,
        crs: CRS,
        water_ndvi: float,
    ):
        self.cell_px, self.step, self.water_ndvi = cell_px, max(1, cell_px // 2), water_ndvi
        self.shape = (-(-shape[0] // cell_px), -(-shape[1] // cell_px))
        # 30 MB and 7.5 MB for a full tile, for the strip pass only (at most 4 samples a cell)
        self.sums = np.zeros(self.shape, dtype=np.float32)
        self.counts = np.zeros(self.shape, dtype=np.uint8)
        self.transform, self.crs = transform @ Affine.scale(cell_px), crs

    def add_strip(
        self,
        row0: int,
        red: npt.NDArray[np.integer],
        nir: npt.NDArray[np.integer],
        valid: PackedMask,
        dn_offset: float,
    ) -> None:
        """Add one strip (red and NIR DN on the 10 m grid, its bit-packed valid mask) that
        starts at scene row ``row0``."""
        _accumulate_ndvi(
            np.ascontiguousarray(red, dtype=np.uint16),
            np.ascontiguousarray(nir, dtype=np.uint16),
            np.ascontiguousarray(valid.bits),
            row0,
            self.step,
            self.cell_px,
            np.float32(dn_offset),
            np.float32(self.water_ndvi),
            self.sums,
            self.counts,
        )

    def grid(self) -> NdviGrid:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self.counts > 0, self.sums / self.counts, np.float32(np.nan))
        return NdviGrid(mean.astype(np.float32), self.transform, self.crs)


def footprint_ndvi_lookup(
    runs: Sequence[TileRunRow],
) -> FootprintNdvi:
    """``footprint_ndvi(run, footprint, inside_only)`` over the NDVI grids of these tile-runs
    (None for a run without one: a failed tile, or one written before the grid existed)."""
    grids = {r["item_id"]: NdviGrid.from_row(r) for r in runs}

    def footprint_ndvi(
        run: TileRunRow, footprint: shapely.Geometry, inside_only: bool = False
    ) -> float | None:
        grid = grids.get(run["item_id"])
        return grid.footprint_ndvi(footprint, inside_only) if grid is not None else None

    return footprint_ndvi


def clear_share_lookup(
    runs: Sequence[TileRunRow],
) -> ClearShare:
    """``clear_share(run, footprint)`` over the observed grids of these tile-runs (0 for a run
    without one: a failed tile was not seen)."""
    grids = {r["item_id"]: ObservedGrid.from_row(r) for r in runs}

    def clear_share(run: TileRunRow, footprint: shapely.Geometry) -> float:
        grid = grids.get(run["item_id"])
        return grid.clear_share(footprint) if grid is not None else 0.0

    return clear_share
