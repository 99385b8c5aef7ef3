"""Areas of interest: parse and check them before any pixel is read or any file written.

AOIs are EPSG:4326 (RFC 7946). One crossing the antimeridian is split into parts on either side
(the ``antimeridian`` library), so searches and overlaps work on both halves.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import antimeridian
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape

from asm_core.errors import AoiError
from asm_core.sources.stac import SceneItem
from asm_core.sources.user_files import read_geojson

BBox = tuple[float, float, float, float]


def parse_bbox(text: str) -> BBox:
    """Parse ``W,S,E,N`` in degrees; W > E means the box crosses the antimeridian.

    Raises:
        AoiError: not four numbers, out of range, or empty.
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError as e:
        raise AoiError(f"bbox {text!r} is not four numbers; expected W,S,E,N in degrees") from e
    return check_bbox((west, south, east, north), repr(text))


def check_bbox(bbox: tuple[float, ...] | list[float], shown: str | None = None) -> BBox:
    """The one bbox check of the CLI and the API: four finite numbers, longitudes ±180 (W > E
    crosses the antimeridian), latitudes ±90, not empty.

    Raises:
        AoiError: naming the bbox and what is accepted.
    """
    shown = shown or str(list(bbox))
    if len(bbox) != 4:
        raise AoiError(f"bbox {shown} is not four numbers; expected W,S,E,N in degrees")
    west, south, east, north = (float(v) for v in bbox)
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):  # NaN fails every comparison
        raise AoiError(f"bbox {shown} is out of range; longitudes ±180, latitudes ±90")
    if west == east or south >= north:
        raise AoiError(f"bbox {shown} is empty; expected W ≠ E and S < N")
    return west, south, east, north


def bbox_geometry(bbox: BBox) -> Polygon | MultiPolygon:
    """The bbox as a (multi)polygon, split in two if it crosses the antimeridian."""
    west, south, east, north = bbox
    if west < east:
        return box(west, south, east, north)
    return MultiPolygon([box(west, south, 180.0, north), box(-180.0, south, east, north)])


def _polygons(geometry: Any) -> list[Polygon]:
    geom = shape(geometry)
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    raise AoiError(f"AOI geometry of type {geom.geom_type!r}; expected Polygon or MultiPolygon")


def load_aoi(path: Path) -> Polygon | MultiPolygon:
    """Read an AOI from a GeoJSON file (geometry, Feature or FeatureCollection; EPSG:4326).

    Raises:
        AoiError: unreadable, not GeoJSON polygons, invalid or empty.
    """
    return aoi_from_geojson(read_geojson(path, "AOI", AoiError), path)


def aoi_from_geojson(data: Any, path: Path | str) -> Polygon | MultiPolygon:
    """An AOI from parsed GeoJSON found at ``path`` (a file, an S3 key, an event field).

    Raises:
        AoiError: not GeoJSON polygons, invalid or empty.
    """
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "FeatureCollection":
        geometries = [f.get("geometry") for f in data.get("features", [])]
    elif kind == "Feature":
        geometries = [data.get("geometry")]
    elif kind in ("Polygon", "MultiPolygon"):
        geometries = [data]
    else:
        raise AoiError(f"AOI file {str(path)!r} has type {kind!r}; expected GeoJSON polygons")
    try:
        polygons = [p for g in geometries if g for p in _polygons(g)]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise AoiError(f"AOI file {str(path)!r} holds a malformed geometry: {e}") from e
    for polygon in polygons:  # out-of-range coordinates would be wrapped, not refused
        xy = shapely.get_coordinates(polygon)
        lon, lat = xy[:, 0], xy[:, 1]
        if not ((abs(lon) <= 180).all() and (abs(lat) <= 90).all()):  # NaN fails too
            bad = next((x, y) for x, y in xy.tolist() if not (abs(x) <= 180 and abs(y) <= 90))
            raise AoiError(
                f"AOI file {str(path)!r} has the point {bad} out of range; longitudes ±180, "
                "latitudes ±90 (EPSG:4326)"
            )
    try:
        fixed = [
            shape(antimeridian.fix_shape(mapping(p), great_circle=False, fix_winding=True))
            for p in polygons
        ]
    except ValueError as e:
        raise AoiError(f"AOI file {str(path)!r} holds an invalid polygon: {e}") from e
    parts = [q for f in fixed for q in _polygons(mapping(f))]
    aoi = shapely.make_valid(MultiPolygon(parts)) if parts else None
    if aoi is None or aoi.is_empty or aoi.area == 0:
        raise AoiError(f"AOI file {str(path)!r} is empty; it needs at least one polygon with area")
    bounds = aoi.bounds
    if bounds[0] < -180 or bounds[2] > 180 or bounds[1] < -90 or bounds[3] > 90:
        raise AoiError(f"AOI file {str(path)!r} has coordinates outside ±180/±90: {bounds}")
    return aoi if isinstance(aoi, Polygon | MultiPolygon) else MultiPolygon(_polygons(aoi))


def check_overlap(bbox: BBox, item: SceneItem) -> None:
    """Refuse an AOI that misses the item's footprint (when the item has one)."""
    if item.geometry is None:
        return
    footprint = shape(item.geometry)
    if not footprint.intersects(bbox_geometry(bbox)):
        raise AoiError(
            f"bbox {list(bbox)} does not overlap item {item.item_id!r}, whose footprint is "
            f"{[round(v, 4) for v in footprint.bounds]}"
        )


def window_bounds(aoi: Polygon | MultiPolygon, footprint: Mapping[str, Any] | None) -> BBox | None:
    """W,S,E,N (W < E) of the part of an AOI inside a footprint (GeoJSON), for a windowed
    read; None when they do not overlap."""
    part = aoi if footprint is None else aoi.intersection(shape(footprint))
    if part.is_empty:
        return None
    west, south, east, north = part.bounds
    return west, south, east, north
