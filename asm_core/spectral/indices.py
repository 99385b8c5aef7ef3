"""Spectral indices over float32 reflectance, vectorised.

Formulas follow the Awesome Spectral Indices catalogue (``spyndex``); the tests compute every one
with spyndex on the same arrays. Division by zero yields NaN, never inf.

==============  ===============================  ==========================================
name            formula (S2 common names)        spyndex id / source
==============  ===============================  ==========================================
ndvi            (nir - red) / (nir + red)        NDVI
ndwi            (green - nir) / (green + nir)    NDWI (McFeeters 1996)
mndwi           (green - swir16) / (green + swir16)  MNDWI (Xu 2006)
bsi             ((swir16 + red) - (nir + blue)) /  BI, Bare Soil Index (Rikimaru 2002)
                ((swir16 + red) + (nir + blue))
ndti            (red - green) / (red + green)    NDTI, turbidity (Lacaux 2007)
ferric_iron     red / green                      RGRI; Fe3+ ratio B4/B3 (van der Meer 2014)
clay            swir16 / swir22                  STI; clay/hydroxyl ratio B11/B12
==============  ===============================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

INDEX_BANDS: dict[str, tuple[str, ...]] = {
    "ndvi": ("nir", "red"),
    "ndwi": ("green", "nir"),
    "mndwi": ("green", "swir16"),
    "bsi": ("swir16", "red", "nir", "blue"),
    "ndti": ("red", "green"),
    "ferric_iron": ("red", "green"),
    "clay": ("swir16", "swir22"),
}
INDEX_NAMES = tuple(INDEX_BANDS)
#: Indices whose means every detection row carries (DESIGN.md contract) plus the mineral ratios.
ROW_INDICES = ("ndvi", "ndwi", "mndwi", "bsi", "ndti", "ferric_iron", "clay")


def _ratio(num: F32, den: F32) -> F32:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(num, den, dtype=np.float32)
    out[~np.isfinite(out)] = np.nan
    return out


def normalized_difference(a: F32, b: F32) -> F32:
    """(a - b) / (a + b) in float32."""
    return _ratio(a - b, a + b)


def _bsi(b: Mapping[str, F32]) -> F32:
    wet = b["swir16"] + b["red"]
    green = b["nir"] + b["blue"]
    return _ratio(wet - green, wet + green)


_FORMULAS: dict[str, Callable[[Mapping[str, F32]], F32]] = {
    "ndvi": lambda b: normalized_difference(b["nir"], b["red"]),
    "ndwi": lambda b: normalized_difference(b["green"], b["nir"]),
    "mndwi": lambda b: normalized_difference(b["green"], b["swir16"]),
    "bsi": _bsi,
    "ndti": lambda b: normalized_difference(b["red"], b["green"]),
    "ferric_iron": lambda b: _ratio(b["red"], b["green"]),
    "clay": lambda b: _ratio(b["swir16"], b["swir22"]),
}


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
    return _FORMULAS[name](bands)


def compute_indices(names: tuple[str, ...], bands: Mapping[str, F32]) -> dict[str, F32]:
    """Several indices at once (see :func:`compute_index`)."""
    return {name: compute_index(name, bands) for name in names}
