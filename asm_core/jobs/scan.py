"""Run a scan plan on this machine: the per-tile job fanned out over a process pool.

Every planned tile-date ends as a tile_runs row (``ok``, ``no_data`` or ``failed``), or is
counted as skipped (already ``ok`` with the same rule set) or, after Ctrl-C, as not run. A scan
summary JSON is written next to the results. Re-running the same scan picks up where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from asm_core.detection.objects.known_sites import known_site_footprints
from asm_core.errors import ResultsNotWritableError
from asm_core.jobs.scan_summary import ScanSummary
from asm_core.jobs.tile_job import TileRun, record_failure, run_item
from asm_core.monitoring.monitor import site_update_lock
from asm_core.planning.plan import Plan, TileDate
from asm_core.results.compaction import compact, pending_partitions
from asm_core.results.results_catalogue import write_results_collection
from asm_core.results.schema import READ_STATUSES, STATUSES, RunStatus
from asm_core.results.store import read_table, write_text_atomic
from asm_core.rules import RuleSet
from asm_core.sources.stac import SceneItem

SUMMARY_FILE = "scan_summary.json"


@dataclass
class ScanProgress:
    """Running totals, reported after each tile-date."""

    total: int
    done: int = 0
    detections: int = 0
    bytes_read: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def eta_seconds(self) -> float | None:
        if not self.done:
            return None
        elapsed = time.perf_counter() - self.started
        return elapsed / self.done * (self.total - self.done)


#: Workers start from a fresh server process (forkserver), not as forks of the scanning one:
#: a fork inherits GDAL's open HTTP connections (this process read COGs for the evidence chips
#: of a scan, or for an earlier scan of ``asm serve``), and worker and parent then read on the
#: same socket: every tile of the next scan failed with "Read failed"
#: (tests/integration/test_scan_s3.py). The server imports the tile job once, for all workers.
_WORKER_START = multiprocessing.get_context("forkserver")
_WORKER_START.set_forkserver_preload(["asm_core.jobs.tile_job"])
#: how often a worker checks that its scan still runs, where the system cannot tell it at once
_SCAN_CHECK_SECONDS = 0.5


def _start_worker(scan_pid: int) -> None:
    """Set up a worker: Ctrl-C is the scan's to handle, and the worker dies with the scan.

    Without the second, ``kill -9`` of ``asm scan`` left its workers running (and writing) for
    as long as their tile-dates took, 18 s measured. The workers are the fork server's
    children, so they watch the scan process itself: a pidfd that becomes readable when it
    ends (Linux), or a check every half second elsewhere.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(scan_pid,), daemon=True).start()


def _exit_with(scan_pid: int) -> None:
    try:
        scan = os.pidfd_open(scan_pid)
    except ProcessLookupError:  # the scan ended before this worker started
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd here: ask the system every half second
        while True:
            time.sleep(_SCAN_CHECK_SECONDS)
            try:
                os.kill(scan_pid, 0)
            except ProcessLookupError:
                os._exit(1)
    select.select([scan], [], [])  # readable once the scan process has ended
    os._exit(1)


def _tile_job(
    scene: SceneItem,
    rules: RuleSet,
    out_dir: str,
    gdal_options: Mapping[str, str | bool | int] | None,
    aoi: tuple[float, float, float, float] | None,
    looks: tuple[SceneItem, ...] = (),
) -> TileRun:
    try:
        known = known_site_footprints(Path(out_dir), scene.mgrs_tile)
        return run_item(
            scene, rules, Path(out_dir), gdal_options, aoi=aoi, baseline=looks, known_sites=known
        )
    except Exception as e:  # any bug still ends as a recorded failure, never a lost tile
        return record_failure(scene, rules, Path(out_dir), e)


def finished_items(out_dir: Path, rules: RuleSet) -> set[str]:
    """Items whose latest tile_runs row is ``ok`` with this rule set."""
    if not (out_dir / "tile_runs").is_dir():
        return set()
    rows = read_table(out_dir, "tile_runs").to_pylist()
    return {
        r["item_id"]
        for r in rows
        if r["status"] in READ_STATUSES and r["ruleset_hash"] == rules.content_hash
    }


def run_scan(
    plan: Plan,
    rules: RuleSet,
    out_dir: Path,
    workers: int,
    force: bool = False,
    gdal_options: Mapping[str, str | bool | int] | None = None,
    windows: Mapping[str, tuple[float, float, float, float]] | None = None,
    on_progress: Callable[[ScanProgress, TileRun], None] | None = None,
) -> ScanSummary:
    """Run every tile-date of a plan (skipping finished ones unless ``force``).

    Args:
        windows: optional per-item (W, S, E, N) to read only the AOI's part of each tile.
    """
    started = time.perf_counter()
    done_before = set() if force else finished_items(out_dir, rules)
    todo = [t for t in plan.tile_dates if t.item_id not in done_before]
    runs, interrupted, stopped = _run_pool(
        todo, rules, out_dir, workers, gdal_options, windows or {}, on_progress
    )
    summary = _summarise(plan, runs, len(plan.tile_dates) - len(todo), started, interrupted)
    summary.stopped_by = str(stopped) if stopped else None
    try:
        _write_summary(out_dir, summary)
    except OSError:
        if stopped is None:
            raise
    if stopped is not None:
        raise stopped
    if runs:  # the tile-dates' small files merged, one per partition (results/compaction.py)
        with site_update_lock(out_dir):
            compact(out_dir, pending_partitions(out_dir))
            write_results_collection(out_dir)  # the STAC catalogue, after the merge
    return summary


def _run_pool(
    todo: list[TileDate],
    rules: RuleSet,
    out_dir: Path,
    workers: int,
    gdal_options: Mapping[str, str | bool | int] | None,
    windows: Mapping[str, tuple[float, float, float, float]],
    on_progress: Callable[[ScanProgress, TileRun], None] | None,
) -> tuple[list[TileRun], bool, ResultsNotWritableError | None]:
    """The tile-dates' runs on a process pool, in the order they finish; whether Ctrl-C
    stopped it, and the error if the results folder stopped taking files."""
    progress = ScanProgress(total=len(todo))
    runs: list[TileRun] = []
    interrupted = False
    stopped: ResultsNotWritableError | None = None
    pool = ProcessPoolExecutor(
        max_workers=max(1, workers),
        mp_context=_WORKER_START,
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    futures: dict[Future[TileRun], TileDate] = {}
    try:
        for t in todo:
            job = (t.scene, rules, str(out_dir), gdal_options, windows.get(t.item_id))
            futures[pool.submit(_tile_job, *job, t.baseline_looks)] = t
        for future in as_completed(futures):
            run = _result(future, futures[future], rules, out_dir, len(todo) - len(runs) - 1)
            runs.append(run)
            progress.done += 1
            progress.detections += run.detections
            progress.bytes_read += run.bytes_read
            if on_progress is not None:
                on_progress(progress, run)
    except (KeyboardInterrupt, ResultsNotWritableError) as e:
        interrupted = isinstance(e, KeyboardInterrupt)
        stopped = e if isinstance(e, ResultsNotWritableError) else None
        for f in futures:
            f.cancel()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return runs, interrupted, stopped


def _result(
    future: Future[TileRun], tile: TileDate, rules: RuleSet, out_dir: Path, left: int
) -> TileRun:
    """A tile-date's run; a worker that died or could not write is recorded here as failed,
    and a folder where even that cannot be written stops the scan (``ResultsNotWritableError``)."""
    try:
        return future.result()
    except BrokenProcessPool as e:  # a worker died (e.g. out of memory): record, go on
        error: Exception = RuntimeError(f"worker died: {e}")
    except OSError as e:  # the worker could not write its results, nor its failure
        error = e
    try:
        return record_failure(tile.scene, rules, out_dir, error)
    except OSError as e:
        raise ResultsNotWritableError(
            f"cannot write results in {out_dir}: {e.strerror or e} ({e.filename or out_dir}); "
            f"{left + 1} tile-date(s) not run — free space or fix permissions, then re-run the "
            "same scan to finish it"
        ) from e


def _summarise(
    plan: Plan, runs: list[TileRun], skipped: int, started: float, interrupted: bool
) -> ScanSummary:
    classes: Counter[str] = Counter()
    for r in runs:
        classes.update(r.classes)
    statuses = Counter(r.status for r in runs)
    return ScanSummary(
        planned=len(plan.tile_dates),
        statuses={s: statuses.get(s, 0) for s in STATUSES},
        skipped=skipped,
        not_run=len(plan.tile_dates) - skipped - len(runs),
        detections=sum(classes.values()),
        detections_by_class=dict(sorted(classes.items())),
        sites=sum(r.sites for r in runs),
        megabytes_read=round(sum(r.bytes_read for r in runs) / 1e6, 1),
        seconds=round(time.perf_counter() - started, 1),
        duplicates_replaced=len(plan.duplicates),
        duplicates=plan.duplicates,
        refused_count=len(plan.refused),
        failures=[
            {"item_id": r.item_id, "error": r.error} for r in runs if r.status == RunStatus.FAILED
        ],
        interrupted=interrupted,
        refused=[{"item_id": i, "error": why} for i, why in plan.refused],
    )


def _write_summary(out_dir: Path, summary: ScanSummary) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / SUMMARY_FILE, json.dumps(summary.as_json(), indent=2))
