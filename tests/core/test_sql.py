"""asm query: Athena SQL over the local results, with bound parameters and one-line errors."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from asm_core.cli import main
from asm_core.errors import QueryError, ResultsError
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.sql import Parameter, bind, parse_query, run_query, to_duckdb
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


@pytest.fixture(scope="module")
def results(
    scene_factory: Callable[..., WrittenScene], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("sql-results")
    scene = scene_factory(seed=11, size=768, sites=3, clouds=1, baseline="05.10")
    run_item(load_item(str(scene.item_path)), load_rules(), out)
    return out


def test_a_missing_results_folder_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "SELECT 1", "--results", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_query_header_declares_kinds_defaults_and_help() -> None:
    query = parse_query(
        "-- Big sites.\n-- @param min_area (double) = 5000 : at least this big\n"
        "-- @param country = GHA\nSELECT 1 WHERE ? > 0 AND ? <> ''",
        Path("big.sql"),
    )
    assert query.title == "Big sites."
    assert query.parameters == [
        Parameter("min_area", "double", "5000", "at least this big"),
        Parameter("country", "varchar", "GHA", ""),
    ]
    assert bind(query, {}) == [5000.0, "GHA"]
    assert bind(query, {"country": "BFA"}) == [5000.0, "BFA"]
    with pytest.raises(QueryError, match="parameter min_area must be a double, not 'big'"):
        bind(query, {"min_area": "big"})
    none = parse_query("SELECT 1", Path("one.sql"))
    assert none.title == "one"
    with pytest.raises(QueryError, match=r"unknown parameter x for one.sql; it takes none$"):
        bind(none, {"x": "1"})
    for frozen in (none, Parameter("a", "varchar", "")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.path = Path("other.sql")  # type: ignore[misc, union-attr]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT * FROM detections WHERE (",
            r"^the SQL does not parse at line 1, column \d+ near '.*\(': ",
        ),
        ("SELECT 1; SELECT 2", r"^give one SQL statement, not 2$"),
        (";", r"^give one SQL statement, not 0$"),
        ("DELETE FROM detections", r"^only queries \(SELECT, WITH\) are run, not DELETE: "),
    ],
)
def test_sql_that_is_not_one_query_is_refused_in_one_line(sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as refused:
        to_duckdb(sql)
    assert "\n" not in str(refused.value)


def test_counts_by_class_in_every_format(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT class, count(*) AS n FROM detections GROUP BY class ORDER BY class"
    assert main(["query", sql, "--results", str(results), "--format", "json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json and all(set(r) == {"class", "n"} for r in as_json)
    assert main(["query", sql, "--results", str(results), "--format", "csv"]) == 0
    as_csv = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["class"], int(r["n"])) for r in as_csv] == [(r["class"], r["n"]) for r in as_json]
    assert main(["query", sql, "--results", str(results)]) == 0
    assert f"({len(as_json)} rows)" in capsys.readouterr().out


def test_parameters_are_bound_from_the_header(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.sql"
    query.write_text(
        "-- Detections at least this confident.\n"
        "-- @param min_confidence (double) = 0.99 : threshold\n"
        "SELECT count(*) AS n FROM detections WHERE confidence >= ?\n"
    )
    assert main(["query", "--file", str(query), "--results", str(results), "--format", "json"]) == 0
    strict = json.loads(capsys.readouterr().out)[0]["n"]
    args = ["query", "--file", str(query), "--results", str(results), "--format", "json"]
    assert main([*args, "--param", "min_confidence=0"]) == 0
    loose = json.loads(capsys.readouterr().out)[0]["n"]
    assert loose > strict
    injection = "0 OR 1=1"
    assert main([*args, "--param", f"min_confidence={injection}"]) == 2
    assert "min_confidence must be a double, not '0 OR 1=1'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM mines", "unknown table mines; the tables are detections, tile_runs"),
        ("SELECT ST_GeomFromBinary(geometry) FROM detections", "function st_geomfrombinary"),
        ("SELECT * FROM detections WHERE confidence > ?", "1 parameter placeholder(s)"),
        ("SELECT 1; SELECT 2", "give one SQL statement, not 2"),
        ("SELECT (1 FROM detections", "does not parse"),
        # results are read-only, and only their own files are read
        ("COPY (SELECT 1) TO 'detections/x.parquet'", "only queries (SELECT, WITH) are run"),
        ("INSTALL httpfs", "not INSTALL: results are read-only"),
        ("SELECT * FROM read_csv('/etc/passwd')", 'Cannot access file "/etc/passwd"'),
        ("SELECT * FROM read_text('/etc/hostname')", "a query reads the results folder's"),
    ],
)
def test_bad_queries_fail_in_one_line(
    results: Path, capsys: pytest.CaptureFixture[str], sql: str, message: str
) -> None:
    assert main(["query", sql, "--results", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_a_query_may_read_the_results_files_but_writes_nothing(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.relative_to(results) for p in results.rglob("*"))
    own = (results / "detections" / "**" / "*.parquet").as_posix()
    assert main(["query", f"SELECT count(*) AS n FROM read_parquet('{own}')",
                 "--results", str(results), "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)[0]["n"] > 0
    assert sorted(p.relative_to(results) for p in results.rglob("*")) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not a readable Parquet file"),
        (b"PAR1 but then garbage", "is not a readable Parquet file"),
        (None, "is not a detections file: it has no detection_id, item_id column"),
    ],
)
def test_a_stray_file_in_a_results_table_is_named_not_read_as_nulls(
    results: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    message: str,
) -> None:
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    stray = copy / "detections" / "dt=2024-01-01" / "utm_zone=30" / "stray.parquet"
    stray.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        pq.write_table(pa.table({"name": ["not ours"]}), stray)
    else:
        stray.write_bytes(content)
    assert main(["query", "SELECT count(*) FROM detections", "--results", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "stray.parquet" in err and "\n" not in err
    assert main(["sites", "--results", str(copy)]) == 2
    assert "stray.parquet" in capsys.readouterr().err


def test_a_query_checks_and_maps_only_the_tables_it_names(results: Path, tmp_path: Path) -> None:
    """A broken detections file does not stop a query of tile_runs (each file is checked before
    a query reads its table, which costs per file)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    broken = copy / "detections" / "dt=2024-01-01" / "utm_zone=30" / "broken.parquet"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not parquet")
    runs = run_query("SELECT count(*) FROM tile_runs", copy).rows
    assert runs == [(1,)]
    with pytest.raises(ResultsError, match=r"broken\.parquet"):
        run_query("SELECT count(*) FROM tile_runs t JOIN detections d USING (item_id)", copy)


def test_values_are_bound_never_spliced_into_the_sql(results: Path) -> None:
    """A value that would rewrite the query if it were pasted into the text reads as data."""
    sql = "SELECT count(*) FROM detections WHERE class = ?"
    every = run_query("SELECT count(*) FROM detections", results).rows[0][0]
    assert every > 0
    assert run_query(sql, results, ["mining_scar' OR '1'='1"]).rows == [(0,)]
    assert 0 < run_query(sql, results, ["mining_scar"]).rows[0][0] <= every


def test_more_values_than_placeholders_is_refused(results: Path) -> None:
    with pytest.raises(QueryError, match=r"has 0 parameter placeholder\(s\) \(\?\) but 1 value"):
        run_query("SELECT 1", results, [1])


def test_partition_columns_are_read_from_the_paths_with_their_types(
    results: Path, tmp_path: Path
) -> None:
    rows = run_query("SELECT DISTINCT dt, utm_zone FROM tile_runs", results).rows
    assert rows and all(isinstance(d, str) and isinstance(z, int) for d, z in rows)
    empty = tmp_path / "empty"
    (empty / "detections").mkdir(parents=True)
    answer = run_query("SELECT dt, utm_zone FROM detections", empty)
    assert (answer.columns, answer.rows) == (["dt", "utm_zone"], [])
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.rows = []  # type: ignore[misc]


def test_an_error_while_running_is_one_line(results: Path) -> None:
    with pytest.raises(QueryError) as failed:
        run_query("SELECT CAST(class AS INTEGER) FROM detections", results)
    assert str(failed.value).startswith("Conversion Error: Could not convert string")
    assert "\n" not in str(failed.value)
