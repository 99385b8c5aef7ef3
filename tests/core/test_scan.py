"""The local scan: every planned tile-date ends as a row; Ctrl-C stops cleanly; re-runs resume."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.scan import SUMMARY_FILE, ScanProgress, run_scan
from asm_core.jobs.scan_summary import ScanSummary
from asm_core.jobs.tile_job import TileRun
from asm_core.planning.plan import plan_tile_dates
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from tests.conftest import absolute_items


def test_interrupt_then_resume(scene_factory: Callable[..., WrittenScene], tmp_path: Path) -> None:
    plan = plan_tile_dates(absolute_items(scene_factory, [81, 82, 83, 84]))
    rules = load_rules()

    def stop_after_first(progress: ScanProgress, run: TileRun) -> None:
        raise KeyboardInterrupt

    first = run_scan(plan, rules, tmp_path, workers=1, on_progress=stop_after_first)
    assert first.interrupted
    assert first.statuses["ok"] == 1 and first.not_run + first.statuses["ok"] <= 4
    written = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert set(written) == {f.name for f in fields(ScanSummary)}  # Finalize's keys too
    assert written["interrupted"] is True
    second = run_scan(plan, rules, tmp_path, workers=2)
    assert not second.interrupted and second.skipped >= 1
    assert second.skipped + sum(second.statuses.values()) == 4
    rows = read_table(tmp_path, "tile_runs").to_pylist()
    assert sorted(r["item_id"] for r in rows) == sorted(t.item_id for t in plan.tile_dates)
    forced = run_scan(plan, rules, tmp_path, workers=2, force=True)
    assert forced.skipped == 0 and forced.statuses["ok"] == 4


def test_a_job_that_crashes_is_recorded(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    items = absolute_items(scene_factory, [85])
    items[0]["assets"]["red"]["href"] = str(tmp_path / "gone" / "B04.tif")  # vanished COG
    summary = run_scan(plan_tile_dates(items), load_rules(), tmp_path, workers=1)
    assert summary.statuses["failed"] == 1
    (row,) = read_table(tmp_path, "tile_runs").to_pylist()
    assert row["status"] == "failed" and "B04.tif" in row["error"]


def test_an_item_of_the_wrong_shape_is_refused_at_planning_not_the_scan(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    items = absolute_items(scene_factory, [85, 86])
    items[0]["assets"]["red"]["href"] = 12345  # JSON no reader can use
    plan = plan_tile_dates(items)
    assert [t.item_id for t in plan.tile_dates] == [items[1]["id"]]
    ((shown, why),) = plan.refused
    assert items[0]["id"] in shown and "asset 'red'" in why and "\n" not in why
    summary = run_scan(plan, load_rules(), tmp_path, workers=1)
    assert summary.statuses["ok"] == 1
    assert summary.refused == [{"item_id": shown, "error": why}]
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["refused"] == summary.refused
