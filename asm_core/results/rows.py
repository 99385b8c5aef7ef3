"""The results tables' rows as they are read back, typed: what the ``read_*`` callers may index.

Every key a row type names is a column of its schema in :mod:`asm_core.results.schema`, as
nullable as there (tests/core/test_rows.py); a new column is listed here once code reads it.
Rows read back also carry their partition columns (``dt``, ``utm_zone``); the sites' carry the
context layers' columns too (``inside_<layer>``, ``distance_to_<layer>_m``, ``<layer>_status``),
which vary with the layers and are read by name through :func:`context_columns`. A detection's
index statistics (``<index>_mean``, ``ndvi_p10`` …) follow the index table
(:mod:`asm_core.spectral.indices`), so they are read through :func:`index_statistic`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from asm_core.results.store import read_table


class _Partitioned(TypedDict):
    #: the Hive partition the row was read from
    dt: NotRequired[str]
    utm_zone: NotRequired[str]


class TileRunRow(_Partitioned):
    """A ``tile_runs`` row (:data:`asm_core.results.schema.TILE_RUNS`)."""

    item_id: str
    mgrs_tile: str | None
    acquired: datetime | None
    processing_baseline: str | None
    status: str
    error: str | None
    error_type: str | None
    detections: int
    sites: int
    valid_fraction: float | None
    valid_area_km2: float | None
    seconds: float
    ruleset_version: str
    ruleset_hash: str
    rules_skipped: list[str] | None
    rules_fallback: list[str] | None
    bands_missing: list[str] | None
    boa_offset_dn: int | None
    boa_offset_source: str | None
    boa_offset_detail: str | None
    suppressed: list[tuple[str, int]] | None
    rescued_pond_pixels: int | None
    open_share: float | None
    scene_thresholds: list[tuple[str, float]] | None
    known_sites: int | None
    bytes_read: int | None
    source: str | None
    aoi: list[float] | None
    stage_seconds: list[tuple[str, float]] | None
    observed_grid: bytes | None
    observed_grid_shape: list[int] | None
    observed_grid_transform: list[float] | None
    observed_grid_crs: str | None
    ndvi_grid: bytes | None
    ndvi_grid_shape: list[int] | None
    ndvi_grid_transform: list[float] | None
    band_hrefs: list[tuple[str, str]] | None
    ferric_iron_median: float | None
    ferric_iron_spread: float | None
    clay_median: float | None
    clay_spread: float | None
    baseline_looks: list[str] | None
    baseline_error: str | None
    baseline_skipped: list[str] | None
    asm_version: str


#: a ``detections`` row (:data:`asm_core.results.schema.DETECTIONS`) but its index statistics
DetectionRow = TypedDict(
    "DetectionRow",
    {
        "dt": NotRequired[str],
        "utm_zone": NotRequired[str],
        "detection_id": str,
        "site_id": str | None,
        "item_id": str,
        "mgrs_tile": str | None,
        "acquired": datetime,
        "processing_baseline": str | None,
        "ruleset_version": str,
        "ruleset_hash": str,
        "class": str,
        "confidence": float,
        "cues": list[str] | None,
        "area_m2": float,
        "perimeter_m": float | None,
        "compactness": float | None,
        "rectangularity": float | None,
        "pixels": int | None,
        "valid_fraction": float | None,
        "lon": float,
        "lat": float,
        "country_iso3": str | None,
        "bbox": dict[str, float],
        "ring_ndvi_mean": float | None,
        "baseline_ndvi": float | None,
        "geometry": bytes,
    },
)


class SiteRow(_Partitioned):
    """A ``sites`` row (:data:`asm_core.results.schema.SITES`), its context columns aside."""

    site_id: str
    mgrs_tile: str
    first_seen: datetime
    last_seen: datetime
    state: str
    detections: int
    max_area_m2: float
    latest_area_m2: float
    lon: float
    lat: float
    country_iso3: str | None
    possibly_informal: bool | None
    high_priority: bool | None
    ferric_anomaly: float | None
    clay_anomaly: float | None
    baseline_ndvi: float | None
    bbox: dict[str, float]
    geometry: bytes


class SiteObservationRow(_Partitioned):
    """A ``site_observations`` row (:data:`asm_core.results.schema.SITE_OBSERVATIONS`)."""

    site_id: str
    mgrs_tile: str
    acquired: datetime
    item_id: str
    observed_clear: bool
    clear_share: float
    detected: bool
    area_m2: float | None
    water_m2: float | None
    ndvi_mean: float | None
    footprint_ndvi: float | None
    state: str


def index_statistic(row: DetectionRow, column: str) -> float | None:
    """One of a detection's index statistics (``ndvi_mean``, ``bsi_p90`` …), None if absent."""
    value = cast(Mapping[str, Any], row).get(column)
    return None if value is None else float(value)


def context_columns(site: SiteRow) -> dict[str, Any]:
    """The context layers' columns of a site (those its group was related to)."""
    return {
        k: v
        for k, v in cast(Mapping[str, Any], site).items()
        if k.startswith(("inside_", "distance_to_")) or k.endswith("_status")
    }


def read_tile_runs(root: Path) -> list[TileRunRow]:
    return cast(list[TileRunRow], read_table(root, "tile_runs").to_pylist())


def read_detections(root: Path) -> list[DetectionRow]:
    return cast(list[DetectionRow], read_table(root, "detections").to_pylist())


def read_sites(root: Path) -> list[SiteRow]:
    return cast(list[SiteRow], read_table(root, "sites").to_pylist())


def read_site_observations(root: Path) -> list[SiteObservationRow]:
    return cast(list[SiteObservationRow], read_table(root, "site_observations").to_pylist())
