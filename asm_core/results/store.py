"""The results layout on disk: Hive-partitioned GeoParquet, written atomically.

``DIR/detections/dt=YYYY-MM-DD/utm_zone=NN/<item_id>.parquet`` and the same under
``DIR/tile_runs/``. Keys depend only on the item, so a re-run overwrites instead of duplicating;
a file is written to a temporary name in the same folder and renamed into place, so a crash
never leaves a half-written file where a reader would find it.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from asm_core.errors import ResultsError
from asm_core.results.schema import (
    DETECTIONS,
    SITE_CONTEXT,
    SITE_OBSERVATIONS,
    SITES,
    TILE_RUNS,
    geoparquet_metadata,
)


def check_results_folder(root: Path, table: str) -> None:
    """Refuse a results folder that is missing, a file, or lacks ``table``/ (one line each)."""
    if not root.exists():
        raise ResultsError(f"results folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ResultsError(f"results folder {str(root)!r} is a file; expected a folder")
    if not (root / table).is_dir():
        raise ResultsError(
            f"results folder {str(root)!r} has no {table}/: run asm detect or asm scan first"
        )


@functools.cache
def _umask() -> int:
    """The process's umask (read once: setting it to read it is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_replacing(path: Path, write: Callable[[str], object]) -> None:
    """Write through a temporary file beside ``path`` and rename it over ``path``, so readers
    see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name must not end in the real suffix: readers glob **/*.parquet
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); results are for sharing: what the umask
        # gives a new file (0644 under the usual 022)
        Path(tmp).chmod(0o666 & ~_umask())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file via a temporary file and an atomic rename."""
    write_replacing(
        path, lambda tmp: pq.write_table(table, tmp, compression="zstd", write_statistics=True)
    )


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file (UTF-8) via a temporary file and an atomic rename."""
    write_replacing(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a binary file via a temporary file and an atomic rename."""
    write_replacing(path, lambda tmp: Path(tmp).write_bytes(data))


def rows_table(rows: Sequence[Mapping[str, object]], schema: pa.Schema, table: str) -> pa.Table:
    """A table of ``rows`` whose keys are exactly the schema's columns: a key missing or
    unknown (a misspelling) raises instead of becoming a column of nulls."""
    columns = set(schema.names)
    for row in rows:
        if row.keys() != columns:
            missing, unknown = sorted(columns - row.keys()), sorted(row.keys() - columns)
            raise ValueError(
                f"a {table} row does not match its schema (asm_core/results/schema.py):"
                f" missing {missing or 'nothing'}, unknown {unknown or 'nothing'}"
            )
    return pa.Table.from_pylist(list(rows), schema=schema)


def detections_table(rows: Sequence[Mapping[str, object]], bbox: list[float] | None) -> pa.Table:
    table = rows_table(rows, DETECTIONS, "detections")
    metadata = dict(DETECTIONS.metadata or {})
    metadata.update(geoparquet_metadata(bbox))
    return table.replace_schema_metadata(metadata)


def tile_run_table(row: Mapping[str, object]) -> pa.Table:
    return rows_table([row], TILE_RUNS, "tile_runs")


def result_files(root: Path, table: str) -> list[Path]:
    """All Parquet files of one results table, sorted."""
    base = root / table
    return sorted(p for p in base.glob("**/*.parquet") if not p.name.startswith("."))


TABLE_SCHEMAS = {
    "detections": DETECTIONS,
    "tile_runs": TILE_RUNS,
    "sites": SITES,
    "site_observations": SITE_OBSERVATIONS,
    "site_context": SITE_CONTEXT,
}


#: The columns every file of a table has had since its first release.
KEY_COLUMNS = {
    "detections": ("detection_id", "item_id"),
    "tile_runs": ("item_id", "status"),
    "sites": ("site_id",),
    "site_observations": ("site_id", "item_id"),
    "site_context": ("site_id", "layer"),
}


def check_result_file(path: Path, table: str) -> None:
    """A file of a results table must be Parquet and this table's (a foreign Parquet would read
    as rows of nulls): otherwise a one-line error names it and what is wrong."""
    try:
        found = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        raise ResultsError(
            f"{str(path)!r} in {table}/ is not a readable Parquet file ({str(e).splitlines()[0]});"
            " move it away or re-run what wrote it"
        ) from e
    # files of an older release lack the columns added since (read as nulls); a file without
    # the table's own key is another table's, or no results at all
    missing = [n for n in KEY_COLUMNS.get(table, ()) if n not in found.names]
    if missing:
        raise ResultsError(
            f"{str(path)!r} in {table}/ is not a {table} file: it has no {', '.join(missing)} "
            "column"
        )


def _read_part(path: Path, table: str, schema: pa.Schema) -> pa.Table:
    check_result_file(path, table)
    # sites may carry context columns beyond the schema: read them all
    if table in ("sites", "site_observations"):
        return pq.read_table(path)
    return pq.read_table(path, schema=schema)


def read_table(root: Path, table: str) -> pa.Table:
    """Read a whole results table (with its partition columns) into one pyarrow table."""
    if not root.is_dir():
        raise ResultsError(f"results folder {str(root)!r} does not exist")
    files = result_files(root, table)
    schema = TABLE_SCHEMAS[table]
    if not files:
        return schema.empty_table()
    parts = []
    for f in files:
        part = _read_part(f, table, schema)
        for key, value in re.findall(r"(dt|utm_zone)=([^/\\]+)", str(f.relative_to(root))):
            part = part.append_column(key, pa.array([value] * part.num_rows, pa.string()))
        parts.append(part)
    # files of one site table can differ in their context columns (groups related to layers
    # at different times): a column a file lacks reads as nulls
    return pa.concat_tables(parts, promote_options="default")
