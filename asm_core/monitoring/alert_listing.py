"""Alerts as a list a person can act on: read a results folder's ``alerts.geojson``, keep those
since a date, and print them as a table, GeoJSON or CSV (``asm alerts``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

from asm_core.errors import ResultsError
from asm_core.monitoring.alerts import ALERTS_FILE, AlertFeature, chip_line
from asm_core.sources.user_files import read_geojson

FORMATS = ("table", "geojson", "csv")
#: The columns of the CSV and the table, in order (any other property follows in the CSV).
COLUMNS = ("acquired", "kind", "site_id", "mgrs_tile", "country_iso3", "area_m2", "confidence")


def read_alerts(results: Path) -> list[AlertFeature]:
    """The alert features of a results folder, oldest first."""
    path = results / ALERTS_FILE
    if not path.is_file():
        raise ResultsError(
            f"no {ALERTS_FILE} in {str(results)!r}; `asm sites --results DIR` (or a scan with "
            "--context) writes it"
        )
    data = read_geojson(path, "alerts", ResultsError)
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not all(
        isinstance(f, dict) and isinstance(f.get("properties"), dict) for f in features
    ):
        raise ResultsError(
            f"alerts file {str(path)!r} is not a FeatureCollection of alerts with properties"
        )
    return sorted(features, key=lambda f: str(f["properties"].get("acquired", "")))


def since(features: Sequence[AlertFeature], day: date | None) -> list[AlertFeature]:
    """The alerts of looks acquired on or after ``day`` (all of them without one)."""
    if day is None:
        return list(features)
    return [f for f in features if _day(f) is not None and _day(f) >= day]  # type: ignore[operator]


def _day(feature: AlertFeature) -> date | None:
    value = feature["properties"].get("acquired")
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        return None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def as_csv(features: Sequence[AlertFeature]) -> str:
    """One row per alert: the main columns, the centroid, the reason, then every other
    property (lists joined with "; ")."""
    extra = sorted({k for f in features for k in f["properties"]} - {*COLUMNS, "reason"})
    header = [*COLUMNS, "lon", "lat", "reason", *extra]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for f in features:
        props = f["properties"]
        centre = _centroid(f)
        writer.writerow(
            [
                *(_cell(props.get(c)) for c in COLUMNS),
                *(("", "") if centre is None else (f"{centre.x:.6f}", f"{centre.y:.6f}")),
                _cell(props.get("reason")),
                *(_cell(props.get(k)) for k in extra),
            ]
        )
    return out.getvalue()


def _centroid(feature: AlertFeature) -> shapely.Point | None:
    try:
        return shape(feature["geometry"]).centroid
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def as_geojson(features: Sequence[AlertFeature]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, indent=1)


def as_table(features: Sequence[AlertFeature]) -> str:
    """A fixed-width table: date, kind, site, country, hectares, confidence, then the reason
    and, below it, the evidence chip (its path beside the alerts file and its two dates)."""
    lines = [f"{'acquired':<11}{'kind':<18}{'site':<18}{'country':<8}{'ha':>8}{'conf.':>7}  reason"]
    for f in features:
        p = f["properties"]
        day = _day(f)
        area = p.get("area_m2")
        confidence = p.get("confidence")
        lines.append(
            f"{'' if day is None else day.isoformat():<11}{_cell(p.get('kind')):<18}"
            f"{_cell(p.get('site_id')):<18}{_cell(p.get('country_iso3')):<8}"
            f"{'' if area is None else f'{float(area) / 1e4:.1f}':>8}"
            f"{'' if confidence is None else f'{float(confidence):.2f}':>7}  "
            f"{_cell(p.get('reason'))}"
        )
        if p.get("chip"):
            lines.append(f"{'':<11}{chip_line(p, str(p['chip']))}")
        elif p.get("chip_error"):
            lines.append(f"{'':<11}no chip: {p['chip_error']}")
    lines.append(f"{len(features)} alerts")
    return "\n".join(lines)


def render(features: Sequence[AlertFeature], fmt: str) -> str:
    """The alerts in one of :data:`FORMATS`."""
    return {"table": as_table, "geojson": as_geojson, "csv": as_csv}[fmt](features)
