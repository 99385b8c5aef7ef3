"""What one piece of the scan's site update costs as the history grows: CPU, wall time and peak
memory of one site group's update (``asm_watch_functions.finalize.monitoring``'s work, without
S3) over a simulated weekly history, against the function's 900 s and its memory.

    python tests/bench/finalize_scale.py --group-tiles 10 --weeks 13 --weeks 26 --weeks 52

Each history is one site group of ``--group-tiles`` tiles (a grid zone's 100 km column holds
~10), every tile one date a week, each tile-date the rows of a real job's output on a synthetic
512² scene (3 planted sites) repeated ``--density`` times side by side (a full tile is 460 times
the scene's area). The weeks before the last are merged into the group's history and tracked
(not measured); the measured update is what the function does when the last week's scan ends:
merge the week's files into the history, then track the group's tiles again from the whole
history, relate, alert. Prints one row per history; the last line is one JSON object with the
figures and whether the longest history fits the function with room to spare (half its time).
The Finalize step after the groups reads one small object per group (~400 for Africa).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from athena_layout import START, _copy, _template  # noqa: E402

from asm_core.monitoring.monitor import update_monitoring  # noqa: E402
from asm_core.results.compaction import COMPACTED, compact  # noqa: E402
from asm_core.rules import load_rules  # noqa: E402

GROUP = "36NX"
ROWS = "ABCDEFGHJKLMNPQRSTUV"  # MGRS row letters (no I, no O)
TRACK_TIMEOUT_S = 900


def _denser(template: pa.Table, density: int) -> pa.Table:
    """The template's detections ``density`` times, each copy moved 0.05° further east (whole
    sites apart, so the tracker sees ``density`` times the sites)."""
    if density == 1 or "geometry" not in template.column_names:
        return template
    parts = []
    for k in range(density):
        shift = 0.05 * k
        geoms = shapely.from_wkb(template.column("geometry").to_pylist())
        moved = shapely.transform(geoms, lambda xy, s=shift: xy + np.array([s, 0.0]))
        part = template.set_column(
            template.schema.get_field_index("geometry"),
            "geometry",
            pa.array(shapely.to_wkb(moved).tolist(), pa.binary()),
        )
        ids = [f"{i}-{k}" for i in part.column("detection_id").to_pylist()]
        sites = [f"{i}-{k}" if i else i for i in part.column("site_id").to_pylist()]
        part = part.set_column(
            part.schema.get_field_index("detection_id"), "detection_id", pa.array(ids)
        )
        part = part.set_column(part.schema.get_field_index("site_id"), "site_id", pa.array(sites))
        parts.append(part)
    return pa.concat_tables(parts)


def simulate(root: Path, tables: dict[str, pa.Table], tiles: int, weeks: int) -> None:
    """The group's history before the last week merged (as ``site_history/<group>/`` holds it),
    its sites built from it; the last week's files beside it, as the scan leaves them."""
    for week in range(weeks):
        for t in range(tiles):
            tile = f"{GROUP}{ROWS[t]}"
            day = START + timedelta(days=7 * week + t % 7)
            acquired = datetime(day.year, day.month, day.day, 10, 30)
            item_id = f"S2A_{tile}_{day:%Y%m%d}_0_L2A"
            for table, template in tables.items():
                folder = root / table / GROUP
                folder.mkdir(parents=True, exist_ok=True)
                copy = _copy(template, item_id, tile, acquired)
                pq.write_table(copy, folder / f"{item_id}.parquet", compression="zstd")
        if week == weeks - 2:
            compact(root, [Path(GROUP)])
            update_monitoring(root, load_rules().tracking)


def child(root: Path) -> dict[str, Any]:
    started = time.perf_counter()
    me = resource.getrusage(resource.RUSAGE_SELF)
    compact(root, [Path(GROUP)])
    done = update_monitoring(root, load_rules().tracking)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": round(after.ru_utime + after.ru_stime - me.ru_utime - me.ru_stime, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024),
        "sites": done.summary()["sites"],
        "tiles_tracked": done.summary()["tiles_tracked"],
    }


def measure(cache: Path, tiles: int, weeks: int, density: int) -> dict[str, Any]:
    root = cache / f"group-{tiles}x{weeks}x{density}"
    shutil.rmtree(root, ignore_errors=True)
    template = _template(cache)
    tables = {t: _denser(rows, density) for t, rows in template.items()}
    simulate(root, tables, tiles, weeks)
    history_mb = sum((root / t / GROUP / COMPACTED).stat().st_size for t in tables) / 1e6
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    shutil.rmtree(root, ignore_errors=True)
    return {
        "tiles": tiles,
        "weeks": weeks,
        "density": density,
        "tile_dates": tiles * weeks,
        "history_mb": round(history_mb, 2),
    } | figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group-tiles", type=int, default=10)
    parser.add_argument("--weeks", type=int, action="append", help="history lengths (repeat)")
    parser.add_argument("--density", type=int, default=1, help="sites per tile-date, x3")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench-finalize")
    parser.add_argument("--child", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    weeks = sorted(set(args.weeks or [13, 26, 52]))
    if not 1 <= args.group_tiles <= len(ROWS) or weeks[0] < 2 or args.density < 1:
        parser.error(f"give 1 ≤ --group-tiles ≤ {len(ROWS)}, --weeks ≥ 2 and --density ≥ 1")
    rows = [measure(args.cache, args.group_tiles, w, args.density) for w in weeks]
    header = (
        f"{'tiles':>6}{'weeks':>6}{'sites':>7}{'hist MB':>9}{'CPU s':>8}{'wall s':>8}{'RSS MB':>8}"
    )
    print(header, file=sys.stderr)
    for r in rows:
        print(
            f"{r['tiles']:>6}{r['weeks']:>6}{r['sites']:>7}{r['history_mb']:>9}{r['cpu_s']:>8}"
            f"{r['wall_s']:>8}{r['peak_rss_mb']:>8}",
            file=sys.stderr,
        )
    a, b = rows[0], rows[-1]
    per = (b["wall_s"] - a["wall_s"]) / max(1, b["tile_dates"] - a["tile_dates"])
    longest = rows[-1]
    print(
        f"per tile-date of the group's history: {per * 1000:.1f} ms; the longest history "
        f"({longest['weeks']} weeks) took {longest['wall_s']} s of the function's "
        f"{TRACK_TIMEOUT_S} s",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "rows": rows,
                "ms_per_tile_date": round(per * 1000, 2),
                "longest_wall_share_of_timeout": round(longest["wall_s"] / TRACK_TIMEOUT_S, 3),
                "fits_with_room": longest["wall_s"] < TRACK_TIMEOUT_S / 2,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
            }
        )
    )


if __name__ == "__main__":
    main()
