"""The monitoring bars, on series whose seeds no other test uses: ≥ 90 % of site-dates in the
right state, no site called new or inactive because of clouds alone, and the same site ids
from two runs and from a run split into two halves (the second half an incremental update)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asm_core.cli import main
from asm_core.errors import StateEvaluationError
from asm_core.evaluation.state_evaluation import confusion_table, evaluate_states
from asm_core.evaluation.synthetic.series import write_series
from asm_core.evaluation.synthetic.site_stories import SeriesSpec
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.sites import build_site_tables
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item

SEEDS = (7301, 7302)


def _detect(paths: list[Path], results: Path) -> None:
    rules = load_rules()
    for path in paths:
        run = run_item(load_item(str(path)), rules, results)
        assert run.status == "ok", run.error


def _tables(results: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    return read_table(results, "sites").to_pylist(), read_table(
        results, "site_observations"
    ).to_pylist()


@pytest.mark.parametrize("seed", SEEDS)
def test_states_ids_and_clouds_meet_the_bars(seed: int, tmp_path: Path) -> None:
    written = write_series(SeriesSpec(seed=seed, dates=10, size=768), tmp_path / "scenes")
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    _detect(written.item_paths, whole)
    build_site_tables(whole, load_rules().tracking)

    result = evaluate_states(tmp_path / "scenes", whole)
    print(f"seed {seed}\n{confusion_table(result)}")
    assert result.accuracy >= 0.9
    assert result.cloud_errors == []
    assert result.false_sites <= 1 and result.split_sites == 0

    # a second run, in two halves: the second half updates the first incrementally
    _detect(written.item_paths[:5], halves)
    first = build_site_tables(halves, load_rules().tracking)
    _detect(written.item_paths[5:], halves)
    second = build_site_tables(halves, load_rules().tracking)
    assert first.tiles_tracked == 1 and second.tiles_tracked == 1
    assert _tables(halves) == _tables(whole)


def test_evaluate_sites_command_prints_the_confusion_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["synth", "--out", str(tmp_path / "s"), "--seed", "7303", "--dates", "4",
                 "--size", "384", "--sites", "2"]) == 0  # fmt: skip
    items = sorted((tmp_path / "s").glob("S2*/S2*.json"))
    assert main(["detect", *map(str, items), "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert main(["evaluate-sites", "--truth", str(tmp_path / "s"), "--results",
                 str(tmp_path / "r")]) == 2  # fmt: skip
    assert "run 'asm sites --results' first" in capsys.readouterr().err
    assert main(["sites", "--results", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert main(["evaluate-sites", "--truth", str(tmp_path / "s"), "--results",
                 str(tmp_path / "r")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("truth \\ tracked") and "site-dates" in out


def test_evaluate_sites_refuses_a_folder_without_a_series(tmp_path: Path) -> None:
    with pytest.raises(StateEvaluationError, match="written by 'asm synth --dates N'"):
        evaluate_states(tmp_path, tmp_path)
