"""Which earlier looks serve as an item's baseline, and the small item a look travels as.

Kept apart from :mod:`asm_core.detection.objects.baseline` (which reads the looks with rasterio) so
that planning a scan, in the Plan function and the API, imports no raster stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import shapely

from asm_core.sources.stac import SceneItem, StacItemDict

NDVI_BANDS = ("red", "nir")


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


def look_dict(look: SceneItem) -> StacItemDict:
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
        "geometry": dict(look.geometry) if look.geometry else None,
        "properties": properties,
        "assets": assets,
        "links": [],
    }
