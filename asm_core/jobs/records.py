"""The rows the tile job writes, as typed records: one ``tile_runs`` row per item, one
``detections`` row per object.

Each record names its columns once, with their types, and is built here from what the job
found; :func:`asm_core.results.store.rows_table` checks its row against the table's schema in
:mod:`asm_core.results.schema`, so a column missing here or misspelt fails loudly instead of
becoming a silent null. Adding an output column touches that schema and this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TypedDict

import shapely

import asm_core
from asm_core.detection.objects.detector import Detection
from asm_core.detection.objects.vectorize import WGS84, crs_key, reproject
from asm_core.monitoring.countries import countries_at
from asm_core.results.schema import RunStatus, covering_bbox
from asm_core.rules import RuleSet
from asm_core.sources.reader import BandFiles
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS
from asm_core.sources.stac import SceneItem


class _Provenance(TypedDict):
    item_id: str
    mgrs_tile: str | None
    acquired: datetime
    processing_baseline: str | None
    ruleset_version: str
    ruleset_hash: str


def _provenance(item: SceneItem, rules: RuleSet) -> _Provenance:
    """The columns every row of an item carries: which scene, when, and which rules."""
    return {
        "item_id": item.item_id,
        "mgrs_tile": item.mgrs_tile,
        "acquired": item.acquired,
        "processing_baseline": item.baseline_text,
        "ruleset_version": rules.version_tag,
        "ruleset_hash": rules.content_hash,
    }


@dataclass(kw_only=True)
class TileRunRecord:
    """The tile_runs row of one item, in the schema's column order (the comments on each
    column are in :data:`asm_core.results.schema.TILE_RUNS`)."""

    item_id: str
    mgrs_tile: str | None
    acquired: datetime
    processing_baseline: str | None
    status: RunStatus = RunStatus.FAILED
    error: str | None = None
    error_type: str | None = None
    detections: int = 0
    sites: int = 0
    valid_fraction: float | None = None
    valid_area_km2: float | None = None
    seconds: float = 0.0
    ruleset_version: str
    ruleset_hash: str
    rules_skipped: list[str] = field(default_factory=list)
    rules_fallback: list[str] = field(default_factory=list)
    bands_missing: list[str] = field(default_factory=list)
    boa_offset_dn: int | None = None
    boa_offset_source: str | None = None
    boa_offset_detail: str | None = None
    suppressed: list[tuple[str, int]] = field(default_factory=list)
    rescued_pond_pixels: int = 0
    open_share: float | None = None
    scene_thresholds: list[tuple[str, float]] = field(default_factory=list)
    known_sites: int = 0
    bytes_read: int = 0
    source: str
    aoi: list[float] | None = None
    stage_seconds: list[tuple[str, float]] = field(default_factory=list)
    observed_grid: bytes | None = None
    observed_grid_shape: list[int] | None = None
    observed_grid_transform: list[float] | None = None
    observed_grid_crs: str | None = None
    ndvi_grid: bytes | None = None
    ndvi_grid_shape: list[int] | None = None
    ndvi_grid_transform: list[float] | None = None
    band_hrefs: list[tuple[str, str]] = field(default_factory=list)
    ferric_iron_median: float | None = None
    ferric_iron_spread: float | None = None
    clay_median: float | None = None
    clay_spread: float | None = None
    baseline_looks: list[str] | None = None
    baseline_error: str | None = None
    baseline_skipped: list[str] | None = None
    asm_version: str = asm_core.__version__

    @classmethod
    def started(cls, item: SceneItem, rules: RuleSet) -> TileRunRecord:
        """The row of an item about to run: ``failed`` until the job says otherwise."""
        present = set(item.bands)
        return cls(
            **_provenance(item, rules),
            source=item.source,
            rules_skipped=rules.runnable(present)[1],
            rules_fallback=rules.fallbacks_used(present),
            bands_missing=[b for b in (*REFLECTANCE_BANDS, "scl") if b not in present],
            band_hrefs=[(name, band.href) for name, band in sorted(item.bands.items())],
        )

    def update(self, values: Mapping[str, object]) -> None:
        """Set columns computed elsewhere as a mapping (the observed grids, the geology
        background); a name that is not a column is a bug, and fails here."""
        unknown = sorted(set(values) - {f.name for f in fields(self)})
        if unknown:
            raise KeyError(f"not tile_runs columns: {unknown}")
        for name, value in values.items():
            setattr(self, name, value)

    def fail(self, error: BaseException) -> None:
        """Mark the run failed with the error's first line (at most 1,000 characters)."""
        self.status = RunStatus.FAILED
        self.error = str(error).splitlines()[0][:1000] if str(error) else type(error).__name__
        self.error_type = type(error).__name__

    def as_row(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class DetectionRecord:
    """One detections row: the object, where and when it was seen, and by which rules."""

    detection_id: str
    site_id: str | None
    item_id: str
    mgrs_tile: str | None
    acquired: datetime
    processing_baseline: str | None
    ruleset_version: str
    ruleset_hash: str
    cls: str  # the ``class`` column
    confidence: float
    cues: list[str]
    area_m2: float
    perimeter_m: float
    compactness: float | None
    rectangularity: float
    pixels: int
    valid_fraction: float
    lon: float
    lat: float
    country_iso3: str | None
    bbox: dict[str, float]
    #: ``<index>_mean`` and percentile columns of the object's pixels
    index_stats: dict[str, float | None]
    ring_ndvi_mean: float | None
    baseline_ndvi: float | None
    geometry: bytes

    def as_row(self) -> dict[str, object]:
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "index_stats"}
        row["class"] = row.pop("cls")
        return row | self.index_stats


def detection_records(
    found: list[Detection], item: SceneItem, rules: RuleSet, files: BandFiles
) -> list[DetectionRecord]:
    """The rows of the objects found in ``item`` (their geometry in lon/lat), each with the
    country holding its centre."""
    outlines = [reproject(d.geometry, crs_key(files.crs), WGS84) for d in found]
    centres = [outline.centroid for outline in outlines]
    codes = countries_at([round(c.x, 7) for c in centres], [round(c.y, 7) for c in centres])
    return [
        _detection_record(d, item, rules, outline, code)
        for d, outline, code in zip(found, outlines, codes, strict=True)
    ]


def _detection_record(
    d: Detection, item: SceneItem, rules: RuleSet, lonlat: shapely.Geometry, country: str | None
) -> DetectionRecord:
    centre = lonlat.centroid
    compactness = 4 * math.pi * d.area_m2 / d.perimeter_m**2 if d.perimeter_m else None
    return DetectionRecord(
        **_provenance(item, rules),
        detection_id=d.detection_id,
        site_id=d.site_id,
        cls=d.cls,
        confidence=d.confidence,
        cues=d.cues,
        area_m2=d.area_m2,
        perimeter_m=d.perimeter_m,
        compactness=round(compactness, 4) if compactness is not None else None,
        rectangularity=d.rectangularity,
        pixels=d.pixels,
        valid_fraction=round(float(d.stats.valid_fraction), 4),
        lon=round(centre.x, 7),
        lat=round(centre.y, 7),
        country_iso3=country,
        bbox=covering_bbox(lonlat.bounds),
        index_stats={f"{k}_mean": v for k, v in d.stats.means.items()} | d.stats.percentiles,
        ring_ndvi_mean=d.stats.ring_ndvi,
        baseline_ndvi=d.baseline_ndvi,
        geometry=shapely.to_wkb(lonlat),
    )


def records_bounds(records: list[DetectionRecord]) -> list[float] | None:
    """The file bbox of a detections table: the union of its rows' coverings."""
    if not records:
        return None
    return [
        min(r.bbox["xmin"] for r in records),
        min(r.bbox["ymin"] for r in records),
        max(r.bbox["xmax"] for r in records),
        max(r.bbox["ymax"] for r in records),
    ]
