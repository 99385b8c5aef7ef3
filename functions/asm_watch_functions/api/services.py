"""What the API does, behind one interface with two homes: AWS (Step Functions, S3, Athena) and
this machine (a thread pool, a results folder, DuckDB) for ``asm serve``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from asm_core.results.result_paths import utm_zones_between
from asm_watch_functions.api.detect_request import DetectRequest
from asm_watch_functions.events import PlanEvent

#: Columns the detections endpoint returns (the geometry goes as GeoJSON from lon/lat/bbox), and
#: the page cursor: the acquisition time as the engine itself writes it, so the next page's
#: comparison is made on the same text.
DETECTION_COLUMNS = (
    "detection_id, site_id, item_id, mgrs_tile, acquired, class, confidence, area_m2, lon, lat, "
    "CAST(acquired AS VARCHAR) AS page_acquired"
)
#: With ``geometry=polygon``, the footprint too: its WKB as hex text, which both engines return
#: alike (Athena's result rows are text).
POLYGON_COLUMN = "to_hex(geometry) AS geometry_wkb"


def _detections_sql(columns: str) -> str:
    """One parameterised query for both homes (Athena's `?` execution parameters, DuckDB's
    `?`): values are bound, never spliced into the text. Pages are keyset pages: the rows
    after the last one returned, in (acquired, detection_id) order, so no row is skipped or
    repeated and no page reads more than it returns."""
    return (
        f"SELECT {columns} FROM detections "  # nosec B608 - our own column lists
        "WHERE lon BETWEEN ? AND ? AND lat BETWEEN ? AND ? "
        "AND CAST(dt AS VARCHAR) BETWEEN ? AND ? AND utm_zone BETWEEN ? AND ? "
        "AND (CAST(acquired AS VARCHAR) > ? "
        "OR (CAST(acquired AS VARCHAR) = ? AND detection_id > ?)) "
        "ORDER BY acquired, detection_id LIMIT ?"
    )


DETECTIONS_SQL = _detections_sql(DETECTION_COLUMNS)
DETECTIONS_WITH_POLYGONS_SQL = _detections_sql(f"{DETECTION_COLUMNS}, {POLYGON_COLUMN}")


@dataclass(frozen=True)
class ScanReport:
    """A scan's HTML report: the page itself, or a short-lived link to it."""

    html: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class DetectionQuery:
    west: float
    south: float
    east: float
    north: float
    start: date
    end: date
    limit: int
    #: the page cursor: (acquired as the engine writes it, detection_id) of the last row before
    after: tuple[str, str] = ("", "")
    #: footprints as polygons (else points at lon/lat)
    polygons: bool = False

    @property
    def sql(self) -> str:
        return DETECTIONS_WITH_POLYGONS_SQL if self.polygons else DETECTIONS_SQL

    def parameters(self) -> list[Any]:
        """The SQL's values; the dates and the bbox's UTM zones prune the partitions (Athena's
        projection then lists a few zones' folders, not all 60)."""
        return [
            self.west,
            self.east,
            self.south,
            self.north,
            self.start.isoformat(),
            self.end.isoformat(),
            *utm_zones_between(self.west, self.east),
            self.after[0],
            self.after[0],
            self.after[1],
            self.limit,
        ]


class ScanServices(Protocol):
    def start_scan(self, event: PlanEvent) -> dict[str, Any]: ...

    def get_scan(self, scan_id: str) -> dict[str, Any]: ...

    def detections(self, query: DetectionQuery) -> list[dict[str, Any]]: ...

    def detect(self, request: DetectRequest) -> dict[str, Any]: ...

    def report(self, scan_id: str) -> ScanReport: ...
