"""Read an item's bands with rasterio/GDAL onto one grid, 20 m bands kept at native resolution.

Bands are read as stored (uint16 DN, uint8 SCL). A 20 m band is not upsampled: it is kept at its
own resolution with an integer ``factor`` relating it to the 10 m grid, and expanded one block at
a time when indices are computed (see ``scene.py``). Only bands whose grid is not an integer
multiple of the finest grid are resampled on read, by GDAL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from asm_core.errors import BandError, CrsError, RasterReadError
from asm_core.sentinel2 import BandAsset


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


def gdal_path(href: str) -> str:
    """The path GDAL opens for an href: s3:// becomes /vsis3/, http(s) goes via /vsicurl/."""
    if href.startswith("s3://"):
        return "/vsis3/" + href.removeprefix("s3://")
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    return href


def _open(href: str, stack: ExitStack) -> rasterio.DatasetReader:
    try:
        return stack.enter_context(rasterio.open(gdal_path(href)))
    except RasterioError as e:
        raise RasterReadError(f"band file {href!r} cannot be opened: {e}") from e


def _check_crs(name: str, src: rasterio.DatasetReader, expected_epsg: int | None) -> CRS:
    if src.crs is None:
        raise CrsError(f"band {name!r} ({src.name}) has no CRS; expected a georeferenced COG")
    epsg = src.crs.to_epsg()
    if expected_epsg is not None and epsg is not None and epsg != expected_epsg:
        raise CrsError(
            f"band {name!r} is in EPSG:{epsg} but the item says proj:epsg {expected_epsg}; "
            "fix the item's proj metadata or the file"
        )
    crs: CRS = src.crs
    return crs


def read_bands(
    bands: Mapping[str, BandAsset],
    names: Iterable[str],
    expected_epsg: int | None = None,
    gdal_options: Mapping[str, str | bool | int] | None = None,
) -> BandStack:
    """Read the named bands of an item.

    Args:
        bands: resolved band assets by common name.
        names: which of them to read (missing ones are the caller's business).
        expected_epsg: the item's ``proj:epsg``; a file in another CRS is an error.
        gdal_options: GDAL configuration for this read (e.g. ``AWS_NO_SIGN_REQUEST``).

    Raises:
        RasterReadError: a file is missing, truncated or corrupt.
        CrsError: a band lacks a CRS or disagrees with the item or the other bands.
        BandError: bands do not cover the same area.
    """
    wanted = [n for n in names if n in bands]
    if not wanted:
        raise BandError("no band to read")
    with rasterio.Env(**dict(gdal_options or {})), ExitStack() as stack:
        sources = {n: _open(bands[n].href, stack) for n in wanted}
        crss = {n: _check_crs(n, src, expected_epsg) for n, src in sources.items()}
        first = wanted[0]
        for n, crs in crss.items():
            if crs != crss[first]:
                raise CrsError(f"band {n!r} is in {crs} but band {first!r} is in {crss[first]}")
        finest = min(wanted, key=lambda n: abs(sources[n].transform.a))
        grid = sources[finest]
        arrays: dict[str, npt.NDArray[np.integer]] = {}
        factors: dict[str, int] = {}
        total = 0
        for n, src in sources.items():
            ratio = abs(src.transform.a / grid.transform.a)
            factor = round(ratio)
            tol = abs(src.transform.a)
            same_origin = (
                abs(src.bounds.left - grid.bounds.left) <= tol
                and abs(src.bounds.top - grid.bounds.top) <= tol
            )
            if (
                not same_origin
                or abs(src.bounds.right - grid.bounds.right) > tol
                or abs(src.bounds.bottom - grid.bounds.bottom) > tol
            ):
                raise BandError(
                    f"band {n!r} covers {tuple(round(v, 2) for v in src.bounds)} but band "
                    f"{finest!r} covers {tuple(round(v, 2) for v in grid.bounds)}; "
                    "bands must share one footprint"
                )
            try:
                if abs(ratio - factor) < 1e-6 and src.height * factor >= grid.height:
                    data = src.read(1)
                else:  # not an integer multiple: let GDAL put it on the grid
                    factor = 1
                    resampling = Resampling.nearest
                    data = src.read(1, out_shape=(grid.height, grid.width), resampling=resampling)
            except RasterioError as e:
                raise RasterReadError(f"band file {bands[n].href!r} cannot be decoded: {e}") from e
            arrays[n] = data
            factors[n] = factor
            total += int(data.nbytes)
        return BandStack(
            arrays=arrays,
            factors=factors,
            transform=grid.transform,
            crs=crss[first],
            shape=(grid.height, grid.width),
            bytes_read=total,
            sources={n: bands[n].href for n in wanted},
        )


def expand_rows(
    array: npt.NDArray[np.generic], factor: int, row0: int, row1: int, width: int
) -> npt.NDArray[np.generic]:
    """Rows ``row0:row1`` of the fine grid taken from a coarse band, for one block only.

    The result is block-sized (never a full-size upsampled copy of the band).
    """
    if factor == 1:
        return array[row0:row1, :width]
    coarse = array[row0 // factor : (row1 - 1) // factor + 1]
    rows = np.repeat(coarse, factor, axis=0)[row0 % factor : row0 % factor + (row1 - row0)]
    return np.repeat(rows, factor, axis=1)[:, :width]
