"""Boolean grids stored eight pixels to a byte, unpacked whole or by window on demand.

A 10980² layer is 15 MB packed and 120 MB as a numpy bool array; a tile job keeps its valid
mask and every rule layer packed and unpacks only what one step needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

Bool = npt.NDArray[np.bool_]


@numba.njit(cache=True, nogil=True)
def _unpack_rows(bits: npt.NDArray[np.uint8], out: Bool) -> None:
    # np.unpackbits(axis=1, count=...) takes ~0.2 s for a full tile; this ~0.05 s. Serial, so
    # that two threads may call it at once (numba's fork-safe thread pool is not thread-safe).
    width = out.shape[1]
    for r in range(out.shape[0]):
        for c in range(width):
            out[r, c] = (bits[r, c >> 3] >> (7 - (c & 7))) & 1


@dataclass
class PackedMask:
    """A boolean grid stored eight pixels to a byte (numpy.packbits layout, one row per row)."""

    bits: npt.NDArray[np.uint8]
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.bits.shape[0]), self.width

    def unpack(self) -> Bool:
        return self.rows(0, self.shape[0])

    def rows(self, r0: int, r1: int) -> Bool:
        """Full-width rows ``r0:r1``, unpacked (C-contiguous)."""
        out = np.empty((r1 - r0, self.width), dtype=np.bool_)
        _unpack_rows(self.bits[r0:r1], out)
        return out

    def __getitem__(self, key: tuple[slice, slice]) -> Bool:
        rows, cols = key
        c0, c1, _ = cols.indices(self.width)
        byte0, byte1 = c0 // 8, -(-c1 // 8)
        part = np.unpackbits(self.bits[rows, byte0:byte1], axis=1).view(bool)
        return part[:, c0 - 8 * byte0 : c1 - 8 * byte0]

    def count(self) -> int:
        return int(np.bitwise_count(self.bits).sum())

    def any(self) -> bool:
        return bool(self.bits.any())

    @classmethod
    def pack(cls, mask: Bool) -> PackedMask:
        return cls(np.packbits(mask, axis=1), int(mask.shape[1]))

    def __and__(self, other: PackedMask) -> PackedMask:
        return PackedMask(self.bits & other.bits, self.width)

    def __or__(self, other: PackedMask) -> PackedMask:
        return PackedMask(self.bits | other.bits, self.width)


def mask_rows(mask: Bool | PackedMask, r0: int, r1: int) -> Bool:
    """Rows ``r0:r1`` of a mask, packed or not, as a contiguous boolean array."""
    if isinstance(mask, PackedMask):
        return mask.rows(r0, r1)
    return np.ascontiguousarray(mask[r0:r1])
