"""Plan a scan: items grouped by MGRS tile and date, duplicates resolved (cost:
asm_core.planning.cost).

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

from asm_core.errors import ItemError
from asm_core.planning.baseline_looks import baseline_looks, look_dict
from asm_core.sources.sentinel2 import mgrs_tile, processing_baseline
from asm_core.sources.stac import SceneItem, StacItemDict, scene_item_from_dict, source_error

_SEQUENCE = re.compile(r"_(\d+)_L2A$")


@dataclass(frozen=True)
class TileDate:
    """One unit of work: the item chosen for an MGRS tile on a date."""

    mgrs_tile: str
    day: date
    #: the item, parsed once when planned (its hrefs resolved against its self link)
    scene: SceneItem
    #: the item as the catalogue gave it: what a scan manifest carries to the Lambdas
    item: StacItemDict
    replaced: tuple[str, ...] = ()
    #: the same-season looks a year before, for the baseline composite
    #: (asm_core/detection/objects/baseline.py)
    baseline_looks: tuple[SceneItem, ...] = ()

    @property
    def item_id(self) -> str:
        return self.scene.item_id

    @property
    def baseline(self) -> tuple[StacItemDict, ...]:
        """The baseline looks as the small items a manifest carries (:func:`look_dict`)."""
        return tuple(look_dict(look) for look in self.baseline_looks)


@dataclass
class Plan:
    """The tile-dates of a scan and what was left out, with reasons."""

    tile_dates: list[TileDate]
    searched: int
    dropped_for_cloud: int = 0
    cloud_filter: str = "none"
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    #: the same-season baseline: where looks were searched, how many, and how many tile-dates
    #: got at least one (asm_core/planning/scan_planning.py)
    baseline_window: tuple[date, date] | None = None
    baseline_looks: int = 0
    with_baseline: int = 0
    #: items whose JSON the detector cannot use, each (id as given, the one-line reason)
    refused: list[tuple[str, str]] = field(default_factory=list)
    baseline_error: str | None = None

    @property
    def tiles(self) -> list[str]:
        return sorted({t.mgrs_tile for t in self.tile_dates})


def _newness(item: StacItemDict) -> tuple[Any, ...]:
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
    items: list[StacItemDict],
    searched: int | None = None,
    allowed_sources: Sequence[str] | None = None,
) -> Plan:
    """Group items by (MGRS tile, UTC date), keeping the newest of each group.

    Args:
        allowed_sources: where bands may be read from (URL or folder prefixes); items with a
            band elsewhere are refused. None: anywhere (the command line reads what its user
            asks for; a service must not be made to read any URL or file it is handed).
    """
    groups: dict[tuple[str, date], list[tuple[StacItemDict, SceneItem]]] = {}
    refused: list[tuple[str, str]] = []
    for item in items:
        try:
            scene = scene_item_from_dict(item, item_source(item))
        except ItemError as e:  # one malformed item costs itself, not the scan
            refused.append((repr(item.get("id"))[:80], str(e)))
            continue
        outside = None if allowed_sources is None else source_error(scene, allowed_sources)
        if outside is not None:
            refused.append((scene.item_id, outside))
            continue
        tile = scene.mgrs_tile or mgrs_tile(item.get("properties") or {}, scene.item_id) or "?"
        groups.setdefault((tile, scene.acquired.date()), []).append((item, scene))
    tile_dates: list[TileDate] = []
    duplicates: list[tuple[str, str]] = []
    for (tile, day), group in sorted(groups.items()):
        ranked = sorted(group, key=lambda pair: _newness(pair[0]), reverse=True)
        keep, scene = ranked[0]
        dropped = tuple(str(i["id"]) for i, _ in ranked[1:])
        duplicates.extend((scene.item_id, d) for d in dropped)
        tile_dates.append(TileDate(tile, day, scene, keep, dropped))
    return Plan(
        tile_dates,
        searched if searched is not None else len(items),
        duplicates=duplicates,
        refused=refused,
    )


def item_source(item: StacItemDict) -> str:
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
    candidates: list[StacItemDict],
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
        looks = baseline_looks(tile_date.scene, scenes, window_days)
        plan.tile_dates[i] = replace(tile_date, baseline_looks=tuple(looks))
        with_baseline += bool(looks)
    return with_baseline
