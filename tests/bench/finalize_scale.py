"""What the Finalize step's site update costs as the history grows: CPU, wall time and peak
memory of ``update_monitoring`` over a simulated history, and the objects Finalize would
download from S3 for it.

    python tests/bench/finalize_scale.py --tiles 100 --weeks 4 --weeks 8 --weeks 16

Each history is written as ``tests/bench/athena_layout.py`` writes one (every tile one date a
week, the rows of a real job's output on a synthetic scene, one file per tile-date and table),
then tracked once in a fresh child process, the way one Finalize tracks a scan's tiles: it
downloads every detections and tile_runs object of those tiles (their whole history) and
rebuilds their sites. Prints one row per history and the per-tile-date figures; the last line
is one JSON object with a linear extrapolation to 3,450 tiles and 52 weeks (an estimate from
the measured slope, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from athena_layout import _template, simulate  # noqa: E402

AFRICA_TILES, YEAR_WEEKS = 3450, 52
FINALIZE_TIMEOUT_S, FINALIZE_MEMORY_MB = 900, 3008


def child(root: Path) -> dict[str, Any]:
    from asm_core.monitor import update_monitoring
    from asm_core.rules import load_rules

    started = time.perf_counter()
    me = resource.getrusage(resource.RUSAGE_SELF)
    done = update_monitoring(root, load_rules().tracking)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": round(after.ru_utime + after.ru_stime - me.ru_utime - me.ru_stime, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024),
        "sites": done.summary().get("sites"),
    }


def measure(cache: Path, tiles: int, weeks: int) -> dict[str, Any]:
    root = cache / f"history-{tiles}x{weeks}"
    shutil.rmtree(root, ignore_errors=True)
    files = simulate(root, _template(cache), tiles, weeks)
    size = sum(p.stat().st_size for p in root.glob("**/*.parquet"))
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    shutil.rmtree(root, ignore_errors=True)
    return {"tiles": tiles, "weeks": weeks, "objects": files, "mb": round(size / 1e6, 1)} | figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=100)
    parser.add_argument("--weeks", type=int, action="append", help="history lengths (repeat)")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench-finalize")
    parser.add_argument("--child", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    weeks = sorted(set(args.weeks or [4, 8, 16]))
    if args.tiles < 1 or len(weeks) < 2 or weeks[0] < 1:
        parser.error("give --tiles ≥ 1 and at least two --weeks ≥ 1 (the slope needs two)")
    rows = [measure(args.cache, args.tiles, w) for w in weeks]
    print(
        f"{'tiles':>6}{'weeks':>6}{'objects':>9}{'MB':>8}{'CPU s':>8}{'wall s':>8}{'RSS MB':>8}",
        file=sys.stderr,
    )
    for r in rows:
        print(
            f"{r['tiles']:>6}{r['weeks']:>6}{r['objects']:>9}{r['mb']:>8}{r['cpu_s']:>8}"
            f"{r['wall_s']:>8}{r['peak_rss_mb']:>8}",
            file=sys.stderr,
        )
    # per tile-date of history, from the two longest histories (start-up costs cancel)
    a, b = rows[-2], rows[-1]
    per = (b["wall_s"] - a["wall_s"]) / ((b["weeks"] - a["weeks"]) * args.tiles)
    # (memory can measure flat or lower on short histories: a slope below zero is noise)
    rss_per = max(
        0.0, (b["peak_rss_mb"] - a["peak_rss_mb"]) / ((b["weeks"] - a["weeks"]) * args.tiles)
    )
    year = AFRICA_TILES * YEAR_WEEKS
    estimate = {
        "wall_s": round(b["wall_s"] + per * (year - b["weeks"] * args.tiles)),
        "peak_rss_mb": round(b["peak_rss_mb"] + rss_per * (year - b["weeks"] * args.tiles)),
        "objects_to_download": 2 * year,
    }
    print(
        f"per tile-date of history: {per * 1000:.1f} ms, {rss_per * 1000:.1f} kB; "
        f"a year of Africa (extrapolated): {estimate}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "rows": rows,
                "ms_per_tile_date": round(per * 1000, 2),
                "africa_year_estimate": estimate,
                "fits_one_finalize": estimate["wall_s"] < FINALIZE_TIMEOUT_S
                and estimate["peak_rss_mb"] < FINALIZE_MEMORY_MB,
            }
        )
    )


if __name__ == "__main__":
    main()
