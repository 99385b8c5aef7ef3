"""Per-pixel work of a scene: reflectance, valid mask, indices and rule layers, block by block.

Blocks of rows keep float32 temporaries small (a full 10980² tile never holds a full-size float
array per band or index): each block expands its slice of the 20 m bands, computes the indices
the rules need, and writes boolean layers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asm_core.indices import F32, available_indices, compute_indices
from asm_core.reader import BandStack, expand_rows
from asm_core.reflectance import to_reflectance
from asm_core.rules import MaskSettings, PixelRule
from asm_core.sentinel2 import REFLECTANCE_BANDS, BandAsset

BLOCK_ROWS = 512
Bool = npt.NDArray[np.bool_]


@dataclass
class ScenePixels:
    """Reflectance and indices of a band stack, computed on demand for any window."""

    stack: BandStack
    assets: dict[str, BandAsset]
    dn_offset: int

    @property
    def reflectance_bands(self) -> frozenset[str]:
        return frozenset(n for n in REFLECTANCE_BANDS if n in self.stack.arrays)

    def _slice(self, name: str, r0: int, r1: int, c0: int, c1: int) -> npt.NDArray[np.generic]:
        factor = self.stack.factors[name]
        rows = expand_rows(self.stack.arrays[name], factor, r0, r1, self.stack.shape[1])
        return rows[:, c0:c1]

    def reflectance(self, name: str, r0: int, r1: int, c0: int, c1: int) -> F32:
        dn = self._slice(name, r0, r1, c0, c1)
        return to_reflectance(
            dn.astype(np.uint16, copy=False), self.assets[name].scale, self.dn_offset
        )

    def window(
        self, indices: tuple[str, ...], r0: int, r1: int, c0: int, c1: int
    ) -> dict[str, F32]:
        """Band reflectances and the requested indices over one window."""
        bands = {n: self.reflectance(n, r0, r1, c0, c1) for n in sorted(self.reflectance_bands)}
        out = dict(bands)
        out.update(compute_indices(indices, bands))
        return out

    def scl(self, r0: int, r1: int, c0: int, c1: int) -> npt.NDArray[np.generic] | None:
        if "scl" not in self.stack.arrays:
            return None
        return self._slice("scl", r0, r1, c0, c1)

    def blocks(self, rows: int = BLOCK_ROWS) -> Iterator[tuple[int, int]]:
        height = self.stack.shape[0]
        for r0 in range(0, height, rows):
            yield r0, min(height, r0 + rows)


def _condition_mask(
    values: dict[str, F32], operand: str, gt: float | None, lt: float | None
) -> Bool:
    v = values[operand]
    ok = np.isfinite(v)
    if gt is not None:
        ok &= v > np.float32(gt)
    if lt is not None:
        ok &= v < np.float32(lt)
    return ok


@dataclass
class SceneLayers:
    """Full-grid boolean layers of one scene."""

    valid: Bool
    layers: dict[str, Bool]
    rescued_pond_pixels: int


def valid_mask_block(
    values: dict[str, F32], scl: npt.NDArray[np.generic] | None, settings: MaskSettings
) -> tuple[Bool, int]:
    """Valid pixels of a block: data in every band and an SCL class we trust.

    Sen2Cor often labels turbid mining ponds as cloud; a pixel whose SCL says cloud but whose
    spectrum is water (MNDWI high, SWIR low, which cloud never is) is kept.
    """
    valid = np.ones(next(iter(values.values())).shape, dtype=bool)
    for name in REFLECTANCE_BANDS:
        if name in values:
            valid &= np.isfinite(values[name])
    rescued = 0
    if scl is not None:
        bad = np.isin(scl, settings.invalid_scl)
        if "mndwi" in values and "swir16" in values:
            pond = (
                np.isin(scl, settings.pond_rescue_scl)
                & (values["mndwi"] > settings.pond_rescue_mndwi_gt)
                & (values["swir16"] < settings.pond_rescue_swir16_lt)
            )
            rescued = int(np.count_nonzero(pond & bad & valid))
            bad &= ~pond
        valid &= ~bad
    return valid, rescued


def compute_layers(pixels: ScenePixels, rules: list[PixelRule], mask: MaskSettings) -> SceneLayers:
    """Evaluate the runnable pixel rules over the whole scene, block by block."""
    height, width = pixels.stack.shape
    names: list[str] = sorted({r.layer for r in rules})
    layers: dict[str, Bool] = {name: np.zeros((height, width), dtype=bool) for name in names}
    valid = np.zeros((height, width), dtype=bool)
    needed = {c.index for r in rules for c in r.all if c.index}
    indices = tuple(
        i for i in available_indices(pixels.reflectance_bands) if i in needed or i == "mndwi"
    )
    rescued = 0
    for r0, r1 in pixels.blocks():
        values = pixels.window(indices, r0, r1, 0, width)
        block_valid, block_rescued = valid_mask_block(values, pixels.scl(r0, r1, 0, width), mask)
        valid[r0:r1] = block_valid
        rescued += block_rescued
        for rule in rules:
            hit = block_valid.copy()
            for c in rule.all:
                hit &= _condition_mask(values, c.operand, c.gt, c.lt)
            layers[rule.layer][r0:r1] |= hit
    return SceneLayers(valid=valid, layers=layers, rescued_pond_pixels=rescued)
