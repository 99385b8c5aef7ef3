"""Synchronous detection for a small area (POST /detect): the best scene of the dates, read
only over the area, answered as GeoJSON within API Gateway's 29 s."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import shapely

from asm_core.jobs.tile_job import run_item
from asm_core.planning.plan import plan_tile_dates
from asm_core.results.schema import RunStatus
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.aoi import bbox_geometry, window_bounds
from asm_core.sources.catalog import SearchRequest, SearchResult, search_items
from asm_core.sources.gdal_settings import read_options
from asm_watch_functions.api.detect_request import MAX_DETECT_KM2, DetectRequest, area_km2
from asm_watch_functions.errors import AreaTooLargeError, NoSceneError


def detect_area(
    request: DetectRequest,
    stac_url: str,
    collection: str,
    search: Callable[[SearchRequest], SearchResult] = search_items,
    allowed_sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Detections of the least cloudy scene covering the area, as a GeoJSON FeatureCollection
    (scenes with bands outside ``allowed_sources``, if given, are not read)."""
    km2 = area_km2(request.bbox)
    if km2 > MAX_DETECT_KM2:
        raise AreaTooLargeError(
            f"the area is {km2:.0f} km²; /detect answers up to {MAX_DETECT_KM2:.0f} km² "
            "(POST /scans for larger areas)"
        )
    area = bbox_geometry(request.bbox)
    found = search(
        SearchRequest(area, request.start, request.end, stac_url, collection, request.max_cloud)
    )
    plan = plan_tile_dates(found.items, found.found, allowed_sources)
    covering = [t for t in plan.tile_dates if window_bounds(area, t.scene.geometry) is not None]
    if not covering:
        cloud = "" if request.max_cloud is None else f" under {request.max_cloud}% cloud"
        refused = f" ({len(plan.refused)} refused: {plan.refused[0][1]})" if plan.refused else ""
        raise NoSceneError(
            f"no usable scene of {collection} covers {list(request.bbox)} from {request.start} "
            f"to {request.end}{cloud}{refused}"
        )
    best = min(covering, key=lambda t: t.item.get("properties", {}).get("eo:cloud_cover", 100.0))
    with tempfile.TemporaryDirectory(prefix="asm-detect-") as tmp:
        run = run_item(
            best.scene,
            load_rules(),
            Path(tmp),
            read_options(),
            aoi=window_bounds(area, best.scene.geometry),
        )
        rows = read_table(Path(tmp), "detections").to_pylist() if run.status == RunStatus.OK else []
    features = [
        {
            "type": "Feature",
            "id": r["detection_id"],
            "geometry": shapely.geometry.mapping(shapely.from_wkb(r["geometry"])),
            "properties": {
                k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in r.items()
                if k not in ("geometry", "bbox")
            },
        }
        for r in rows
    ]
    return {
        "type": "FeatureCollection",
        "item_id": best.item_id,
        "status": run.status,
        "error": run.error,
        "features": features,
    }
