"""``asm evaluate`` and ``asm evaluate-sites``: scores against labels."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asm_core.commands.options import finite, results_option, scores_as_json
from asm_core.evaluation.evaluate import Evaluation, evaluate
from asm_core.evaluation.state_evaluation import confusion_table, evaluate_states
from asm_core.report.report_text import (
    evaluation_table,
)
from asm_core.rules import load_rules


def _print_evaluation(result: Evaluation, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(evaluation_table(result))


@click.command(name="evaluate")
@click.option(
    "--truth",
    "truth",
    required=True,
    type=click.Path(path_type=Path),
    help="GeoJSON of labelled sites (polygons or points) and look-alikes.",
)
@results_option
@scores_as_json
@click.option(
    "--min-area-m2",
    type=click.FloatRange(min=0),
    default=None,
    help="Labelled sites smaller than this are out of scope (default: the rule set's "
    "minimum mapping unit).",
)
@click.option(
    "--point-tolerance-m",
    type=click.FloatRange(min=0),
    callback=lambda _c, _p, v: finite(v, "--point-tolerance-m"),
    default=100.0,
    show_default=True,
    help="How far a detection may lie from a labelled point.",
)
def evaluate_cmd(
    truth: Path, results: Path, as_json: bool, min_area_m2: float | None, point_tolerance_m: float
) -> None:
    """Score detections against labelled sites: precision, recall, F1, pixel IoU, confusion."""
    mmu = min_area_m2 if min_area_m2 is not None else load_rules().objects.min_mapping_unit_m2
    _print_evaluation(evaluate(truth, results, mmu, point_tolerance_m), as_json)


@click.command(name="evaluate-sites")
@click.option(
    "--truth",
    "truth",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder written by 'asm synth --dates N' (site_states.csv, truth_sites.geojson).",
)
@results_option
@scores_as_json
def evaluate_sites_cmd(truth: Path, results: Path, as_json: bool) -> None:
    """Score tracked site states against a synthetic series: accuracy and confusion matrix."""
    result = evaluate_states(truth, results)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else confusion_table(result))
