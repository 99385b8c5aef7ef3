"""Athena-dialect SQL on this machine: sqlglot transpiles it to DuckDB, which reads the local
results folder through the same table names (``detections``, ``tile_runs``) and partition
columns (``dt`` as a string, ``utm_zone`` as an integer) that the Glue tables give Athena.

Parameters are positional ``?`` placeholders, as in Athena's execution parameters; a query file
declares them, in order and with defaults, in its header (see :func:`read_query_file`). Values
are bound by DuckDB, never spliced into the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from asm_core.errors import QueryError
from asm_core.results.schema import DETECTIONS, SITE_CONTEXT, SITE_OBSERVATIONS, SITES, TILE_RUNS
from asm_core.results.store import check_result_file, result_files
from asm_core.sources.user_files import read_text_file

TABLES = {
    "detections": DETECTIONS,
    "tile_runs": TILE_RUNS,
    "sites": SITES,
    "site_observations": SITE_OBSERVATIONS,
    "site_context": SITE_CONTEXT,
}
PARTITIONED = ("detections", "tile_runs")
_PARAM = re.compile(r"^--\s*@param\s+(\w+)\s*(?:\((\w+)\))?\s*=\s*(.*?)\s*(?::\s*(.*))?$")


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    default: str
    help: str = ""

    def value(self, text: str) -> Any:
        """The value from text, by the declared kind (varchar, integer, double, date)."""
        try:
            if self.kind in ("integer", "bigint", "int"):
                return int(text)
            if self.kind in ("double", "real"):
                return float(text)
        except ValueError as e:
            raise QueryError(f"parameter {self.name} must be a {self.kind}, not {text!r}") from e
        return text


@dataclass(frozen=True)
class QueryFile:
    """A catalogue query: its SQL, the question it answers and its parameters, in order."""

    path: Path
    sql: str
    title: str
    parameters: list[Parameter] = field(default_factory=list)


def read_query_file(path: Path) -> QueryFile:
    """Read a query whose header says what it answers and declares each ``?`` in order::

    -- Hotspots: detected area by country and month.
    -- @param min_confidence (double) = 0.5 : detections at least this confident
    """
    return parse_query(read_text_file(path, "query", QueryError), path)


def parse_query(text: str, path: Path) -> QueryFile:
    """A query from its text (see :func:`read_query_file` for the header)."""
    header = [line for line in text.splitlines() if line.startswith("--")]
    parameters = []
    for line in header:
        match = _PARAM.match(line)
        if match:
            name, kind, default, help_text = match.groups()
            parameters.append(
                Parameter(name, (kind or "varchar").lower(), default, help_text or "")
            )
    title = next((line.lstrip("- ").strip() for line in header if "@param" not in line), path.stem)
    return QueryFile(path, text, title, parameters)


def bind(query: QueryFile, given: dict[str, str]) -> list[Any]:
    """Values for the query's ``?`` in order: given ones, else the declared defaults."""
    known = {p.name for p in query.parameters}
    unknown = sorted(set(given) - known)
    if unknown:
        raise QueryError(
            f"unknown parameter {', '.join(unknown)} for {query.path.name}; "
            f"it takes {', '.join(sorted(known)) or 'none'}"
        )
    return [p.value(given.get(p.name, p.default)) for p in query.parameters]


def to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL as DuckDB SQL; one-line errors for what cannot be translated."""
    try:
        statements = sqlglot.parse(sql, read="athena")
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        text = (first.get("start_context") or "") + (first.get("highlight") or "")
        near = f" near {text.strip()[-60:]!r}" if text.strip() else ""
        raise QueryError(
            f"the SQL does not parse{where}{near}: {first.get('description', e)}"
        ) from e
    present = [s for s in statements if s is not None]
    if len(present) != 1:
        raise QueryError(f"give one SQL statement, not {len(present)}")
    if not isinstance(present[0], exp.Query):
        kind = (sql.split() or ["?"])[0].upper()[:20]
        raise QueryError(f"only queries (SELECT, WITH) are run, not {kind}: results are read-only")
    return present[0].sql(dialect="duckdb")


def _unknown_functions(sql: str, connection: duckdb.DuckDBPyConnection) -> list[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    names = {f.name.lower() for f in tree.find_all(exp.Anonymous)}
    if not names:
        return []
    known = {
        row[0].lower()
        for row in connection.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions()"
        ).fetchall()
    }
    return sorted(n for n in names if n not in known)


def _lock(connection: duckdb.DuckDBPyConnection, results: Path) -> None:
    """No file but the results folder's may be read (no read_csv('/etc/passwd'), no ATTACH,
    no extension installed), and the settings cannot be changed back by the query."""
    folder = str(results.resolve()).replace("'", "''")
    connection.execute(f"SET allowed_directories = ['{folder}/']")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


def _views(connection: duckdb.DuckDBPyConnection, results: Path, names: set[str]) -> None:
    # geometry columns stay WKB bytes, as Athena's Glue tables declare them (DuckDB would make
    # GeoParquet columns its own GEOMETRY type, on which Athena's functions do not run)
    connection.execute("SET enable_geoparquet_conversion = false")
    for name, schema in TABLES.items():
        if name not in names:
            continue
        files = result_files(results, name)
        for path in files:
            check_result_file(path, name)
        if files:
            # the folder is ours, not the query's; DuckDB takes no parameters in a view's DDL
            pattern = str(results / name / "**" / "*.parquet").replace("'", "''")
            hive = (
                ", hive_partitioning = true, hive_types = {'dt': VARCHAR, 'utm_zone': INTEGER}"
                if name in PARTITIONED
                else ""
            )
            # our own table name and folder (quoted above), no caller's text
            view = f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{pattern}'{hive})"  # nosec B608
            connection.execute(view)
        else:  # an empty table with the writer's own columns, so that queries still run
            empty = schema.empty_table()
            if name in PARTITIONED:
                empty = empty.append_column("dt", pa.array([], pa.string()))
                empty = empty.append_column("utm_zone", pa.array([], pa.int32()))
            connection.register(name, empty)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_query(sql: str, results: Path, parameters: list[Any] | None = None) -> QueryResult:
    """Run Athena-dialect SQL over a local results folder.

    Raises:
        QueryError: the SQL does not parse, names an unknown table or function, or its
            placeholders and the parameters do not match.
    """
    duck_sql = to_duckdb(sql)
    values = list(parameters or [])
    parsed = sqlglot.parse_one(duck_sql, read="duckdb")
    placeholders = len(list(parsed.find_all(exp.Placeholder)))
    if placeholders != len(values):
        raise QueryError(
            f"the SQL has {placeholders} parameter placeholder(s) (?) but {len(values)} value(s) "
            "were given; declare them in the file's header or pass --param"
        )
    connection = duckdb.connect()
    try:
        # only the tables the query names: each file is checked before it is read, and a year
        # of per-tile-date files took 30 s to check for a query of the site tables alone
        _views(connection, results, {t.name for t in parsed.find_all(exp.Table)})
        _lock(connection, results)
        unknown = _unknown_functions(duck_sql, connection)
        if unknown:
            raise QueryError(
                f"function {', '.join(unknown)} is not available locally (DuckDB has no "
                "equivalent); use plain columns (lon, lat, area_m2, bbox) instead"
            )
        try:
            cursor = connection.execute(duck_sql, values)
        except duckdb.CatalogException as e:
            table = re.search(r"Table with name (\w+) does not exist", str(e))
            if table:
                raise QueryError(
                    f"unknown table {table.group(1)}; the tables are {', '.join(TABLES)}"
                ) from e
            raise QueryError(str(e).splitlines()[0]) from e
        except duckdb.PermissionException as e:
            raise QueryError(
                f"{str(e).splitlines()[0]}; a query reads the results folder's tables only"
            ) from e
        except duckdb.Error as e:
            raise QueryError(str(e).splitlines()[0]) from e
        columns = [d[0] for d in cursor.description or []]
        return QueryResult(columns, cursor.fetchall())
    finally:
        connection.close()
