"""Read an item's bands with rasterio/GDAL onto one grid, 20 m bands kept at native resolution.

Bands are read as stored (uint16 DN, uint8 SCL). A 20 m band is not upsampled: it is kept at its
own resolution with an integer ``factor`` relating it to the 10 m grid, and expanded one block at
a time when indices are computed (see ``scene.py``). Only bands whose grid is not an integer
multiple of the finest grid are resampled on read, by GDAL.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from asm_core.errors import (
    AoiError,
    BandError,
    CrsError,
)
from asm_core.sources.remote_reads import RetryPolicy, gdal_path
from asm_core.sources.sentinel2 import BandAsset

Array = npt.NDArray[np.integer]


def _open(href: str, stack: ExitStack, retry: RetryPolicy) -> rasterio.DatasetReader:
    dataset: rasterio.DatasetReader = retry.run(
        href, "opened", lambda: rasterio.open(gdal_path(href))
    )
    return stack.enter_context(dataset)


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


def _aoi_window(
    aoi: tuple[float, float, float, float], crs: CRS, grid: rasterio.DatasetReader, align: int
) -> Window:
    """The window of the finest grid covering a lon/lat bbox, aligned to ``align`` pixels."""
    west, south, east, north = aoi
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise AoiError(
            f"bbox {aoi} is empty or out of range; expected W,S,E,N in degrees with W < E, S < N"
        )
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, west, south, east, north)
    inverse = ~grid.transform
    c0, r0 = inverse @ (left, top)
    c1, r1 = inverse @ (right, bottom)
    col0 = max(0, math.floor(min(c0, c1) / align) * align)
    row0 = max(0, math.floor(min(r0, r1) / align) * align)
    col1 = min(grid.width, math.ceil(max(c0, c1) / align) * align)
    row1 = min(grid.height, math.ceil(max(r0, r1) / align) * align)
    if col1 <= col0 or row1 <= row0:
        raise AoiError(f"bbox {aoi} does not overlap the item's rasters")
    return Window(col0, row0, col1 - col0, row1 - row0)


def _read_band(
    src: rasterio.DatasetReader,
    factor: int,
    ratio: float,
    window: Window,
    buffers: dict[str, npt.NDArray[np.integer]] | None = None,
) -> npt.NDArray[np.integer]:
    """One band's part of the fine-grid window: native resolution when the grid ratio is an
    integer, otherwise resampled by GDAL onto the fine grid. With ``buffers``, the pixels are
    decoded into a reused array of the same shape (the caller is done with its last contents)."""
    if factor == round(ratio):
        # the stored pixels covering the fine window: from floor(start/f) to ceil(stop/f)
        col0, row0 = int(window.col_off) // factor, int(window.row_off) // factor
        col1 = -(-int(window.col_off + window.width) // factor)
        row1 = -(-int(window.row_off + window.height) // factor)
        read_window = Window(col0, row0, min(col1, src.width) - col0, min(row1, src.height) - row0)
        shape = (int(read_window.height), int(read_window.width))
        options: dict[str, object] = {}
    else:
        read_window = Window(
            window.col_off / ratio,
            window.row_off / ratio,
            window.width / ratio,
            window.height / ratio,
        )
        shape = (int(window.height), int(window.width))
        options = {"resampling": Resampling.nearest}
    if buffers is None:
        fresh: npt.NDArray[np.integer] = src.read(1, window=read_window, out_shape=shape, **options)
        return fresh
    held = buffers.get("held")
    if (
        held is None
        or held.dtype != np.dtype(src.dtypes[0])
        or held.shape[1] != shape[1]
        or held.shape[0] < shape[0]
    ):
        held = buffers["held"] = np.empty(shape, dtype=src.dtypes[0])
    reused: npt.NDArray[np.integer] = src.read(
        1, window=read_window, out=held[: shape[0]], **options
    )
    return reused


def _check_footprint(
    name: str, src: rasterio.DatasetReader, finest: str, grid: rasterio.DatasetReader
) -> None:
    tol = abs(src.transform.a)
    edges = zip(src.bounds, grid.bounds, strict=True)
    if any(abs(a - b) > tol for a, b in edges):
        raise BandError(
            f"band {name!r} covers {tuple(round(v, 2) for v in src.bounds)} but band "
            f"{finest!r} covers {tuple(round(v, 2) for v in grid.bounds)}; "
            "bands must share one footprint"
        )


@dataclass
class BandFiles:
    """An item's band files held open on one grid (the finest band's, or an AOI window of it).

    Rows and windows are addressed on the fine grid; a 20 m band comes back at its own
    resolution (``factors[name]`` fine pixels per stored pixel), never upsampled. Reads are
    retried on transient remote errors and counted in ``bytes_read``.
    """

    sources: dict[str, rasterio.DatasetReader]
    hrefs: dict[str, str]
    factors: dict[str, int]
    ratios: dict[str, float]
    window: Window
    transform: Affine
    crs: CRS
    retry: RetryPolicy
    bytes_read: int = 0
    buffers: dict[str, dict[str, Array]] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.window.height), int(self.window.width)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.sources)

    def read(
        self,
        name: str,
        r0: int,
        r1: int,
        c0: int = 0,
        c1: int | None = None,
        reuse: bool = False,
    ) -> Array:
        """Fine-grid rows ``r0:r1`` and columns ``c0:c1`` of a band, at the band's resolution
        (a coarse band returns the stored pixels covering that part of the grid).

        With ``reuse``, the result is decoded into an array kept for this band and overwritten
        by the next such read: strip after strip without new allocations (see
        :meth:`release_buffers`).
        """
        c1 = self.shape[1] if c1 is None else c1
        fine = Window(self.window.col_off + c0, self.window.row_off + r0, c1 - c0, r1 - r0)
        src, f = self.sources[name], self.factors[name]
        buffers = self.buffers.setdefault(name, {}) if reuse else None
        data = self.retry.run(
            self.hrefs[name],
            "decoded",
            functools.partial(_read_band, src, f, self.ratios[name], fine, buffers),
        )
        self.bytes_read += int(data.nbytes)
        return data

    def release_buffers(self) -> None:
        """Drop the arrays kept for ``reuse`` reads."""
        self.buffers.clear()

    def read_decimated(self, name: str, step: int) -> Array:
        """The whole window of a band at one pixel in ``step`` (served from COG overviews)."""
        height, width = self.shape
        src, ratio = self.sources[name], self.ratios[name]
        scaled = Window(
            self.window.col_off / ratio,
            self.window.row_off / ratio,
            self.window.width / ratio,
            self.window.height / ratio,
        )
        shape = (max(1, height // step), max(1, width // step))
        data: Array = self.retry.run(
            self.hrefs[name],
            "decoded",
            lambda: src.read(1, window=scaled, out_shape=shape, resampling=Resampling.nearest),
        )
        self.bytes_read += int(data.nbytes)
        return data


@contextmanager
def open_bands(
    bands: Mapping[str, BandAsset],
    names: Iterable[str],
    expected_epsg: int | None = None,
    gdal_options: Mapping[str, str | bool | int] | None = None,
    aoi: tuple[float, float, float, float] | None = None,
    retry: RetryPolicy = RetryPolicy(),
) -> Iterator[BandFiles]:
    """Open the named bands of an item, whole or within an area of interest.

    Args:
        bands: resolved band assets by common name.
        names: which of them to open (missing ones are the caller's business).
        expected_epsg: the item's ``proj:epsg``; a file in another CRS is an error.
        gdal_options: GDAL configuration for these reads (e.g. ``AWS_NO_SIGN_REQUEST``,
            ``GDAL_CACHEMAX``); it applies while the files are open.
        aoi: optional (west, south, east, north) in degrees; only that window is addressed.
        retry: retries with backoff on transient errors of remote files.

    Raises:
        RasterReadError: a file is missing, truncated or corrupt.
        CrsError: a band lacks a CRS or disagrees with the item or the other bands.
        BandError: bands do not cover the same area.
        AoiError: the AOI is empty or misses the rasters.
    """
    wanted = [n for n in names if n in bands]
    if not wanted:
        raise BandError("no band to read")
    with rasterio.Env(**dict(gdal_options or {})), ExitStack() as stack:
        sources = {n: _open(bands[n].href, stack, retry) for n in wanted}
        crss = {n: _check_crs(n, src, expected_epsg) for n, src in sources.items()}
        first = wanted[0]
        for n, crs in crss.items():
            if crs != crss[first]:
                raise CrsError(f"band {n!r} is in {crs} but band {first!r} is in {crss[first]}")
        finest = min(wanted, key=lambda n: abs(sources[n].transform.a))
        grid = sources[finest]
        ratios, factors = _factors(sources, grid)
        for n, src in sources.items():
            _check_footprint(n, src, finest, grid)
        window = (
            Window(0, 0, grid.width, grid.height)
            if aoi is None
            else _aoi_window(aoi, crss[first], grid, max(factors.values()))
        )
        yield BandFiles(
            sources=sources,
            hrefs={n: bands[n].href for n in wanted},
            factors=factors,
            ratios=ratios,
            window=window,
            transform=grid.window_transform(window),
            crs=crss[first],
            retry=retry,
        )


def _factors(
    sources: Mapping[str, rasterio.DatasetReader], grid: rasterio.DatasetReader
) -> tuple[dict[str, float], dict[str, int]]:
    """Each band's pixel size over the finest band's, and the integer factor it is read at
    (1, resampled on read by GDAL, where the ratio is not a whole number)."""
    ratios = {n: abs(src.transform.a / grid.transform.a) for n, src in sources.items()}
    factors = {
        n: round(r)
        if abs(r - round(r)) < 1e-6 and sources[n].height * round(r) >= grid.height
        else 1
        for n, r in ratios.items()
    }
    return ratios, factors


def expand_window(array: Array, factor: int, r0: int, c0: int, height: int, width: int) -> Array:
    """Fine-grid pixels of a window from a coarse band's stored pixels covering it (the array
    starts at stored pixel (r0 // factor, c0 // factor)); window-sized, never the whole band."""
    if factor == 1:
        return array[:height, :width]
    rows = np.repeat(array, factor, axis=0)[r0 % factor : r0 % factor + height]
    return np.repeat(rows, factor, axis=1)[:, c0 % factor : c0 % factor + width]
