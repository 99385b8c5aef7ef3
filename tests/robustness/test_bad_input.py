"""Bad input to every command, as a careless or hostile user would give it: each case must end
with a non-zero exit code and one line that names what was wrong, and no results folder may
change (its files are hashed before and after).

The files the cases use are made once per module in a workspace: a copy of a tracked results
folder, broken copies of it, and item, rule, truth, AOI, SQL and layer files of every wrong
kind. ``{ws}`` in a case's arguments is that workspace, ``{results}`` the results copy.
"""

# ruff: noqa: E501 - one case per line: the matrix reads as a table
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from asm_core.cli import main
from asm_core.evaluation.synthetic.scene import WrittenScene
from tests.conftest import edit_item

LONG_ID = "x" * 5000


def _item_edits() -> dict[str, Callable[[dict[str, Any]], None]]:
    def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
        def edit(item: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            target = item
            for key in parents:
                target = target[key]
            target[last] = value

        return edit

    def drop(key: str) -> Callable[[dict[str, Any]], None]:
        return lambda item: item.pop(key)

    return {
        "no_id": drop("id"),
        "long_id": put("id", LONG_ID),
        "path_id": put("id", "../../etc/passwd"),
        "numeric_id": put("id", 12345),
        "properties_list": put("properties", [1, 2]),
        "asset_string": put("assets.red", "B04.tif"),
        "href_number": put("assets.red.href", 42),
        "links_object": put("links", {"rel": "self"}),
        "link_string": put("links", ["self"]),
        "geometry_string": put("geometry", "POLYGON EMPTY"),
        "utm_zone_text": put("properties.mgrs:utm_zone", "abc"),
        "not_feature": put("type", "FeatureCollection"),
        "assets_list": put("assets", []),
    }


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _broken_results(good: Path, ws: Path) -> None:
    """Copies of the results folder with one bad file each in ``detections/``."""
    first = sorted((good / "detections").rglob("*.parquet"))[0]
    for name, damage in {
        "corrupt": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        "zero_byte": lambda p: p.write_bytes(b""),
        "foreign": lambda p: pq.write_table(pa.table({"x": [1, 2, 3]}), p),
    }.items():
        copy = ws / f"results_{name}"
        shutil.copytree(good, copy)
        damage(copy / first.relative_to(good))


@pytest.fixture(scope="module")
def workspace(
    tracked_results: Path,
    scene_factory: Callable[..., WrittenScene],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    ws = tmp_path_factory.mktemp("bad-input")
    shutil.copytree(tracked_results / "results", ws / "results")
    _broken_results(ws / "results", ws)
    (ws / "empty_dir").mkdir()
    _write(ws / "a_file.txt", "just text\n")
    scene = scene_factory(seed=3, size=512, sites=3, baseline="05.10")
    for name, edit in _item_edits().items():
        out = edit_item(scene.item_path, ws / "items" / name, edit)
        out.rename(ws / "items" / f"{name}.json")
        shutil.rmtree(ws / "items" / name)
    items = ws / "items"
    _write(items / "empty.json", "")
    _write(items / "not_json.json", "{'id': 1,")
    _write(items / "latin1.json", '{"id": "caf\xe9"}'.encode("latin-1"))
    _write(items / "array.json", "[1, 2, 3]")
    rules = ws / "rules"
    _write(rules / "syntax.yaml", "name: x\n  bad: [unclosed\n")
    _write(rules / "empty.yaml", "")
    _write(rules / "latin1.yaml", "name: caf\xe9\n".encode("latin-1"))
    _write(rules / "list.yaml", "- 1\n- 2\n")
    truth = ws / "truth"
    _write(truth / "empty.geojson", json.dumps({"type": "FeatureCollection", "features": []}))
    nan_point = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float("nan"), 5.0]},
        "properties": {"kind": "mining_site"},
    }
    _write(
        truth / "nan.geojson", json.dumps({"type": "FeatureCollection", "features": [nan_point]})
    )
    unlabelled = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-2.0, 5.0]},
        "properties": {},
    }
    labelled = {**unlabelled, "properties": {"kind": "mining_site"}}
    _write(
        truth / "kind_missing.geojson",
        json.dumps({"type": "FeatureCollection", "features": [labelled, unlabelled]}),
    )
    _write(
        truth / "good.geojson", json.dumps({"type": "FeatureCollection", "features": [labelled]})
    )
    _write(truth / "not_geojson.json", json.dumps({"sites": [1, 2]}))
    _write(truth / "latin1.geojson", '{"type": "caf\xe9"}'.encode("latin-1"))
    aoi = ws / "aoi"
    square = [[[500, 0], [501, 0], [501, 1], [500, 1], [500, 0]]]
    _write(aoi / "lon500.geojson", json.dumps({"type": "Polygon", "coordinates": square}))
    _write(aoi / "point.geojson", json.dumps({"type": "Point", "coordinates": [1, 2]}))
    _write(aoi / "not_json.geojson", "polygon please")
    _write(aoi / "empty.geojson", json.dumps({"type": "FeatureCollection", "features": []}))
    sql = ws / "sql"
    _write(sql / "latin1.sql", "SELECT 'caf\xe9'".encode("latin-1"))
    _write(sql / "copy.sql", "COPY detections TO '/tmp/asm-watch-leak.parquet'")
    layers = ws / "layers"
    _write(layers / "not_vector.geojson", "not a vector layer")
    return ws


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def folders_unchanged(workspace: Path) -> Iterator[None]:
    """Every results folder of the workspace hashes the same after the case as before."""
    folders = sorted(p for p in workspace.glob("results*") if p.is_dir())
    before = {p.name: _tree_hash(p) for p in folders}
    yield
    assert {p.name: _tree_hash(p) for p in folders} == before


#: (case id, arguments, a part of the expected one-line error)
# fmt: off
CLI_CASES: list[tuple[str, list[str], str]] = [
    # asm detect: items of every wrong shape
    ("detect-missing-file", ["detect", "{ws}/items/nope.json", "--out", "{ws}/o"], "nope.json"),
    ("detect-empty-file", ["detect", "{ws}/items/empty.json", "--out", "{ws}/o"], "empty.json"),
    ("detect-not-json", ["detect", "{ws}/items/not_json.json", "--out", "{ws}/o"], "not valid JSON"),
    ("detect-latin1", ["detect", "{ws}/items/latin1.json", "--out", "{ws}/o"], "is not UTF-8 text: byte 0xe9"),
    ("detect-array", ["detect", "{ws}/items/array.json", "--out", "{ws}/o"], "got list"),
    ("detect-no-id", ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o"], "has no 'id'"),
    ("detect-long-id", ["detect", "{ws}/items/long_id.json", "--out", "{ws}/o"], "1-200"),
    ("detect-path-id", ["detect", "{ws}/items/path_id.json", "--out", "{ws}/o"], "names files"),
    ("detect-numeric-id", ["detect", "{ws}/items/numeric_id.json", "--out", "{ws}/o"], "12345"),
    (
        "detect-properties-list",
        ["detect", "{ws}/items/properties_list.json", "--out", "{ws}/o"],
        "'properties' is",
    ),
    (
        "detect-asset-string",
        ["detect", "{ws}/items/asset_string.json", "--out", "{ws}/o"],
        "asset 'red'",
    ),
    (
        "detect-href-number",
        ["detect", "{ws}/items/href_number.json", "--out", "{ws}/o"],
        "string 'href'",
    ),
    (
        "detect-links-object",
        ["detect", "{ws}/items/links_object.json", "--out", "{ws}/o"],
        "'links' is",
    ),
    (
        "detect-link-string",
        ["detect", "{ws}/items/link_string.json", "--out", "{ws}/o"],
        "is not an object",
    ),
    (
        "detect-geometry-string",
        ["detect", "{ws}/items/geometry_string.json", "--out", "{ws}/o"],
        "'geometry' is",
    ),
    (
        "detect-utm-zone-text",
        ["detect", "{ws}/items/utm_zone_text.json", "--out", "{ws}/o"],
        "abc",
    ),
    (
        "detect-not-feature",
        ["detect", "{ws}/items/not_feature.json", "--out", "{ws}/o"],
        "not a STAC item",
    ),
    (
        "detect-assets-list",
        ["detect", "{ws}/items/assets_list.json", "--out", "{ws}/o"],
        "not a STAC item",
    ),
    ("detect-directory", ["detect", "{ws}/empty_dir", "--out", "{ws}/o"], "is a folder; expected a file"),
    ("detect-ftp-url", ["detect", "ftp://example.org/i.json", "--out", "{ws}/o"], "'ftp://example.org/i.json' is not an http(s) URL"),
    ("detect-file-url", ["detect", "file:///etc/passwd", "--out", "{ws}/o"], "'file:///etc/passwd' is not an http(s) URL"),
    ("detect-out-is-file", ["detect", "{ws}/items/empty.json", "--out", "{ws}/a_file.txt"], "a_file.txt' is a file"),
    ("detect-bbox-three", ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--bbox", "1,2,3"], "1,2,3"),
    ("detect-bbox-words", ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--bbox", "a,b,c,d"], "a,b,c,d"),
    ("detect-bbox-empty", ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--bbox", "1,1,1,2"], "empty"),
    ("detect-bbox-lat-95", ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--bbox", "0,95,1,96"], "±90"),
    ("detect-bbox-nan", ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--bbox", "nan,0,1,1"], "range"),
    ("detect-no-items", ["detect", "--out", "{ws}/o"], "ITEMS"),
    # rule sets
    ("rules-missing", ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--rules", "{ws}/r.yaml"], "r.yaml"),
    (
        "rules-syntax",
        ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--rules", "{ws}/rules/syntax.yaml"],
        "syntax.yaml",
    ),
    (
        "rules-empty",
        ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--rules", "{ws}/rules/empty.yaml"],
        "empty.yaml",
    ),
    (
        "rules-latin1",
        ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--rules", "{ws}/rules/latin1.yaml"],
        "is not UTF-8 text: byte 0xe9",
    ),
    (
        "rules-list",
        ["detect", "{ws}/items/no_id.json", "--out", "{ws}/o", "--rules", "{ws}/rules/list.yaml"],
        "list.yaml",
    ),
    # asm sites
    ("sites-missing", ["sites", "--results", "{ws}/nope"], "nope' does not exist"),
    ("sites-empty-dir", ["sites", "--results", "{ws}/empty_dir"], "empty_dir"),
    ("sites-a-file", ["sites", "--results", "{ws}/a_file.txt"], "a_file.txt' is a file"),
    ("sites-context-no-eq", ["sites", "--results", "{results}", "--context", "x"], "NAME=PATH"),
    (
        "sites-context-missing",
        ["sites", "--results", "{results}", "--context", "tenements={ws}/no.gpkg"],
        "no.gpkg",
    ),
    (
        "sites-context-not-vector",
        [
            "sites",
            "--results",
            "{results}",
            "--context",
            "tenements={ws}/layers/not_vector.geojson",
        ],
        "not_vector.geojson",
    ),
    (
        "sites-context-no-name",
        ["sites", "--results", "{results}", "--context", "={ws}/layers/not_vector.geojson"],
        "context name ''",
    ),
    (
        "sites-context-bad-name",
        ["sites", "--results", "{results}", "--context", "te ne!=x.geojson"],
        "te ne!",
    ),
    ("sites-corrupt-parquet", ["sites", "--results", "{ws}/results_corrupt"], ".parquet"),
    ("sites-zero-byte-parquet", ["sites", "--results", "{ws}/results_zero_byte"], ".parquet"),
    ("sites-foreign-parquet", ["sites", "--results", "{ws}/results_foreign"], ".parquet"),
    # asm report
    ("report-missing", ["report", "--results", "{ws}/nope"], "nope' does not exist"),
    ("report-empty-dir", ["report", "--results", "{ws}/empty_dir"], "empty_dir"),
    ("report-out-dir", ["report", "--results", "{results}", "--out", "{ws}/empty_dir"], "empty_dir' is a directory"),
    (
        "report-out-nowhere",
        ["report", "--results", "{results}", "--out", "{ws}/a_file.txt/r.html"],
        "a file stands where a folder is needed",
    ),
    (
        "report-quicklooks-file",
        ["report", "--results", "{results}", "--quicklooks", "{ws}/a_file.txt"],
        "a_file.txt",
    ),
    ("report-corrupt", ["report", "--results", "{ws}/results_corrupt"], ".parquet"),
    ("report-foreign", ["report", "--results", "{ws}/results_foreign"], ".parquet"),
    # asm query: read-only, SELECT only, no file or network outside the results
    ("query-drop", ["query", "DROP TABLE detections", "--results", "{results}"], "SELECT"),
    ("query-delete", ["query", "DELETE FROM detections", "--results", "{results}"], "SELECT"),
    ("query-copy", ["query", "--file", "{ws}/sql/copy.sql", "--results", "{results}"], "SELECT"),
    ("query-install", ["query", "INSTALL httpfs", "--results", "{results}"], "SELECT"),
    (
        "query-read-csv",
        ["query", "SELECT * FROM read_csv('/etc/passwd')", "--results", "{results}"],
        "the results folder's tables only",
    ),
    (
        "query-read-parquet-outside",
        ["query", "SELECT * FROM read_parquet('/etc/*.parquet')", "--results", "{results}"],
        "the results folder's tables only",
    ),
    ("query-attach", ["query", "ATTACH '/tmp/x.db'", "--results", "{results}"], "ATTACH"),
    (
        "query-set",
        ["query", "SET enable_external_access = true", "--results", "{results}"],
        "SELECT",
    ),
    ("query-pragma", ["query", "PRAGMA database_list", "--results", "{results}"], "SELECT"),
    ("query-create", ["query", "CREATE TABLE t AS SELECT 1", "--results", "{results}"], "SELECT"),
    ("query-two", ["query", "SELECT 1; SELECT 2", "--results", "{results}"], "one"),
    ("query-syntax", ["query", "SELEC 1", "--results", "{results}"], "SELEC"),
    ("query-no-table", ["query", "SELECT * FROM nowhere", "--results", "{results}"], "nowhere"),
    (
        "query-param-no-eq",
        ["query", "SELECT 1", "--param", "x", "--results", "{results}"],
        "name=value",
    ),
    (
        "query-param-undeclared",
        ["query", "SELECT 1", "--param", "x=1", "--results", "{results}"],
        "x",
    ),
    ("query-file-missing", ["query", "--file", "{ws}/no.sql", "--results", "{results}"], "no.sql"),
    (
        "query-file-latin1",
        ["query", "--file", "{ws}/sql/latin1.sql", "--results", "{results}"],
        "is not UTF-8 text: byte 0xe9",
    ),
    ("query-nothing", ["query", "--results", "{results}"], "SQL"),
    ("query-format", ["query", "SELECT 1", "--format", "xml", "--results", "{results}"], "xml"),
    ("query-missing-results", ["query", "SELECT 1", "--results", "{ws}/nope"], "nope"),
    # asm evaluate
    ("evaluate-truth-missing", ["evaluate", "--truth", "{ws}/t.geojson", "--results", "{results}"],
     "t.geojson"),
    (
        "evaluate-truth-empty",
        ["evaluate", "--truth", "{ws}/truth/empty.geojson", "--results", "{results}"],
        "empty.geojson",
    ),
    (
        "evaluate-truth-nan",
        ["evaluate", "--truth", "{ws}/truth/nan.geojson", "--results", "{results}"],
        "nan.geojson",
    ),
    (
        "evaluate-truth-kind-missing",
        ["evaluate", "--truth", "{ws}/truth/kind_missing.geojson", "--results", "{results}"],
        "kind",
    ),
    (
        "evaluate-truth-not-geojson",
        ["evaluate", "--truth", "{ws}/truth/not_geojson.json", "--results", "{results}"],
        "not_geojson.json",
    ),
    (
        "evaluate-truth-latin1",
        ["evaluate", "--truth", "{ws}/truth/latin1.geojson", "--results", "{results}"],
        "is not UTF-8 text: byte 0xe9",
    ),
    (
        "evaluate-tolerance-nan",
        ["evaluate", "--truth", "{ws}/truth/kind_missing.geojson", "--results", "{results}",
         "--point-tolerance-m", "nan"],
        "nan",
    ),
    (
        "evaluate-tolerance-negative",
        ["evaluate", "--truth", "{ws}/truth/kind_missing.geojson", "--results", "{results}",
         "--point-tolerance-m", "-5"],
        "-5",
    ),
    (
        "evaluate-min-area-negative",
        ["evaluate", "--truth", "{ws}/truth/kind_missing.geojson", "--results", "{results}",
         "--min-area-m2", "-1"],
        "-1",
    ),
    (
        "evaluate-results-empty",
        ["evaluate", "--truth", "{ws}/truth/good.geojson", "--results", "{ws}/empty_dir"],
        "empty_dir",
    ),
    # asm evaluate-sites
    (
        "evaluate-sites-no-truth",
        ["evaluate-sites", "--truth", "{ws}/empty_dir", "--results", "{results}"],
        "empty_dir",
    ),
    (
        "evaluate-sites-truth-file",
        ["evaluate-sites", "--truth", "{ws}/a_file.txt", "--results", "{results}"],
        "a_file.txt",
    ),
    # asm alerts
    ("alerts-bad-date", ["alerts", "--results", "{results}", "--since", "2024-13-01"], "2024-13"),
    ("alerts-format", ["alerts", "--results", "{results}", "--format", "pdf"], "pdf"),
    ("alerts-missing", ["alerts", "--results", "{ws}/nope"], "nope"),
    ("alerts-empty-dir", ["alerts", "--results", "{ws}/empty_dir"], "empty_dir"),
    # asm synth
    ("synth-size-small", ["synth", "--out", "{ws}/s", "--size", "10"], "10"),
    ("synth-count-zero", ["synth", "--out", "{ws}/s", "--count", "0"], "0"),
    ("synth-seed-negative", ["synth", "--out", "{ws}/s", "--seed", "-1"], "-1"),
    ("synth-out-file", ["synth", "--out", "{ws}/a_file.txt"], "a_file.txt"),
    ("synth-dates-many", ["synth", "--out", "{ws}/s", "--dates", "1000"], "1000"),
    ("synth-landscape", ["synth", "--out", "{ws}/s", "--landscape", "moon"], "moon"),
    # asm scan: refused before any catalogue is asked (the tests have no network)
    ("scan-bbox-lon-500", ["scan", "--bbox", "500,0,501,1", "--start", "2024-01-01",
                           "--end", "2024-02-01", "--out", "{ws}/sc", "--dry-run"], "±180"),
    ("scan-aoi-missing", ["scan", "--aoi", "{ws}/nope.geojson", "--start", "2024-01-01",
                          "--end", "2024-02-01", "--out", "{ws}/sc", "--dry-run"], "nope.geojson"),
    ("scan-aoi-not-json", ["scan", "--aoi", "{ws}/aoi/not_json.geojson", "--start", "2024-01-01",
                           "--end", "2024-02-01", "--out", "{ws}/sc", "--dry-run"], "not_json"),
    ("scan-aoi-point", ["scan", "--aoi", "{ws}/aoi/point.geojson", "--start", "2024-01-01",
                        "--end", "2024-02-01", "--out", "{ws}/sc", "--dry-run"], "point.geojson"),
    ("scan-aoi-lon-500", ["scan", "--aoi", "{ws}/aoi/lon500.geojson", "--start", "2024-01-01",
                          "--end", "2024-02-01", "--out", "{ws}/sc", "--dry-run"], "lon500"),
    ("scan-aoi-empty", ["scan", "--aoi", "{ws}/aoi/empty.geojson", "--start", "2024-01-01",
                        "--end", "2024-02-01", "--out", "{ws}/sc", "--dry-run"], "empty.geojson"),
    ("scan-dates-reversed", ["scan", "--bbox", "0,0,1,1", "--start", "2024-03-01",
                             "--end", "2024-02-01", "--out", "{ws}/sc", "--dry-run"], "before"),
    ("scan-date-feb-30", ["scan", "--bbox", "0,0,1,1", "--start", "2024-02-30",
                          "--end", "2024-03-01", "--out", "{ws}/sc", "--dry-run"], "2024-02-30"),
    ("scan-stac-ftp", ["scan", "--bbox", "0,0,1,1", "--start", "2024-01-01", "--end",
                       "2024-02-01", "--out", "{ws}/sc", "--stac-url", "ftp://x/", "--dry-run"],
     "ftp://x/"),
    ("scan-stac-words", ["scan", "--bbox", "0,0,1,1", "--start", "2024-01-01", "--end",
                         "2024-02-01", "--out", "{ws}/sc", "--stac-url", "catalogue",
                         "--dry-run"], "catalogue"),
    ("scan-no-area", ["scan", "--start", "2024-01-01", "--end", "2024-02-01",
                      "--out", "{ws}/sc", "--dry-run"], "--bbox"),
    ("scan-two-areas", ["scan", "--bbox", "0,0,1,1", "--aoi", "{ws}/aoi/point.geojson",
                        "--start", "2024-01-01", "--end", "2024-02-01", "--out", "{ws}/sc",
                        "--dry-run"], "--bbox"),
    ("scan-cloud-150", ["scan", "--bbox", "0,0,1,1", "--start", "2024-01-01", "--end",
                        "2024-02-01", "--out", "{ws}/sc", "--max-cloud", "150", "--dry-run"],
     "150"),
    ("scan-workers-0", ["scan", "--bbox", "0,0,1,1", "--start", "2024-01-01", "--end",
                        "2024-02-01", "--out", "{ws}/sc", "--workers", "0", "--dry-run"], "0"),
    ("scan-out-file", ["scan", "--bbox", "0,0,1,1", "--start", "2024-01-01", "--end",
                       "2024-02-01", "--out", "{ws}/a_file.txt", "--dry-run"], "a_file.txt"),
    ("scan-context-bad", ["scan", "--bbox", "0,0,1,1", "--start", "2024-01-01", "--end",
                          "2024-02-01", "--out", "{ws}/sc", "--context", "x", "--dry-run"],
     "NAME=PATH"),
    ("scan-rules-syntax", ["scan", "--bbox", "0,0,1,1", "--start", "2024-01-01", "--end",
                           "2024-02-01", "--out", "{ws}/sc", "--rules",
                           "{ws}/rules/syntax.yaml", "--dry-run"], "syntax.yaml"),
    # asm serve: refused before it listens
    ("serve-port", ["serve", "--port", "70000"], "70000"),
    ("serve-workers", ["serve", "--workers", "0"], "0"),
    # no such command or option
    ("unknown-command", ["detekt"], "detekt"),
    ("unknown-option", ["detect", "--outt", "x"], "--outt"),
]
# fmt: on


@pytest.mark.parametrize(
    ("args", "message"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_bad_input_gets_one_line_and_changes_no_results(
    workspace: Path,
    folders_unchanged: None,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    filled = [
        a.replace("{ws}", str(workspace)).replace("{results}", str(workspace / "results"))
        for a in args
    ]
    code = main(filled)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code != 0, f"exit 0 on bad input; printed: {out[-300:]}"
    assert len(lines) == 1 and lines[0].startswith("asm: error: "), err
    assert message.replace("{ws}", str(workspace)) in lines[0], lines[0]
    assert "Traceback" not in out + err


def test_the_matrix_is_as_large_as_promised() -> None:
    assert len(CLI_CASES) >= 100
    assert len({c[0] for c in CLI_CASES}) == len(CLI_CASES)
