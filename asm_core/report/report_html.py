"""One self-contained HTML report of a results folder: a map, trends and the top sites.

The file opens from disk with no network: Leaflet (vendored from the npm package, see
``scripts/vendor_leaflet.py``) and its CSS are inlined, the data are inlined as JSON, the
quicklooks as PNG data URIs (the alerts' evidence chips are linked files, in ``chips/`` beside
the alerts: a continental scan's would not fit in one page), and the charts are SVG drawn here
in Python (the selected site's area over time is drawn in the page when a site is clicked). No
tile layer: the quicklooks are the background, toggled in the layer control.

Above ``max_polygons`` detections, geometries are simplified and the map shows centroids until
zoomed in; the page says how many features it holds.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from asm_core import __version__
from asm_core.monitoring.evidence_chips import CHIPS_FOLDER
from asm_core.report.report_charts import svg_bars, svg_lines
from asm_core.report.report_layers import (
    CLASS_COLOURS,
    STATE_COLOURS,
    SiteSummary,
    day_text,
    detection_features,
    quicklook_overlays,
    rounded_number,
    site_chips,
    site_layer,
    sites_from_detections,
)
from asm_core.results.rows import (
    DetectionRow,
    SiteObservationRow,
    TileRunRow,
    read_detections,
    read_site_observations,
    read_sites,
    read_tile_runs,
)
from asm_core.results.schema import STATUSES, RunStatus
from asm_core.results.store import (
    check_results_folder,
    result_files,
    write_text_atomic,
)

#: Above this many detections the map shows centroids until zoomed in, and simplified shapes.
MAX_POLYGONS = 3000


@dataclass(frozen=True)
class ReportSummary:
    """What went into a report."""

    path: Path
    detections: int
    sites: int
    quicklooks: int
    simplified: bool


def _asset(*parts: str) -> str:
    """A text file shipped in the package (the page, its script and style, Leaflet)."""
    folder = resources.files("asm_core").joinpath("data", *parts[:-1])
    return folder.joinpath(parts[-1]).read_text(encoding="utf-8")


def _site_table(
    sites: Sequence[SiteSummary], observed: list[SiteObservationRow]
) -> list[dict[str, Any]]:
    """The largest and fastest-growing sites (growth: area gained per 30 days between the
    first and the latest detection), at most 50 rows."""
    detected: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for o in observed:
        if o["detected"] and o["area_m2"] is not None:
            detected[o["site_id"]].append((o["acquired"], o["area_m2"]))
    rows = []
    for s in sites:
        looks = sorted(detected.get(s["site_id"], []))
        growth = None
        if len(looks) >= 2 and (looks[-1][0] - looks[0][0]).days > 0:
            days = (looks[-1][0] - looks[0][0]).days
            growth = (looks[-1][1] - looks[0][1]) / 10_000 / days * 30
        flags = [
            label
            for label, on in (
                ("high priority", s.get("high_priority")),
                ("possibly informal", s.get("possibly_informal")),
            )
            if on
        ]
        rows.append(
            {
                "site": s["site_id"],
                "country": s.get("country_iso3") or "",
                "state": s["state"],
                "max_ha": rounded_number(s["max_area_m2"] / 10_000, 2),
                "latest_ha": rounded_number(s["latest_area_m2"] / 10_000, 2),
                "growth": rounded_number(growth, 2),
                "first": day_text(s["first_seen"]),
                "last": day_text(s["last_seen"]),
                "flags": ", ".join(flags),
            }
        )
    largest = sorted(rows, key=lambda r: -float(r["max_ha"] or 0))[:25]
    fastest = sorted(rows, key=lambda r: -float(r["growth"] or -1e9))[:25]
    chosen = {r["site"]: r for r in largest + fastest}
    return sorted(chosen.values(), key=lambda r: -float(r["max_ha"] or 0))


def _coverage(runs: list[TileRunRow]) -> dict[str, Any]:
    statuses = Counter(str(r["status"]) for r in runs)
    return {
        "statuses": {s: statuses.get(s, 0) for s in STATUSES},
        "valid_km2": round(sum(float(r.get("valid_area_km2") or 0) for r in runs), 1),
        "tile_dates": len(runs),
        "failures": [
            {"item": r["item_id"], "error": r.get("error") or ""}
            for r in runs
            if r["status"] == RunStatus.FAILED
        ],
    }


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":"), default=str).replace("</", "<\\/")


def _area_by_country(detections: list[DetectionRow]) -> dict[str, list[tuple[str, float]]]:
    """Mining-scar hectares by country and date (the trend chart)."""
    area: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d in detections:
        if d["class"] == "mining_scar":
            area[d.get("country_iso3") or "none"][day_text(d["acquired"]) or ""] += (
                d["area_m2"] / 10_000
            )
    return {c: [(day, round(v, 2)) for day, v in days.items()] for c, days in area.items()}


def build_report(
    results: Path,
    quicklooks: Path | None = None,
    max_polygons: int = MAX_POLYGONS,
    chips_href: str = CHIPS_FOLDER,
) -> tuple[str, ReportSummary]:
    """The report's HTML for a results folder (with ``quicklooks`` as overlays, if given); the
    site popups show the alerts' evidence chips, linked at ``chips_href`` (a folder's path or
    URL as seen from the page)."""
    check_results_folder(results, "tile_runs")
    detections = read_detections(results)
    runs = read_tile_runs(results)
    tracked = bool(result_files(results, "sites"))
    sites = read_sites(results) if tracked else []
    observed = read_site_observations(results) if tracked else []
    simplify = len(detections) > max_polygons
    site_features, series = site_layer(sites, observed, site_chips(results, chips_href))
    overlays = quicklook_overlays(runs, quicklooks)
    trend = _area_by_country(detections)
    data = {
        "detections": {
            "type": "FeatureCollection",
            "features": detection_features(detections, simplify),
        },
        "sites": {"type": "FeatureCollection", "features": site_features},
        "series": series,
        "quicklooks": overlays,
        "simplified": simplify,
        "classColours": CLASS_COLOURS,
        "stateColours": STATE_COLOURS,
        "table": _site_table(sites, observed)
        if tracked
        else _site_table(sites_from_detections(detections), []),
        "coverage": _coverage(runs),
    }
    classes = Counter(d["class"] for d in detections)
    states = Counter(s["state"] for s in sites)
    features = len(detections) + len(sites)
    page = Template(_asset("report", "page.html")).substitute(
        title=html.escape(f"ASM Watch report: {results.name}"),
        leaflet_css=_asset("leaflet", "leaflet.css"),
        leaflet_js=_asset("leaflet", "leaflet.js"),
        report_css=_asset("report", "report.css"),
        report_js=_asset("report", "report.js"),
        data=_script_json(data),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        results=html.escape(str(results)),
        held=f"{features:,} features ({len(detections):,} detections, {len(sites):,} sites)"
        + (" — shapes simplified, centroids shown until zoomed in" if simplify else ""),
        trend=svg_lines(trend, "Mining-scar area by country and date", "ha"),
        classes=svg_bars(dict(classes), CLASS_COLOURS, "Detections by class"),
        states=svg_bars(dict(states), STATE_COLOURS, "Sites by latest state")
        if sites
        else '<p class="empty">No tracked sites (run asm sites).</p>',
    )
    return page, ReportSummary(Path(), len(detections), len(sites), len(overlays), simplify)


def write_report(
    results: Path,
    out: Path,
    quicklooks: Path | None = None,
    max_polygons: int = MAX_POLYGONS,
    chips_href: str | None = None,
) -> ReportSummary:
    """Write the report to ``out`` (through a temporary file: a failed run leaves the old one).
    The evidence chips are linked where they are (``results/chips``, relative to the page)
    unless ``chips_href`` says where they will be."""
    if chips_href is None:
        chips_href = Path(os.path.relpath(results / CHIPS_FOLDER, out.parent)).as_posix()
    page, summary = build_report(results, quicklooks, max_polygons, chips_href)
    write_text_atomic(out, page)
    return ReportSummary(
        out, summary.detections, summary.sites, summary.quicklooks, summary.simplified
    )
