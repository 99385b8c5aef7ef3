"""Where a tile-date was actually seen: a coarse grid of the clear (valid) share per cell.

Monitoring must tell "not seen" from "gone": a site whose footprint was under cloud or outside
the swath on a date is unobserved, never inactive. The per-tile job keeps, next to its tile_runs
row, the share of valid pixels in every 200 m cell (549² cells for a full tile, a few kB
compressed), so that any footprint can later be checked against any date without the pixels.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize

from asm_core.packed_mask import PackedMask
from asm_core.vectorize import WGS84, crs_key, reproject

CELL_PX = 20


@dataclass(frozen=True)
class ObservedGrid:
    """Percent of valid pixels (0..100) per cell, on the scene's grid coarsened by ``CELL_PX``."""

    share: npt.NDArray[np.uint8]
    transform: Affine
    crs: CRS

    def to_row(self) -> dict[str, object]:
        """The tile_runs columns that carry the grid."""
        return {
            "observed_grid": zlib.compress(self.share.tobytes(), 6),
            "observed_grid_shape": list(self.share.shape),
            "observed_grid_transform": list(self.transform)[:6],
            "observed_grid_crs": crs_key(self.crs),
        }

    @classmethod
    def from_row(cls, row: dict[str, object]) -> ObservedGrid | None:
        if not row.get("observed_grid"):
            return None
        height, width = (int(v) for v in row["observed_grid_shape"])  # type: ignore[attr-defined]
        share = np.frombuffer(zlib.decompress(row["observed_grid"]), np.uint8)  # type: ignore[arg-type]
        return cls(
            share.reshape(height, width),
            Affine(*row["observed_grid_transform"]),  # type: ignore[misc]
            CRS.from_user_input(row["observed_grid_crs"]),
        )

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


def clear_share_lookup(
    runs: Sequence[dict[str, Any]],
) -> Callable[[dict[str, Any], shapely.Geometry], float]:
    """``clear_share(run, footprint)`` over the observed grids of these tile-runs (0 for a run
    without one: a failed tile was not seen)."""
    grids = {r["item_id"]: ObservedGrid.from_row(r) for r in runs}

    def clear_share(run: dict[str, Any], footprint: shapely.Geometry) -> float:
        grid = grids.get(run["item_id"])
        return grid.clear_share(footprint) if grid is not None else 0.0

    return clear_share
