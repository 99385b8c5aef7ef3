"""What a scan did: one summary type for ``asm scan``, ``asm serve`` and the Finalize step on AWS.

Every runner fills what it knows: the local one times the scan and counts detections by class
as tiles finish; Finalize knows where it stored the results and the catalogue. Written as JSON
(``scan_summary.json`` locally, ``scans/<id>/summary.json`` in the bucket) with the same keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ScanSummary:
    """A scan's outcome: its tile-dates by status, what they found, and what went wrong."""

    planned: int
    statuses: dict[str, int]
    #: detections and per-date sites of the tile-dates that ran
    detections: int
    sites: int
    failures: list[dict[str, str | None]]
    #: tile-dates whose item was one of several (reprocessed), the newest kept
    duplicates_replaced: int
    #: items left out of the plan because their JSON cannot be used (the first ones listed,
    #: with the reason)
    refused_count: int = 0
    refused: list[dict[str, str]] = field(default_factory=list)
    #: (kept, skipped) item pairs of the duplicates, where the runner has them
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    scan_id: str | None = None
    detections_by_class: dict[str, int] = field(default_factory=dict)
    #: tile-dates an earlier run finished (a re-run skips them), and those never started
    skipped: int = 0
    not_run: int = 0
    megabytes_read: float | None = None
    seconds: float | None = None
    #: valid area of the tile-dates that ran (km²)
    valid_area_km2: float | None = None
    interrupted: bool = False
    #: why the scan stopped before running every tile-date (a results folder it cannot write)
    stopped_by: str | None = None
    #: the site update after the scan (:meth:`asm_core.monitoring.monitor.MonitorUpdate.summary`)
    monitoring: dict[str, Any] | None = None
    #: where the summary and the results' STAC collection are (AWS)
    summary: str | None = None
    stac_collection: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
