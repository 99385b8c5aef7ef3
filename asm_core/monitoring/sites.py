"""Sites over time: stable ids across dates, one observation per site and clear look, and states.

Detections of one date are grouped into that date's sites (the ``site_id`` of the per-tile job);
going through the dates in order, each is matched to a tracked site whose footprint it overlaps
(or comes within ``match_distance_m`` of); unmatched ones start new sites, whose id is derived
from their tile, first date and place, so rebuilding from the same detections gives the same ids.

A date's site is measured as its worked extent: scars, pits and the ponds among them as one
hole-filled extent, so pits flooding in the rains are neither contraction nor growth.

Every tile-date after a site's first detection is an observation of it, marked observed or not
from the tile_runs' clear-share grid, with the NDVI of its whole footprint from their NDVI grid
(:mod:`asm_core.detection.objects.observed`): a site under cloud or outside the swath is
``unobserved``, never ``inactive``. States (``new``, ``persistent``, ``expanding``, ``contracting``,
``revegetating``, ``inactive``, ``reactivated``, ``unobserved``) follow
:mod:`asm_core.monitoring.site_states`: size changes against the extent's own uncertainty, regrowth
and abandonment from what the footprint shows.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from shapely.geometry import Polygon

from asm_core.detection.objects.observed import clear_share_lookup, footprint_ndvi_lookup
from asm_core.detection.objects.vectorize import WGS84, reproject, utm_epsg_for
from asm_core.monitoring.context import ContextLayer, keep_layers, kept_layers, relate
from asm_core.monitoring.countries import countries_at
from asm_core.monitoring.site_states import SiteLook, SiteStates
from asm_core.planning.site_groups import (
    SITE_TABLES,
    group_file,
    groups_stored,
    legacy_file,
    site_group,
)
from asm_core.results.schema import (
    DETECTIONS,
    READ_STATUSES,
    SITE_CONTEXT,
    SITE_OBSERVATIONS,
    SITES,
    covering_bbox,
    geoparquet_metadata,
)
from asm_core.results.store import read_table, write_atomic
from asm_core.rules import TrackingSettings, load_rules
from asm_core.spectral.geology import anomaly


@dataclass
class _DateSite:
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
    seen: dict[datetime, _DateSite] = field(default_factory=dict)


def _metric(geom: shapely.Geometry) -> shapely.Geometry:
    c = geom.centroid
    # Unions of polygons traced on one grid can touch at single vertices; after reprojection
    # such a geometry may be invalid, which GEOS overlays refuse.
    return shapely.make_valid(reproject(geom, WGS84, f"EPSG:{utm_epsg_for(c.x, c.y)}"))


def _weighted(
    members: list[dict[str, Any]], value: Callable[[dict[str, Any]], Any]
) -> float | None:
    """Area-weighted mean of ``value`` over the members that have one."""
    pairs = [(v, m["area_m2"]) for m in members if (v := value(m)) is not None]
    weight = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / weight if weight else None


def _ratio_anomaly(
    ground: list[dict[str, Any]], run: Mapping[str, Any], ratio: str
) -> float | None:
    return _weighted(ground, lambda m: anomaly(m.get(f"{ratio}_mean"), run, ratio))


def _date_sites(
    detections: Sequence[dict[str, Any]],
    runs: Mapping[str, dict[str, Any]],
    closing_m: float,
) -> list[_DateSite]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for d in detections:
        if d.get("site_id") and d.get("class") in ("mining_scar", "pond"):
            groups[(d["item_id"], d["site_id"])].append(d)
    return sorted(
        (_date_site(members, runs.get(item_id, {}), closing_m)
         for (item_id, _), members in sorted(groups.items())),
        key=lambda s: (s.acquired, s.mgrs_tile, s.footprint.centroid.x),
    )  # fmt: skip


def _date_site(
    members: list[dict[str, Any]], run: Mapping[str, Any], closing_m: float
) -> _DateSite:
    # the ground itself: scars only, as a site's ponds would drag greenness down (and the
    # ratios about) more the more of the site they fill
    ground = [m for m in members if m["class"] == "mining_scar"]
    extent, local = _extent([shapely.from_wkb(m["geometry"]) for m in members], closing_m)
    return _DateSite(
        members[0]["item_id"],
        members[0]["mgrs_tile"],
        members[0]["acquired"],
        extent,
        float(local.area),
        float(local.length),
        float(sum(m["area_m2"] for m in members if m["class"] == "pond")),
        _weighted(ground, lambda m: m.get("ndvi_mean")),
        _ratio_anomaly(ground, run, "ferric_iron"),
        _ratio_anomaly(ground, run, "clay"),
        _weighted(ground, lambda m: m.get("baseline_ndvi")),
    )


def _extent(
    parts_lonlat: list[shapely.Geometry], closing_m: float
) -> tuple[shapely.Geometry, shapely.Geometry]:
    """The worked extent of some parts, in lon/lat and in its UTM zone."""
    centre = shapely.union_all(parts_lonlat).centroid
    utm = f"EPSG:{utm_epsg_for(centre.x, centre.y)}"
    local = worked_extent([reproject(p, WGS84, utm) for p in parts_lonlat], closing_m)
    return shapely.make_valid(reproject(local, utm, WGS84)), local


def _site_id(site: _DateSite) -> str:
    c = site.footprint.centroid
    key = f"{site.mgrs_tile}|{site.acquired:%Y-%m-%d}|{c.x:.4f}|{c.y:.4f}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]


def track(
    detections: Sequence[dict[str, Any]],
    settings: TrackingSettings,
    runs: Mapping[str, dict[str, Any]] | None = None,
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


def observations(
    sites: list[TrackedSite],
    runs: Sequence[dict[str, Any]],
    clear_share: Callable[[dict[str, Any], shapely.Geometry], float],
    settings: TrackingSettings,
    footprint_ndvi: Callable[[dict[str, Any], shapely.Geometry, bool], float | None] | None = None,
) -> list[dict[str, Any]]:
    """One row per site and tile-date from its first detection on, with its state
    (:mod:`asm_core.monitoring.site_states`); ``footprint_ndvi`` reads a look's NDVI over a
    footprint."""
    looks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if run.get("status") in READ_STATUSES and run.get("mgrs_tile"):
            looks[str(run["mgrs_tile"])].append(run)
    rows = []
    for site in sites:
        machine = SiteStates(settings)
        so_far: shapely.Geometry | None = None  # what was detected up to this date
        for run in sorted(looks[site.mgrs_tile], key=lambda r: r["acquired"]):
            day = run["acquired"]
            if day < site.first_seen:
                continue
            detected = site.seen.get(day)
            if detected is not None:
                so_far = (
                    detected.footprint
                    if so_far is None
                    else shapely.union(so_far, detected.footprint)
                )
            if so_far is None:
                continue
            share = clear_share(run, so_far)
            greenness = footprint_ndvi(run, so_far, False) if footprint_ndvi is not None else None
            state = machine.step(
                SiteLook(
                    clear_share=share,
                    detected=detected is not None,
                    extent_m2=detected.area_m2 if detected else 0.0,
                    perimeter_m=detected.perimeter_m if detected else 0.0,
                    scar_ndvi=detected.ndvi_mean if detected else None,
                    extent_ndvi=(
                        footprint_ndvi(run, detected.footprint, True)
                        if detected and footprint_ndvi is not None
                        else None
                    ),
                    footprint_ndvi=greenness,
                    footprint=detected.footprint if detected else None,
                    ground_ndvi=(
                        None if footprint_ndvi is None else partial(_inside, footprint_ndvi, run)
                    ),
                )
            )
            rows.append(
                {
                    "site_id": site.site_id,
                    "mgrs_tile": site.mgrs_tile,
                    "acquired": day,
                    "item_id": run["item_id"],
                    "observed_clear": share >= settings.min_clear_share,
                    "clear_share": round(share, 3),
                    "detected": detected is not None,
                    "area_m2": round(detected.area_m2, 2) if detected else None,
                    "water_m2": round(detected.water_m2, 2) if detected else None,
                    "ndvi_mean": detected.ndvi_mean if detected else None,
                    "footprint_ndvi": None if greenness is None else round(greenness, 3),
                    "state": state,
                }
            )
    return rows


def _inside(
    footprint_ndvi: Callable[[dict[str, Any], shapely.Geometry, bool], float | None],
    run: dict[str, Any],
    footprint: shapely.Geometry,
) -> float | None:
    """A look's NDVI on the grid cells wholly inside a footprint."""
    return footprint_ndvi(run, footprint, True)


def _over_dates(site: TrackedSite, field_name: str) -> float | None:
    """Area-weighted mean of a per-date value over every date the site was detected."""
    looks = [{"area_m2": s.area_m2, "v": getattr(s, field_name)} for s in site.seen.values()]
    return _weighted(looks, lambda m: m["v"])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def site_rows(sites: list[TrackedSite], observed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``sites`` table: one row per tracked site, with its latest state."""
    latest: dict[str, dict[str, Any]] = {}
    for row in observed:
        if row["state"] != "unobserved":
            latest[row["site_id"]] = row
    centroids = [s.footprint.centroid for s in sites]
    countries = countries_at([c.x for c in centroids], [c.y for c in centroids])
    rows = []
    for site, centre, country in zip(sites, centroids, countries, strict=True):
        seen = sorted(site.seen)
        rows.append(
            {
                "site_id": site.site_id,
                "mgrs_tile": site.mgrs_tile,
                "first_seen": seen[0],
                "last_seen": seen[-1],
                "state": latest.get(site.site_id, {}).get("state", "new"),
                "detections": len(seen),
                "max_area_m2": round(max(s.area_m2 for s in site.seen.values()), 2),
                "latest_area_m2": round(site.seen[seen[-1]].area_m2, 2),
                "lon": round(centre.x, 7),
                "lat": round(centre.y, 7),
                "country_iso3": country,
                "ferric_anomaly": _rounded(_over_dates(site, "ferric_anomaly")),
                "clay_anomaly": _rounded(_over_dates(site, "clay_anomaly")),
                "baseline_ndvi": _rounded(site.seen[seen[0]].baseline_ndvi),
                "geometry": shapely.to_wkb(site.footprint),
            }
        )
    return sorted(rows, key=lambda r: (r["mgrs_tile"], r["first_seen"], r["site_id"]))


#: Context layer names with a meaning for the flags (any other name only adds its columns).
TENEMENTS, PROTECTED_AREAS = "tenements", "protected_areas"


def with_context(
    rows: list[dict[str, Any]], layers: Sequence[ContextLayer]
) -> tuple[pa.Table, pa.Table]:
    """The sites table with ``inside_<name>`` / ``distance_to_<name>_m`` per context layer and
    the flags ``possibly_informal`` (outside every tenement) and ``high_priority`` (inside a
    protected area) set when layers of those names are given (null otherwise); and the same
    relations in long form, one row per site and layer (``site_context``, for Athena, whose
    tables cannot grow a column per layer)."""
    footprints = [shapely.from_wkb(r["geometry"]) for r in rows]
    columns: dict[str, list[Any]] = {}
    context_rows = []
    for layer in layers:
        related = relate(layer, footprints)
        inside = related[f"inside_{layer.name}"].tolist()
        status = related[f"{layer.name}_status"].tolist()
        gaps = [None if v != v else float(v) for v in related[f"distance_to_{layer.name}_m"]]
        columns[f"inside_{layer.name}"], columns[f"distance_to_{layer.name}_m"] = inside, gaps
        columns[f"{layer.name}_status"] = status
        context_rows += [
            {
                "site_id": r["site_id"],
                "mgrs_tile": r["mgrs_tile"],
                "layer": layer.name,
                "feature_id": feature,
                "feature_status": state,
                "distance_m": gap,
            }
            for r, feature, state, gap in zip(rows, inside, status, gaps, strict=True)
        ]
    tenement = columns.get(f"inside_{TENEMENTS}")
    protected = columns.get(f"inside_{PROTECTED_AREAS}")
    flagged = [
        r
        | {
            "possibly_informal": None if tenement is None else tenement[i] is None,
            "high_priority": None if protected is None else protected[i] is not None,
            "bbox": covering_bbox(footprints[i].bounds),
        }
        for i, r in enumerate(rows)
    ]
    table = pa.Table.from_pylist(flagged, schema=SITES)
    extent = [float(v) for v in shapely.total_bounds(footprints)] if footprints else None
    # GeoParquet, so GIS tools and geopandas open the sites as the map layer they are
    geo = geoparquet_metadata(extent)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **geo})
    for name, values in columns.items():
        kind = pa.float64() if name.startswith("distance_to_") else pa.string()
        table = table.append_column(pa.field(name, kind), pa.array(values, kind))
    return table, pa.Table.from_pylist(context_rows, schema=SITE_CONTEXT)


@dataclass(frozen=True)
class SiteUpdate:
    """What :func:`build_site_tables` did."""

    sites: int
    states: dict[str, int]
    tiles_tracked: int  # tiles whose sites were worked out again
    tiles_kept: int  # tiles with nothing new since the last build, kept as they were
    news: frozenset[str] = frozenset()  # items newer than their tile's last tracked look
    context: tuple[ContextLayer, ...] = ()  # the layers the sites are related to


#: Parquet metadata of a group's sites file: the tracking settings and, per tile, a digest of
#: the tile-runs it saw and the date of the latest one.
TRACKING_METADATA = b"asm:tracking"


def _tile_digests(runs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """A digest per tile of the tile-runs the tracking used (item, status and rule set)."""
    per_tile: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        if run.get("mgrs_tile"):
            per_tile[str(run["mgrs_tile"])].append(
                f"{run['item_id']}|{run.get('status')}|{run.get('ruleset_hash')}"
            )
    return {
        tile: hashlib.sha1("\n".join(sorted(keys)).encode(), usedforsecurity=False).hexdigest()
        for tile, keys in sorted(per_tile.items())
    }


@dataclass
class _PreviousBuild:
    """What the last build of one site group recorded: per tile, the digest of the tile-runs
    it saw and the date of the latest; the group's site and observation rows."""

    tiles: dict[str, dict[str, str]] = field(default_factory=dict)
    sites: list[dict[str, Any]] = field(default_factory=list)
    observed: list[dict[str, Any]] = field(default_factory=list)


#: what a build keeps of its sites: the row bboxes are made again from the footprints (files
#: written before sites had them have none)
_KEPT_SITE_COLUMNS = pa.schema([f for f in SITES if f.name != "bbox"])


def _read_build(
    sites_file: Path, observations_file: Path, settings_hash: str
) -> _PreviousBuild | None:
    """A build's files, if both exist and it used the same settings (None otherwise: its tiles
    are tracked again)."""
    if not (sites_file.is_file() and observations_file.is_file()):
        return None
    metadata = pq.read_schema(sites_file).metadata or {}
    recorded = json.loads(metadata.get(TRACKING_METADATA, b"{}"))
    if recorded.get("settings") != settings_hash:
        return None
    return _PreviousBuild(
        dict(recorded.get("tiles", {})),
        pq.read_table(sites_file, columns=_KEPT_SITE_COLUMNS.names)
        .cast(_KEPT_SITE_COLUMNS)
        .to_pylist(),
        pq.read_table(observations_file).cast(SITE_OBSERVATIONS).to_pylist(),
    )


def _previous_build(
    results: Path, group: str, settings_hash: str, legacy: _PreviousBuild | None
) -> _PreviousBuild:
    """The group's last build; before its first, its share of a one-file (legacy) build."""
    if group_file(results, "sites", group).is_file():
        found = _read_build(
            group_file(results, "sites", group),
            group_file(results, "site_observations", group),
            settings_hash,
        )
        return found or _PreviousBuild()
    if legacy is None:
        return _PreviousBuild()
    mine = {t: v for t, v in legacy.tiles.items() if site_group(t) == group}
    return _PreviousBuild(
        mine,
        [r for r in legacy.sites if r["mgrs_tile"] in mine],
        [r for r in legacy.observed if r["mgrs_tile"] in mine],
    )


@dataclass
class _GroupBuild:
    """One group's share of a :class:`SiteUpdate`."""

    states: list[str]
    tracked: int
    kept: int
    news: set[str]


def build_site_tables(
    results: Path,
    settings: TrackingSettings | None = None,
    context: Sequence[ContextLayer] | None = None,
    rebuild: bool = False,
) -> SiteUpdate:
    """Bring ``sites``, ``site_observations`` and ``site_context`` up to date with a results
    folder's detections and tile_runs, with the context layers' columns on the sites: the
    layers given, which the folder keeps (``context_layers/``), or without any, those it kept
    last time (an update without ``--context`` does not wipe the context).

    One file per table and site group (:mod:`asm_core.planning.site_groups`), each group built
    apart. Incremental by tile: only tiles with tile-runs the last build did not see (a new date, a
    re-run, a different rule set) are tracked again, from their whole history, so the result
    is the same as tracking everything from scratch (``rebuild``), which happens anyway when the
    tracking settings changed. Deterministic: the same results give the same ids. A folder of
    an older release (one file per table) is split into groups, then its files are removed.
    """
    settings = settings or load_rules().tracking
    if context is None:
        context = kept_layers(results)
    else:
        keep_layers(results, list(context))
    settings_hash = settings.content_hash
    runs = read_table(results, "tile_runs").to_pylist()
    legacy = (
        None
        if rebuild
        else _read_build(
            legacy_file(results, "sites"), legacy_file(results, "site_observations"), settings_hash
        )
    )
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if run.get("mgrs_tile"):
            by_group[site_group(str(run["mgrs_tile"]))].append(run)
    for group in groups_stored(results) | {site_group(t) for t in (legacy.tiles if legacy else {})}:
        by_group.setdefault(group, [])
    detections = read_table(results, "detections") if by_group else DETECTIONS.empty_table()
    built = [
        _build_group(
            results,
            group,
            by_group[group],
            detections,
            settings,
            settings_hash,
            context,
            _PreviousBuild() if rebuild else _previous_build(results, group, settings_hash, legacy),
        )
        for group in sorted(by_group)
    ]
    for table in SITE_TABLES:  # split into groups above: the one-file tables go (sites last)
        legacy_file(results, table).unlink(missing_ok=True)
    states: dict[str, int] = defaultdict(int)
    for part in built:
        for state in part.states:
            states[state] += 1
    return SiteUpdate(
        sum(len(part.states) for part in built),
        dict(sorted(states.items())),
        sum(part.tracked for part in built),
        sum(part.kept for part in built),
        frozenset(item for part in built for item in part.news),
        tuple(context),
    )


def _build_group(
    results: Path,
    group: str,
    runs: list[dict[str, Any]],
    detections_table: pa.Table,
    settings: TrackingSettings,
    settings_hash: str,
    context: Sequence[ContextLayer],
    previous: _PreviousBuild,
) -> _GroupBuild:
    """Track one site group's stale tiles again and write its three files."""
    known = previous.tiles
    digests = _tile_digests(runs)
    stale = {t for t, digest in digests.items() if known.get(t, {}).get("digest") != digest}
    news = {
        str(r["item_id"])
        for r in runs
        if r["mgrs_tile"] in stale
        and r["acquired"] is not None
        and r["acquired"].isoformat() > known.get(str(r["mgrs_tile"]), {}).get("last", "")
    }
    kept_sites = [r for r in previous.sites if r["mgrs_tile"] not in stale]
    kept_observed = [r for r in previous.observed if r["mgrs_tile"] not in stale]
    detections = (
        detections_table.filter(pc.field("mgrs_tile").isin(sorted(stale)))
        if stale
        else DETECTIONS.empty_table()
    ).to_pylist()
    stale_runs = [r for r in runs if r["mgrs_tile"] in stale]
    clear_share = clear_share_lookup(stale_runs)
    tracked = track(detections, settings, {str(r["item_id"]): r for r in stale_runs})
    fresh = observations(
        tracked, stale_runs, clear_share, settings, footprint_ndvi_lookup(stale_runs)
    )
    rows = site_rows(tracked, fresh)
    observed = sorted(
        fresh + kept_observed, key=lambda r: (r["mgrs_tile"], r["site_id"], r["acquired"])
    )
    rows = sorted(rows + kept_sites, key=lambda r: (r["mgrs_tile"], r["first_seen"], r["site_id"]))
    table, related = with_context(rows, context)
    last: dict[str, str] = {}
    for run in runs:
        if run["mgrs_tile"] and run["acquired"] is not None:
            tile, day = str(run["mgrs_tile"]), run["acquired"].isoformat()
            last[tile] = max(last.get(tile, day), day)
    tiles = {**known, **{t: {"digest": d, "last": last.get(t, "")} for t, d in digests.items()}}
    recorded = json.dumps({"settings": settings_hash, "tiles": tiles}, sort_keys=True)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), TRACKING_METADATA: recorded.encode()}
    )
    tables = {
        "site_observations": pa.Table.from_pylist(observed, schema=SITE_OBSERVATIONS),
        # the context of every site, as related to the layers given this time
        "site_context": related,
        "sites": table,
    }
    for name in SITE_TABLES:  # the sites file, with the markers, last (see SITE_TABLES)
        write_atomic(tables[name], group_file(results, name, group))
    return _GroupBuild([r["state"] for r in rows], len(stale), len(digests) - len(stale), news)
