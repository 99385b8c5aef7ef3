"""Files, bytes and query time of the catalogue queries over a simulated year of weekly scans,
before and after the partitions are merged (asm_core/results/compaction.py).

    python tests/bench/athena_layout.py                      # 52 weekly passes of 3,450 tiles
    python tests/bench/athena_layout.py --weeks 6            # the same month, 41,400 files

Each pass gives every tile one date in its week and one file per table, in the zone of the tile
(Africa spans UTM zones 28-38), with the rows of a real job's output on a synthetic scene
(copied, the ids changed). Every query of ``infra/athena/queries/`` then runs through DuckDB
(the engine ``asm query`` uses) for one month in the middle of the year; the files and bytes
are those under the month's partitions - what Athena's partition projection hands its
readers. Prints a table per layout and ratios; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asm_core.results.compaction import compact, pending_partitions  # noqa: E402
from asm_core.results.sql import bind, read_query_file, run_query  # noqa: E402
from asm_core.results.store import read_table  # noqa: E402

QUERIES = ROOT / "infra" / "athena" / "queries"
ZONES = range(28, 39)
START = date(2025, 1, 6)  # a Monday


def _template(cache: Path) -> dict[str, pa.Table]:
    """One real job's output (a synthetic scene with sites): the rows every simulated file
    copies."""
    out = cache / "template"
    if not (out / "tile_runs").is_dir():
        from asm_core.evaluation.synthetic import SceneSpec, write_scene
        from asm_core.jobs.tile_job import run_item
        from asm_core.rules import load_rules
        from asm_core.sources.stac import load_item

        scene = write_scene(SceneSpec(seed=41, size=512, sites=3, baseline="05.10"), cache / "s")
        run_item(load_item(str(scene.item_path)), load_rules(), out)
    tables = {}
    for table in ("detections", "tile_runs"):
        (path,) = sorted((out / table).glob("**/*.parquet"))
        tables[table] = pq.read_table(path)
    return tables


def _copy(template: pa.Table, item_id: str, tile: str, acquired: datetime) -> pa.Table:
    n = template.num_rows
    changes: dict[str, pa.Array] = {
        "item_id": pa.array([item_id] * n, pa.string()),
        "mgrs_tile": pa.array([tile] * n, pa.string()),
        "acquired": pa.array([acquired] * n, template.schema.field("acquired").type),
    }
    if "detection_id" in template.column_names:
        changes["detection_id"] = pa.array([f"{item_id}-{k}" for k in range(n)], pa.string())
        changes["site_id"] = pa.array([f"{tile}-{k % 3}" for k in range(n)], pa.string())
    for name, values in changes.items():
        template = template.set_column(template.schema.get_field_index(name), name, values)
    return template


def simulate(root: Path, tables: dict[str, pa.Table], tiles: int, weeks: int) -> int:
    """Write ``weeks`` passes of ``tiles`` tile-dates; returns the files written."""
    written = 0
    for week in range(weeks):
        for t in range(tiles):
            zone = ZONES[t % len(ZONES)]
            tile = f"{zone}P{chr(65 + t // 600 % 26)}{chr(65 + t // 26 % 23)}{chr(65 + t % 26)}"
            day = START + timedelta(days=7 * week + t % 7)
            acquired = datetime(day.year, day.month, day.day, 10, 30)
            item_id = f"S2A_{tile}_{day:%Y%m%d}_0_L2A"
            for table, template in tables.items():
                folder = root / table / f"dt={day:%Y-%m-%d}" / f"utm_zone={zone}"
                folder.mkdir(parents=True, exist_ok=True)
                copy = _copy(template, item_id, tile, acquired)
                pq.write_table(copy, folder / f"{item_id}.parquet", compression="zstd")
                written += 1
    return written


def _month_files(root: Path, table: str, first: date, last: date) -> list[Path]:
    out = []
    for folder in (root / table).glob("dt=*"):
        day = date.fromisoformat(folder.name[3:])
        if first <= day <= last:
            out.extend(folder.glob("utm_zone=*/*.parquet"))
    return out


def measure(root: Path, first: date, last: date) -> dict[str, dict[str, Any]]:
    """Per query: files and bytes under the month's partitions of the tables it reads, and
    DuckDB's time for it."""
    figures = {}
    for path in sorted(QUERIES.glob("*.sql")):
        query = read_query_file(path)
        given = {"first_day": first.isoformat(), "last_day": last.isoformat()}
        params = bind(query, {k: v for k, v in given.items() if k in query.parameters})
        files = [
            f
            for table in ("detections", "tile_runs")
            if f" {table}" in query.sql
            for f in _month_files(root, table, first, last)
        ]
        started = time.perf_counter()
        answer = run_query(query.sql, root, params)
        figures[path.stem] = {
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
            "seconds": round(time.perf_counter() - started, 3),
            "rows": len(answer.rows),
        }
    return figures


def _print(title: str, figures: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}", file=sys.stderr)
    print(f"{'query':<40}{'files':>9}{'MB':>9}{'seconds':>10}{'rows':>8}", file=sys.stderr)
    for name, f in figures.items():
        print(
            f"{name:<40}{f['files']:>9}{f['bytes'] / 1e6:>9.1f}{f['seconds']:>10.2f}{f['rows']:>8}",
            file=sys.stderr,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=3450, help="tiles per weekly pass")
    parser.add_argument("--weeks", type=int, default=52, help="weekly passes")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench-athena-layout")
    args = parser.parse_args()
    if args.tiles < 1 or args.weeks < 5:
        parser.error("--tiles must be at least 1 and --weeks at least 5 (a month to query)")
    tables = _template(args.cache)
    root = args.cache / f"year-{args.tiles}x{args.weeks}"
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    written = simulate(root, tables, args.tiles, args.weeks)
    print(f"wrote {written:,} files in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    middle = START + timedelta(days=7 * (args.weeks // 2))
    first, last = middle.replace(day=1), (middle.replace(day=28) + timedelta(days=4))
    last = last - timedelta(days=last.day)
    before = measure(root, first, last)
    _print(f"one file per tile-date; queries for {first} to {last}", before)
    rows_before = {t: read_table(root, t).num_rows for t in tables}
    started = time.perf_counter()
    removed = compact(root, pending_partitions(root))
    merge_s = time.perf_counter() - started
    assert {t: read_table(root, t).num_rows for t in tables} == rows_before, "rows changed"
    after = measure(root, first, last)
    _print(f"merged: one file per date and zone ({removed:,} files fewer, {merge_s:.0f} s)", after)
    for name in before:
        assert before[name]["rows"] == after[name]["rows"], f"{name} answers differently"
    # the queries that read the per-tile-date tables (the others read the site tables only)
    reading = [n for n in before if before[n]["files"]]
    files_ratio = {n: round(before[n]["files"] / max(1, after[n]["files"]), 1) for n in reading}
    time_ratio = {
        n: round(before[n]["seconds"] / max(1e-3, after[n]["seconds"]), 1) for n in reading
    }
    print(f"\nfiles read, before/after: {files_ratio}", file=sys.stderr)
    print(f"DuckDB time, before/after: {time_ratio}", file=sys.stderr)
    print(
        json.dumps(
            {
                "tiles_per_pass": args.tiles,
                "weeks": args.weeks,
                "files_written": written,
                "files_after_merge": written - removed,
                "merge_seconds": round(merge_s, 1),
                "month": [first.isoformat(), last.isoformat()],
                "before": before,
                "after": after,
                "files_ratio_min": min(files_ratio.values(), default=None),
                "time_ratio": time_ratio,
                "bar_files_10x": bool(files_ratio) and min(files_ratio.values()) >= 10,
            }
        )
    )


if __name__ == "__main__":
    main()
