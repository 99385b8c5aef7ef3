"""``asm sites`` and ``asm alerts``: sites over time and what is news."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from asm_core.commands.options import day_option, results_option
from asm_core.monitoring.alert_listing import FORMATS, read_alerts, render, since
from asm_core.monitoring.context import ContextLayer, load_context, parse_context_option
from asm_core.monitoring.monitor import update_monitoring
from asm_core.report.cli_json import emit, json_option, say
from asm_core.report.report_text import (
    monitoring_text,
)
from asm_core.results.store import check_results_folder
from asm_core.rules import load_rules
from asm_core.sources.gdal_settings import read_options


@click.command(name="alerts")
@results_option
@day_option(
    "--since", "since_day", "Only alerts of looks acquired on or after this date (YYYY-MM-DD)."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def alerts_command(results: Path, since_day: datetime | None, fmt: str) -> None:
    """List a results folder's alerts with their reasons (table, GeoJSON or CSV)."""
    chosen = since(read_alerts(results), since_day.date() if since_day else None)
    click.echo(render(chosen, fmt))


@click.command()
@click.option(
    "--results", "results", required=True, type=click.Path(path_type=Path), help="Results folder."
)
@click.option(
    "--context",
    "contexts",
    multiple=True,
    help="NAME=PATH of a vector layer (any format and CRS): tenements, protected_areas, …",
)
@click.option(
    "--rebuild", is_flag=True, help="Track every tile again, not only tiles with new runs."
)
@json_option
def sites(results: Path, contexts: tuple[str, ...], rebuild: bool, as_json: bool) -> None:
    """Track sites over the dates in a results folder: writes sites/ and site_observations/."""
    check_results_folder(results, "detections")
    layers = [load_context(*parse_context_option(c)) for c in contexts]
    monitor_folder(results, layers or None, rebuild, as_json)


def monitor_folder(
    results: Path,
    layers: Sequence[ContextLayer] | None,
    rebuild: bool = False,
    as_json: bool = False,
) -> None:
    """Update the sites and alerts (without layers: with those the folder kept last time)."""
    done = update_monitoring(
        results, load_rules().tracking, layers, rebuild=rebuild, gdal_options=read_options()
    )
    say(monitoring_text(done), as_json)
    say(f"written: {results / 'sites'} and {results / 'site_observations'}", as_json)
    emit({"results": results, **done.summary()}, as_json)
