"""Planning: tile-date grouping and the newest duplicate kept."""

from __future__ import annotations

import copy
import json
from typing import Any

from asm_core.planning.plan import plan_tile_dates
from tests.conftest import STAC_DATA


def _item(name: str) -> dict[str, Any]:
    return json.loads((STAC_DATA / f"{name}.json").read_text())


def test_items_group_by_tile_and_date_keeping_the_newest() -> None:
    a = _item("S2A_39QTA_20230628_0_L2A")
    reprocessed = copy.deepcopy(a)
    reprocessed["id"] = "S2A_39QTA_20230628_1_L2A"
    older_baseline = copy.deepcopy(a)
    older_baseline["id"] = "S2A_39QTA_20230628_2_L2A"
    older_baseline["properties"]["s2:processing_baseline"] = "04.00"
    items = [
        a,
        reprocessed,
        older_baseline,
        _item("S2B_39QTA_20230623_0_L2A"),
        _item("S2A_39QUA_20230628_0_L2A"),
    ]
    plan = plan_tile_dates(items)
    assert [(t.mgrs_tile, str(t.day)) for t in plan.tile_dates] == [
        ("39QTA", "2023-06-23"),
        ("39QTA", "2023-06-28"),
        ("39QUA", "2023-06-28"),
    ]
    kept = plan.tile_dates[1]
    assert kept.item_id == "S2A_39QTA_20230628_1_L2A"  # same baseline, higher sequence
    assert set(kept.replaced) == {"S2A_39QTA_20230628_0_L2A", "S2A_39QTA_20230628_2_L2A"}
    assert plan.tiles == ["39QTA", "39QUA"]


def test_pagination_sized_plans_stay_fast_and_complete() -> None:
    base = _item("S2A_39QTA_20230628_0_L2A")
    items = []
    for k in range(3000):
        item = copy.deepcopy(base)
        item["id"] = f"S2A_{k:02d}QTA_2023{1 + k % 12:02d}{1 + k % 28:02d}_0_L2A"
        item["properties"]["mgrs:utm_zone"] = 1 + k % 60
        items.append(item)
    plan = plan_tile_dates(items)
    assert len(plan.tile_dates) + len(plan.duplicates) == 3000
