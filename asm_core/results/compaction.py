"""Small result files merged: one Parquet file per partition (date and UTM zone) of a table.

Every tile-date writes its own small files (``<item_id>.parquet``, 13-40 KB), so a weekly pass
over Africa leaves 3,450 of them per table each week, and a query pays for every file it opens
(Athena by the request and the split, S3 by the GET). After a scan, each partition it wrote to
is merged into one ``compacted.parquet``: ``tests/bench/athena_layout.py`` measures what that
saves over a simulated year.

The newest rows of an item win: an item's own file is newer than any merged file (it was
written after the last merge), so its rows replace the merged rows of the same item. Detections
follow their tile_runs: an item whose newest run did not end ``ok`` keeps no detections (a
failed re-run withdraws them, as :func:`asm_core.jobs.tile_outputs.withdraw_detections` does
for files).
The merged file is written (atomically) before the item files it replaces are removed, so an
interruption leaves rows twice for a moment, never missing; the next merge settles them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from asm_core.results.schema import RunStatus, geoparquet_metadata
from asm_core.results.store import TABLE_SCHEMAS, check_result_file, write_atomic

COMPACTED = "compacted.parquet"
#: the tables written one file per tile-date (the site tables are one file each already)
PER_TILE_DATE = ("tile_runs", "detections")


def _read(path: Path, table: str) -> pa.Table:
    check_result_file(path, table)
    return pq.read_table(path, schema=TABLE_SCHEMAS[table])


def _ids(items: set[str]) -> pa.Array:
    return pa.array(sorted(items), pa.string())


def _geo_metadata(table: pa.Table) -> dict[bytes, bytes]:
    """The detections' GeoParquet metadata with the merged rows' extent."""
    metadata = dict(TABLE_SCHEMAS["detections"].metadata or {})
    bbox = None
    if table.num_rows:
        box = table.column("bbox")
        bbox = [
            pc.min(pc.struct_field(box, "xmin")).as_py(),
            pc.min(pc.struct_field(box, "ymin")).as_py(),
            pc.max(pc.struct_field(box, "xmax")).as_py(),
            pc.max(pc.struct_field(box, "ymax")).as_py(),
        ]
    metadata.update(geoparquet_metadata(bbox))
    return metadata


def compact_partition(folder: Path, table: str, keep: set[str] | None = None) -> list[str]:
    """Merge one partition folder of ``table`` into ``compacted.parquet``; returns the item ids
    whose newest rows are there. With ``keep``, rows of other items are dropped (detections
    of items whose newest run was not ``ok``). A folder with no item files is left as it is,
    unless ``keep`` drops some of its merged rows."""
    own = sorted(
        p for p in folder.glob("*.parquet") if p.name != COMPACTED and not p.name.startswith(".")
    )
    merged_path = folder / COMPACTED
    parts = [_read(p, table) for p in own]
    fresh = {i for part in parts for i in part.column("item_id").to_pylist()}
    if merged_path.exists():
        merged = _read(merged_path, table)
        old = merged.filter(pc.invert(pc.is_in(merged.column("item_id"), _ids(fresh))))
        parts.insert(0, old)
    if not parts:
        return []
    result = pa.concat_tables(parts)
    if keep is not None:
        result = result.filter(pc.is_in(result.column("item_id"), _ids(keep)))
    unchanged = not own and result.num_rows == parts[0].num_rows
    if not unchanged:
        if table == "detections":
            result = result.replace_schema_metadata(_geo_metadata(result))
        write_atomic(result, merged_path)
        for path in own:
            path.unlink()
    return sorted(set(result.column("item_id").to_pylist()))


def merged_rows(merged: Path, table: str, wanted: Callable[[str], bool], out: Path) -> int | None:
    """Write the rows a partition's merged file holds of the items ``wanted`` picks (by item
    id) as one file ``out``, as their own files held them before the merge; how many rows (an
    item without detections has none), None if there is no merged file."""
    if not merged.exists():
        return None
    rows = _read(merged, table)
    ids = [i for i in pc.unique(rows.column("item_id")).to_pylist() if wanted(i)]
    mine = rows.filter(pc.is_in(rows.column("item_id"), _ids(set(ids))))
    if table == "detections":
        mine = mine.replace_schema_metadata(_geo_metadata(mine))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(mine, out)
    return int(mine.num_rows)


def pending_partitions(root: Path) -> set[Path]:
    """The partitions (``dt=…/utm_zone=…``, relative to the table) where either per-tile-date
    table has item files not merged yet."""
    pending = set()
    for table in PER_TILE_DATE:
        base = root / table
        for path in base.glob("dt=*/utm_zone=*/*.parquet"):
            if path.name != COMPACTED and not path.name.startswith("."):
                pending.add(path.parent.relative_to(base))
    return pending


def _files(folder: Path) -> int:
    return sum(1 for p in folder.glob("*.parquet") if not p.name.startswith("."))


def compact(root: Path, partitions: Iterable[Path]) -> int:
    """Merge the given partitions (``dt=…/utm_zone=…``) of both per-tile-date tables of a results
    folder: tile_runs first, then the detections of the items whose newest run is ``ok``.
    Returns how many files fewer the folder has."""
    removed = 0
    for partition in sorted(set(partitions)):
        ok: set[str] | None = None
        runs_folder = root / "tile_runs" / partition
        if runs_folder.is_dir():
            before = _files(runs_folder)
            compact_partition(runs_folder, "tile_runs")
            removed += before - _files(runs_folder)
            if (runs_folder / COMPACTED).exists():
                runs = _read(runs_folder / COMPACTED, "tile_runs").select(["item_id", "status"])
                ok = {r["item_id"] for r in runs.to_pylist() if r["status"] == RunStatus.OK}
        detections_folder = root / "detections" / partition
        if detections_folder.is_dir():
            before = _files(detections_folder)
            compact_partition(detections_folder, "detections", ok)
            removed += before - _files(detections_folder)
    return removed
