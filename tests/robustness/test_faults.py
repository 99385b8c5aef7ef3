"""Faults during a local scan: the process killed, a folder that cannot be written, two site
updates at once. Afterwards the results folder holds what finished, nothing half-written, and a
re-run completes with the same detections."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asm_core.errors import ResultsNotWritableError
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.scan import ScanProgress, run_scan
from asm_core.jobs.tile_job import TileRun
from asm_core.monitoring.monitor import MonitorUpdate, site_update_lock, update_monitoring
from asm_core.planning.plan import plan_tile_dates
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from tests.conftest import absolute_items

SCAN = """
import json, sys
from pathlib import Path
from asm_core.planning.plan import plan_tile_dates
from asm_core.rules import load_rules
from asm_core.jobs.scan import run_scan

items = json.loads(Path(sys.argv[1]).read_text())
run_scan(plan_tile_dates(items), load_rules(), Path(sys.argv[2]), workers=2)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie is dead, only not yet reaped


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc lists the workers on Linux")
def test_workers_die_with_a_scan_killed_by_sigkill(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts reads and never answers them
    port = silent.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(
        target=lambda: [accepted.append(silent.accept()[0]) for _ in range(64)], daemon=True
    ).start()
    items = absolute_items(scene_factory, [81, 82])
    for item in items:
        for name, asset in item["assets"].items():
            asset["href"] = f"http://127.0.0.1:{port}/{item['id']}/{name}.tif"
    items_file = tmp_path / "items.json"
    items_file.write_text(json.dumps(items))
    scan = subprocess.Popen([sys.executable, "-c", SCAN, str(items_file), str(tmp_path / "out")])
    deadline = time.monotonic() + 60
    while len(accepted) < 2 and time.monotonic() < deadline:  # both workers are reading
        time.sleep(0.1)
    workers = _descendants(scan.pid)
    assert len(accepted) >= 2 and len(workers) >= 2, "the scan never started its workers"
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    silent.close()
    left = {w: Path(f"/proc/{w}/cmdline").read_bytes()[:80] for w in workers if _alive(w)}
    assert not left, f"workers outlived the scan killed by SIGKILL: {left}"


def _folder(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_folder_that_cannot_be_written_stops_the_scan_with_one_line_and_a_rerun_finishes(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    plan = plan_tile_dates(absolute_items(scene_factory, [81, 82, 83]))
    rules = load_rules()
    control = tmp_path / "control"
    run_scan(plan, rules, control, workers=1)
    out = tmp_path / "out"
    # every tile-date but the first finds its partition folders taken by files: its results,
    # and its failure, cannot be written (as on a full disk or a read-only folder)
    blocked = [
        out / table / f"dt={t.day.isoformat()}"
        for t in plan.tile_dates[1:]
        for table in ("detections", "tile_runs")
    ]
    for path in blocked:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("in the way")
    kept: dict[str, bytes] = {}

    def keep(progress: ScanProgress, run: TileRun) -> None:
        kept.update(_folder(out))

    with pytest.raises(ResultsNotWritableError) as stopped:
        run_scan(plan, rules, out, workers=1, on_progress=keep)
    message = str(stopped.value)
    assert "\n" not in message and str(out) in message and "re-run" in message, message
    assert "tile-date(s) not run" in message
    after = _folder(out)
    assert {k: after[k] for k in kept} == kept  # what finished is intact
    assert not [k for k in after if k.endswith(".tmp")]  # nothing half-written beside it
    for path in blocked:
        path.unlink()
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
    run_scan(plan_tile_dates(absolute_items(scene_factory, [81])), rules, tmp_path, workers=1)
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
            "import sys, time; from pathlib import Path; from asm_core.monitoring.monitor import "
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
