"""Turbidity alerts: river and pond reaches that became sediment-laden, judged twice.

1. Against their own season: the looks at the same tile a year earlier (± the rule set's
   ``turbidity_baseline_days``) where the reach was seen clear. Rivers run brown every monsoon;
   a reach as turbid as it was in the same weeks last year is no news. No clear look then, no
   judgement (counted, not alerted).
2. Against the water upstream: with a ``rivers`` context layer (lines digitised in the flow
   direction, as HydroSHEDS' HydroRIVERS is), the river ``upstream_look_m`` above the reach's
   upstream end must have been seen clear and not turbid on the same date, or the sediment
   comes from further up. The tracked sites along the river from there up to
   ``upstream_sites_within_m`` are named, nearest first. Without a rivers layer the upstream
   test cannot be made: the alert says so and names the nearest sites instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import shapely
from shapely.geometry import mapping

from asm_core.detection.objects.observed import ClearShare
from asm_core.detection.objects.vectorize import WGS84, reproject, utm_epsg_for
from asm_core.monitoring.alerts import AlertFeature
from asm_core.monitoring.context import ContextLayer
from asm_core.results.rows import DetectionRow, SiteRow, TileRunRow, index_statistic
from asm_core.results.schema import READ_STATUSES
from asm_core.rules import TrackingSettings


@dataclass(frozen=True)
class TurbidityVerdict:
    """How many turbid reaches on new looks were judged, and the alerts among them."""

    alerts: list[AlertFeature]
    reaches: int
    no_baseline: int  # no clear same-season look a year earlier
    as_last_year: int  # no rise against the season
    turbid_upstream: int  # the river upstream was turbid too (or not seen)


def _metric(geom: shapely.Geometry, epsg: int) -> shapely.Geometry:
    return shapely.make_valid(reproject(geom, WGS84, f"EPSG:{epsg}"))


def _baseline(
    reach: DetectionRow,
    footprint: shapely.Geometry,
    runs: Sequence[TileRunRow],
    turbid: Sequence[DetectionRow],
    clear_share: ClearShare,
    settings: TrackingSettings,
) -> tuple[list[TileRunRow], float | None]:
    """The clear same-season looks a year before, and the highest NDTI of a turbid reach
    overlapping this one on any of them (None: not turbid then)."""
    year_before = reach["acquired"] - timedelta(days=365)
    window = timedelta(days=settings.turbidity_baseline_days)
    looks = [
        r
        for r in runs
        if r["mgrs_tile"] == reach["mgrs_tile"]
        and r.get("status") in READ_STATUSES
        and (day := r["acquired"]) is not None
        and abs(day - year_before) <= window
        and clear_share(r, footprint) >= settings.min_clear_share
    ]
    seen = {r["item_id"] for r in looks}
    then = [
        ndti
        for d in turbid
        if d["item_id"] in seen
        and (ndti := index_statistic(d, "ndti_mean")) is not None
        and shapely.intersects(shapely.from_wkb(d["geometry"]), footprint)
    ]
    return looks, max(then) if then else None


def _upstream(
    reach: DetectionRow,
    footprint: shapely.Geometry,
    run: TileRunRow,
    same_day: Sequence[shapely.Geometry],
    sites: Sequence[SiteRow],
    rivers: ContextLayer,
    clear_share: ClearShare,
    settings: TrackingSettings,
) -> tuple[str, list[tuple[str, float]]]:
    """``clear``, ``turbid``, ``unseen`` or ``off_river`` for the water upstream, and the
    sites along the river above the reach (id, metres along the river), nearest first."""
    epsg = utm_epsg_for(reach["lon"], reach["lat"])
    local = _metric(footprint, epsg)
    lines = [_metric(g, epsg) for g in rivers.features.geometry]
    river = min(lines, key=local.distance)
    if local.distance(river) > settings.turbidity_on_river_m:
        return "off_river", []
    start = min(river.project(shapely.Point(xy)) for xy in shapely.get_coordinates(local))
    probe = river.interpolate(max(0.0, start - settings.upstream_look_m))
    probe_area = reproject(probe.buffer(settings.turbidity_probe_radius_m), f"EPSG:{epsg}", WGS84)
    if any(_metric(g, epsg).distance(probe) <= settings.turbidity_probe_radius_m for g in same_day):
        verdict = "turbid"
    elif clear_share(run, probe_area) < settings.min_clear_share:
        verdict = "unseen"
    else:
        verdict = "clear"
    upstream = []
    for site in sites:
        where = _metric(shapely.from_wkb(site["geometry"]), epsg)
        if (
            where.distance(river) > settings.turbidity_site_on_river_m
            or site["first_seen"] > reach["acquired"]
        ):
            continue
        along = start - river.project(where.centroid)  # metres upstream of the reach's head
        if -settings.turbidity_beside_head_m <= along <= settings.upstream_sites_within_m:
            upstream.append((site["site_id"], max(0.0, along)))
    return verdict, sorted(upstream, key=lambda s: s[1])


def _nearest_sites(
    reach: DetectionRow,
    footprint: shapely.Geometry,
    sites: Sequence[SiteRow],
    settings: TrackingSettings,
) -> list[tuple[str, float]]:
    epsg = utm_epsg_for(reach["lon"], reach["lat"])
    local = _metric(footprint, epsg)
    near = []
    for site in sites:
        if site["mgrs_tile"] != reach["mgrs_tile"] or site["first_seen"] > reach["acquired"]:
            continue
        gap = local.distance(_metric(shapely.from_wkb(site["geometry"]), epsg))
        if gap <= settings.turbidity_near_sites_m:
            near.append((site["site_id"], gap))
    return sorted(near, key=lambda s: s[1])


def turbidity_alerts(
    turbid: Sequence[DetectionRow],
    runs: Sequence[TileRunRow],
    news: frozenset[str],
    sites: Sequence[SiteRow],
    clear_share: ClearShare,
    settings: TrackingSettings,
    rivers: ContextLayer | None = None,
) -> TurbidityVerdict:
    """Judge every ``turbid_water`` reach of the new looks (see the module docstring)."""
    runs_by_item = {r["item_id"]: r for r in runs}
    alerts: list[AlertFeature] = []
    counts = {"reaches": 0, "no_baseline": 0, "as_last_year": 0, "turbid_upstream": 0}
    for reach in turbid:
        if reach["item_id"] not in news or reach["item_id"] not in runs_by_item:
            continue
        counts["reaches"] += 1
        footprint = shapely.from_wkb(reach["geometry"])
        looks, before = _baseline(reach, footprint, runs, turbid, clear_share, settings)
        ndti = index_statistic(reach, "ndti_mean") or 0.0
        if not looks:
            counts["no_baseline"] += 1
            continue
        if before is not None and ndti - before < settings.turbidity_ndti_rise:
            counts["as_last_year"] += 1
            continue
        tile_sites = [s for s in sites if s["mgrs_tile"] == reach["mgrs_tile"]]
        if rivers is not None:
            same_day = [
                shapely.from_wkb(d["geometry"])
                for d in turbid
                if d["item_id"] == reach["item_id"] and d is not reach
            ]
            upstream, named = _upstream(
                reach,
                footprint,
                runs_by_item[reach["item_id"]],
                same_day,
                tile_sites,
                rivers,
                clear_share,
                settings,
            )
            if upstream in ("turbid", "unseen"):
                counts["turbid_upstream"] += 1
                continue
        else:
            upstream, named = "not_checked", _nearest_sites(reach, footprint, tile_sites, settings)
        alerts.append(_alert(reach, looks, before, upstream, named, settings))
    return TurbidityVerdict(alerts, **counts)


def _alert(
    reach: DetectionRow,
    looks: list[TileRunRow],
    before: float | None,
    upstream: str,
    named: list[tuple[str, float]],
    settings: TrackingSettings,
) -> AlertFeature:
    ndti = index_statistic(reach, "ndti_mean") or 0.0
    baseline_days = ", ".join(sorted(f"{r['acquired']:%Y-%m-%d}" for r in looks))
    text = f"Turbidity up on a {reach['area_m2'] / 10_000:.1f} ha reach (NDTI {ndti:+.3f}); "
    text += (
        f"the same season a year before ({baseline_days}) it was not turbid"
        if before is None
        else f"a year before ({baseline_days}) NDTI was {before:+.3f}"
    )
    if upstream == "clear":
        text += f"; the river {settings.upstream_look_m:.0f} m upstream is clear"
    elif upstream == "off_river":
        text += "; not on a mapped river (a pond or lake)"
    else:
        text += "; upstream not checked (no rivers layer)"
    if named:
        kind = "sites upstream" if upstream == "clear" else "nearest sites"
        text += f"; {kind}: " + ", ".join(f"{sid} ({gap / 1000:.1f} km)" for sid, gap in named[:3])
    properties = {
        "kind": "turbidity",
        "detection_id": reach["detection_id"],
        "item_id": reach["item_id"],
        "acquired": reach["acquired"].isoformat(),
        "mgrs_tile": reach["mgrs_tile"],
        "country_iso3": reach.get("country_iso3"),
        "area_m2": reach["area_m2"],
        "ndti": ndti,
        "baseline_ndti": before,
        "baseline_items": sorted(r["item_id"] for r in looks),
        "upstream": upstream,
        "upstream_sites": [sid for sid, _ in named[:3]],
        "reason": text,
    }
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": mapping(shapely.from_wkb(reach["geometry"])),
    }
