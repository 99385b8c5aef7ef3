"""The ``asm`` command line: the same pipeline as the cloud, on one machine."""

from __future__ import annotations

import errno
import importlib.metadata
import json
import math
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from shapely.geometry import MultiPolygon, Polygon

from asm_core import __version__
from asm_core.detection.objects.known_sites import known_site_footprints
from asm_core.errors import AsmError, QueryError
from asm_core.evaluation.evaluate import Evaluation, evaluate
from asm_core.evaluation.state_evaluation import confusion_table, evaluate_states
from asm_core.evaluation.synthetic import SceneSpec, generate_set, write_scene
from asm_core.evaluation.synthetic.landscapes import LANDSCAPES
from asm_core.evaluation.synthetic.scene import BASELINES, MAX_SIZE, MIN_SIZE
from asm_core.evaluation.synthetic.series import MAX_DATES, SeriesSpec, write_series
from asm_core.jobs.tile_job import TileRun, run_item
from asm_core.monitoring.alert_listing import FORMATS, read_alerts, render, since
from asm_core.monitoring.context import ContextLayer, load_context, parse_context_option
from asm_core.monitoring.monitor import update_monitoring
from asm_core.planning.baseline_looks import baseline_looks
from asm_core.report.cli_json import emit, json_option, say
from asm_core.report.report_html import write_report
from asm_core.report.report_text import (
    detect_table,
    evaluation_table,
    format_result,
    monitoring_text,
)
from asm_core.results.export import (
    EXPORT_FORMATS,
    EXPORT_TABLES,
    export_format,
    read_results,
    write_export,
)
from asm_core.results.results_stac import write_results_collection
from asm_core.results.schema import RunStatus
from asm_core.results.sql import bind, parse_query, read_query_file, run_query
from asm_core.results.store import check_results_folder
from asm_core.rules import RuleSet, load_rules
from asm_core.scan_cli import scan
from asm_core.sources.aoi import bbox_geometry, check_overlap, parse_bbox, window_bounds
from asm_core.sources.gdal_settings import read_options
from asm_core.sources.stac import SceneItem, load_item

DEMO_SEEDS = (101, 102, 103, 104)
#: Two years of looks every 60 days at one more tile, with every site story, seasons (pits
#: flooded in the rains), clouds and context layers; seed 29 raises every kind of alert.
DEMO_SERIES = SeriesSpec(seed=29, dates=12, size=768, revisit_days=60)


#: Commands other installed packages add to ``asm`` (entry points of this group): ``asm serve``
#: comes from the Lambda handlers' package, which the core never imports.
PLUGIN_GROUP = "asm_watch.commands"


class _CommandsWithPlugins(click.Group):
    """The core's commands and those of the ``asm_watch.commands`` entry points, each plugin
    imported only when it is run or listed."""

    def _plugins(self) -> dict[str, importlib.metadata.EntryPoint]:
        return {ep.name: ep for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        plugin = self._plugins().get(cmd_name)
        if found is not None or plugin is None:
            return found
        command = plugin.load()
        return command if isinstance(command, click.Command) else None


@click.group(cls=_CommandsWithPlugins, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asm")
def cli() -> None:
    """ASM Watch: find artisanal and small-scale mining in Sentinel-2 L2A imagery."""


cli.add_command(scan)


def baseline_line(run: TileRun, given: int) -> str:
    """One line on the baseline looks an item got: how many were read, and why any were not."""
    line = f"baseline: {len(run.baseline_looks)} of {given} looks a year before used"
    return line + (f"; skipped {'; '.join(run.baseline_skipped)}" if run.baseline_skipped else "")


def _detect_items(
    items: Sequence[SceneItem],
    rules: RuleSet,
    out: Path,
    quicklooks: Path | None,
    aoi: Polygon | MultiPolygon | None = None,
) -> list[TileRun]:
    runs = []
    for item in items:
        window = window_bounds(aoi, item.geometry) if aoi is not None else None
        # the same-season baseline comes from the other items given (a year's looks before)
        looks = baseline_looks(item, items, rules.tracking.baseline_days)
        run = run_item(
            item,
            rules,
            out,
            read_options(),
            quicklook_dir=quicklooks,
            aoi=window,
            baseline=looks,
            # sites the results folder already tracks on this tile (hysteresis)
            known_sites=known_site_footprints(out, item.mgrs_tile),
        )
        line = f"  {run.item_id}: {run.status}, {run.detections} detections, {run.seconds:.1f} s"
        click.echo(line + (f" ({run.error})" if run.error else ""), err=True)
        if looks:
            click.echo(f"    {baseline_line(run, len(looks))}", err=True)
        runs.append(run)
    write_results_collection(out)  # the STAC catalogue of the folder, with these items
    return runs


@cli.command()
@click.argument("items", nargs=-1, required=True)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder (detections/ and tile_runs/ are written under it).",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Rule set YAML (default: the shipped default.yaml).",
)
@click.option(
    "--bbox",
    default=None,
    help="Only this area: W,S,E,N in degrees (the rest of each item is not read).",
)
@click.option(
    "--quicklooks/--no-quicklooks",
    default=False,
    help="Also write a true-colour PNG per scene with detections outlined.",
)
@json_option
def detect(
    items: tuple[str, ...],
    out: Path,
    rules_file: Path | None,
    bbox: str | None,
    quicklooks: bool,
    as_json: bool,
) -> None:
    """Detect ASM in Sentinel-2 L2A STAC ITEMS (JSON files or https URLs).

    Every item ends as a tile_runs row; one that fails is recorded and the others still run.
    Exit code 1 if any item failed.
    """
    rules = load_rules(rules_file)
    box = parse_bbox(bbox) if bbox is not None else None
    scenes = [load_item(i) for i in items]  # all items checked before anything is written
    if box is not None:
        for scene in scenes:
            check_overlap(box, scene)
    started = time.perf_counter()
    aoi = bbox_geometry(box) if box is not None else None
    runs = _detect_items(scenes, rules, out, out / "quicklooks" if quicklooks else None, aoi)
    seconds = time.perf_counter() - started
    say(detect_table(runs, seconds), as_json)
    say(f"results: {out / 'detections'} and {out / 'tile_runs'}", as_json)
    failed = [r for r in runs if r.status == RunStatus.FAILED]
    summary = {
        "results": out,
        "items": runs,
        "detections": sum(r.detections for r in runs),
        "failed": len(failed),
        "seconds": round(seconds, 3),
    }
    emit(summary, as_json)
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(runs)} items failed: "
            + "; ".join(f"{r.item_id}: {r.error}" for r in failed)
        )


@cli.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--size",
    default=1024,
    show_default=True,
    type=click.IntRange(MIN_SIZE, MAX_SIZE),
    help="Scene side in 10 m pixels.",
)
@click.option(
    "--count",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Number of scenes (seeds seed, seed+1, ...).",
)
@click.option("--lookalikes-only", is_flag=True, help="Plant look-alikes but no mining site.")
@click.option(
    "--landscape",
    type=click.Choice(LANDSCAPES),
    default="forest",
    show_default=True,
    help="West African forest, Amazon alluvial gold (pale tailings, pit ponds), dry-season "
    "savanna, or dry-season farmland (a mosaic of adjacent fields).",
)
@click.option(
    "--baseline",
    type=click.Choice(BASELINES),
    default=None,
    help="Processing baseline (default: varies with the seed).",
)
@click.option(
    "--epsg",
    type=click.Choice(["32630", "4326"]),
    default="32630",
    show_default=True,
    help="CRS of the written COGs.",
)
@click.option(
    "--dates",
    default=1,
    show_default=True,
    type=click.IntRange(1, MAX_DATES),
    help="Looks at one tile over time (sites that appear, grow, shrink, revegetate, pause; "
    "seasons; clouds hiding sites), with the truth state of every site on every date.",
)
@click.option(
    "--revisit-days",
    default=36,
    show_default=True,
    type=click.IntRange(min=1),
    help="Days between looks (with --dates).",
)
@click.option(
    "--sites", default=6, show_default=True, type=click.IntRange(1, 40), help="With --dates."
)
def synth(
    out: Path,
    seed: int,
    size: int,
    count: int,
    lookalikes_only: bool,
    landscape: str,
    baseline: str | None,
    epsg: str,
    dates: int,
    revisit_days: int,
    sites: int,
) -> None:
    """Write synthetic Sentinel-2 L2A scenes: COGs, STAC items and truth GeoJSON."""
    if dates > 1:
        series = write_series(
            SeriesSpec(seed=seed, dates=dates, size=size, sites=sites, revisit_days=revisit_days),
            out,
        )
        for path in series.item_paths:
            click.echo(str(path))
        stories = ", ".join(
            f"{f['properties']['site']} {f['properties']['story']}" for f in series.sites
        )
        click.echo(f"sites: {stories}")
        click.echo(f"truth: {out / 'site_states.csv'} and {out / 'truth_sites.geojson'}")
        return
    if baseline is None and epsg == "32630":
        scenes = generate_set(
            out, list(range(seed, seed + count)), size, lookalikes_only, landscape
        )
    else:
        scenes = [
            write_scene(
                SceneSpec(
                    seed=s,
                    size=size,
                    lookalikes_only=lookalikes_only,
                    landscape=landscape,
                    baseline=baseline,
                    epsg=int(epsg),
                ),
                out,
            )
            for s in range(seed, seed + count)
        ]
        truth = [f for s in scenes for f in s.truth]
        (out / "truth.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": truth}), encoding="utf-8"
        )
    for s in scenes:
        sites = sum(1 for f in s.truth if f["properties"]["kind"] == "mining_site")
        click.echo(f"{s.item_path}  ({sites} mining sites, {len(s.truth) - sites} look-alikes)")
    click.echo(f"truth: {out / 'truth.geojson'}")


_results_option = click.option(
    "--results", "results", required=True, type=click.Path(path_type=Path)
)
_scores_as_json = click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")


def _print_evaluation(result: Evaluation, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(evaluation_table(result))


@cli.command(name="evaluate")
@click.option(
    "--truth",
    "truth",
    required=True,
    type=click.Path(path_type=Path),
    help="GeoJSON of labelled sites (polygons or points) and look-alikes.",
)
@_results_option
@_scores_as_json
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
    callback=lambda _c, _p, v: _finite(v, "--point-tolerance-m"),
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


@cli.command(name="evaluate-sites")
@click.option(
    "--truth",
    "truth",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder written by 'asm synth --dates N' (site_states.csv, truth_sites.geojson).",
)
@_results_option
@_scores_as_json
def evaluate_sites_cmd(truth: Path, results: Path, as_json: bool) -> None:
    """Score tracked site states against a synthetic series: accuracy and confusion matrix."""
    result = evaluate_states(truth, results)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else confusion_table(result))


@cli.command(name="alerts")
@_results_option
@click.option(
    "--since",
    "since_day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only alerts of looks acquired on or after this date (YYYY-MM-DD).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def alerts_command(results: Path, since_day: datetime | None, fmt: str) -> None:
    """List a results folder's alerts with their reasons (table, GeoJSON or CSV)."""
    chosen = since(read_alerts(results), since_day.date() if since_day else None)
    click.echo(render(chosen, fmt))


@cli.command()
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
    runs = _detect_items(items, rules, results, out / "quicklooks")
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
    _detect_items(series_items, rules, monitoring / "results", monitoring / "quicklooks")
    click.echo("5/5 tracking sites over time, in context, and alerting", err=True)
    layers = [load_context(name, path) for name, path in series.context.items()]
    _monitor(monitoring / "results", layers)
    click.echo(confusion_table(evaluate_states(monitoring / "scenes", monitoring / "results")))
    for folder in (out, monitoring):
        done = write_report(folder / "results", folder / "report.html", folder / "quicklooks")
        click.echo(f"report: {done.path}")
    _where(out, runs)


@cli.command()
@click.argument("sql", required=False)
@click.option("--file", "query_file", type=click.Path(path_type=Path), help="A .sql file to run.")
@click.option(
    "--results", "results", required=True, type=click.Path(path_type=Path), help="Results folder."
)
@click.option("--param", "params", multiple=True, help="name=value for a declared parameter.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def query(
    sql: str | None, query_file: Path | None, results: Path, params: tuple[str, ...], fmt: str
) -> None:
    """Run Athena-dialect SQL (e.g. infra/athena/queries/*.sql) over a local results folder."""
    if (sql is None) == (query_file is None):
        raise QueryError("give the SQL as an argument or --file FILE, not both or neither")
    if not results.is_dir():
        raise QueryError(f"results folder {str(results)!r} does not exist")
    parsed = read_query_file(query_file) if query_file else parse_query(sql or "", Path("query"))
    given = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise QueryError(f"--param {item!r} is not name=value")
        given[name] = value
    answer = run_query(parsed.sql, results, bind(parsed, given))
    click.echo(format_result(answer, fmt))


@cli.command()
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
    _monitor(results, layers or None, rebuild, as_json)


def _monitor(
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


@cli.command("export")
@_results_option
@click.option(
    "--table", "table", type=click.Choice(EXPORT_TABLES), default="sites", show_default=True
)
@click.option(
    "--since",
    "since_day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day (YYYY-MM-DD).",
)
@click.option(
    "--until",
    "until_day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day (YYYY-MM-DD).",
)
@click.option("--bbox", default=None, help="Only what touches W,S,E,N (degrees).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORT_FORMATS)),
    default=None,
    help="File format (default: from the suffix of --out).",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export_cmd(
    results: Path,
    table: str,
    since_day: datetime | None,
    until_day: datetime | None,
    bbox: str | None,
    fmt: str | None,
    out: Path,
) -> None:
    """Export sites, detections or alerts for GIS tools: GeoPackage, FlatGeobuf, GeoJSON, CSV."""
    chosen = export_format(out, fmt)
    frame = read_results(
        results,
        table,
        since_day.date() if since_day else None,
        until_day.date() if until_day else None,
        parse_bbox(bbox) if bbox is not None else None,
    )
    write_export(frame, out, chosen, table)
    click.echo(f"{len(frame)} {table} written to {out} ({EXPORT_FORMATS[chosen]})")


@cli.command()
@_results_option
@click.option(
    "--out",
    "out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file (default: report.html beside the results folder).",
)
@click.option(
    "--quicklooks",
    "quicklooks",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of quicklook PNGs to overlay (default: quicklooks/ beside the results).",
)
def report(results: Path, out: Path | None, quicklooks: Path | None) -> None:
    """Write one self-contained HTML report (map, trends, top sites) that opens offline."""
    out = out or results.parent / "report.html"
    summary = write_report(results, out, quicklooks or results.parent / "quicklooks")
    click.echo(
        f"report: {summary.path} ({summary.detections} detections, {summary.sites} sites, "
        f"{summary.quicklooks} quicklooks)"
    )


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


def _finite(value: float, name: str) -> float:
    """click's ranges let NaN through (every comparison with it is false)."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of metres", param_hint=name)
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: AsmError becomes a one-line message and exit code 2."""
    try:
        # without standalone mode, click returns the code of a command's Exit (130 for an
        # interrupted scan) instead of exiting with it
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="asm", standalone_mode=False
        )
    except click.exceptions.Abort:
        click.echo("asm: interrupted", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"asm: error: {e.format_message()}", err=True)
        return e.exit_code
    except AsmError as e:
        click.echo(f"asm: error: {e}", err=True)
        return 2
    except OSError as e:  # a full disk, a read-only or missing folder: what and where
        where = f": {e.filename}" if e.filename else ""
        what = e.strerror or str(e)
        if e.errno in (errno.EEXIST, errno.ENOTDIR):  # a file stands where a folder must be
            what = "a file stands where a folder is needed"
        click.echo(f"asm: error: {what}{where}", err=True)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
