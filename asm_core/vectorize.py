"""Object masks to polygons: per object (a bounding-box crop), in the scene CRS, then EPSG:4326.

Areas and perimeters are measured in a projected CRS in metres (the scene's own UTM, or the UTM
zone of the object for scenes delivered in geographic coordinates), never in degrees.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS as PROJ_CRS
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, Polygon, shape

WGS84 = "EPSG:4326"


def mask_to_polygon(mask: npt.NDArray[np.bool_], transform: Affine) -> Polygon | MultiPolygon:
    """Polygon(s) of the True pixels of a crop whose top-left pixel sits at ``transform``."""
    parts = [
        shape(geom)
        for geom, value in rasterio.features.shapes(
            mask.astype(np.uint8), mask=mask, transform=transform, connectivity=8
        )
        if value == 1
    ]
    merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    if not merged.is_valid:
        merged = shapely.make_valid(merged)
    if isinstance(merged, Polygon | MultiPolygon):
        return merged
    polygons = [g for g in getattr(merged, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(polygons)


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def utm_epsg_for(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing a point."""
    zone = min(60, max(1, int((lon + 180.0) // 6.0) + 1))
    return (32600 if lat >= 0 else 32700) + zone


def utm_zone_of(crs: CRS, lon: float) -> int:
    """UTM zone number: from the CRS when it is UTM, otherwise from longitude."""
    epsg = crs.to_epsg() or 0
    if 32601 <= epsg <= 32660 or 32701 <= epsg <= 32760:
        return epsg % 100
    return min(60, max(1, int((lon + 180.0) // 6.0) + 1))


def reproject(geom: shapely.Geometry, src: str, dst: str) -> shapely.Geometry:
    """Reproject a shapely geometry (vectorised over its coordinates)."""
    if src == dst:
        return geom
    transformer = _transformer(src, dst)
    return shapely.transform(
        geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


@lru_cache(maxsize=64)
def crs_key(crs: CRS) -> str:
    """``EPSG:n`` where the CRS has a code, else its WKT (cached: asked once per object)."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def metric_geometry(geom: shapely.Geometry, crs: CRS) -> shapely.Geometry:
    """The geometry in a projected CRS with metre units (itself if already so)."""
    proj = PROJ_CRS.from_user_input(crs_key(crs))
    if proj.is_projected and proj.axis_info and proj.axis_info[0].unit_name in ("metre", "meter"):
        return geom
    lonlat = reproject(geom, crs_key(crs), WGS84)
    centre = lonlat.centroid
    return reproject(lonlat, WGS84, f"EPSG:{utm_epsg_for(centre.x, centre.y)}")
