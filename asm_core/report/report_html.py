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

import base64
import html
import io
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import shapely
from affine import Affine
from PIL import Image
from shapely.geometry import mapping

from asm_core import __version__
from asm_core.detection.objects.vectorize import WGS84, reproject
from asm_core.monitoring.alert_listing import read_alerts
from asm_core.monitoring.alerts import ALERTS_FILE
from asm_core.monitoring.evidence_chips import CHIPS_FOLDER
from asm_core.results.result_paths import file_name
from asm_core.results.schema import STATUSES, RunStatus
from asm_core.results.store import (
    check_results_folder,
    read_table,
    result_files,
    write_text_atomic,
)

CLASS_COLOURS = {"mining_scar": "#d7301f", "pond": "#2b8cbe", "turbid_water": "#8c6d31"}
STATE_COLOURS = {
    "new": "#e31a1c",
    "expanding": "#ff7f00",
    "reactivated": "#6a3d9a",
    "persistent": "#1f78b4",
    "contracting": "#a6cee3",
    "revegetating": "#33a02c",
    "inactive": "#999999",
    "unobserved": "#cccccc",
}
INDEX_COLUMNS = ("ndvi_mean", "bsi_mean", "ferric_iron_mean", "ndti_mean")
#: Above this many detections the map shows centroids until zoomed in, and simplified shapes.
MAX_POLYGONS = 3000
SIMPLIFY_DEGREES = 0.0001  # about 10 m: a Sentinel-2 pixel
QUICKLOOK_SIDE_PX = 1024


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


def _number(value: Any, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _day(value: Any) -> str | None:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else None


def _detection_features(rows: list[dict[str, Any]], simplify: bool) -> list[dict[str, Any]]:
    features = []
    for r in rows:
        geom = shapely.from_wkb(r["geometry"])
        if simplify:
            geom = shapely.simplify(geom, SIMPLIFY_DEGREES, preserve_topology=True)
        props = {
            "id": r["detection_id"],
            "site": r.get("site_id"),
            "item": r["item_id"],
            "date": _day(r["acquired"]),
            "cls": r["class"],
            "confidence": _number(r.get("confidence"), 2),
            "area_ha": _number(r["area_m2"] / 10_000, 2),
            "country": r.get("country_iso3"),
            "cues": list(r.get("cues") or []),
            **{k.removesuffix("_mean"): _number(r.get(k)) for k in INDEX_COLUMNS},
            "lon": _number(r["lon"], 5),
            "lat": _number(r["lat"], 5),
        }
        features.append({"type": "Feature", "properties": props, "geometry": mapping(geom)})
    return features


def _site_chips(results: Path, chips_href: str) -> dict[str, dict[str, str]]:
    """Each alerted site's latest evidence chip (its link as seen from the report, and the
    dates), from the results' alerts file."""
    path = results / ALERTS_FILE
    if not path.is_file():
        return {}
    chips: dict[str, dict[str, str]] = {}
    for alert in sorted(read_alerts(results), key=lambda a: str(a["properties"]["acquired"])):
        p = alert["properties"]
        if p.get("site_id") and p.get("chip"):
            name = str(p["chip"]).split("/", 1)[-1]
            chips[str(p["site_id"])] = {
                "chip": f"{chips_href.rstrip('/')}/{name}",
                "chip_dates": f"{p.get('chip_before') or 'no earlier clear look'} → "
                f"{p.get('chip_after')} ({p['kind'].replace('site_', '')})",
            }
    return chips


def _site_features(
    sites: list[dict[str, Any]],
    observed: list[dict[str, Any]],
    chips: dict[str, dict[str, str]],
) -> tuple[list[dict[str, Any]], dict[str, list[list[Any]]]]:
    series: dict[str, list[list[Any]]] = defaultdict(list)
    for o in sorted(observed, key=lambda o: (o["site_id"], o["acquired"])):
        if o["detected"] or o["observed_clear"]:  # a hidden look says nothing of the area
            series[o["site_id"]].append(
                [_day(o["acquired"]), _number((o["area_m2"] or 0) / 10_000, 2), o["state"]]
            )
    features = []
    for s in sites:
        context = {
            k: v
            for k, v in s.items()
            if k.startswith(("inside_", "distance_to_")) or k.endswith("_status")
        }
        props = {
            "id": s["site_id"],
            "state": s["state"],
            "first": _day(s["first_seen"]),
            "last": _day(s["last_seen"]),
            "detections": s["detections"],
            "max_ha": _number(s["max_area_m2"] / 10_000, 2),
            "latest_ha": _number(s["latest_area_m2"] / 10_000, 2),
            "country": s.get("country_iso3"),
            "informal": s.get("possibly_informal"),
            "priority": s.get("high_priority"),
            "ferric": _number(s.get("ferric_anomaly"), 1),
            "clay": _number(s.get("clay_anomaly"), 1),
            "context": {
                k: (_number(v, 0) if isinstance(v, float) else v) for k, v in context.items()
            },
            **chips.get(s["site_id"], {}),
        }
        geom = shapely.from_wkb(s["geometry"])
        features.append({"type": "Feature", "properties": props, "geometry": mapping(geom)})
    return features, dict(series)


def _small_jpeg(png: Path, side: int = QUICKLOOK_SIDE_PX) -> bytes:
    """A quicklook at most ``side`` pixels across, as JPEG: a dozen full PNGs would make the
    report tens of MB; this keeps each near 100 kB, enough to judge a detection by eye."""
    with Image.open(png) as image:
        small = image.convert("RGB")
        small.thumbnail((side, side))
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=82)
    return buffer.getvalue()


def _quicklooks(runs: list[dict[str, Any]], folder: Path | None) -> list[dict[str, Any]]:
    """Each run's quicklook PNG as a data URI with its lon/lat bounds (from the clear-share
    grid's transform and shape, which cover the scene)."""
    if folder is None or not folder.is_dir():
        return []
    out = []
    for r in runs:
        png = folder / f"{file_name(r['item_id'])[:-8]}.png"
        if not png.is_file() or not r.get("observed_grid_transform"):
            continue
        transform = Affine(*r["observed_grid_transform"])
        rows, cols = r["observed_grid_shape"]
        x0, y0 = transform @ (0, 0)
        x1, y1 = transform @ (cols, rows)
        box = reproject(shapely.box(x0, y1, x1, y0), r["observed_grid_crs"], WGS84)
        west, south, east, north = box.bounds
        data = base64.b64encode(_small_jpeg(png)).decode()
        out.append(
            {
                "item": r["item_id"],
                "date": _day(r["acquired"]),
                "bounds": [[south, west], [north, east]],
                "src": f"data:image/jpeg;base64,{data}",
            }
        )
    return out


def _svg_lines(
    series: dict[str, list[tuple[str, float]]], title: str, unit: str, width: int = 420
) -> str:
    """A small line chart (one line per key) as SVG."""
    height, pad = 180, 34
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<p class="empty">{html.escape(title)}: nothing to draw.</p>'
    days = sorted({d for d, _ in points})
    top = max(v for _, v in points) or 1.0
    start = datetime.fromisoformat(days[0])
    span = max(1.0, (datetime.fromisoformat(days[-1]) - start).days)

    def xy(day: str, value: float) -> tuple[float, float]:
        x = pad + (datetime.fromisoformat(day) - start).days / span * (width - 2 * pad)
        return round(x, 1), round(height - pad - value / top * (height - 2 * pad), 1)

    palette = ["#d7301f", "#2b8cbe", "#33a02c", "#6a3d9a", "#ff7f00", "#8c6d31"]
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="14" class="title">{html.escape(title)}</text>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'class="axis"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" class="axis"/>',
        f'<text x="{pad - 4}" y="{pad + 4}" class="tick" text-anchor="end">{top:.1f}</text>',
        f'<text x="{pad - 4}" y="{height - pad}" class="tick" text-anchor="end">0</text>',
        f'<text x="{pad}" y="{height - pad + 14}" class="tick">{days[0]}</text>',
        f'<text x="{width - pad}" y="{height - pad + 14}" class="tick" '
        f'text-anchor="end">{days[-1]}</text>',
        f'<text x="{width - pad}" y="14" class="tick" text-anchor="end">{html.escape(unit)}</text>',
    ]
    for k, (name, values) in enumerate(sorted(series.items())[: len(palette)]):
        colour = palette[k]
        coords = " ".join(f"{x},{y}" for x, y in (xy(d, v) for d, v in sorted(values)))
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts += [
            f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>'
            for x, y in (xy(d, v) for d, v in values)
        ]
        parts.append(
            f'<text x="{width - pad - 60}" y="{pad + 12 * k}" class="tick" fill="{colour}">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg_bars(counts: dict[str, int], colours: dict[str, str], title: str) -> str:
    if not counts:
        return f'<p class="empty">{html.escape(title)}: none.</p>'
    width, row = 420, 20
    height = 24 + row * len(counts)
    top = max(counts.values())
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="4" y="14" class="title">{html.escape(title)}</text>',
    ]
    for k, (name, n) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
        y = 22 + k * row
        w = max(1.0, n / top * (width - 190))
        parts += [
            f'<text x="4" y="{y + 13}" class="tick">{html.escape(name)}</text>',
            f'<rect x="120" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{colours.get(name, "#777")}"/>',
            f'<text x="{124 + w:.1f}" y="{y + 13}" class="tick">{n}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _site_table(
    sites: list[dict[str, Any]], observed: list[dict[str, Any]]
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
                "max_ha": _number(s["max_area_m2"] / 10_000, 2),
                "latest_ha": _number(s["latest_area_m2"] / 10_000, 2),
                "growth": _number(growth, 2),
                "first": _day(s["first_seen"]),
                "last": _day(s["last_seen"]),
                "flags": ", ".join(flags),
            }
        )
    largest = sorted(rows, key=lambda r: -(r["max_ha"] or 0))[:25]
    fastest = sorted(rows, key=lambda r: -(r["growth"] or -1e9))[:25]
    chosen = {r["site"]: r for r in largest + fastest}
    return sorted(chosen.values(), key=lambda r: -(r["max_ha"] or 0))


def _sites_from_detections(detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without tracked sites: one row per per-date site of the detections (scars and ponds)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in detections:
        if d.get("site_id") and d["class"] in ("mining_scar", "pond"):
            groups[d["site_id"]].append(d)
    rows = []
    for site_id, members in groups.items():
        area = sum(m["area_m2"] for m in members)
        rows.append(
            {
                "site_id": site_id,
                "country_iso3": members[0].get("country_iso3"),
                "state": "detected",
                "max_area_m2": area,
                "latest_area_m2": area,
                "first_seen": members[0]["acquired"],
                "last_seen": members[0]["acquired"],
            }
        )
    return rows


def _coverage(runs: list[dict[str, Any]]) -> dict[str, Any]:
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
    detections = read_table(results, "detections").to_pylist()
    runs = read_table(results, "tile_runs").to_pylist()
    tracked = bool(result_files(results, "sites"))
    sites = read_table(results, "sites").to_pylist() if tracked else []
    observed = read_table(results, "site_observations").to_pylist() if tracked else []
    simplify = len(detections) > max_polygons
    site_features, series = _site_features(sites, observed, _site_chips(results, chips_href))
    overlays = _quicklooks(runs, quicklooks)
    area_by_country: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d in detections:
        if d["class"] == "mining_scar":
            area_by_country[d.get("country_iso3") or "none"][_day(d["acquired"]) or ""] += (
                d["area_m2"] / 10_000
            )
    trend = {
        c: [(day, round(v, 2)) for day, v in days.items()] for c, days in area_by_country.items()
    }
    data = {
        "detections": {
            "type": "FeatureCollection",
            "features": _detection_features(detections, simplify),
        },
        "sites": {"type": "FeatureCollection", "features": site_features},
        "series": series,
        "quicklooks": overlays,
        "simplified": simplify,
        "classColours": CLASS_COLOURS,
        "stateColours": STATE_COLOURS,
        "table": _site_table(sites, observed)
        if tracked
        else _site_table(_sites_from_detections(detections), []),
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
        trend=_svg_lines(trend, "Mining-scar area by country and date", "ha"),
        classes=_svg_bars(dict(classes), CLASS_COLOURS, "Detections by class"),
        states=_svg_bars(dict(states), STATE_COLOURS, "Sites by latest state")
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
