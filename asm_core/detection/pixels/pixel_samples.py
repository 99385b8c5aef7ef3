"""DN of the pixels that objects can be made of, kept from the strip pass for their statistics.

Object statistics need band values, but objects are only known after the whole tile has been
classified, and the bands are read strip by strip and dropped. Reading them back costs a second
decode of every block an object touches (~3 s on a busy tile). Candidate pixels are few (about
1 % of a tile: scar, relaxed scar and water layers), so the strip pass keeps the DN of those
pixels and of a margin around them (an object's ring and filled pits) in flat, sorted arrays,
up to a budget. Objects whose pixels are all kept are measured from here; any other object is
read back from the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numba
import numpy as np
import numpy.typing as npt

from asm_core.detection.pixels.packed_mask import Bool
from asm_core.sources.reader import expand_window

#: At 16 bytes a pixel (int32 index + six bands), 6M pixels are 96 MB, about 5 % of a tile.
DEFAULT_BUDGET_PIXELS = 6_000_000


@numba.njit(cache=True, nogil=True)
def _gather(
    near: npt.NDArray[np.uint8],
    row0: int,
    bands: tuple[npt.NDArray[np.uint16], ...],
    factors: npt.NDArray[np.int64],
    count: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint16]]:
    """Flat grid index and each band's DN of every set pixel of a strip, in one pass."""
    rows, width = near.shape
    flat = np.empty(count, np.int64)
    values = np.empty((len(bands), count), np.uint16)
    k = 0
    for r in range(rows):
        for c in range(width):
            if near[r, c]:
                flat[k] = (r + row0) * width + c
                for b in range(len(bands)):
                    f = factors[b]
                    values[b, k] = bands[b][(r + row0) // f - row0 // f, c // f]
                k += 1
    return flat, values


@dataclass
class PixelSamples:
    """Flat grid indices (sorted) and the DN of every kept pixel, per band."""

    width: int
    margin_px: int
    budget_pixels: int = DEFAULT_BUDGET_PIXELS
    flat: list[npt.NDArray[np.signedinteger]] = field(default_factory=list)
    dn: dict[str, list[npt.NDArray[np.uint16]]] = field(default_factory=dict)
    full: bool = False
    #: lookups that could not be served (the caller read those pixels from the files)
    misses: int = 0
    _index: npt.NDArray[np.signedinteger] | None = None
    _pending: tuple[int, npt.NDArray[np.uint8], dict[str, npt.NDArray[np.integer]]] | None = None
    _tail_candidates: Bool | None = None
    _values: dict[str, npt.NDArray[np.uint16]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(int(a.shape[0]) for a in self.flat)

    def keep_strip(
        self,
        candidates: Bool,
        row0: int,
        dn: dict[str, npt.NDArray[np.integer]],
        factors: dict[str, int],
    ) -> None:
        """Keep the DN of a strip's candidate pixels and of those within ``margin_px``.

        Strips come in order. The last ``margin_px`` rows of a strip wait for the next strip
        (their margins reach into it), so that kept pixels stay in raster order and objects
        across strip boundaries are kept whole. Call :meth:`finish` after the last strip.
        """
        m = self.margin_px
        height = candidates.shape[0]
        above = self._tail_candidates if self._tail_candidates is not None else candidates[:0]
        extended = np.concatenate([above, candidates])
        near: npt.NDArray[np.uint8] = cv2.dilate(  # type: ignore[assignment]
            extended.view(np.uint8),
            np.ones((3, 3), np.uint8),
            iterations=m,
            borderType=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        near_above, near = near[: above.shape[0]], near[above.shape[0] :]
        if self._pending is not None:  # the previous strip's last rows, now with all context
            pending_row0, pending_near, pending_dn = self._pending
            self._keep(pending_near | near_above, pending_row0, pending_dn, None)
        done = max(0, height - m)
        self._keep(near[:done], row0, dn, factors)
        self._pending = (
            row0 + done,
            near[done:].copy(),
            {
                n: expand_window(
                    a[(row0 + done) // factors[n] - row0 // factors[n] :],
                    factors[n],
                    row0 + done,
                    0,
                    height - done,
                    candidates.shape[1],
                ).copy()
                for n, a in dn.items()
            },
        )
        self._tail_candidates = candidates[done:].copy()

    def finish(self) -> None:
        """Keep the last strip's waiting rows."""
        if self._pending is not None:
            self._keep(self._pending[1], self._pending[0], self._pending[2], None)
        self._pending = self._tail_candidates = None

    def _keep(
        self,
        near: npt.NDArray[np.uint8],
        row0: int,
        dn: dict[str, npt.NDArray[np.integer]],
        factors: dict[str, int] | None,
    ) -> None:
        count = int(np.count_nonzero(near))
        if self.full or count == 0:
            return
        if self.count + count > self.budget_pixels:
            self.full = True
            return
        names = list(dn)
        flat, values = _gather(
            np.asarray(near, dtype=np.uint8),
            row0,
            tuple(np.ascontiguousarray(dn[n], dtype=np.uint16) for n in names),
            np.array([factors[n] if factors else 1 for n in names], dtype=np.int64),
            count,
        )
        small = flat.size == 0 or int(flat[-1]) < 2**31  # int32 suffices up to 46340² grids
        self.flat.append(flat.astype(np.int32) if small else flat)
        for i, name in enumerate(names):
            self.dn.setdefault(name, []).append(values[i])
        self._index = None

    def lookup(self, flat: npt.NDArray[np.int64]) -> dict[str, npt.NDArray[np.uint16]] | None:
        """DN per band at the given flat grid indices, or None unless every one was kept."""
        if not self.flat:
            self.misses += 1
            return None
        if self._index is None:  # join the strips once, without keeping both copies
            self._index = np.concatenate(self.flat)
            self.flat = [self._index]
            for name in list(self.dn):
                self._values[name] = np.concatenate(self.dn[name])
                self.dn[name] = [self._values[name]]
        flat = flat.astype(self._index.dtype, copy=False)  # else numpy casts the whole index
        at = np.searchsorted(self._index, flat)
        if at.size and (at[-1] >= self._index.shape[0] or (self._index[at] != flat).any()):
            self.misses += 1
            return None
        return {n: v[at] for n, v in self._values.items()}
