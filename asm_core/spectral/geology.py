"""Geology proxy: how far a site's ferric-iron and clay ratios stand out from its own tile.

ASM clusters where hydrothermal alteration brought gold to the surface: iron oxides (high red /
green, the ferric-iron ratio B4/B3) and clays (high SWIR1 / SWIR2, B11/B12). Absolute ratios
vary with soils and season, so each tile-date gets a robust background from its own bare ground
(SCL "not vegetated": fields, tracks, villages, sand, outcrops; sampled from a quarter of a
million pixels read from the COG overviews): the median and the spread (1.4826 × MAD, the
standard deviation for normal data). Bare ground is compared with bare ground: vegetation has
SWIR ratios of its own and would make every soil look anomalous.
A site's anomaly is how many spreads its area-weighted scar ratios lie above that median; 2 or
more is a cue worth a geologist's look, not a mineral map.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from asm_core.rules import SceneSettings
from asm_core.sources.reader import BandFiles
from asm_core.sources.sentinel2 import BandAsset
from asm_core.spectral.indices import INDEX_BANDS, compute_index
from asm_core.spectral.reflectance import to_reflectance

#: the alteration ratios (defined in spectral/indices.py) and the bands each needs
RATIOS = {name: INDEX_BANDS[name] for name in ("ferric_iron", "clay")}
GEOLOGY_BANDS = tuple(sorted({b for bands in RATIOS.values() for b in bands}))
MAD_TO_SIGMA = 1.4826


def background_columns() -> tuple[str, ...]:
    """The tile_runs columns of the backgrounds: ``<ratio>_median`` and ``<ratio>_spread``."""
    return tuple(f"{name}_{stat}" for name in RATIOS for stat in ("median", "spread"))


def tile_background(
    files: BandFiles, assets: Mapping[str, BandAsset], dn_offset: int, settings: SceneSettings
) -> dict[str, float | None]:
    """Median and spread of each ratio over the tile's bare ground (None where the bands are
    missing or too little ground is bare)."""
    out: dict[str, float | None] = dict.fromkeys(background_columns())
    if "scl" not in files.names:
        return out
    height, width = files.shape
    step = max(1, math.isqrt(height * width // settings.geology_sample_pixels))
    bare = np.isin(files.read_decimated("scl", step), settings.bare_scl)
    for name, bands in RATIOS.items():
        if not all(b in files.names for b in bands):
            continue
        reflectance = {
            b: to_reflectance(files.read_decimated(b, step), assets[b].scale, dn_offset)
            for b in bands
        }
        values = compute_index(name, reflectance)[bare]
        values = values[np.isfinite(values)]
        if values.size < settings.geology_min_bare_pixels:
            continue
        median = float(np.median(values))
        spread = MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
        out[f"{name}_median"], out[f"{name}_spread"] = round(median, 5), round(spread, 5)
    return out


def anomaly(value: float | None, run: Mapping[str, Any], ratio: str) -> float | None:
    """Spreads above the tile-date's median (None if either is unknown or the spread is 0)."""
    median, spread = run.get(f"{ratio}_median"), run.get(f"{ratio}_spread")
    if value is None or median is None or not spread:
        return None
    return (float(value) - float(median)) / float(spread)
