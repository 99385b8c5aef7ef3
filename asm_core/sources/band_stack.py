"""An item's bands read whole into memory on one grid: for small scenes, AOIs and tests (the
per-tile job streams strips through :func:`asm_core.sources.reader.open_bands` instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS

from asm_core.sources.reader import open_bands
from asm_core.sources.remote_reads import RetryPolicy
from asm_core.sources.sentinel2 import BandAsset


@dataclass
class BandStack:
    """Band arrays of one scene on a common grid (the finest band's)."""

    arrays: dict[str, npt.NDArray[np.integer]]
    factors: dict[str, int]
    transform: Affine
    crs: CRS
    shape: tuple[int, int]
    bytes_read: int = 0
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def pixel_area_m2(self) -> float:
        """Area of one grid pixel; in square metres only for projected CRSs in metres."""
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)


def read_bands(
    bands: Mapping[str, BandAsset],
    names: Iterable[str],
    expected_epsg: int | None = None,
    gdal_options: Mapping[str, str | bool | int] | None = None,
    aoi: tuple[float, float, float, float] | None = None,
    retry: RetryPolicy = RetryPolicy(),
) -> BandStack:
    """Read the named bands whole (or an AOI window) into memory; see :func:`open_bands`.

    For small scenes and tests: the per-tile job streams strips instead of holding a tile.
    """
    with open_bands(bands, names, expected_epsg, gdal_options, aoi, retry) as files:
        height = files.shape[0]
        arrays = {n: files.read(n, 0, height) for n in files.names}
        return BandStack(
            arrays=arrays,
            factors=files.factors,
            transform=files.transform,
            crs=files.crs,
            shape=files.shape,
            bytes_read=files.bytes_read,
            sources=dict(files.hrefs),
        )
