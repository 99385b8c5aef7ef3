"""Same-season baseline: what the ground looked like a year before, to tell new scars from
ground that was always bare.

For an item, the baseline looks are the items of the same MGRS tile acquired within
``baseline_days`` of the same date a year earlier (the same season: a savanna in the dry
season is judged against the dry season). They are stacked with stackstac over the time axis
on the item's own grid at 20 m, cloud, shadow and nodata are masked from the SCL, and the
per-pixel median NDVI over the looks is the baseline composite. During detection every
candidate site gets the composite's mean NDVI under its scars: a large drop from then to now
is the ``vegetation_loss`` cue (it raises the confidence of a newly cut scar); a site that was
already bare then is not news when first seen (:mod:`asm_core.alerts`) - the commonest false
alarm is permanently bare ground (crusts, outcrops, old workings) found for the first time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine

from asm_core.reflectance import decide_boa_offset
from asm_core.stac import SceneItem

#: The baseline composite's pixel, in metres (a quarter of the pixels of 10 m, and what the
#: SCL comes at).
BASELINE_RESOLUTION_M = 20.0
#: Scene classes that are not ground seen clearly: nodata, saturated, shadow, cloud, cirrus.
MASKED_SCL = (0, 1, 3, 8, 9, 10)
NDVI_BANDS = ("red", "nir")
CACHE_BYTES = 64 * 2**20
STRIP_ROWS = 512  # of the 20 m grid: 3 looks × 3 bands × 512 × 5490 float32 = 100 MB


@dataclass(frozen=True)
class BaselineNdvi:
    """Median NDVI of the baseline looks on the item's grid coarsened by ``factor``."""

    ndvi: npt.NDArray[np.float16]  # NaN where no look saw the ground
    factor: int
    looks: list[str]  # item ids stacked

    def mean_under(
        self, rows: slice, cols: slice, mask: npt.NDArray[np.bool_]
    ) -> tuple[float, int]:
        """Sum of the composite's NDVI under a fine-grid crop mask, and how many pixels had
        one (the caller weights and divides)."""
        r, c = np.nonzero(mask)
        rr, cc = (rows.start + r) // self.factor, (cols.start + c) // self.factor
        inside = (rr < self.ndvi.shape[0]) & (cc < self.ndvi.shape[1])
        values = self.ndvi[rr[inside], cc[inside]]
        known = values[np.isfinite(values)]
        return float(known.sum()), int(known.size)


def baseline_looks(
    item: SceneItem, candidates: Sequence[SceneItem], window_days: int, years_back: int = 1
) -> list[SceneItem]:
    """The candidates of the item's tile within ``window_days`` of the same date
    ``years_back`` years before, by date."""
    centre = item.acquired - timedelta(days=365 * years_back)
    window = timedelta(days=window_days)
    return sorted(
        (
            c
            for c in candidates
            if c.item_id != item.item_id
            and c.mgrs_tile == item.mgrs_tile
            and abs(c.acquired - centre) <= window
        ),
        key=lambda c: c.acquired,
    )


def look_dict(look: SceneItem) -> dict[str, Any]:
    """A small STAC item of just what a baseline look needs (red, NIR, SCL with absolute hrefs;
    date, CRS, processing baseline and offset flag): what stackstac stacks, and what a scan
    manifest carries per look (about 1 kB instead of a whole item)."""
    bounds = shapely.geometry.shape(look.geometry).bounds if look.geometry else None
    properties: dict[str, Any] = {
        "datetime": look.acquired.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "proj:epsg": look.epsg,
    }
    if look.baseline_text is not None:
        properties["s2:processing_baseline"] = look.baseline_text
    if look.boa_offset_flag is not None:
        properties["earthsearch:boa_offset_applied"] = look.boa_offset_flag
    assets = {}
    for name in (*NDVI_BANDS, "scl"):
        if name in look.bands:
            band = look.bands[name]
            assets[name] = {
                "href": band.href,
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "raster:bands": [
                    {"scale": band.scale, "offset": band.offset, "nodata": band.nodata}
                ],
            }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": look.item_id,
        "bbox": list(bounds) if bounds else None,
        "geometry": look.geometry,
        "properties": properties,
        "assets": assets,
        "links": [],
    }


def build_baseline(
    looks: Sequence[SceneItem],
    epsg: int,
    transform: Affine,
    shape: tuple[int, int],
) -> BaselineNdvi | None:
    """The median-NDVI composite of ``looks`` over the grid (``transform``, ``shape``, in
    ``epsg``) of the item being judged; None without a usable look."""
    usable = [
        look
        for look in looks
        if all(b in look.bands for b in (*NDVI_BANDS, "scl")) and look.epsg == epsg
    ]
    if not usable:
        return None
    # imported here: stackstac brings xarray, pandas and dask (~100 MB of a job's memory),
    # which a tile without baseline looks does not need
    import stackstac

    factor = max(1, round(BASELINE_RESOLUTION_M / abs(transform.a)))
    height, width = -(-shape[0] // factor), -(-shape[1] // factor)
    left, top = transform.c, transform.f
    size = abs(transform.a) * factor
    stack = stackstac.stack(
        [look_dict(look) for look in usable],
        assets=[*NDVI_BANDS, "scl"],
        epsg=epsg,
        resolution=size,
        bounds=(left, top - height * size, left + width * size, top),
        snap_bounds=False,
        dtype="float32",
        fill_value=np.float32(np.nan),
        rescale=False,  # DN: the BOA offset is decided per look below, as for the scene itself
        # GDAL's block cache defaults to 5 % of the machine's memory, in every reader thread
        gdal_env=stackstac.DEFAULT_GDAL_ENV.updated(always={"GDAL_CACHEMAX": CACHE_BYTES}),
        chunksize=512,  # 3 looks × 3 bands of 512² float32: 9 MB a chunk
    )
    # the offset to subtract from each look's DN (processing baseline 04.00 added 1000)
    offsets = np.array(
        [
            decide_boa_offset(
                look.baseline, look.boa_offset_flag, look.bands, "inconclusive"
            ).dn_offset
            for look in usable
        ],
        dtype=np.float32,
    )[:, None, None]
    data = stack.transpose("time", "band", "y", "x").data
    composite = np.full((height, width), np.nan, dtype=np.float16)
    # strip by strip (dask runs each strip's reads on two threads): left to itself, dask reads
    # every look's every chunk before the first median, ~370 MB per look for a full tile;
    # float16 keeps NDVI to a thousandth in half the memory (60 MB for a tile at 20 m)
    for r0 in range(0, height, STRIP_ROWS):
        strip = np.asarray(
            data[:, :, r0 : r0 + STRIP_ROWS].compute(scheduler="threads", num_workers=2)
        )
        red, nir, scl = strip[:, 0] - offsets, strip[:, 1] - offsets, strip[:, 2]
        clear = ~np.isin(scl, MASKED_SCL) & np.isfinite(scl) & (red > 0) & (nir > 0)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # pixels no look saw clearly stay NaN, as intended
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            ndvi = np.where(clear, (nir - red) / (nir + red), np.nan)
            composite[r0 : r0 + STRIP_ROWS] = np.nanmedian(ndvi, axis=0)
    if composite.shape != (height, width):
        raise ValueError(f"baseline grid {composite.shape} is not the expected {(height, width)}")
    return BaselineNdvi(composite, factor, [look.item_id for look in usable])
