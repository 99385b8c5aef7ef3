"""Typed events and results of the scan's Lambdas (what travels through Step Functions).

Only small documents travel through the state machine (its payload limit is 256 KiB): the
manifest and the results themselves go through S3.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from asm_core.errors import AoiError
from asm_core.planning.site_groups import site_group
from asm_core.rules import available_rule_sets
from asm_core.sources.aoi import check_bbox

SCAN_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanEvent(_Event):
    """Start of a scan: where, when, and with which rules."""

    #: a name, never a path: it names the scan's folder and keys ("..", "a/b" refused)
    scan_id: str | None = Field(default=None, pattern=SCAN_ID)
    bbox: tuple[float, float, float, float] | None = None
    aoi: dict[str, Any] | None = None
    aoi_key: str | None = None
    start: date | None = None
    end: date | None = None
    #: scheduled scans: the last N days up to the day the scan starts, instead of start/end
    lookback_days: int | None = Field(default=None, ge=1, le=366)
    max_cloud: float | None = Field(default=None, ge=0, le=100)
    #: explicit STAC items (e.g. re-running chosen scenes); no catalogue search then
    items: list[dict[str, Any]] | None = None
    #: a rule set shipped with the package
    ruleset: str = "default"

    @field_validator("ruleset")
    @classmethod
    def _known_rule_set(cls, name: str) -> str:
        known = available_rule_sets()
        if name not in known:
            raise ValueError(f"unknown rule set {name!r}; available: {', '.join(known)}")
        return name

    @field_validator("bbox")
    @classmethod
    def _valid_bbox(
        cls, bbox: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        try:
            return None if bbox is None else check_bbox(bbox)
        except AoiError as e:  # pydantic reports ValueErrors as the request's fault
            raise ValueError(str(e)) from e

    @model_validator(mode="after")
    def _one_area_and_ordered_dates(self) -> PlanEvent:
        given = [n for n in ("bbox", "aoi", "aoi_key", "items") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of bbox, aoi, aoi_key or items; got {given or 'none'}"
            )
        if (self.start is None or self.end is None) == (self.lookback_days is None):
            raise ValueError("give start and end dates, or lookback_days (not both)")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def dates(self, today: date) -> tuple[date, date]:
        """The scan's first and last day."""
        if self.lookback_days is not None:
            return today - timedelta(days=self.lookback_days), today
        if self.start is None or self.end is None:  # the validator above rules this out
            raise ValueError("give start and end dates, or lookback_days")
        return self.start, self.end


class S3Location(_Event):
    bucket: str
    key: str


class PlanResult(_Event):
    scan_id: str
    manifest: S3Location
    #: the scan's tile-dates by site group (:class:`SiteGroupWork` rows), for the site update
    site_groups: S3Location
    #: the results partitions the scan writes to (:class:`PartitionWork` rows), merged after
    #: it (None in plans of a release before the merging)
    partitions: S3Location | None = None
    groups: int
    tile_dates: int
    tiles: int
    searched: int
    duplicates_replaced: int
    #: items the catalogue returned that the detector cannot use (the first 50), and how many
    refused: list[dict[str, str]] = Field(default_factory=list)
    refused_count: int = 0


class TileTask(_Event):
    """One manifest row: a tile-date and where its results go."""

    scan_id: str
    item_id: str
    mgrs_tile: str
    day: date
    item: dict[str, Any]
    keys: dict[str, str]
    ruleset: str = "default"
    #: the same-season looks a year before (small look items,
    #: asm_core.detection.objects.baseline.look_dict)
    baseline: list[dict[str, Any]] = Field(default_factory=list)
    #: set by the state machine's Catch: the error that ended this task's attempts
    error: dict[str, Any] | None = None


class TileBatch(_Event):
    """One manifest row: the tile-dates one child workflow detects (in parallel)."""

    tasks: list[TileTask]


def batched(tasks: list[TileTask], size: int) -> list[TileBatch]:
    """``tasks`` in manifest rows of at most ``size`` (in order)."""
    return [TileBatch(tasks=tasks[i : i + size]) for i in range(0, len(tasks), size)]


def manifest_tasks(rows: list[dict[str, Any]]) -> list[TileTask]:
    """Every tile-date of a manifest (a list of :class:`TileBatch` rows)."""
    return [task for row in rows for task in TileBatch.model_validate(row).tasks]


class SiteGroupWork(_Event):
    """One row of the site-groups manifest: a site group (:mod:`asm_core.planning.site_groups`) and
    the scan's tile-dates in it, whose sites one function updates."""

    scan_id: str
    group: str
    tasks: list[TileTask]


def by_site_group(tasks: list[TileTask]) -> list[SiteGroupWork]:
    """The tasks as site-groups manifest rows (groups in order, tasks in manifest order)."""
    groups: dict[str, list[TileTask]] = {}
    for task in tasks:
        groups.setdefault(site_group(task.mgrs_tile), []).append(task)
    return [
        SiteGroupWork(scan_id=tasks[0].scan_id, group=group, tasks=groups[group])
        for group in sorted(groups)
    ]


class PartitionWork(_Event):
    """One row of the partitions manifest: a results partition the scan wrote to, whose small
    per-tile-date files one function merges (:mod:`asm_watch_functions.compact_results`)."""

    scan_id: str
    partition: str = Field(pattern=r"^dt=\d{4}-\d{2}-\d{2}/utm_zone=[1-9][0-9]?$")


def by_partition(scan_id: str, partitions: set[str]) -> list[PartitionWork]:
    """The partitions as manifest rows, in order."""
    return [PartitionWork(scan_id=scan_id, partition=p) for p in sorted(partitions)]


class TileResult(_Event):
    """What one tile-date became (never the detections themselves)."""

    item_id: str
    status: str
    detections: int
    sites: int
    seconds: float
    error: str | None = None


class FinalizeEvent(_Event):
    scan: PlanResult
