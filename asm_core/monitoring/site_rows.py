"""A tracked site's rows: one observation per tile-date since it appeared (seen clear or not, from
the tile_runs' clear-share grid, with its footprint's NDVI), its states, and its ``sites`` row
with the context layers it meets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

import pyarrow as pa
import shapely

from asm_core.detection.objects.observed import ClearShare, FootprintNdvi
from asm_core.monitoring.context import ContextLayer, relate
from asm_core.monitoring.countries import countries_at
from asm_core.monitoring.site_states import SiteLook, SiteStates
from asm_core.monitoring.tracking import DateSite, TrackedSite, area_weighted
from asm_core.results.rows import SiteObservationRow, SiteRow, TileRunRow
from asm_core.results.schema import (
    READ_STATUSES,
    SITE_CONTEXT,
    SITES,
    covering_bbox,
    geoparquet_metadata,
)
from asm_core.results.store import rows_table
from asm_core.rules import TrackingSettings

#: Context layer names with a meaning for the flags (any other name only adds its columns).
TENEMENTS, PROTECTED_AREAS = "tenements", "protected_areas"


def observations(
    sites: list[TrackedSite],
    runs: Sequence[TileRunRow],
    clear_share: ClearShare,
    settings: TrackingSettings,
    footprint_ndvi: FootprintNdvi | None = None,
) -> list[SiteObservationRow]:
    """One row per site and tile-date from its first detection on, with its state
    (:mod:`asm_core.monitoring.site_states`); ``footprint_ndvi`` reads a look's NDVI over a
    footprint."""
    looks: dict[str, list[tuple[datetime, TileRunRow]]] = defaultdict(list)
    for run in runs:
        day, tile = run.get("acquired"), run.get("mgrs_tile")
        if run.get("status") in READ_STATUSES and tile and day is not None:
            looks[tile].append((day, run))
    rows: list[SiteObservationRow] = []
    for site in sites:
        machine = SiteStates(settings)
        so_far: shapely.Geometry | None = None  # what was detected up to this date
        for day, run in sorted(looks[site.mgrs_tile], key=lambda look: look[0]):
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
            look = _look(run, detected, share, greenness, footprint_ndvi)
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
                    "state": machine.step(look),
                }
            )
    return rows


def _look(
    run: TileRunRow,
    detected: DateSite | None,
    share: float,
    greenness: float | None,
    footprint_ndvi: FootprintNdvi | None,
) -> SiteLook:
    """What one tile-date shows of a site, for its state machine."""
    return SiteLook(
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
        ground_ndvi=None if footprint_ndvi is None else partial(_inside, footprint_ndvi, run),
    )


def _inside(
    footprint_ndvi: FootprintNdvi,
    run: TileRunRow,
    footprint: shapely.Geometry,
) -> float | None:
    """A look's NDVI on the grid cells wholly inside a footprint."""
    return footprint_ndvi(run, footprint, True)


def _over_dates(site: TrackedSite, field_name: str) -> float | None:
    """Area-weighted mean of a per-date value over every date the site was detected."""
    return area_weighted([(getattr(s, field_name), s.area_m2) for s in site.seen.values()])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def site_rows(sites: list[TrackedSite], observed: list[SiteObservationRow]) -> list[SiteRow]:
    """The ``sites`` table: one row per tracked site, with its latest state."""
    latest: dict[str, SiteObservationRow] = {}
    for row in observed:
        if row["state"] != "unobserved":
            latest[row["site_id"]] = row
    centroids = [s.footprint.centroid for s in sites]
    countries = countries_at([c.x for c in centroids], [c.y for c in centroids])
    rows: list[SiteRow] = []
    for site, centre, country in zip(sites, centroids, countries, strict=True):
        seen = sorted(site.seen)
        rows.append(
            {
                "site_id": site.site_id,
                "mgrs_tile": site.mgrs_tile,
                "first_seen": seen[0],
                "last_seen": seen[-1],
                "state": latest[site.site_id]["state"] if site.site_id in latest else "new",
                "detections": len(seen),
                "max_area_m2": round(max(s.area_m2 for s in site.seen.values()), 2),
                "latest_area_m2": round(site.seen[seen[-1]].area_m2, 2),
                "lon": round(centre.x, 7),
                "lat": round(centre.y, 7),
                "country_iso3": country,
                "ferric_anomaly": _rounded(_over_dates(site, "ferric_anomaly")),
                "clay_anomaly": _rounded(_over_dates(site, "clay_anomaly")),
                "baseline_ndvi": _rounded(site.seen[seen[0]].baseline_ndvi),
                # the flags are set by with_context, from the context layers given
                "possibly_informal": None,
                "high_priority": None,
                "bbox": covering_bbox(site.footprint.bounds),
                "geometry": shapely.to_wkb(site.footprint),
            }
        )
    return sorted(rows, key=lambda r: (r["mgrs_tile"], r["first_seen"], r["site_id"]))


def with_context(rows: list[SiteRow], layers: Sequence[ContextLayer]) -> tuple[pa.Table, pa.Table]:
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
    flagged = []
    for i, r in enumerate(rows):
        row = r.copy()
        row["possibly_informal"] = None if tenement is None else tenement[i] is None
        row["high_priority"] = None if protected is None else protected[i] is not None
        flagged.append(row)
    table = rows_table(flagged, SITES, "sites")
    extent = [float(v) for v in shapely.total_bounds(footprints)] if footprints else None
    # GeoParquet, so GIS tools and geopandas open the sites as the map layer they are
    geo = geoparquet_metadata(extent)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **geo})
    for name, values in columns.items():
        kind = pa.float64() if name.startswith("distance_to_") else pa.string()
        table = table.append_column(pa.field(name, kind), pa.array(values, kind))
    return table, rows_table(context_rows, SITE_CONTEXT, "site_context")
