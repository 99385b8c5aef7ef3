"""Areas of interest: parse and check them before any pixel is read or any file written."""

from __future__ import annotations

import shapely
from shapely.geometry import shape

from asm_core.errors import AoiError
from asm_core.stac import SceneItem

BBox = tuple[float, float, float, float]


def parse_bbox(text: str) -> BBox:
    """Parse ``W,S,E,N`` in degrees.

    Raises:
        AoiError: not four numbers, out of range, or empty (W >= E or S >= N).
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError as e:
        raise AoiError(f"bbox {text!r} is not four numbers; expected W,S,E,N in degrees") from e
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):
        raise AoiError(f"bbox {text!r} is out of range; longitudes ±180, latitudes ±90")
    if west >= east or south >= north:
        raise AoiError(f"bbox {text!r} is empty; expected W < E and S < N")
    return west, south, east, north


def check_overlap(bbox: BBox, item: SceneItem) -> None:
    """Refuse an AOI that misses the item's footprint (when the item has one)."""
    if item.geometry is None:
        return
    footprint = shape(item.geometry)
    if not footprint.intersects(shapely.box(*bbox)):
        raise AoiError(
            f"bbox {list(bbox)} does not overlap item {item.item_id!r}, whose footprint is "
            f"{[round(v, 4) for v in footprint.bounds]}"
        )
