"""One pass per pixel from digital numbers to bit-packed rule layers (numba).

Written as a fused, compiled loop rather than numpy expressions because the numpy way makes a
float32 temporary per band, per index and per comparison (about 25 full-size arrays per
strip): on a full 10980² tile that traffic costs more than decoding the bands. Here every pixel
is read once from the DN arrays (20 m bands indexed at their own resolution, never upsampled),
converted to reflectance, turned into every index of :mod:`asm_core.spectral.indices` (read from
its table, not restated here), checked against the valid mask and
every rule condition, and written as one bit per layer.

The float32 arithmetic is the same, operation for operation, as :mod:`asm_core.spectral.indices` and
:func:`asm_core.spectral.reflectance.to_reflectance`, so the layers are bit-identical to the numpy
formulation (the tests compare both).

Bit-packed output follows :func:`numpy.packbits` (big-endian within a byte), so
``np.unpackbits(packed, axis=-1, count=width)`` recovers a boolean layer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from asm_core.errors import RuleSetError
from asm_core.rules import MaskSettings, PixelRule
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS
from asm_core.spectral.indices import INDEX_NAMES, INDICES, Form

# The scan forks worker processes; GNU OpenMP (numba's first choice here) dies on fork, the
# work-queue layer does not. It is not safe for concurrent calls, hence the lock below.
numba.config.THREADING_LAYER = "forksafe"  # type: ignore[attr-defined]
_KERNEL_LOCK = threading.Lock()

#: Operand ids: the six reflectance bands, then the indices in INDEX_NAMES order.
OPERANDS: tuple[str, ...] = (*REFLECTANCE_BANDS, *INDEX_NAMES)
#: The kernel's value rows: the operands, then a row of zeros (the second term of a one-band sum).
ZERO = len(OPERANDS)
ROWS = ZERO + 1
MNDWI, SWIR16 = OPERANDS.index("mndwi"), OPERANDS.index("swir16")
NORMALIZED_DIFFERENCE = int(Form.NORMALIZED_DIFFERENCE)


def _index_terms() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each index of :data:`asm_core.spectral.indices.INDICES` as its form and the value rows
    of its two sums (two bands each at most, the second the zero row when there is one)."""
    terms = []
    for index in INDICES:
        if len(index.a) > 2 or len(index.b) > 2:
            raise RuleSetError(
                f"index {index.name!r} sums more than two bands; the kernel adds two"
            )
        rows = [OPERANDS.index(band) for band in index.a] + [ZERO] * (2 - len(index.a))
        rows += [OPERANDS.index(band) for band in index.b] + [ZERO] * (2 - len(index.b))
        terms.append(rows)
    return np.array([int(i.form) for i in INDICES], dtype=np.int64), np.array(terms, dtype=np.int64)


INDEX_FORM, INDEX_TERMS = _index_terms()
#: Bit plane 0 is the valid mask; rule layers follow.
VALID_PLANE = 0
MAX_LAYERS = 15

U8 = npt.NDArray[np.uint8]


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

    @property
    def planes(self) -> int:
        return len(self.layers) + 1


def rule_table(rules: list[PixelRule], mask: MaskSettings) -> RuleTable:
    """Flatten pixel rules (ORed into their layers) and the mask settings for the kernel."""
    layers = tuple(sorted({r.layer for r in rules}))
    if len(layers) > MAX_LAYERS:
        raise RuleSetError(
            f"the rule set has {len(layers)} layers; at most {MAX_LAYERS} are supported"
        )
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
    )


ROWS_PER_TASK = 16


@numba.njit(inline="always")
def _ratio(num: np.float32, den: np.float32) -> np.float32:
    # finite reflectances are bounded, so only a zero denominator can give inf or NaN here
    return num / den if den != 0 else np.float32(np.nan)


@numba.njit(inline="always")
def _band_row(
    band: npt.NDArray[np.uint16],
    row: int,
    factor: int,
    col0: int,
    offset: np.float32,
    scale: np.float32,
    values: npt.NDArray[np.float32],
    ok: npt.NDArray[np.bool_],
) -> None:
    nan = np.float32(np.nan)
    if factor == 1:  # contiguous: vectorised
        for c in range(values.shape[0]):
            dn = band[row, c]
            ok[c] &= dn != 0
            values[c] = (np.float32(dn) - offset) * scale if dn != 0 else nan
    else:
        first = col0 // factor
        for c in range(values.shape[0]):
            dn = band[row, (c + col0) // factor - first]
            ok[c] &= dn != 0
            values[c] = (np.float32(dn) - offset) * scale if dn != 0 else nan


@numba.njit(inline="always")
def _pack_row(layer: npt.NDArray[np.bool_], out: npt.NDArray[np.uint8]) -> None:
    """numpy.packbits of one row (big-endian bits, zero padding)."""
    width = layer.shape[0]
    full = width // 8
    for j in range(full):
        byte = np.uint8(0)
        for bit in range(8):
            byte |= np.uint8(layer[8 * j + bit]) << (7 - bit)
        out[j] = byte
    if full < out.shape[0]:
        byte = np.uint8(0)
        for bit in range(width - 8 * full):
            byte |= np.uint8(layer[8 * full + bit]) << (7 - bit)
        out[full] = byte


@numba.njit(parallel=True, cache=True, nogil=True)
def _classify(
    blue: npt.NDArray[np.uint16],
    green: npt.NDArray[np.uint16],
    red: npt.NDArray[np.uint16],
    nir: npt.NDArray[np.uint16],
    swir16: npt.NDArray[np.uint16],
    swir22: npt.NDArray[np.uint16],
    scl: npt.NDArray[np.uint8],
    present: npt.NDArray[np.bool_],
    factors: npt.NDArray[np.int64],
    width: int,
    row0: int,
    col0: int,
    scales: npt.NDArray[np.float32],
    dn_offset: np.float32,
    invalid_scl: npt.NDArray[np.bool_],
    rescue_scl: npt.NDArray[np.bool_],
    rescue_mndwi_gt: np.float32,
    rescue_swir16_lt: np.float32,
    operand: npt.NDArray[np.int64],
    gt: npt.NDArray[np.float32],
    lt: npt.NDArray[np.float32],
    rule_start: npt.NDArray[np.int64],
    rule_plane: npt.NDArray[np.int64],
    index_form: npt.NDArray[np.int64],
    index_terms: npt.NDArray[np.int64],
    out: npt.NDArray[np.uint8],
    rescued: npt.NDArray[np.int64],
) -> None:
    # Row at a time, each step a simple loop over the row that LLVM vectorises.
    planes, rows = out.shape[0], out.shape[1]
    n_rules = rule_plane.shape[0]
    nan = np.float32(np.nan)
    bands = (blue, green, red, nir, swir16, swir22)
    for task in numba.prange((rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        v = np.empty((ROWS, width), dtype=np.float32)
        v[ZERO, :] = 0
        ok = np.empty(width, dtype=np.bool_)
        hit = np.empty(width, dtype=np.bool_)
        layer = np.empty((planes, width), dtype=np.bool_)
        for r in range(task * ROWS_PER_TASK, min(rows, (task + 1) * ROWS_PER_TASK)):
            ok[:] = True
            for b in numba.literal_unroll((0, 1, 2, 3, 4, 5)):
                if present[b]:
                    at = (r + row0) // factors[b] - row0 // factors[b]
                    _band_row(bands[b], at, factors[b], col0, dn_offset, scales[b], v[b], ok)
                else:
                    v[b, :] = nan
            for k in range(index_terms.shape[0]):  # the indices, as spectral/indices.py has them
                a0, a1, b0, b1 = (
                    index_terms[k, 0],
                    index_terms[k, 1],
                    index_terms[k, 2],
                    index_terms[k, 3],
                )
                x = v[len(REFLECTANCE_BANDS) + k]
                if index_form[k] == NORMALIZED_DIFFERENCE:
                    for c in range(width):
                        a = v[a0, c] + v[a1, c]
                        b = v[b0, c] + v[b1, c]
                        x[c] = _ratio(a - b, a + b)
                else:
                    for c in range(width):
                        x[c] = _ratio(v[a0, c] + v[a1, c], v[b0, c] + v[b1, c])
            if present[6]:
                at = (r + row0) // factors[6] - row0 // factors[6]
                count = 0
                for c in range(width):
                    s = scl[at, (c + col0) // factors[6] - col0 // factors[6]]
                    if ok[c] and invalid_scl[s]:
                        pond = rescue_scl[s] and v[MNDWI, c] > rescue_mndwi_gt
                        pond = pond and v[SWIR16, c] < rescue_swir16_lt
                        count += pond
                        ok[c] = pond
                rescued[r] = count
            layer[:, :] = False
            layer[0, :] = ok
            for k in range(n_rules):
                hit[:] = ok
                for i in range(rule_start[k], rule_start[k + 1]):
                    x = v[operand[i]]
                    g, u = gt[i], lt[i]  # -inf/+inf when absent; NaN fails both
                    for c in range(width):
                        hit[c] &= (x[c] > g) & (x[c] < u)
                p = rule_plane[k]
                for c in range(width):
                    layer[p, c] |= hit[c]
            for p in range(planes):
                _pack_row(layer[p], out[p, r])


def classify_strip(
    dn: dict[str, npt.NDArray[np.integer]],
    factors: dict[str, int],
    scales: dict[str, float],
    dn_offset: int,
    table: RuleTable,
    out: U8,
    width: int,
    row0: int = 0,
    col0: int = 0,
) -> int:
    """Valid mask and rule layers of one strip, written bit-packed into ``out``.

    Args:
        dn: the strip's DN by band common name, each at its own resolution, starting at the
            stored pixel that covers fine-grid (``row0``, ``col0``); ``scl`` optional.
        factors: fine pixels per stored pixel, per band.
        scales: reflectance scale per band.
        dn_offset: DN to subtract before scaling (0 or 1000; see reflectance.py).
        table: the rule table.
        out: ``(planes, rows, ceil(width / 8))`` uint8, overwritten.
        width: the strip's width in fine-grid pixels.
        row0, col0: fine-grid position of the strip (it fixes which stored pixel covers which
            fine pixel of a coarse band).

    Returns:
        How many cloud-labelled pixels were kept as turbid ponds.
    """
    planes, rows, packed_width = out.shape
    if planes != table.planes or packed_width * 8 < width:
        raise ValueError(
            f"out has shape {out.shape}; expected ({table.planes}, rows, >= {-(-width // 8)})"
        )
    names = (*REFLECTANCE_BANDS, "scl")
    dummy = np.zeros((1, 1), dtype=np.uint16)
    blue, green, red, nir, swir16, swir22 = (
        np.ascontiguousarray(dn[n], dtype=np.uint16) if n in dn else dummy
        for n in REFLECTANCE_BANDS
    )
    scl = np.ascontiguousarray(dn.get("scl", np.zeros((1, 1))), dtype=np.uint8)
    band_factors = np.array([factors.get(n, 1) for n in names], dtype=np.int64)
    rescued = np.zeros(rows, dtype=np.int64)
    with _KERNEL_LOCK:
        _classify(
            blue,
            green,
            red,
            nir,
            swir16,
            swir22,
            scl,
            np.array([n in dn for n in names]),
            band_factors,
            width,
            row0,
            col0,
            np.array([scales.get(n, 1.0) for n in REFLECTANCE_BANDS], dtype=np.float32),
            np.float32(dn_offset),
            table.invalid_scl,
            table.rescue_scl,
            table.rescue_mndwi_gt,
            table.rescue_swir16_lt,
            table.operand,
            table.gt,
            table.lt,
            table.rule_start,
            table.rule_plane,
            INDEX_FORM,
            INDEX_TERMS,
            out[:, :, : -(-width // 8)],
            rescued,
        )
    return int(rescued.sum())
