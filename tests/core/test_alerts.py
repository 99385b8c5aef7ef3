"""Alerts: only news, each with its reason in words, and a summary per country."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely

from asm_core.monitoring.alerts import alert_text, country_summary, site_alerts, write_alerts
from asm_core.rules import load_rules

SETTINGS = load_rules().tracking

D1, D2 = datetime(2024, 1, 7, tzinfo=UTC), datetime(2024, 3, 7, tzinfo=UTC)
FOOTPRINT = shapely.box(-1.80, 6.00, -1.79, 6.01)


def _site(site_id: str, country: str | None, **context: Any) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "mgrs_tile": "30NWK",
        "country_iso3": country,
        "geometry": shapely.to_wkb(FOOTPRINT),
        **context,
    }


def _look(site_id: str, item: str, day: datetime, state: str, area: float) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "item_id": item,
        "acquired": day,
        "state": state,
        "area_m2": area,
        "detected": True,
        "observed_clear": True,
    }


SITES = [
    _site(
        "in-park",
        "GHA",
        inside_protected_areas="555",
        distance_to_protected_areas_m=0.0,
        inside_tenements=None,
        distance_to_tenements_m=1234.0,
        possibly_informal=True,
        high_priority=True,
    ),
    _site(
        "licensed",
        "CIV",
        inside_tenements="PL-7",
        tenements_status="granted",
        distance_to_tenements_m=0.0,
    ),
]
LOOKS = [
    _look("in-park", "old", D1, "new", 20_000.0),
    _look("in-park", "new", D2, "expanding", 52_000.0),
    _look("licensed", "old", D1, "new", 9_000.0),
    _look("licensed", "new", D2, "persistent", 9_100.0),
]
DETECTIONS = [
    {
        "item_id": "new",
        "class": "mining_scar",
        "cues": ["iron_oxide", "ponds"],
        "confidence": 0.81,
        "geometry": shapely.to_wkb(FOOTPRINT),
    },
    {
        "item_id": "new",
        "class": "turbid_water",
        "cues": ["ndti"],
        "confidence": 0.9,
        "geometry": shapely.to_wkb(FOOTPRINT),
    },
]


def test_only_new_looks_alert_and_the_reason_says_why() -> None:
    alerts = site_alerts(SITES, LOOKS, DETECTIONS, frozenset({"new"}), SETTINGS)
    assert [a["properties"]["kind"] for a in alerts] == ["site_expanding"]
    p = alerts[0]["properties"]
    assert p["previous_area_m2"] == 20_000.0 and p["confidence"] == 0.81
    assert p["cues"] == ["iron_oxide", "ponds"]  # the turbid reach is not one of its members
    assert p["reason"] == (
        "Site expanding of 5.2 ha in GHA, grown from 2.0 ha; cues: iron-oxide (lateritic) "
        "spoil, ponds in the pits; confidence 0.81; inside protected areas 555; nearest "
        "tenements 1.2 km away; outside every tenement: possibly informal; HIGH PRIORITY "
        "(protected area)"
    )
    assert p["inside_protected_areas"] == "555" and p["high_priority"] is True
    # the first look is news too when nothing was tracked before
    every = site_alerts(SITES, LOOKS, DETECTIONS, frozenset({"old", "new"}), SETTINGS)
    assert sorted(a["properties"]["kind"] for a in every) == [
        "site_expanding",
        "site_new",
        "site_new",
    ]


def test_summary_per_country_and_text_with_high_priority_first(tmp_path: Path) -> None:
    alerts = site_alerts(SITES, LOOKS, DETECTIONS, frozenset({"old", "new"}), SETTINGS)
    summary = country_summary(alerts)
    assert summary == {
        "CIV": {"alerts": 1, "hectares": 0.9, "high_priority": 0, "site_new": 1},
        "GHA": {
            "alerts": 2,
            "hectares": 7.2,
            "high_priority": 2,
            "site_new": 1,
            "site_expanding": 1,
        },
    }
    text = alert_text(alerts, limit=2)
    lines = text.splitlines()
    assert lines[1] == "  CIV: 1 site new (0.9 ha; 0 high priority)"
    licensed = next(a for a in alerts if a["properties"]["site_id"] == "licensed")
    assert "inside tenements PL-7 (granted)" in licensed["properties"]["reason"]
    assert licensed["properties"]["tenements_status"] == "granted"
    assert "HIGH PRIORITY" in lines[4] and "HIGH PRIORITY" in lines[5]
    assert lines[-1] == "  … and 1 more in alerts.geojson"
    assert alert_text([]).startswith("No new, expanding or reactivated sites")
    write_alerts(tmp_path / "alerts.geojson", alerts)
    written = json.loads((tmp_path / "alerts.geojson").read_text())
    assert written["type"] == "FeatureCollection" and written["summary"] == summary
    assert len(written["features"]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["alerts.geojson"]  # no temporary left


def test_a_new_site_bare_a_year_before_is_not_news() -> None:
    cut = _site("cut", "GHA", baseline_ndvi=0.62)
    bare = _site("bare", "GHA", baseline_ndvi=0.18)
    looks = [_look("cut", "new", D2, "new", 30_000.0), _look("bare", "new", D2, "new", 30_000.0)]
    scar = DETECTIONS[0] | {"ndvi_mean": 0.2, "area_m2": 30_000.0}
    alerts = site_alerts([cut, bare], looks, [scar], frozenset({"new"}), SETTINGS)
    assert [a["properties"]["site_id"] for a in alerts] == ["cut"]
    assert "NDVI 0.62 a year before, 0.20 now" in alerts[0]["properties"]["reason"]
    # without a baseline threshold both are news
    anything_is_news = SETTINGS.model_copy(update={"bare_baseline_ndvi": -1.0})
    assert len(site_alerts([cut, bare], looks, [scar], frozenset({"new"}), anything_is_news)) == 2
