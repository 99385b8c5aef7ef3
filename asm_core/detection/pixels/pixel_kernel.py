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
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from asm_core.detection.pixels.rule_table import RuleTable
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS

# The scan forks worker processes; GNU OpenMP (numba's first choice here) dies on fork, the
# work-queue layer does not. It is not safe for concurrent calls, hence the lock below.
numba.config.THREADING_LAYER = "forksafe"  # type: ignore[attr-defined]
_KERNEL_LOCK = threading.Lock()

U8 = npt.NDArray[np.uint8]
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


@numba.njit(inline="always")
def _index_rows(
    v: npt.NDArray[np.float32],
    first: int,
    index_form: npt.NDArray[np.int64],
    index_terms: npt.NDArray[np.int64],
) -> None:
    """Every index of the table (spectral/indices.py) from the band rows, into rows ``first``…"""
    width = v.shape[1]
    for k in range(index_terms.shape[0]):
        a0, a1 = index_terms[k, 0], index_terms[k, 1]
        b0, b1 = index_terms[k, 2], index_terms[k, 3]
        x = v[first + k]
        if index_form[k] == 0:  # Form.NORMALIZED_DIFFERENCE
            for c in range(width):
                a = v[a0, c] + v[a1, c]
                b = v[b0, c] + v[b1, c]
                x[c] = _ratio(a - b, a + b)
        else:  # Form.RATIO
            for c in range(width):
                x[c] = _ratio(v[a0, c] + v[a1, c], v[b0, c] + v[b1, c])


@numba.njit(inline="always")
def _scl_row(
    scl_row: npt.NDArray[np.uint8],
    factor: int,
    col0: int,
    v: npt.NDArray[np.float32],
    layout: npt.NDArray[np.int64],
    invalid_scl: npt.NDArray[np.bool_],
    rescue_scl: npt.NDArray[np.bool_],
    rescue_mndwi_gt: np.float32,
    rescue_swir16_lt: np.float32,
    ok: npt.NDArray[np.bool_],
) -> int:
    """Drop pixels the scene classification calls invalid, but keep a 'cloud' that is a turbid
    pond (wet and dark in SWIR); returns how many were kept so."""
    mndwi, swir16 = layout[2], layout[3]
    count = 0
    for c in range(ok.shape[0]):
        s = scl_row[(c + col0) // factor - col0 // factor]
        if ok[c] and invalid_scl[s]:
            pond = rescue_scl[s] and v[mndwi, c] > rescue_mndwi_gt
            pond = pond and v[swir16, c] < rescue_swir16_lt
            count += pond
            ok[c] = pond
    return count


@numba.njit(inline="always")
def _rule_layers(
    v: npt.NDArray[np.float32],
    ok: npt.NDArray[np.bool_],
    operand: npt.NDArray[np.int64],
    gt: npt.NDArray[np.float32],
    lt: npt.NDArray[np.float32],
    rule_start: npt.NDArray[np.int64],
    rule_plane: npt.NDArray[np.int64],
    hit: npt.NDArray[np.bool_],
    layer: npt.NDArray[np.bool_],
) -> None:
    """The valid plane and each rule's hits, ORed into its layer's plane."""
    width = ok.shape[0]
    layer[:, :] = False
    layer[0, :] = ok
    for k in range(rule_plane.shape[0]):
        hit[:] = ok
        for i in range(rule_start[k], rule_start[k + 1]):
            x = v[operand[i]]
            g, u = gt[i], lt[i]  # -inf/+inf when absent; NaN fails both
            for c in range(width):
                hit[c] &= (x[c] > g) & (x[c] < u)
        p = rule_plane[k]
        for c in range(width):
            layer[p, c] |= hit[c]


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
    scales: npt.NDArray[np.float32],
    width: int,
    row0: int,
    col0: int,
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
    layout: npt.NDArray[np.int64],
    out: npt.NDArray[np.uint8],
    rescued: npt.NDArray[np.int64],
) -> None:
    # Row at a time, each step a simple loop over the row that LLVM vectorises.
    planes, rows = out.shape[0], out.shape[1]
    nan = np.float32(np.nan)
    bands = (blue, green, red, nir, swir16, swir22)
    for task in numba.prange((rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        v = np.empty((layout[0], width), dtype=np.float32)
        v[layout[1], :] = 0
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
            _index_rows(v, 6, index_form, index_terms)
            if present[6]:
                at = (r + row0) // factors[6] - row0 // factors[6]
                rescued[r] = _scl_row(
                    scl[at], factors[6], col0, v, layout, invalid_scl, rescue_scl,
                    rescue_mndwi_gt, rescue_swir16_lt, ok,
                )  # fmt: skip
            _rule_layers(v, ok, operand, gt, lt, rule_start, rule_plane, hit, layer)
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
    rescued = np.zeros(rows, dtype=np.int64)
    with _KERNEL_LOCK:
        _classify(  # type: ignore[call-arg]  # mypy cannot count the unpacked tuples
            *_band_arguments(dn, factors, scales),
            width,
            row0,
            col0,
            np.float32(dn_offset),
            *table.kernel_arguments(),
            out[:, :, : -(-width // 8)],
            rescued,
        )
    return int(rescued.sum())


def _band_arguments(
    dn: dict[str, npt.NDArray[np.integer]], factors: dict[str, int], scales: dict[str, float]
) -> tuple[Any, ...]:
    """The kernel's band arguments: the six bands and the SCL (a 1x1 stand-in where absent),
    which are present, their factors and the bands' reflectance scales."""
    names = (*REFLECTANCE_BANDS, "scl")
    dummy = np.zeros((1, 1), dtype=np.uint16)
    bands = tuple(
        np.ascontiguousarray(dn[n], dtype=np.uint16) if n in dn else dummy
        for n in REFLECTANCE_BANDS
    )
    scl = np.ascontiguousarray(dn.get("scl", np.zeros((1, 1))), dtype=np.uint8)
    return (
        *bands,
        scl,
        np.array([n in dn for n in names]),
        np.array([factors.get(n, 1) for n in names], dtype=np.int64),
        np.array([scales.get(n, 1.0) for n in REFLECTANCE_BANDS], dtype=np.float32),
    )
