"""The API's services on this machine (``asm serve``): scans run in a background thread over
the local process pool, results in a folder, detections queried with DuckDB."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

from asm_core.jobs.scan import run_scan
from asm_core.monitoring.monitor import update_monitoring
from asm_core.report.report_html import build_report
from asm_core.results.sql import run_query
from asm_core.rules import shipped_rules
from asm_core.sources.catalog import (
    EARTH_SEARCH_URL,
    SENTINEL2_L2A,
    SearchRequest,
    SearchResult,
    search_items,
)
from asm_core.sources.stac import PUBLIC_COG_SOURCES, check_item_sources, readable_sources
from asm_watch_functions.api.detect_request import DetectRequest
from asm_watch_functions.api.services import DetectionQuery, ScanReport
from asm_watch_functions.errors import ReportNotReadyError, ScanNotFoundError
from asm_watch_functions.events import PlanEvent
from asm_watch_functions.scan_plans import plan_event


class LocalScanServices:
    def __init__(
        self,
        results: Path,
        workers: int = 1,
        stac_url: str = EARTH_SEARCH_URL,
        collection: str = SENTINEL2_L2A,
        search: Callable[[SearchRequest], SearchResult] = search_items,
        asset_sources: Sequence[str] = PUBLIC_COG_SOURCES,
    ) -> None:
        self.results, self.workers, self.search = results, workers, search
        #: where bands may be read from: the sources configured and the catalogue's host
        self.item_sources = readable_sources(asset_sources, stac_url)
        self.stac_url, self.collection = stac_url, collection
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="asm-scan")
        self._scans: dict[str, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _summary_path(self, scan_id: str) -> Path:
        return self.results / "scans" / scan_id / "summary.json"

    def start_scan(self, event: PlanEvent) -> dict[str, Any]:
        if event.items is not None:  # the caller's items are read only from allowed sources
            check_item_sources(event.items, self.item_sources)
        scan_id = event.scan_id or uuid.uuid4().hex[:16]
        with self._lock:
            if scan_id in self._scans or self._summary_path(scan_id).exists():
                raise ValueError(f"scan id {scan_id!r} is taken; choose another or omit it")
            self._scans[scan_id] = self._pool.submit(self._run, scan_id, event)
        return {"scan_id": scan_id, "status": "RUNNING"}

    def _run(self, scan_id: str, event: PlanEvent) -> dict[str, Any]:
        rules = shipped_rules(event.ruleset)
        plan = plan_event(
            event,
            date.today(),
            self.stac_url,
            self.collection,
            self.item_sources,
            search=self.search,
        )
        summary = run_scan(plan, rules, self.results, self.workers)
        # as the cloud's Finalize step does: the scan's sites and alerts
        summary.monitoring = update_monitoring(self.results, rules.tracking).summary()
        summary.scan_id = scan_id
        path = self._summary_path(scan_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary.as_json(), default=str), encoding="utf-8")
        return summary.as_json()

    def report(self, scan_id: str) -> ScanReport:
        """The report over this machine's results folder (every scan's results are in it)."""
        answer = self.get_scan(scan_id)
        if answer["status"] != "SUCCEEDED":
            raise ReportNotReadyError(
                f"scan {scan_id!r} is {answer['status']}: its report exists once it succeeded"
            )
        page, _ = build_report(self.results, self.results.parent / "quicklooks")
        return ScanReport(html=page)

    def get_scan(self, scan_id: str) -> dict[str, Any]:
        future = self._scans.get(scan_id)
        if future is None:
            if self._summary_path(scan_id).exists():
                summary = json.loads(self._summary_path(scan_id).read_text(encoding="utf-8"))
                return {"scan_id": scan_id, "status": "SUCCEEDED", "summary": summary}
            raise ScanNotFoundError(f"no scan with id {scan_id!r}")
        if not future.done():
            return {"scan_id": scan_id, "status": "RUNNING"}
        error = future.exception()
        if error is not None:
            return {"scan_id": scan_id, "status": "FAILED", "error": str(error)}
        return {"scan_id": scan_id, "status": "SUCCEEDED", "summary": future.result()}

    def detect(self, request: DetectRequest) -> dict[str, Any]:
        from asm_watch_functions.api.detect_now import detect_area  # the raster stack, on first use

        return detect_area(request, self.stac_url, self.collection, self.search, self.item_sources)

    def detections(self, query: DetectionQuery) -> list[dict[str, Any]]:
        # the same Athena SQL, through the one local mapping of the results folder (asm query's)
        answer = run_query(query.sql, self.results, query.parameters())
        return [
            {
                n: v.isoformat() if isinstance(v, datetime) else v
                for n, v in zip(answer.columns, row, strict=True)
            }
            for row in answer.rows
        ]
