"""Turbidity alerts: judged against the same season a year before and the river upstream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pytest
import shapely

from asm_core.detection.objects.vectorize import WGS84, reproject
from asm_core.monitoring.context import ContextLayer
from asm_core.monitoring.turbidity import turbidity_alerts
from asm_core.rules import load_rules

UTM = "EPSG:32630"
X0, Y0 = 600_000.0, 700_000.0  # Ghana
NOW = datetime(2024, 11, 2, 10, 42, tzinfo=UTC)
YEAR_BEFORE = datetime(2023, 11, 8, 10, 42, tzinfo=UTC)
SETTINGS = load_rules().tracking


def _lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    return reproject(geom, UTM, WGS84)


def _reach(item: str, day: datetime, x0: float, x1: float, ndti: float) -> dict[str, Any]:
    """A turbid stretch of an east-flowing river at y = Y0, from x0 to x1 (metres east)."""
    geom = _lonlat(shapely.box(X0 + x0, Y0 - 20, X0 + x1, Y0 + 20))
    return {
        "detection_id": f"{item}:{x0:.0f}",
        "item_id": item,
        "acquired": day,
        "mgrs_tile": "30NYN",
        "class": "turbid_water",
        "area_m2": (x1 - x0) * 40,
        "ndti_mean": ndti,
        "lon": geom.centroid.x,
        "lat": geom.centroid.y,
        "country_iso3": "GHA",
        "geometry": shapely.to_wkb(geom),
    }


def _run(item: str, day: datetime) -> dict[str, Any]:
    return {"item_id": item, "acquired": day, "mgrs_tile": "30NYN", "status": "ok"}


def _site(site_id: str, x: float, y: float) -> dict[str, Any]:
    geom = _lonlat(shapely.box(X0 + x - 100, Y0 + y - 100, X0 + x + 100, Y0 + y + 100))
    return {
        "site_id": site_id,
        "mgrs_tile": "30NYN",
        "first_seen": datetime(2024, 3, 7, tzinfo=UTC),
        "geometry": shapely.to_wkb(geom),
    }


RIVER = ContextLayer(
    "rivers",
    gpd.GeoDataFrame(
        {"feature_id": ["r1"]},
        geometry=[_lonlat(shapely.LineString([(X0 - 5000, Y0), (X0 + 9000, Y0)]))],
        crs=4326,
    ),
)
TODAY, BEFORE = "S2A_30NYN_20241102_0_L2A", "S2A_30NYN_20231108_0_L2A"
RUNS = [_run(TODAY, NOW), _run(BEFORE, YEAR_BEFORE)]
SITES = [
    _site("at-the-head", 100, 250),  # beside where the plume starts
    _site("upstream", -2500, 300),
    _site("downstream", 6000, 300),  # below the reach: not its source
    _site("far-from-river", 500, 3000),
]


def _clear(run: dict[str, Any], footprint: shapely.Geometry) -> float:
    return 1.0


def test_a_new_plume_with_clear_water_upstream_names_the_sites_above_it() -> None:
    reach = _reach(TODAY, NOW, 0, 3000, 0.05)
    verdict = turbidity_alerts([reach], RUNS, frozenset({TODAY}), SITES, _clear, SETTINGS, RIVER)
    assert (verdict.reaches, len(verdict.alerts)) == (1, 1)
    alert = verdict.alerts[0]["properties"]
    assert alert["upstream"] == "clear" and alert["baseline_ndti"] is None
    assert alert["upstream_sites"] == ["at-the-head", "upstream"]
    assert alert["baseline_items"] == [BEFORE]
    assert "a year before (2023-11-08) it was not turbid" in alert["reason"]
    assert "300 m upstream is clear" in alert["reason"]


@pytest.mark.parametrize(
    ("before_ndti", "alerted"),
    [(0.04, False), (0.0, True), (-0.01, True)],
)
def test_a_reach_as_turbid_as_the_same_season_last_year_is_no_news(
    before_ndti: float, alerted: bool
) -> None:
    reaches = [
        _reach(TODAY, NOW, 0, 3000, 0.05),
        _reach(BEFORE, YEAR_BEFORE, -800, 2000, before_ndti),
    ]
    verdict = turbidity_alerts(reaches, RUNS, frozenset({TODAY}), SITES, _clear, SETTINGS, RIVER)
    assert verdict.reaches == 1  # last year's reach is not news itself
    assert bool(verdict.alerts) is alerted
    assert verdict.as_last_year == (0 if alerted else 1)
    if alerted:
        assert f"NDTI was {before_ndti:+.3f}" in verdict.alerts[0]["properties"]["reason"]


def test_without_a_clear_look_a_year_before_a_reach_is_not_judged() -> None:
    reach = _reach(TODAY, NOW, 0, 3000, 0.05)

    def cloudy_last_year(run: dict[str, Any], footprint: shapely.Geometry) -> float:
        return 0.0 if run["item_id"] == BEFORE else 1.0

    for runs, share in (([RUNS[0]], _clear), (RUNS, cloudy_last_year)):
        verdict = turbidity_alerts([reach], runs, frozenset({TODAY}), SITES, share, SETTINGS, RIVER)
        assert (verdict.alerts, verdict.no_baseline) == ([], 1)


def test_turbid_water_coming_from_upstream_is_not_a_local_plume() -> None:
    reaches = [_reach(TODAY, NOW, 0, 3000, 0.05), _reach(TODAY, NOW, -1500, -100, 0.05)]
    verdict = turbidity_alerts(
        reaches[:1] + reaches[1:], RUNS, frozenset({TODAY}), SITES, _clear, SETTINGS, RIVER
    )
    # the lower reach has turbid water 300 m above it; the upper one is a plume of its own
    heads = {a["properties"]["detection_id"] for a in verdict.alerts}
    assert heads == {f"{TODAY}:-1500"} and verdict.turbid_upstream == 1


def test_without_a_rivers_layer_the_nearest_sites_are_named_and_upstream_is_unchecked() -> None:
    reach = _reach(TODAY, NOW, 0, 3000, 0.05)
    verdict = turbidity_alerts([reach], RUNS, frozenset({TODAY}), SITES, _clear, SETTINGS)
    alert = verdict.alerts[0]["properties"]
    assert alert["upstream"] == "not_checked"
    assert alert["upstream_sites"][0] == "at-the-head"
    assert "far-from-river" not in alert["upstream_sites"]
    assert "upstream not checked (no rivers layer)" in alert["reason"]
