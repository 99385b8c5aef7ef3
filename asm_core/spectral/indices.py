"""Spectral indices over float32 reflectance: defined once, here, as data.

Every index is either a normalized difference ``(a - b) / (a + b)`` or a ratio ``a / b``, where
``a`` and ``b`` are sums of band reflectances (S2 common names). The numpy functions below and
the compiled pixel kernel (:mod:`asm_core.detection.pixels.pixel_kernel`) both evaluate this
table, so adding an index is one line in :data:`INDICES` (and a rule or a column may then use
it: every index gets a ``<name>_mean`` detections column). Formulas follow the Awesome Spectral
Indices catalogue; the tests compute every one with ``spyndex`` by the id given here.
Division by zero yields NaN, never inf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


class Form(IntEnum):
    """How an index combines its two band sums (the values are the kernel's codes)."""

    NORMALIZED_DIFFERENCE = 0  # (a - b) / (a + b)
    RATIO = 1  # a / b


@dataclass(frozen=True)
class SpectralIndex:
    """One index: its form over two sums of bands, and where it comes from."""

    name: str
    form: Form
    a: tuple[str, ...]
    b: tuple[str, ...]
    spyndex_id: str
    reference: str

    @property
    def bands(self) -> tuple[str, ...]:
        return (*self.a, *self.b)


ND, RATIO = Form.NORMALIZED_DIFFERENCE, Form.RATIO
INDICES: tuple[SpectralIndex, ...] = (
    SpectralIndex("ndvi", ND, ("nir",), ("red",), "NDVI", "Rouse 1974"),
    SpectralIndex("ndwi", ND, ("green",), ("nir",), "NDWI", "McFeeters 1996"),
    SpectralIndex("mndwi", ND, ("green",), ("swir16",), "MNDWI", "Xu 2006"),
    SpectralIndex("bsi", ND, ("swir16", "red"), ("nir", "blue"), "BI", "bare soil, Rikimaru 2002"),
    SpectralIndex("ndti", ND, ("red",), ("green",), "NDTI", "turbidity, Lacaux 2007"),
    SpectralIndex(
        "ferric_iron", RATIO, ("red",), ("green",), "RGRI", "Fe3+ B4/B3, van der Meer 2014"
    ),
    SpectralIndex("clay", RATIO, ("swir16",), ("swir22",), "STI", "clay/hydroxyl B11/B12"),
)
#: the bands each index needs, by name
INDEX_BANDS: dict[str, tuple[str, ...]] = {index.name: index.bands for index in INDICES}
INDEX_NAMES = tuple(INDEX_BANDS)
#: Indices whose means every detection row carries (``<name>_mean``): all of them.
ROW_INDICES = INDEX_NAMES


def _ratio(num: F32, den: F32) -> F32:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(num, den, dtype=np.float32)
    out[~np.isfinite(out)] = np.nan
    return out


def _band_sum(names: tuple[str, ...], bands: Mapping[str, F32]) -> F32:
    total = bands[names[0]]
    for name in names[1:]:
        total = total + bands[name]
    return total


def available_indices(bands: set[str] | frozenset[str]) -> tuple[str, ...]:
    """Index names computable from the given band common names."""
    return tuple(n for n, need in INDEX_BANDS.items() if set(need) <= bands)


def compute_index(name: str, bands: Mapping[str, F32]) -> F32:
    """One index from reflectance arrays keyed by common band name (all the same shape).

    Example:
        >>> import numpy as np
        >>> r = np.array([0.1], np.float32); n = np.array([0.3], np.float32)
        >>> float(compute_index("ndvi", {"red": r, "nir": n})[0])
        0.5
    """
    index = INDICES[INDEX_NAMES.index(name)]
    a, b = _band_sum(index.a, bands), _band_sum(index.b, bands)
    return _ratio(a - b, a + b) if index.form is ND else _ratio(a, b)


def compute_indices(names: tuple[str, ...], bands: Mapping[str, F32]) -> dict[str, F32]:
    """Several indices at once (see :func:`compute_index`)."""
    return {name: compute_index(name, bands) for name in names}
