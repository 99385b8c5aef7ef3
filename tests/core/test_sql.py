"""asm query: Athena SQL over the local results, with bound parameters and one-line errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from asm_core.cli import main
from asm_core.errors import ResultsError
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.sql import run_query
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


def test_a_missing_results_folder_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "SELECT 1", "--results", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


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
