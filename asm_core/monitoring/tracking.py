"""Following a tile's sites over dates: each date's detections grouped into that date's sites,
matched to the tracked sites they overlap (or come within ``match_distance_m`` of), unmatched ones
starting new sites with ids derived from their tile, first date and place (rebuilding from the
same detections gives the same ids). A date's site is measured as its worked extent: scars,
pits and the ponds among them as one hole-filled extent, so pits flooding in the rains are
neither contraction nor growth.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import cast

import shapely
from shapely.geometry import Polygon

from asm_core.detection.objects.vectorize import WGS84, reproject, utm_epsg_for
from asm_core.results.rows import DetectionRow, TileRunRow, index_statistic
from asm_core.rules import TrackingSettings
from asm_core.spectral.geology import anomaly


@dataclass
class DateSite:
    item_id: str
    mgrs_tile: str
    acquired: datetime
    footprint: shapely.Geometry  # lon/lat: the worked extent (see worked_extent)
    area_m2: float  # of the worked extent
    perimeter_m: float
    water_m2: float  # of the ponds among it
    ndvi_mean: float | None  # of the scars
    ferric_anomaly: float | None = None
    clay_anomaly: float | None = None
    baseline_ndvi: float | None = None


def worked_extent(parts: Sequence[shapely.Geometry], closing_m: float) -> shapely.Geometry:
    """Scars, pits and the ponds in them as one extent (metric CRS): gaps up to ``closing_m``
    closed (the mixed pixels between a pit pond and its spoil are neither), holes filled (a
    flooded pit is still worked ground)."""
    union = shapely.union_all(parts)
    if closing_m > 0:
        union = union.buffer(closing_m / 2, join_style="mitre").buffer(
            -closing_m / 2, join_style="mitre"
        )
    polygons = [p for p in getattr(union, "geoms", [union]) if isinstance(p, Polygon)]
    return shapely.make_valid(shapely.union_all([Polygon(p.exterior) for p in polygons]))


@dataclass
class TrackedSite:
    site_id: str
    mgrs_tile: str
    first_seen: datetime
    footprint: shapely.Geometry  # lon/lat, everything ever detected
    seen: dict[datetime, DateSite] = field(default_factory=dict)


def _metric(geom: shapely.Geometry) -> shapely.Geometry:
    c = geom.centroid
    # Unions of polygons traced on one grid can touch at single vertices; after reprojection
    # such a geometry may be invalid, which GEOS overlays refuse.
    return shapely.make_valid(reproject(geom, WGS84, f"EPSG:{utm_epsg_for(c.x, c.y)}"))


def weighted_mean(
    members: list[DetectionRow], value: Callable[[DetectionRow], float | None]
) -> float | None:
    """Area-weighted mean of ``value`` over the members that have one."""
    return area_weighted([(value(m), m["area_m2"]) for m in members])


def area_weighted(pairs: list[tuple[float | None, float]]) -> float | None:
    """The mean of the values, weighted by their areas (values that are None left out)."""
    known = [(v, w) for v, w in pairs if v is not None]
    weight = sum(w for _, w in known)
    return sum(v * w for v, w in known) / weight if weight else None


def _ratio_anomaly(
    ground: list[DetectionRow], run: Mapping[str, object], ratio: str
) -> float | None:
    return weighted_mean(ground, lambda m: anomaly(index_statistic(m, f"{ratio}_mean"), run, ratio))


def _date_sites(
    detections: Sequence[DetectionRow],
    runs: Mapping[str, TileRunRow],
    closing_m: float,
) -> list[DateSite]:
    groups: dict[tuple[str, str], list[DetectionRow]] = defaultdict(list)
    for d in detections:
        site_id = d.get("site_id")
        if site_id and d.get("class") in ("mining_scar", "pond"):
            groups[(d["item_id"], site_id)].append(d)
    return sorted(
        (_date_site(members, runs.get(item_id, {}), closing_m)
         for (item_id, _), members in sorted(groups.items())),
        key=lambda s: (s.acquired, s.mgrs_tile, s.footprint.centroid.x),
    )  # fmt: skip


def _date_site(
    members: list[DetectionRow], run: Mapping[str, object], closing_m: float
) -> DateSite:
    # the ground itself: scars only, as a site's ponds would drag greenness down (and the
    # ratios about) more the more of the site they fill
    ground = [m for m in members if m["class"] == "mining_scar"]
    extent, local = _extent([shapely.from_wkb(m["geometry"]) for m in members], closing_m)
    return DateSite(
        members[0]["item_id"],
        cast(str, members[0]["mgrs_tile"]),  # detections of MGRS items: a tile each
        members[0]["acquired"],
        extent,
        float(local.area),
        float(local.length),
        float(sum(m["area_m2"] for m in members if m["class"] == "pond")),
        weighted_mean(ground, lambda m: index_statistic(m, "ndvi_mean")),
        _ratio_anomaly(ground, run, "ferric_iron"),
        _ratio_anomaly(ground, run, "clay"),
        weighted_mean(ground, lambda m: m.get("baseline_ndvi")),
    )


def _extent(
    parts_lonlat: list[shapely.Geometry], closing_m: float
) -> tuple[shapely.Geometry, shapely.Geometry]:
    """The worked extent of some parts, in lon/lat and in its UTM zone."""
    centre = shapely.union_all(parts_lonlat).centroid
    utm = f"EPSG:{utm_epsg_for(centre.x, centre.y)}"
    local = worked_extent([reproject(p, WGS84, utm) for p in parts_lonlat], closing_m)
    return shapely.make_valid(reproject(local, utm, WGS84)), local


def _site_id(site: DateSite) -> str:
    c = site.footprint.centroid
    key = f"{site.mgrs_tile}|{site.acquired:%Y-%m-%d}|{c.x:.4f}|{c.y:.4f}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]


def track(
    detections: Sequence[DetectionRow],
    settings: TrackingSettings,
    runs: Mapping[str, TileRunRow] | None = None,
) -> list[TrackedSite]:
    """Match each date's sites to tracked sites, in date order (deterministic); ``runs`` (by
    item id) give the tile-dates' geology backgrounds."""
    tracked: list[TrackedSite] = []
    # the tracked sites of each tile, and each one's footprint in metres as it stands: a new
    # site is compared with its own tile's sites only (comparing it with every tracked site of
    # a continent grew with the square of the sites)
    by_tile: dict[str, list[int]] = defaultdict(list)
    metrics: list[shapely.Geometry] = []
    # each one's footprint grown by the match distance, made when first needed and dropped when
    # the footprint grows (buffering it for every comparison was 45 % of a site update's time)
    grown: dict[int, shapely.Geometry] = {}
    reach = settings.match_distance_m
    for site in _date_sites(detections, runs or {}, settings.extent_closing_m):
        metric = _metric(site.footprint)
        near = [i for i in by_tile[site.mgrs_tile] if metric.distance(metrics[i]) <= reach]
        best: tuple[float, int] | None = (0.0, near[0]) if len(near) == 1 else None
        for i in near if len(near) > 1 else []:  # the one that overlaps most (the first of ties)
            if i not in grown:
                grown[i] = metrics[i].buffer(reach)
            overlap = metric.intersection(grown[i]).area
            if best is None or overlap > best[0]:
                best = (overlap, i)
        if best is None:
            tracked.append(
                TrackedSite(_site_id(site), site.mgrs_tile, site.acquired, site.footprint)
            )
            target = tracked[-1]
            by_tile[site.mgrs_tile].append(len(tracked) - 1)
            metrics.append(metric)
        else:
            target = tracked[best[1]]
            target.footprint = shapely.make_valid(shapely.union(target.footprint, site.footprint))
            metrics[best[1]] = _metric(target.footprint)
            grown.pop(best[1], None)
        earlier = target.seen.get(site.acquired)
        if earlier is not None:  # two pieces of one site on one date: one extent
            footprint, local = _extent(
                [earlier.footprint, site.footprint], settings.extent_closing_m
            )
            site = replace(
                earlier,
                footprint=footprint,
                area_m2=float(local.area),
                perimeter_m=float(local.length),
                water_m2=earlier.water_m2 + site.water_m2,
            )
        target.seen[site.acquired] = site
    return tracked
