"""The rule set and the index table flattened into the arrays the pixel kernel reads.

Everything the kernel needs to know about indices, rules and the mask arrives as arrays (or a
scalar) built here, never as module constants baked into the compiled code: numba's on-disk
cache is keyed on the kernel's own source file, so a constant taken from another module (say, a
new index in :mod:`asm_core.spectral.indices`) would survive in a stale cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from asm_core.errors import RuleSetError
from asm_core.rules import MaskSettings, PixelRule
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS
from asm_core.spectral.indices import INDEX_NAMES, INDICES

#: Operand ids: the six reflectance bands, then the indices in INDEX_NAMES order.
OPERANDS: tuple[str, ...] = (*REFLECTANCE_BANDS, *INDEX_NAMES)
#: The kernel's value rows: the operands, then a row of zeros (the second term of a one-band sum).
ZERO_ROW = len(OPERANDS)
#: what the kernel's ``layout`` array holds, in this order
LAYOUT = ("value_rows", "zero_row", "mndwi_row", "swir16_row")


def index_terms() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each index of :data:`asm_core.spectral.indices.INDICES` as its form and the value rows
    of its two sums (two bands each at most, the second the zero row when there is one)."""
    terms = []
    for index in INDICES:
        if len(index.a) > 2 or len(index.b) > 2:
            raise RuleSetError(
                f"index {index.name!r} sums more than two bands; the kernel adds two"
            )
        rows = [OPERANDS.index(band) for band in index.a] + [ZERO_ROW] * (2 - len(index.a))
        rows += [OPERANDS.index(band) for band in index.b] + [ZERO_ROW] * (2 - len(index.b))
        terms.append(rows)
    return np.array([int(i.form) for i in INDICES], dtype=np.int64), np.array(terms, dtype=np.int64)


@dataclass(frozen=True)
class RuleTable:
    """The rule set flattened into arrays the kernel reads."""

    layers: tuple[str, ...]
    operand: npt.NDArray[np.int64]
    gt: npt.NDArray[np.float32]
    lt: npt.NDArray[np.float32]
    rule_start: npt.NDArray[np.int64]
    rule_plane: npt.NDArray[np.int64]
    invalid_scl: npt.NDArray[np.bool_]
    rescue_scl: npt.NDArray[np.bool_]
    rescue_mndwi_gt: np.float32
    rescue_swir16_lt: np.float32
    index_form: npt.NDArray[np.int64]
    index_terms: npt.NDArray[np.int64]
    #: the value rows' arrangement (:data:`LAYOUT`)
    layout: npt.NDArray[np.int64]

    @property
    def planes(self) -> int:
        """Bit plane 0 is the valid mask; the rule layers follow (as many as the rule set's
        layer names, which :data:`asm_core.rules.pixel_rules.Layer` limits)."""
        return len(self.layers) + 1

    def kernel_arguments(self) -> tuple[Any, ...]:
        """The table as the kernel takes it, in its argument order."""
        return (
            self.invalid_scl,
            self.rescue_scl,
            self.rescue_mndwi_gt,
            self.rescue_swir16_lt,
            self.operand,
            self.gt,
            self.lt,
            self.rule_start,
            self.rule_plane,
            self.index_form,
            self.index_terms,
            self.layout,
        )


def rule_table(rules: list[PixelRule], mask: MaskSettings) -> RuleTable:
    """Flatten pixel rules (ORed into their layers) and the mask settings for the kernel."""
    layers = tuple(sorted({r.layer for r in rules}))
    operand, gt, lt, start, plane = [], [], [], [0], []
    for rule in rules:
        for c in rule.all:
            operand.append(OPERANDS.index(c.operand))
            gt.append(-np.inf if c.gt is None else c.gt)
            lt.append(np.inf if c.lt is None else c.lt)
        start.append(len(operand))
        plane.append(layers.index(rule.layer) + 1)
    invalid = np.zeros(256, dtype=bool)
    invalid[list(mask.invalid_scl)] = True
    rescue = np.zeros(256, dtype=bool)
    rescue[list(mask.pond_rescue_scl)] = True
    form, terms = index_terms()
    layout = [ZERO_ROW + 1, ZERO_ROW, OPERANDS.index("mndwi"), OPERANDS.index("swir16")]
    return RuleTable(
        layers=layers,
        operand=np.array(operand, dtype=np.int64),
        gt=np.array(gt, dtype=np.float32),
        lt=np.array(lt, dtype=np.float32),
        rule_start=np.array(start, dtype=np.int64),
        rule_plane=np.array(plane, dtype=np.int64),
        invalid_scl=invalid,
        rescue_scl=rescue,
        rescue_mndwi_gt=np.float32(mask.pond_rescue_mndwi_gt),
        rescue_swir16_lt=np.float32(mask.pond_rescue_swir16_lt),
        index_form=form,
        index_terms=terms,
        layout=np.array(layout, dtype=np.int64),
    )
