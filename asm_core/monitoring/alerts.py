"""What changed since the last update, worth telling someone: new, expanding and reactivated
sites and rising turbidity, each with the reason in words (which cues, which context), and a
summary per country. Written locally as ``alerts.geojson``; the cloud's Finalize step sends
the same text to the alert topic.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import shapely
from shapely.geometry import mapping

from asm_core.results.rows import (
    DetectionRow,
    SiteObservationRow,
    SiteRow,
    context_columns,
    index_statistic,
)
from asm_core.results.store import write_text_atomic
from asm_core.rules import TrackingSettings

SITE_ALERTS = {
    "new": "New site",
    "expanding": "Site expanding",
    "reactivated": "Site active again",
}
CUE_WORDS = {
    "bare_ground": "strongly bare ground",
    "iron_oxide": "iron-oxide (lateritic) spoil",
    "vegetation_contrast": "cut into vegetation",
    "ponds": "ponds in the pits",
    "pitted_texture": "pitted texture",
    "irregular_shape": "irregular shape",
    "turbid_water_near": "turbid water beside it",
    "vegetation_loss": "vegetation lost since the baseline",
    "known_site": "a site already tracked here",
}
ALERTS_FILE = "alerts.geojson"


class AlertFeature(TypedDict):
    """An alert: a GeoJSON feature whose properties say what, where and why."""

    type: str
    properties: dict[str, Any]
    geometry: dict[str, Any]


def _hectares(m2: float | None) -> str:
    return f"{(m2 or 0.0) / 10_000:.1f} ha"


def _distance(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


def context_phrases(site: SiteRow) -> list[str]:
    """Where a site meets the context layers, in words (its ``inside_*``/``distance_to_*``)."""
    phrases = []
    columns = context_columns(site)
    for key in sorted(columns):
        if not key.startswith("inside_"):
            continue
        name = key.removeprefix("inside_")
        inside, gap = columns[key], columns.get(f"distance_to_{name}_m")
        readable = name.replace("_", " ")
        status = columns.get(f"{name}_status")
        if inside is not None:
            phrases.append(f"inside {readable} {inside}" + (f" ({status})" if status else ""))
        elif gap is not None and gap == gap:
            phrases.append(f"nearest {readable} {_distance(float(gap))} away")
    if site.get("possibly_informal"):
        phrases.append("outside every tenement: possibly informal")
    if site.get("high_priority"):
        phrases.append("HIGH PRIORITY (protected area)")
    return phrases


def bare_before(site: SiteRow, bare_ndvi: float) -> bool:
    """Whether the same-season baseline shows the site's ground bare already when it was
    first seen (ground found, not ground cut: no news)."""
    before = site.get("baseline_ndvi")
    return before is not None and before < bare_ndvi


def site_alerts(
    sites: Sequence[SiteRow],
    observed: Sequence[SiteObservationRow],
    detections: Sequence[DetectionRow],
    news: frozenset[str],
    settings: TrackingSettings,
) -> list[AlertFeature]:
    """One GeoJSON feature per site whose state on a new look is new, expanding or reactivated;
    a new site that the baseline shows bare already (NDVI below the settings'
    ``bare_baseline_ndvi``) is left out.

    ``detections`` are those of the new looks (their cues and confidence are quoted).
    """
    by_id = {s["site_id"]: s for s in sites}
    per_item: dict[str, list[DetectionRow]] = defaultdict(list)
    for d in detections:
        if d.get("class") in ("mining_scar", "pond"):
            per_item[d["item_id"]].append(d)
    previous_area: dict[str, float] = {}
    alerts = []
    for row in sorted(observed, key=lambda r: (r["site_id"], r["acquired"])):
        site = by_id.get(row["site_id"])
        if site is None:
            continue
        already_bare = row["state"] == "new" and bare_before(site, settings.bare_baseline_ndvi)
        if row["item_id"] in news and row["state"] in SITE_ALERTS and not already_bare:
            footprint = shapely.from_wkb(site["geometry"])
            members = [
                d
                for d in per_item[row["item_id"]]
                if shapely.intersects(shapely.from_wkb(d["geometry"]), footprint)
            ]
            before_m2 = previous_area.get(row["site_id"])
            alerts.append(_site_alert(site, row, members, before_m2, settings))
        if row["detected"] and row["observed_clear"]:
            previous_area[row["site_id"]] = float(row["area_m2"] or 0.0)
    return alerts


def _scar_ndvi(members: list[DetectionRow]) -> float | None:
    ndvi = {
        id(m): value
        for m in members
        if m.get("class") == "mining_scar"
        and (value := index_statistic(m, "ndvi_mean")) is not None
    }
    scars = [m for m in members if id(m) in ndvi]
    area = sum(m["area_m2"] for m in scars)
    return sum(ndvi[id(m)] * m["area_m2"] for m in scars) / area if area else None


def _reason(
    site: SiteRow,
    row: SiteObservationRow,
    members: list[DetectionRow],
    before_m2: float | None,
    cues: list[str],
    confidence: float | None,
    settings: TrackingSettings,
) -> str:
    """The alert in words: what, how big, where, on what evidence."""
    where = site.get("country_iso3") or "no country (at sea or unmapped)"
    text = f"{SITE_ALERTS[row['state']]} of {_hectares(row['area_m2'])} in {where}"
    if row["state"] == "expanding" and before_m2:
        text += f", grown from {_hectares(before_m2)}"
    if cues:
        text += "; cues: " + ", ".join(CUE_WORDS.get(c, c) for c in cues)
    before, now = site.get("baseline_ndvi"), _scar_ndvi(members)
    if row["state"] == "new" and before is not None and now is not None:
        text += f"; NDVI {before:.2f} a year before, {now:.2f} now"
    if confidence is not None:
        text += f"; confidence {confidence:.2f}"
    alteration = [
        f"{label} {value:+.1f}"
        for label, value in (
            ("ferric", site.get("ferric_anomaly")),
            ("clay", site.get("clay_anomaly")),
        )
        if value is not None and value >= settings.alteration_alert_spreads
    ]
    if alteration:
        text += f"; alteration cue ({', '.join(alteration)} spreads above the tile's bare ground)"
    context = context_phrases(site)
    return text + ("; " + "; ".join(context) if context else "")


def _site_alert(
    site: SiteRow,
    row: SiteObservationRow,
    members: list[DetectionRow],
    before_m2: float | None,
    settings: TrackingSettings,
) -> AlertFeature:
    cues = sorted({c for d in members for c in (d.get("cues") or [])})
    confidence = max((float(d["confidence"]) for d in members), default=None)
    geometry = (
        shapely.union_all([shapely.from_wkb(d["geometry"]) for d in members])
        if members
        else shapely.from_wkb(site["geometry"])
    )
    text = _reason(site, row, members, before_m2, cues, confidence, settings)
    properties = {
        "kind": f"site_{row['state']}",
        "site_id": site["site_id"],
        "item_id": row["item_id"],
        "acquired": row["acquired"].isoformat(),
        "mgrs_tile": site["mgrs_tile"],
        "country_iso3": site.get("country_iso3"),
        "area_m2": row["area_m2"],
        "previous_area_m2": before_m2,
        "confidence": confidence,
        "cues": cues,
        "ferric_anomaly": site.get("ferric_anomaly"),
        "baseline_ndvi": site.get("baseline_ndvi"),
        "clay_anomaly": site.get("clay_anomaly"),
        "high_priority": bool(site.get("high_priority")),
        "possibly_informal": site.get("possibly_informal"),
        "reason": text,
    }
    properties |= {k: v for k, v in context_columns(site).items() if v == v}
    return {"type": "Feature", "properties": properties, "geometry": mapping(geometry)}


def country_summary(alerts: Sequence[AlertFeature]) -> dict[str, dict[str, Any]]:
    """Alerts per country and kind, with the hectares of sites alerted and the high-priority
    count; sites at sea or outside every country are under ``"none"``."""
    summary: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        p = alert["properties"]
        entry = summary.setdefault(
            p.get("country_iso3") or "none", {"alerts": 0, "hectares": 0.0, "high_priority": 0}
        )
        entry["alerts"] += 1
        entry[p["kind"]] = entry.get(p["kind"], 0) + 1
        if p["kind"].startswith("site_"):
            entry["hectares"] = round(entry["hectares"] + (p.get("area_m2") or 0) / 10_000, 2)
        entry["high_priority"] += int(bool(p.get("high_priority")))
    return dict(sorted(summary.items()))


def alert_text(alerts: Sequence[AlertFeature], limit: int = 50) -> str:
    """The message body: the per-country summary, then one line per alert (high priority
    first, then by size), at most ``limit`` lines."""
    if not alerts:
        return "No new, expanding or reactivated sites and no rising turbidity."
    lines = ["Per country:"]
    for country, entry in country_summary(alerts).items():
        kinds = ", ".join(
            f"{n} {k.replace('_', ' ')}"
            for k, n in sorted(entry.items())
            if k not in ("alerts", "hectares", "high_priority")
        )
        lines.append(
            f"  {country}: {kinds} ({entry['hectares']} ha; {entry['high_priority']} high priority)"
        )
    ranked = sorted(
        alerts,
        key=lambda a: (
            not a["properties"].get("high_priority"),
            -(a["properties"].get("area_m2") or 0),
        ),
    )
    lines.append("Alerts:")
    lines += [_alert_line(a["properties"]) for a in ranked[:limit]]
    if len(alerts) > limit:
        lines.append(f"  … and {len(alerts) - limit} more in {ALERTS_FILE}")
    return "\n".join(lines)


def chip_line(p: Mapping[str, Any], where: str) -> str:
    """An alert's evidence chip in words: its two dates and where it is."""
    before = p.get("chip_before") or "no earlier clear look"
    return f"before/after ({before} / {p.get('chip_after')}): {where}"


def _alert_line(p: Mapping[str, Any]) -> str:
    """One alert: date and reason, then where its before/after chip is (a link, if the caller
    made one: ``chip_url``)."""
    line = f"  {str(p['acquired'])[:10]} {p['reason']}"
    chip = p.get("chip_url") or p.get("chip")
    if chip:
        line += f"\n    {chip_line(p, str(chip))}"
    return line


def alert_collection(alerts: Sequence[AlertFeature]) -> dict[str, Any]:
    """The alerts as a GeoJSON FeatureCollection, with the per-country summary beside them."""
    return {
        "type": "FeatureCollection",
        "summary": country_summary(alerts),
        "features": list(alerts),
    }


def write_alerts(path: Path, alerts: Sequence[AlertFeature]) -> None:
    """``alerts.geojson``: :func:`alert_collection` of the alerts."""
    write_text_atomic(path, json.dumps(alert_collection(alerts), indent=1, default=str))
