"""What POST /detect accepts, and its refusals: kept apart from the detection itself
(:mod:`asm_watch_functions.api.detect_now`), so the API function imports the raster stack only
when a /detect request comes, not for every request (2.5 CPU-s and 250 MB of imports measured)."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator
from pyproj import Geod

from asm_core.errors import AoiError
from asm_core.sources.aoi import bbox_geometry, check_bbox
from asm_watch_functions.events import _Event

_WGS84 = Geod(ellps="WGS84")

#: Largest area answered synchronously; a 10 × 10 km window reads and detects in ~5 s.
MAX_DETECT_KM2 = 100.0


class DetectRequest(_Event):
    bbox: tuple[float, float, float, float]
    start: date
    end: date
    max_cloud: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _valid(self) -> DetectRequest:
        try:
            check_bbox(self.bbox)  # the same check as /scans and the CLI
        except AoiError as e:  # pydantic reports ValueErrors as the request's fault
            raise ValueError(str(e)) from e
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


def area_km2(bbox: tuple[float, float, float, float]) -> float:
    """The bbox's area on the WGS84 ellipsoid (geodesic), in km²."""
    area, _ = _WGS84.geometry_area_perimeter(bbox_geometry(bbox))
    return abs(float(area)) / 1e6
