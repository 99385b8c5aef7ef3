"""From a scan request to its plan: the items (searched, or given), one tile-date per MGRS tile
and day, and each tile-date's same-season baseline looks a year before.

One function for the three ways scans start (``asm scan``, ``asm serve``, the cloud's Plan
step), so they plan alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from asm_core.errors import CatalogError
from asm_core.planning.plan import Plan, attach_baselines, baseline_dates, plan_tile_dates
from asm_core.sources.catalog import SearchRequest, SearchResult, search_items
from asm_core.sources.stac import StacItemDict


def plan_scan(
    request: SearchRequest | None,
    window_days: int,
    items: list[StacItemDict] | None = None,
    search: Callable[[SearchRequest], SearchResult] = search_items,
    allowed_sources: Sequence[str] | None = None,
) -> Plan:
    """Plan ``items`` (whose baselines come from among themselves) or the items ``request``
    finds (whose baselines come from a second search a year earlier). A failed baseline search
    plans without baselines and says why in ``plan.baseline_error``: scars are still found.
    Items and looks with bands outside ``allowed_sources`` (if given) are refused."""
    if items is not None:
        plan, looks = plan_tile_dates(items, len(items), allowed_sources), items
    elif request is None:
        raise ValueError("plan_scan needs a search request or the items")
    else:
        found = search(request)
        plan = plan_tile_dates(found.items, found.found, allowed_sources)
        plan.dropped_for_cloud, plan.cloud_filter = found.dropped_for_cloud, found.cloud_filter
        start, end = baseline_dates(request.start, request.end, window_days)
        plan.baseline_window = (start, end)
        try:
            looks = search(replace(request, start=start, end=end)).items
        except CatalogError as e:
            plan.baseline_error, looks = str(e), []
    plan.baseline_looks = len(looks)
    plan.with_baseline = attach_baselines(plan, looks, window_days, allowed_sources)
    return plan
