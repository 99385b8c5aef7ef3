"""A synthetic scene as Earth Search would serve it: its bands as cloud-optimised GeoTIFFs, its
STAC item (raster:bands, projection, processing baseline), and the truth of what was planted.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import rasterio
import shapely
from affine import Affine
from shapely.geometry import mapping

from asm_core.detection.objects.vectorize import mask_to_polygon, reproject
from asm_core.evaluation.synthetic.atmosphere import (
    block_mean,
)
from asm_core.evaluation.synthetic.landscape import Landscape
from asm_core.evaluation.synthetic.spectra import BANDS
from asm_core.sources.sentinel2 import COMMON_TO_BAND_ID
from asm_core.sources.stac import StacItemDict

COG_BANDS_10M = ("blue", "green", "red", "nir")
COG_BANDS_20M = ("swir16", "swir22")


def _write_cog(path: Path, data: npt.NDArray[np.generic], transform: Affine, crs: str) -> None:
    blocksize = 1024 if max(data.shape) >= 4096 else 256
    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": 0,
        "compress": "DEFLATE",
        "blocksize": blocksize,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _band_asset(
    name: str, size: int, transform: Affine, offset_in_metadata: bool
) -> dict[str, Any]:
    """A band's asset as Earth Search writes it (raster:bands, proj:shape and transform)."""
    factor = 2 if name in (*COG_BANDS_20M, "scl") else 1
    band_id = COMMON_TO_BAND_ID[name]
    raster: dict[str, Any] = {
        "nodata": 0,
        "data_type": "uint8" if name == "scl" else "uint16",
        "spatial_resolution": 10 * factor,
    }
    if name != "scl":
        raster.update(scale=0.0001, offset=-0.1 if offset_in_metadata else 0.0)
    asset: dict[str, Any] = {
        "href": f"./{band_id}.tif",
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"],
        "raster:bands": [raster],
        "proj:shape": [size // factor, size // factor],
        "proj:transform": list(transform @ Affine.scale(factor))[:6],
    }
    if name != "scl":
        asset["eo:bands"] = [{"name": band_id, "common_name": name}]
    return asset


def stac_item(
    size: int,
    seed: int,
    item_id: str,
    day: datetime,
    tile: str,
    baseline: str,
    flag: bool | None,
    transform: Affine,
    crs: str,
    footprint: dict[str, Any],
    offset_in_metadata: bool,
) -> StacItemDict:
    epsg = int(crs.split(":")[1])
    assets = {
        name: _band_asset(name, size, transform, offset_in_metadata)
        for name in (*COG_BANDS_10M, *COG_BANDS_20M, "scl")
    }
    properties: dict[str, Any] = {
        "datetime": day.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "platform": f"sentinel-2{item_id[2].lower()}",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "proj:epsg": epsg,
        "mgrs:utm_zone": int(tile[:2]),
        "mgrs:latitude_band": tile[2],
        "mgrs:grid_square": tile[3:],
        "s2:processing_baseline": baseline,
        "s2:product_uri": f"S2{item_id[2]}_MSIL2A_{day:%Y%m%dT%H%M%S}_N{baseline.replace('.', '')}"
        f"_R000_T{tile}_{day:%Y%m%dT%H%M%S}.SAFE",
        "asm:synthetic": True,
        "asm:seed": seed,
    }
    if flag is not None:
        properties["earthsearch:boa_offset_applied"] = flag
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": item_id,
        "collection": "sentinel-2-l2a",
        "geometry": footprint,
        "bbox": list(shapely.geometry.shape(footprint).bounds),
        "properties": properties,
        "links": [{"rel": "self", "href": f"./{item_id}.json", "type": "application/json"}],
        "assets": assets,
    }


class GeoJsonFeature(TypedDict):
    """A GeoJSON feature: a planted truth feature or site, with what it is in its properties."""

    type: str
    properties: dict[str, Any]
    geometry: dict[str, Any]


def truth_features(
    land: Landscape, item_id: str, transform: Affine, crs: str, pixel_m2: float
) -> list[GeoJsonFeature]:
    features: list[GeoJsonFeature] = []
    counters: dict[str, int] = {}
    for f in land.features:
        if not f.mask.any():
            continue
        k = counters[f.kind] = counters.get(f.kind, 0) + 1
        local = transform @ Affine.translation(f.cols.start, f.rows.start)
        polygon = reproject(mask_to_polygon(f.mask, local), crs, "EPSG:4326")
        props = {
            "id": f"{item_id}:{f.kind}:{k}",
            "item_id": item_id,
            "kind": f.kind,
            "area_m2": round(float(f.mask.sum()) * pixel_m2, 1),
            **f.props,
        }
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": mapping(shapely.set_precision(polygon, 1e-8)),
            }
        )
    return features


def write_rasters(
    land: Landscape,
    scene_dir: Path,
    transform: Affine,
    crs: str,
    nodata: npt.NDArray[np.bool_],
    dn_add: int,
) -> None:
    """The six band COGs (20 m bands aggregated as the MSI does) and the SCL COG of a scene."""
    for b, name in enumerate(BANDS):
        band = land.reflectance[..., b]
        factor = 2 if name in COG_BANDS_20M else 1
        values = block_mean(band, 2) if factor == 2 else band
        dn = np.clip(np.round(values * 10000) + dn_add, 1, 65535).astype(np.uint16)
        dn[nodata[::factor, ::factor][: dn.shape[0], : dn.shape[1]]] = 0
        _write_cog(
            scene_dir / f"{COMMON_TO_BAND_ID[name]}.tif", dn, transform @ Affine.scale(factor), crs
        )
    scl = land.scl[::2, ::2].copy()
    scl[nodata[::2, ::2]] = 0
    _write_cog(scene_dir / "SCL.tif", scl, transform @ Affine.scale(2), crs)


def scene_footprint(transform: Affine, size: int, crs: str) -> shapely.Geometry:
    """The scene's outline in lon/lat."""
    corners = [
        transform @ (float(c), float(r)) for c, r in shapely.box(0, 0, size, size).exterior.coords
    ]
    return reproject(shapely.Polygon(corners), crs, "EPSG:4326")
