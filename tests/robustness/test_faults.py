"""Faults during a local scan: the process killed, the disk full. Afterwards the results folder
holds what finished, nothing half-written, and a re-run completes with the same detections."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asm_core import results
from asm_core.errors import ResultsNotWritableError
from asm_core.monitor import MonitorUpdate, site_update_lock, update_monitoring
from asm_core.plan import plan_tile_dates
from asm_core.results import read_table
from asm_core.rules import load_rules
from asm_core.scan import ScanProgress, run_scan
from asm_core.synthetic.scene import WrittenScene
from asm_core.tile_job import TileRun

HANGING_SCAN = """
import json, os, sys, time
from pathlib import Path
import asm_core.scan as scan
from asm_core.plan import plan_tile_dates
from asm_core.rules import load_rules

def hang(*args, **kwargs):
    Path(sys.argv[2], f"worker-{os.getpid()}").touch()
    time.sleep(120)

scan.run_item = hang
items = json.loads(Path(sys.argv[1]).read_text())
scan.run_scan(plan_tile_dates(items), load_rules(), Path(sys.argv[2]), workers=2)
"""


def _items(scene_factory: Callable[..., WrittenScene], seeds: list[int]) -> list[dict]:
    items = []
    for seed in seeds:
        scene = scene_factory(seed=seed, size=256)
        data = json.loads(scene.item_path.read_text())
        for asset in data["assets"].values():
            asset["href"] = str((scene.item_path.parent / asset["href"]).resolve())
        items.append(data)
    return items


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie is dead, only not yet reaped


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers die with their parent on Linux"
)
def test_workers_die_with_a_scan_killed_by_sigkill(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    items_file = tmp_path / "items.json"
    items_file.write_text(json.dumps(_items(scene_factory, [81, 82])))
    out = tmp_path / "out"
    out.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", HANGING_SCAN, str(items_file), str(out)])
    deadline = time.monotonic() + 60
    while len(list(out.glob("worker-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p.name.split("-")[1]) for p in out.glob("worker-*")]
    assert len(workers) == 2, "the scan never started its two workers"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "workers outlived the scan killed by SIGKILL"


def _folder(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_full_disk_stops_the_scan_with_one_line_and_a_rerun_finishes_it(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_tile_dates(_items(scene_factory, [81, 82, 83]))
    rules = load_rules()
    control = tmp_path / "control"
    run_scan(plan, rules, control, workers=1)
    out, full = tmp_path / "out", tmp_path / "disk-full"
    real_write = results.write_replacing

    def write_unless_full(path: Path, write: Callable[[str], object]) -> None:
        if full.exists():  # a file, so worker processes see the disk fill up too
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, write)

    monkeypatch.setattr(results, "write_replacing", write_unless_full)
    kept: dict[str, bytes] = {}

    def fill_after_first(progress: ScanProgress, run: TileRun) -> None:
        kept.update(_folder(out))
        full.touch()

    with pytest.raises(ResultsNotWritableError) as stopped:
        run_scan(plan, rules, out, workers=1, on_progress=fill_after_first)
    message = str(stopped.value)
    assert "\n" not in message and str(out) in message and "No space left" in message
    assert "re-run" in message
    assert _folder(out) == kept  # what finished is intact, nothing half-written beside it
    full.unlink()
    again = run_scan(plan, rules, out, workers=1)
    assert again.skipped == 1 and again.statuses["ok"] == 2
    assert (
        read_table(out, "detections")
        .sort_by("detection_id")
        .equals(read_table(control, "detections").sort_by("detection_id"))
    )
    runs = read_table(out, "tile_runs").to_pylist()
    assert sorted(r["item_id"] for r in runs) == sorted(t.item_id for t in plan.tile_dates)


def test_site_updates_of_one_folder_take_turns_and_a_killed_holder_blocks_nobody(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    rules = load_rules()
    run_scan(plan_tile_dates(_items(scene_factory, [81])), rules, tmp_path, workers=1)
    finished: list[MonitorUpdate] = []
    second = threading.Thread(
        target=lambda: finished.append(update_monitoring(tmp_path, rules.tracking))
    )
    with site_update_lock(tmp_path):
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive() and not finished  # waits while the first update holds it
    second.join(timeout=60)
    assert finished and finished[0].sites.sites > 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from asm_core.monitor import "
            "site_update_lock\nwith site_update_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(120)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    update_monitoring(tmp_path, rules.tracking)  # would wait forever on a stale lock
