"""The report map's layers as GeoJSON and image overlays: detections (simplified above the
polygon budget), tracked sites with their series and evidence chips, and the quicklooks.
"""

from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import shapely
from affine import Affine
from PIL import Image
from shapely.geometry import mapping

from asm_core.detection.objects.vectorize import WGS84, reproject
from asm_core.monitoring.alert_listing import read_alerts
from asm_core.monitoring.alerts import ALERTS_FILE
from asm_core.results.result_paths import file_name
from asm_core.results.rows import DetectionRow, SiteObservationRow, SiteRow, TileRunRow

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
SIMPLIFY_DEGREES = 0.0001  # about 10 m: a Sentinel-2 pixel


QUICKLOOK_SIDE_PX = 1024


def rounded_number(value: Any, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def day_text(value: Any) -> str | None:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else None


def detection_features(rows: list[DetectionRow], simplify: bool) -> list[dict[str, Any]]:
    features = []
    for r in rows:
        geom = shapely.from_wkb(r["geometry"])
        if simplify:
            geom = shapely.simplify(geom, SIMPLIFY_DEGREES, preserve_topology=True)
        props = {
            "id": r["detection_id"],
            "site": r.get("site_id"),
            "item": r["item_id"],
            "date": day_text(r["acquired"]),
            "cls": r["class"],
            "confidence": rounded_number(r.get("confidence"), 2),
            "area_ha": rounded_number(r["area_m2"] / 10_000, 2),
            "country": r.get("country_iso3"),
            "cues": list(r.get("cues") or []),
            **{k.removesuffix("_mean"): rounded_number(r.get(k)) for k in INDEX_COLUMNS},
            "lon": rounded_number(r["lon"], 5),
            "lat": rounded_number(r["lat"], 5),
        }
        features.append({"type": "Feature", "properties": props, "geometry": mapping(geom)})
    return features


def site_chips(results: Path, chips_href: str) -> dict[str, dict[str, str]]:
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


def site_layer(
    sites: list[SiteRow],
    observed: list[SiteObservationRow],
    chips: dict[str, dict[str, str]],
) -> tuple[list[dict[str, Any]], dict[str, list[list[Any]]]]:
    series: dict[str, list[list[Any]]] = defaultdict(list)
    for o in sorted(observed, key=lambda o: (o["site_id"], o["acquired"])):
        if o["detected"] or o["observed_clear"]:  # a hidden look says nothing of the area
            series[o["site_id"]].append(
                [
                    day_text(o["acquired"]),
                    rounded_number((o["area_m2"] or 0) / 10_000, 2),
                    o["state"],
                ]
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
            "first": day_text(s["first_seen"]),
            "last": day_text(s["last_seen"]),
            "detections": s["detections"],
            "max_ha": rounded_number(s["max_area_m2"] / 10_000, 2),
            "latest_ha": rounded_number(s["latest_area_m2"] / 10_000, 2),
            "country": s.get("country_iso3"),
            "informal": s.get("possibly_informal"),
            "priority": s.get("high_priority"),
            "ferric": rounded_number(s.get("ferric_anomaly"), 1),
            "clay": rounded_number(s.get("clay_anomaly"), 1),
            "context": {
                k: (rounded_number(v, 0) if isinstance(v, float) else v) for k, v in context.items()
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


def quicklook_overlays(runs: list[TileRunRow], folder: Path | None) -> list[dict[str, Any]]:
    """Each run's quicklook PNG as a data URI with its lon/lat bounds (from the clear-share
    grid's transform and shape, which cover the scene)."""
    if folder is None or not folder.is_dir():
        return []
    out = []
    for r in runs:
        png = folder / f"{file_name(r['item_id'])[:-8]}.png"
        grid, shape, crs = (
            r["observed_grid_transform"],
            r["observed_grid_shape"],
            r["observed_grid_crs"],
        )
        if not png.is_file() or not grid or not shape or not crs:
            continue
        transform = Affine(*grid)
        rows, cols = shape
        x0, y0 = transform @ (0, 0)
        x1, y1 = transform @ (cols, rows)
        box = reproject(shapely.box(x0, y1, x1, y0), crs, WGS84)
        west, south, east, north = box.bounds
        data = base64.b64encode(_small_jpeg(png)).decode()
        out.append(
            {
                "item": r["item_id"],
                "date": day_text(r["acquired"]),
                "bounds": [[south, west], [north, east]],
                "src": f"data:image/jpeg;base64,{data}",
            }
        )
    return out


class SiteSummary(TypedDict):
    """What the report's site table shows of a site (a tracked site's row has all of it)."""

    site_id: str
    country_iso3: str | None
    state: str
    max_area_m2: float
    latest_area_m2: float
    first_seen: datetime
    last_seen: datetime
    possibly_informal: bool | None
    high_priority: bool | None


def sites_from_detections(detections: list[DetectionRow]) -> list[SiteSummary]:
    """Without tracked sites: one row per per-date site of the detections (scars and ponds)."""
    groups: dict[str, list[DetectionRow]] = defaultdict(list)
    for d in detections:
        site_id = d.get("site_id")
        if site_id and d["class"] in ("mining_scar", "pond"):
            groups[site_id].append(d)
    rows: list[SiteSummary] = []
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
                "possibly_informal": None,
                "high_priority": None,
            }
        )
    return rows
