"""``asm demo``: the whole pipeline on the bundled synthetic set, offline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from asm_core.commands.detect import detect_items
from asm_core.commands.monitoring import monitor_folder
from asm_core.evaluation.evaluate import evaluate
from asm_core.evaluation.state_evaluation import confusion_table, evaluate_states
from asm_core.evaluation.synthetic import generate_set
from asm_core.evaluation.synthetic.series import write_series
from asm_core.evaluation.synthetic.site_stories import SeriesSpec
from asm_core.jobs.tile_job import TileRun
from asm_core.monitoring.context import load_context
from asm_core.report.report_html import write_report
from asm_core.report.report_text import (
    detect_table,
    evaluation_table,
)
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item

DEMO_SEEDS = (101, 102, 103, 104)
#: Two years of looks every 60 days at one more tile, with every site story, seasons (pits
#: flooded in the rains), clouds and context layers; seed 29 raises every kind of alert.
DEMO_SERIES = SeriesSpec(seed=29, dates=12, size=768, revisit_days=60)


@click.command()
@click.option(
    "--out",
    "out",
    default=Path("asm-demo"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--size", default=1024, show_default=True, type=click.IntRange(256, 4096))
def demo(out: Path, size: int) -> None:
    """Run the whole pipeline on the bundled synthetic scene set (no network, no AWS)."""
    started = time.perf_counter()
    scenes_dir, results = out / "scenes", out / "results"
    click.echo(
        f"1/5 building {len(DEMO_SEEDS)} synthetic scenes ({size}² px) in {scenes_dir}", err=True
    )
    scenes = generate_set(scenes_dir, list(DEMO_SEEDS), size)
    click.echo("2/5 detecting ASM", err=True)
    rules = load_rules()
    items = [load_item(str(s.item_path)) for s in scenes]
    runs = detect_items(items, rules, results, out / "quicklooks")
    click.echo(detect_table(runs, time.perf_counter() - started))
    click.echo("3/5 scoring against the planted truth", err=True)
    result = evaluate(scenes_dir / "truth.geojson", results, rules.objects.min_mapping_unit_m2)
    click.echo(evaluation_table(result))
    monitoring = out / "monitoring"
    click.echo(
        f"4/5 building two years of looks at one tile ({DEMO_SERIES.dates} dates) with context "
        f"layers in {monitoring / 'scenes'}",
        err=True,
    )
    series = write_series(DEMO_SERIES, monitoring / "scenes")
    series_items = [load_item(str(p)) for p in series.item_paths]
    detect_items(series_items, rules, monitoring / "results", monitoring / "quicklooks")
    click.echo("5/5 tracking sites over time, in context, and alerting", err=True)
    layers = [load_context(name, path) for name, path in series.context.items()]
    monitor_folder(monitoring / "results", layers)
    click.echo(confusion_table(evaluate_states(monitoring / "scenes", monitoring / "results")))
    for folder in (out, monitoring):
        done = write_report(folder / "results", folder / "report.html", folder / "quicklooks")
        click.echo(f"report: {done.path}")
    _where(out, runs)


def _where(out: Path, runs: list[TileRun]) -> None:
    lines: list[tuple[str, Any]] = [
        ("scenes (COGs + STAC items)", out / "scenes"),
        ("truth", out / "scenes" / "truth.geojson"),
        ("detections (GeoParquet)", out / "results" / "detections"),
        ("tile runs", out / "results" / "tile_runs"),
        (f"quicklooks ({sum(1 for r in runs if r.quicklook)} PNGs)", out / "quicklooks"),
        ("series of one tile", out / "monitoring" / "scenes"),
        ("context layers", out / "monitoring" / "scenes" / "context"),
        ("sites, observations", out / "monitoring" / "results"),
        ("alerts", out / "monitoring" / "results" / "alerts.geojson"),
    ]
    click.echo("\nwhere everything is:")
    for label, path in lines:
        click.echo(f"  {label:<28} {path}")
    click.echo(f"next: asm evaluate --truth {out}/scenes/truth.geojson --results {out}/results")
    sql = "SELECT state, count(*) AS sites FROM sites GROUP BY 1"
    click.echo(f"      asm query '{sql}' --results {out}/monitoring/results")
