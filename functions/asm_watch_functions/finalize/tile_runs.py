"""A scan's tile_runs rows, gathered from S3: every planned tile-date ends as results or a
recorded failure.

A planned tile-date without a tile_runs row (its task vanished past every retry and catch: a
child workflow killed whole, a function that could not start) gets a ``failed`` row here, and
any detections it left are withdrawn (a failed row with detections beside it would contradict
itself).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asm_core.jobs.tile_job import record_failure
from asm_core.results.schema import STATUSES, RunStatus
from asm_core.results.store import read_table
from asm_core.rules import shipped_rules
from asm_core.sources.stac import scene_item_from_dict
from asm_watch_functions.events import TileTask
from asm_watch_functions.item_files import download_item_file
from asm_watch_functions.settings import Settings
from asm_watch_functions.storage import Bucket

MISSING = "no tile_runs row was written for this tile-date (the task vanished)"


def gather_runs(
    tasks: Sequence[TileTask], settings: Settings, bucket: Bucket
) -> list[dict[str, Any]]:
    """The tile_runs rows of ``tasks``, recording (in S3) a failure for each that has none."""
    work = Path(tempfile.mkdtemp(prefix="asm-runs-"))
    try:
        missing = []
        for task in tasks:
            key = task.keys["tile_runs"]
            local = work / Path(key).relative_to(settings.results_prefix)
            if not download_item_file(bucket, key, local, "tile_runs", task.item_id):
                missing.append(task)
        if missing:
            recorded = work / "recorded"
            for task in missing:
                scene = scene_item_from_dict(task.item, task.item_id)
                record_failure(scene, shipped_rules(task.ruleset), recorded, RuntimeError(MISSING))
                bucket.client.delete_object(Bucket=bucket.name, Key=task.keys["detections"])
            bucket.upload_tree(recorded, settings.results_prefix)
            shutil.copytree(recorded, work, dirs_exist_ok=True)
            shutil.rmtree(recorded)
        return list(read_table(work, "tile_runs").to_pylist())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def runs_summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What a scan summary says of some tile_runs rows (JSON-ready; sums merge by addition)."""
    statuses = Counter(str(r["status"]) for r in runs)
    return {
        "statuses": {s: statuses.get(s, 0) for s in STATUSES},
        "detections": sum(int(r["detections"] or 0) for r in runs),
        "sites": sum(int(r["sites"] or 0) for r in runs),
        "valid_area_km2": round(sum(float(r["valid_area_km2"] or 0) for r in runs), 2),
        "failures": [
            {"item_id": r["item_id"], "error": r["error"]}
            for r in runs
            if r["status"] == RunStatus.FAILED
        ],
    }
