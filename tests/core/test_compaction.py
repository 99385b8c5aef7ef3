"""Merging a results folder's per-tile-date files: same rows, newest run wins, detections follow
their tile_runs, GeoParquet extent kept, and the catalogue queries answer the same."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from asm_core.errors import ResultsError
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import record_failure, run_item
from asm_core.results.compaction import COMPACTED, compact, pending_partitions
from asm_core.results.sql import run_query
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from tests.conftest import items_sharing_a_partition


def _rows(root: Path, table: str) -> list[dict[str, Any]]:
    rows = read_table(root, table).to_pylist()
    key = "detection_id" if table == "detections" else "item_id"
    return sorted(rows, key=lambda r: str(r[key]))


def _files(root: Path, table: str) -> list[Path]:
    return sorted((root / table).glob("**/*.parquet"))


def test_a_partition_becomes_one_file_with_the_same_rows(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    root, rules = tmp_path / "results", load_rules()
    for item in items_sharing_a_partition(scene_factory, tmp_path):
        assert run_item(item, rules, root).detections > 0
    before = {t: _rows(root, t) for t in ("detections", "tile_runs")}
    coverage = run_query("SELECT count(*) FROM detections", root).rows
    assert len(_files(root, "detections")) == 2
    (partition,) = pending_partitions(root)

    assert compact(root, [partition]) == 2  # two files each become one
    for table in ("detections", "tile_runs"):
        (merged,) = _files(root, table)
        assert merged.name == COMPACTED
        assert _rows(root, table) == before[table]
    assert run_query("SELECT count(*) FROM detections", root).rows == coverage
    geo = json.loads(pq.read_schema(_files(root, "detections")[0]).metadata[b"geo"])
    xmin, ymin, xmax, ymax = geo["columns"]["geometry"]["bbox"]
    for row in before["detections"]:
        box = row["bbox"]
        assert xmin <= box["xmin"] and box["xmax"] <= xmax
        assert ymin <= box["ymin"] and box["ymax"] <= ymax
    assert pending_partitions(root) == set()
    assert compact(root, [partition]) == 0  # merged already: nothing to do
    assert _rows(root, "detections") == before["detections"]


def test_the_newest_run_wins_and_a_failed_one_withdraws_its_detections(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    root, rules = tmp_path / "results", load_rules()
    first, second = items_sharing_a_partition(scene_factory, tmp_path)
    for item in (first, second):
        run_item(item, rules, root)
    compact(root, pending_partitions(root))
    kept = [r for r in _rows(root, "detections") if r["item_id"] == second.item_id]

    record_failure(first, rules, root, RuntimeError("the re-run failed"))
    compact(root, pending_partitions(root))
    runs = {r["item_id"]: r["status"] for r in _rows(root, "tile_runs")}
    assert runs == {first.item_id: "failed", second.item_id: "ok"}
    assert _rows(root, "detections") == kept  # the other item's rows untouched

    again = run_item(first, rules, root)
    compact(root, pending_partitions(root))
    runs = {r["item_id"]: r["status"] for r in _rows(root, "tile_runs")}
    assert runs == {first.item_id: "ok", second.item_id: "ok"}  # one row per item
    detections = _rows(root, "detections")
    assert sum(r["item_id"] == first.item_id for r in detections) == again.detections > 0
    assert len(_files(root, "detections")) == len(_files(root, "tile_runs")) == 1


@pytest.mark.parametrize("table", ["detections", "tile_runs"])
def test_a_broken_file_stops_the_merge_and_loses_nothing(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path, table: str
) -> None:
    root, rules = tmp_path / "results", load_rules()
    for item in items_sharing_a_partition(scene_factory, tmp_path):
        run_item(item, rules, root)
    other = "tile_runs" if table == "detections" else "detections"
    rows = _rows(root, other)
    broken = _files(root, table)[0]
    broken.write_bytes(b"not parquet")
    files = _files(root, table)
    with pytest.raises(ResultsError, match=re.escape(broken.name)):
        compact(root, pending_partitions(root))
    assert _files(root, table) == files and broken.read_bytes() == b"not parquet"
    assert _rows(root, other) == rows
