"""Plan a scan: items grouped by MGRS tile and date, duplicates resolved, work and cost estimated.

One tile-date is one unit of work (one Lambda on AWS, one process-pool task locally). When a
catalogue holds several items for the same tile-date (reprocessed baselines, ``_0_``/``_1_``
sequences), the newest is kept and the others are listed so the plan can say so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from shapely.geometry import MultiPolygon, Polygon, shape

from asm_core.baseline_looks import baseline_looks, look_dict
from asm_core.errors import ItemError
from asm_core.sentinel2 import BAND_RESOLUTION_M, mgrs_tile, processing_baseline
from asm_core.stac import scene_item_from_dict, source_error

_SEQUENCE = re.compile(r"_(\d+)_L2A$")
#: Compressed bytes of one full 10980² tile per band, measured on Earth Search COGs
#: (uint16 DEFLATE): ~108 MB per 10 m band, ~27 MB per 20 m band, ~3 MB for SCL.
FULL_TILE_BYTES = {10: 108_000_000, 20: 27_000_000, "scl": 3_000_000}
FULL_TILE_MEGAPIXELS = 10980 * 10980 / 1e6


@dataclass(frozen=True)
class TileDate:
    """One unit of work: the item chosen for an MGRS tile on a date."""

    mgrs_tile: str
    day: date
    item: dict[str, Any]
    replaced: tuple[str, ...] = ()
    #: the same-season looks a year before, for the baseline composite (asm_core/baseline.py)
    baseline: tuple[dict[str, Any], ...] = ()

    @property
    def item_id(self) -> str:
        return str(self.item["id"])


@dataclass
class Plan:
    """The tile-dates of a scan and what was left out, with reasons."""

    tile_dates: list[TileDate]
    searched: int
    dropped_for_cloud: int = 0
    cloud_filter: str = "none"
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    #: the same-season baseline: where looks were searched, how many, and how many tile-dates
    #: got at least one (asm_core/scan_planning.py)
    baseline_window: tuple[date, date] | None = None
    baseline_looks: int = 0
    with_baseline: int = 0
    #: items whose JSON the detector cannot use, each (id as given, the one-line reason)
    refused: list[tuple[str, str]] = field(default_factory=list)
    baseline_error: str | None = None

    @property
    def tiles(self) -> list[str]:
        return sorted({t.mgrs_tile for t in self.tile_dates})


def _newness(item: dict[str, Any]) -> tuple[Any, ...]:
    props = item.get("properties") or {}
    item_id = str(item.get("id", ""))
    baseline = processing_baseline(props, item_id) or (0, 0)
    match = _SEQUENCE.search(item_id)
    sequence = int(props.get("s2:sequence", match.group(1) if match else 0) or 0)
    stamp = str(
        props.get("s2:generation_time") or props.get("updated") or props.get("created") or ""
    )
    return baseline, sequence, stamp, item_id


def plan_tile_dates(
    items: list[dict[str, Any]],
    searched: int | None = None,
    allowed_sources: Sequence[str] | None = None,
) -> Plan:
    """Group items by (MGRS tile, UTC date), keeping the newest of each group.

    Args:
        allowed_sources: where bands may be read from (URL or folder prefixes); items with a
            band elsewhere are refused. None: anywhere (the command line reads what its user
            asks for; a service must not be made to read any URL or file it is handed).
    """
    groups: dict[tuple[str, date], list[dict[str, Any]]] = {}
    refused: list[tuple[str, str]] = []
    for item in items:
        try:
            scene = scene_item_from_dict(item, "item")
        except ItemError as e:  # one malformed item costs itself, not the scan
            refused.append((repr(item.get("id"))[:80], str(e)))
            continue
        outside = None if allowed_sources is None else source_error(scene, allowed_sources)
        if outside is not None:
            refused.append((scene.item_id, outside))
            continue
        tile = scene.mgrs_tile or mgrs_tile(item.get("properties") or {}, scene.item_id) or "?"
        groups.setdefault((tile, scene.acquired.date()), []).append(item)
    tile_dates: list[TileDate] = []
    duplicates: list[tuple[str, str]] = []
    for (tile, day), group in sorted(groups.items()):
        ranked = sorted(group, key=_newness, reverse=True)
        keep = ranked[0]
        dropped = tuple(str(i["id"]) for i in ranked[1:])
        duplicates.extend((str(keep["id"]), d) for d in dropped)
        tile_dates.append(TileDate(tile, day, keep, dropped))
    return Plan(
        tile_dates,
        searched if searched is not None else len(items),
        duplicates=duplicates,
        refused=refused,
    )


@dataclass(frozen=True)
class CostModel:
    """Prices and machine figures behind the estimates (AWS list prices, us-west-2, x86)."""

    lambda_memory_mb: int = 2048
    lambda_gb_second_usd: float = 0.0000166667
    lambda_request_usd: float = 0.20 / 1e6
    sfn_transition_usd: float = 0.025 / 1000
    sfn_transitions_per_tile: int = 6
    s3_get_usd: float = 0.0004 / 1000
    s3_put_usd: float = 0.005 / 1000
    bytes_per_get: int = 4_000_000
    puts_per_tile: int = 2
    #: CPU-seconds per megapixel of the 10 m grid for the whole per-tile job, measured here
    #: (tests/bench/tile.py: 10.6 CPU-s for a full tile of ~120 Mpx with 1,225 candidates).
    cpu_seconds_per_megapixel: float = 0.088
    read_megabytes_per_second: float = 80.0
    local_workers: int = 2


@dataclass(frozen=True)
class Estimate:
    """What a plan will cost before any pixel is read."""

    tile_dates: int
    tiles: int
    items: int
    bytes_to_read: int
    cpu_seconds: float
    local_seconds: float
    lambda_gb_seconds: float
    lambda_usd: float
    step_functions_usd: float
    s3_usd: float

    @property
    def aws_usd(self) -> float:
        return self.lambda_usd + self.step_functions_usd + self.s3_usd


def _coverage(item: dict[str, Any], aoi: Polygon | MultiPolygon | None) -> float:
    geometry = item.get("geometry")
    if aoi is None or not geometry:
        return 1.0
    footprint = shape(geometry)
    if footprint.area == 0:
        return 1.0
    return min(1.0, float(footprint.intersection(aoi).area / footprint.area))


def estimate(
    plan: Plan, aoi: Polygon | MultiPolygon | None, bands: set[str], model: CostModel | None = None
) -> Estimate:
    """Bytes, CPU-seconds, local time and AWS cost of running a plan."""
    m = model or CostModel()
    full_bytes = sum(
        FULL_TILE_BYTES["scl"] if b == "scl" else FULL_TILE_BYTES[BAND_RESOLUTION_M[b]]
        for b in bands
        if b in BAND_RESOLUTION_M
    )
    shares = [_coverage(t.item, aoi) for t in plan.tile_dates]
    total_bytes = int(sum(s * full_bytes for s in shares))
    cpu = sum(s * FULL_TILE_MEGAPIXELS * m.cpu_seconds_per_megapixel for s in shares)
    vcpus = max(1.0, m.lambda_memory_mb / 1769.0)
    read_s = total_bytes / (m.read_megabytes_per_second * 1e6)
    duration = cpu / vcpus + read_s
    gb_s = duration * m.lambda_memory_mb / 1024.0
    n = len(plan.tile_dates)
    gets = total_bytes / m.bytes_per_get
    return Estimate(
        tile_dates=n,
        tiles=len(plan.tiles),
        items=n + len(plan.duplicates),
        bytes_to_read=total_bytes,
        cpu_seconds=round(cpu, 1),
        local_seconds=round(cpu / max(1, m.local_workers) + read_s, 1),
        lambda_gb_seconds=round(gb_s, 1),
        lambda_usd=gb_s * m.lambda_gb_second_usd + n * m.lambda_request_usd,
        step_functions_usd=n * m.sfn_transitions_per_tile * m.sfn_transition_usd,
        s3_usd=gets * m.s3_get_usd + n * m.puts_per_tile * m.s3_put_usd,
    )


def item_source(item: dict[str, Any]) -> str:
    """Where a STAC item dict came from (its self link), to resolve relative hrefs against."""
    return next(
        (str(link["href"]) for link in item.get("links", []) if link.get("rel") == "self"),
        str(item.get("id")),
    )


def baseline_dates(
    start: date, end: date, window_days: int, years_back: int = 1
) -> tuple[date, date]:
    """The dates to search for the baseline looks of a scan over ``start``..``end``."""
    shift = timedelta(days=365 * years_back)
    window = timedelta(days=window_days)
    return start - shift - window, end - shift + window


def attach_baselines(
    plan: Plan,
    candidates: list[dict[str, Any]],
    window_days: int,
    allowed_sources: Sequence[str] | None = None,
) -> int:
    """Give every tile-date its same-season baseline looks among ``candidates`` (STAC item
    dicts, bands from ``allowed_sources`` only, as in :func:`plan_tile_dates`), as small look
    items; returns how many tile-dates got at least one."""
    scenes = []
    for candidate in candidates:
        try:
            scene = scene_item_from_dict(candidate, item_source(candidate))
        except ItemError:  # a look that is not a usable item is no baseline; the scan goes on
            continue
        if allowed_sources is None or source_error(scene, allowed_sources) is None:
            scenes.append(scene)
    with_baseline = 0
    for i, tile_date in enumerate(plan.tile_dates):
        scene = scene_item_from_dict(tile_date.item, item_source(tile_date.item))
        looks = baseline_looks(scene, scenes, window_days)
        plan.tile_dates[i] = replace(tile_date, baseline=tuple(look_dict(s) for s in looks))
        with_baseline += bool(looks)
    return with_baseline
