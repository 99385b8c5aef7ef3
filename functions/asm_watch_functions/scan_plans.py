"""The plan of a scan event, made the same way by the plan Lambda and by ``asm serve``.

A :class:`~asm_watch_functions.events.PlanEvent` names explicit items, or an area (a bbox, a
GeoJSON AOI, or an AOI stored at a key) and dates; either way it becomes the core's one search
request (:class:`asm_core.sources.catalog.SearchRequest`) and plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, cast

from shapely.geometry import MultiPolygon, Polygon

from asm_core.planning.plan import Plan
from asm_core.planning.scan_planning import plan_scan
from asm_core.rules import shipped_rules
from asm_core.sources.aoi import aoi_from_geojson, bbox_geometry
from asm_core.sources.catalog import SearchRequest, SearchResult, search_items
from asm_core.sources.stac import StacItemDict
from asm_watch_functions.events import PlanEvent


def event_area(
    event: PlanEvent, read_stored: Callable[[str], tuple[Any, str]] | None = None
) -> Polygon | MultiPolygon:
    """The area of an event that names one (``read_stored`` reads an ``aoi_key``: the GeoJSON
    and where it came from, for error messages)."""
    if event.bbox is not None:
        return bbox_geometry(event.bbox)
    if event.aoi is not None:
        return aoi_from_geojson(event.aoi, "the request's aoi")
    if event.aoi_key is None or read_stored is None:
        raise ValueError("the event names no area this service can read")
    geojson, where = read_stored(event.aoi_key)
    return aoi_from_geojson(geojson, where)


def plan_event(
    event: PlanEvent,
    today: date,
    stac_url: str,
    collection: str,
    allowed_sources: Sequence[str] | None,
    read_stored: Callable[[str], tuple[Any, str]] | None = None,
    search: Callable[[SearchRequest], SearchResult] = search_items,
) -> Plan:
    """The event's tile-dates, with their baseline looks (``today`` fixes a lookback's dates)."""
    window_days = shipped_rules(event.ruleset).baseline.days
    if event.items is not None:
        items = cast(list[StacItemDict], event.items)  # validated as items when planned
        return plan_scan(None, window_days, items=items, allowed_sources=allowed_sources)
    start, end = event.dates(today)
    request = SearchRequest(
        event_area(event, read_stored), start, end, stac_url, collection, event.max_cloud
    )
    return plan_scan(request, window_days, search=search, allowed_sources=allowed_sources)
