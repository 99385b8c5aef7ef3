"""The asm command line: help everywhere, one-line errors, non-zero exits, results kept."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from asm_core.cli import main
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.results.store import read_table, result_files
from asm_core.rules import DEFAULT_RULES_PATH
from tests.conftest import DemoRun, edit_item


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [[], ["demo"], ["synth"], ["detect"], ["evaluate"]])
def test_help_on_every_command(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and "Usage: asm" in out


def test_entry_point_is_installed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "asm_core.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "asm, version" in done.stdout


@pytest.fixture()
def results(small_scene: WrittenScene, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "results"
    code, stdout, _ = run(capsys, "detect", str(small_scene.item_path), "--out", str(out))
    assert code == 0 and "total" in stdout
    return out


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("asm: error:")]
    assert len(lines) == 1, err
    return lines[0]


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "missing.json"], "item file 'missing.json' does not exist"),
        (["detect", "{item}", "--rules", "{bad_rules}"], r"rules\.0\.all\.0\.index.*nvdi"),
        (["detect", "{item}", "--bbox", "1,2,3"], "not four numbers"),
        (["detect", "{item}", "--bbox", "5,5,5,6"], "is empty"),
        (["detect", "{item}", "--bbox", "100,10,101,11"], "does not overlap"),
        (["detect", "{not_json}"], "not valid JSON"),
    ],
)
def test_bad_input_is_one_line_and_keeps_earlier_results(
    capsys: pytest.CaptureFixture[str],
    results: Path,
    small_scene: WrittenScene,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    bad_rules = tmp_path / "bad.yaml"
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["rules"][0]["all"][0]["index"] = "nvdi"
    bad_rules.write_text(yaml.safe_dump(data))
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    values = {
        "item": str(small_scene.item_path),
        "bad_rules": str(bad_rules),
        "not_json": str(not_json),
    }
    before = _snapshot(results)
    code, _, err = run(capsys, *[a.format(**values) for a in args], "--out", str(results))
    assert code == 2
    assert re.search(message, _error_line(err))
    assert _snapshot(results) == before


def test_a_corrupt_item_is_recorded_and_the_others_finish(
    capsys: pytest.CaptureFixture[str], small_scene: WrittenScene, scene_factory, tmp_path: Path
) -> None:
    other = scene_factory(seed=12, size=256)
    item = json.loads(small_scene.item_path.read_text())
    red = (small_scene.item_path.parent / item["assets"]["red"]["href"]).resolve()
    broken = tmp_path / "B04.tif"
    broken.write_bytes(red.read_bytes()[:4000])
    bad = edit_item(
        small_scene.item_path,
        tmp_path / "bad",
        lambda d: d["assets"]["red"].update(href=str(broken)),
    )
    out = tmp_path / "out"
    code, _, err = run(capsys, "detect", str(bad), str(other.item_path), "--out", str(out))
    assert code == 1
    assert "1 of 2 items failed" in _error_line(err) and "B04.tif" in _error_line(err)
    statuses = {r["item_id"]: r["status"] for r in read_table(out, "tile_runs").to_pylist()}
    assert sorted(statuses.values()) == ["failed", "ok"]
    assert len(result_files(out, "detections")) == 1


def test_wrong_crs_metadata_fails_that_item(
    capsys: pytest.CaptureFixture[str], small_scene: WrittenScene, tmp_path: Path
) -> None:
    bad = edit_item(
        small_scene.item_path,
        tmp_path / "bad",
        lambda d: d["properties"].update({"proj:epsg": 4326}),
    )
    code, _, err = run(capsys, "detect", str(bad), "--out", str(tmp_path / "out"))
    assert code == 1 and "EPSG:32630 but the item says proj:epsg 4326" in _error_line(err)


def test_bbox_reads_only_a_window(
    capsys: pytest.CaptureFixture[str], small_scene: WrittenScene, results: Path, tmp_path: Path
) -> None:
    rows = read_table(results, "detections").to_pylist()
    site = max((r for r in rows if r["class"] == "mining_scar"), key=lambda r: r["area_m2"])
    box = site["bbox"]
    pad = 0.002
    bbox = f"{box['xmin'] - pad},{box['ymin'] - pad},{box['xmax'] + pad},{box['ymax'] + pad}"
    out = tmp_path / "window"
    code, _, _ = run(
        capsys, "detect", str(small_scene.item_path), "--out", str(out), "--bbox", bbox
    )
    assert code == 0
    (runrow,) = read_table(out, "tile_runs").to_pylist()
    (full,) = read_table(results, "tile_runs").to_pylist()
    assert runrow["bytes_read"] < full["bytes_read"] / 4
    inside = [r for r in read_table(out, "detections").to_pylist() if r["class"] == "mining_scar"]
    assert any(abs(r["area_m2"] - site["area_m2"]) < 1 for r in inside)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["report", "--out", "{dir}"], "'--out': File '{dir}' is a directory"),
        (["report", "--quicklooks", "{file}"], "'--quicklooks': Directory '{file}' is a file"),
        (["detect", "{item}", "--out", "{file}"], "'--out': Directory '{file}' is a file"),
        (["synth", "--out", "{file}"], "'--out': Directory '{file}' is a file"),
    ],
)
def test_outputs_of_the_wrong_kind_are_one_line_errors(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    small_scene: WrittenScene,
    command: list[str],
    message: str,
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("not a folder")
    names = {
        "dir": str(tmp_path / "dir"),
        "file": str(tmp_path / "file"),
        "item": str(small_scene.item_path),
    }
    args = [a.format(**names) for a in command]
    if args[0] == "report":
        args += ["--results", str(tmp_path)]
    code, _, err = run(capsys, *args)
    assert code == 2 and message.format(**names) in _error_line(err)
    assert (tmp_path / "file").read_text() == "not a folder"


def test_synth_refuses_bad_sizes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "synth", "--out", str(tmp_path), "--size", "50")
    assert code == 2 and "50" in _error_line(err)


def test_evaluate_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, results: Path) -> None:
    code, _, err = run(
        capsys, "evaluate", "--truth", str(tmp_path / "no.geojson"), "--results", str(results)
    )
    assert code == 2 and "does not exist" in _error_line(err)
    truth = tmp_path / "t.geojson"
    site = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Point", "coordinates": [1, 2]},
    }
    truth.write_text(json.dumps({"type": "FeatureCollection", "features": [site]}))
    (tmp_path / "empty").mkdir()
    code, _, err = run(
        capsys, "evaluate", "--truth", str(truth), "--results", str(tmp_path / "empty")
    )
    assert code == 2 and "holds no tile_runs" in _error_line(err)


def test_synth_detect_evaluate_round_trip_with_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "synth",
        "--out",
        str(tmp_path / "s"),
        "--seed",
        "31",
        "--size",
        "512",
        "--count",
        "2",
    )
    assert code == 0 and "truth:" in out
    items = sorted(str(p) for p in (tmp_path / "s").glob("*/*_L2A.json"))
    assert len(items) == 2
    code, _, _ = run(capsys, "detect", *items, "--out", str(tmp_path / "r"), "--quicklooks")
    assert code == 0
    assert len(list((tmp_path / "r" / "quicklooks").glob("*.png"))) == 2
    code, out, _ = run(
        capsys,
        "evaluate",
        "--truth",
        str(tmp_path / "s" / "truth.geojson"),
        "--results",
        str(tmp_path / "r"),
        "--json",
    )
    scores = json.loads(out)
    assert code == 0 and {"precision", "recall", "f1", "pixel_iou", "confusion"} <= set(scores)


def test_demo_runs_offline(demo_run: DemoRun) -> None:
    code, out = demo_run.code, demo_run.printed
    assert code == 0
    assert "where everything is" in out and "precision" in out and "mining_scar" in out
    assert len(list((demo_run.out / "quicklooks").glob("*.png"))) == 4
    assert result_files(demo_run.out / "results", "detections")
    # the two-year series: sites tracked in context, alerts with their reasons, states scored
    monitoring = demo_run.out / "monitoring"
    assert {p.name for p in (monitoring / "scenes" / "context").iterdir()} == {
        "tenements.gpkg",
        "protected_areas.geojson",
        "rivers.geojson",
        "settlements.geojson",
    }
    alerts = json.loads((monitoring / "results" / "alerts.geojson").read_text())
    kinds = {f["properties"]["kind"] for f in alerts["features"]}
    assert {"site_new", "site_expanding", "site_reactivated", "turbidity"} <= kinds
    assert any(f["properties"]["high_priority"] for f in alerts["features"])
    # every alert has a before/after chip that opens, small, of its own look
    for feature in alerts["features"]:
        p = feature["properties"]
        chip = monitoring / "results" / p["chip"]
        assert chip.stat().st_size <= 60_000 and p["chip_after"] == p["acquired"][:10]
        with Image.open(chip) as image:
            image.load()
            assert p["item_id"] in image.info["comment"].decode()
    assert alerts["summary"]["GHA"]["alerts"] == len(alerts["features"])
    assert "truth \\ tracked" in out and "cloud errors 0" in out
    assert "HIGH PRIORITY" in out and "possibly informal" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--bbox", "0,0,1,1", "--start", "2024-02-01", "--end", "2024-01-01"],
            "end date 2024-01-01 is before start date 2024-02-01",
        ),
        (["--start", "2024-01-01", "--end", "2024-01-31"], "exactly one of --aoi FILE or --bbox"),
        (["--bbox", "0,0,1", "--start", "2024-01-01", "--end", "2024-01-31"], "not four numbers"),
        (
            ["--aoi", "missing.geojson", "--start", "2024-01-01", "--end", "2024-01-31"],
            "does not exist",
        ),
        (["--bbox", "0,0,1,1", "--start", "January", "--end", "2024-01-31"], "January"),
        (["--bbox", "500,0,501,1", "--start", "2024-01-01", "--end", "2024-01-31"], "±180"),
        (
            [
                *[
                    "--bbox",
                    "0,0,1,1",
                    "--start",
                    "2024-01-01",
                    "--end",
                    "2024-01-31",
                    "--stac-url",
                    "ftp://x",
                ]
            ],
            "'ftp://x' is not an http(s) URL of a STAC API",
        ),
    ],
)
def test_scan_bad_input_before_any_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "scan", *args, "--out", str(tmp_path / "out"))
    assert code == 2 and message in _error_line(err)
    assert not (tmp_path / "out").exists()


def test_looks_without_scl_a_year_apart_give_a_baseline_and_say_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN two looks of one place a year apart without SCL (annual composites and most
    # published datasets come so)
    from asm_core.evaluation.synthetic.series import write_series
    from asm_core.evaluation.synthetic.site_stories import SeriesSpec
    from tests.conftest import edit_item

    series = write_series(SeriesSpec(seed=4141, dates=7, size=256, revisit_days=60), tmp_path / "s")
    first, last = series.item_paths[0], series.item_paths[-1]
    no_scl = [
        edit_item(p, tmp_path / f"i{k}", lambda d: d["assets"].pop("scl"))
        for k, p in enumerate((first, last))
    ]
    # WHEN they are detected together
    code, _, err = run(capsys, "detect", *map(str, no_scl), "--out", str(tmp_path / "r"))
    assert code == 0, err
    # THEN the later look got the earlier one as its baseline, and said so in one line
    runs = {r["item_id"]: r for r in read_table(tmp_path / "r", "tile_runs").to_pylist()}
    later = runs[json.loads(no_scl[1].read_text())["id"]]
    assert later["baseline_looks"] == [json.loads(no_scl[0].read_text())["id"]]
    assert "baseline: 1 of 1 looks a year before used" in err


def test_an_interrupted_scan_exits_130_as_the_readme_says(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asm_core.commands.scan as scan_cli
    from asm_core.jobs.scan_summary import ScanSummary
    from asm_core.planning.plan import Plan

    monkeypatch.setattr(scan_cli, "plan_scan", lambda *a, **k: Plan([], 0))

    def interrupted(*args: object, **kwargs: object) -> ScanSummary:
        return ScanSummary(
            planned=0, statuses={"ok": 0, "no_data": 0, "failed": 0}, detections=0, sites=0,
            failures=[], duplicates_replaced=0, interrupted=True,
        )  # fmt: skip

    monkeypatch.setattr(scan_cli, "run_scan", interrupted)
    code, _, _ = run(capsys, "scan", "--bbox", "0,0,1,1", "--start", "2024-01-01",
                     "--end", "2024-01-31", "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 130


def test_detect_and_sites_print_one_json_object_with_json(
    capsys: pytest.CaptureFixture[str], small_scene: WrittenScene, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    code, stdout, stderr = run(
        capsys, "detect", str(small_scene.item_path), "--out", str(out), "--json"
    )
    detected = json.loads(stdout)  # stdout is the JSON alone; the table went to stderr
    assert code == 0 and "total" in stderr
    (item,) = detected["items"]
    rows = read_table(out, "detections").num_rows
    assert item["status"] == "ok" and detected["detections"] == item["detections"] == rows > 0
    assert detected["failed"] == 0 and detected["results"] == str(out)
    code, stdout, stderr = run(capsys, "sites", "--results", str(out), "--json")
    tracked = json.loads(stdout)
    assert code == 0 and "sites:" in stderr
    sites = read_table(out, "sites")
    assert tracked["sites"] == sites.num_rows > 0
    assert sum(tracked["site_states"].values()) == sites.num_rows
    assert tracked["alerts"] == len(
        json.loads(Path(tracked["alerts_file"]).read_text())["features"]
    )
    # without the flag: the human summary on stdout, no JSON
    code, stdout, _ = run(capsys, "sites", "--results", str(out))
    assert code == 0 and stdout.startswith(f"{sites.num_rows} sites")
