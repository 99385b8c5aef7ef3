"""``asm scan``: search a STAC API, plan tile-dates, and run them on a local process pool."""

from __future__ import annotations

import dataclasses
import os
import sys
import urllib.parse
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from shapely.geometry import MultiPolygon, Polygon
from tqdm import tqdm

from asm_core.errors import AoiError
from asm_core.jobs.scan import SUMMARY_FILE, ScanProgress, run_scan
from asm_core.jobs.scan_summary import ScanSummary
from asm_core.jobs.tile_job import TileRun
from asm_core.monitoring.context import load_context, parse_context_option
from asm_core.monitoring.monitor import update_monitoring
from asm_core.planning.cost import MEASURED_CPU_SECONDS, CostModel, estimate
from asm_core.planning.plan import Plan
from asm_core.planning.scan_planning import plan_scan
from asm_core.planning.site_groups import site_group
from asm_core.report.cli_json import emit, json_option, say
from asm_core.report.report_text import monitoring_text, plan_text, table
from asm_core.results.result_paths import item_partition
from asm_core.results.schema import RunStatus
from asm_core.rules import RuleSet, load_rules
from asm_core.sources.aoi import bbox_geometry, load_aoi, parse_bbox, window_bounds
from asm_core.sources.catalog import (
    EARTH_SEARCH_URL,
    SENTINEL2_L2A,
    SearchRequest,
)
from asm_core.sources.gdal_settings import read_options


def _aoi(aoi_file: Path | None, bbox: str | None) -> Polygon | MultiPolygon:
    if (aoi_file is None) == (bbox is None):
        raise AoiError("give exactly one of --aoi FILE or --bbox W,S,E,N")
    return load_aoi(aoi_file) if aoi_file is not None else bbox_geometry(parse_bbox(bbox or ""))


def _http(url: str) -> str:
    """A STAC API URL: http or https, with a host."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise click.BadParameter(
            f"{url!r} is not an http(s) URL of a STAC API", param_hint="--stac-url"
        )
    return url


def _bands(rules: RuleSet) -> set[str]:
    return set().union(*(r.required_bands() for r in rules.rules)) | {"scl"}


@dataclass(frozen=True)
class ScanOptions:
    """What ``asm scan`` was asked, typed (click fills it from the options below)."""

    aoi_file: Path | None
    bbox: str | None
    start: datetime
    end: datetime
    out: Path
    stac_url: str
    collection: str
    max_cloud: float | None
    rules_file: Path | None
    workers: int
    force: bool
    dry_run: bool
    full_tiles: bool
    lambda_memory_mb: int
    lambda_architecture: str
    cpu_seconds_per_tile: float
    signed_s3: bool
    requester_pays: bool
    contexts: tuple[str, ...]
    no_sites: bool


@click.command()
@click.option(
    "--aoi",
    "aoi_file",
    type=click.Path(path_type=Path),
    default=None,
    help="GeoJSON polygon(s) in EPSG:4326 (antimeridian-safe).",
)
@click.option("--bbox", default=None, help="W,S,E,N in degrees (W > E crosses the antimeridian).")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First date.")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last date.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder.",
)
@click.option(
    "--stac-url", default=EARTH_SEARCH_URL, show_default=True, callback=lambda _c, _p, v: _http(v)
)
@click.option("--collection", default=SENTINEL2_L2A, show_default=True)
@click.option(
    "--max-cloud",
    type=click.FloatRange(0, 100),
    default=None,
    help="Maximum eo:cloud_cover in percent.",
)
@click.option("--rules", "rules_file", type=click.Path(path_type=Path), default=None)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=os.cpu_count() or 1,
    show_default="number of cores",
)
@click.option("--force", is_flag=True, help="Re-run tile-dates already finished.")
@click.option("--dry-run", is_flag=True, help="Print the plan and its cost; read no pixel.")
@click.option(
    "--full-tiles",
    is_flag=True,
    help="Process whole tiles even where the AOI covers only part of them.",
)
@click.option(
    "--lambda-memory-mb",
    type=click.IntRange(128, 10240),
    default=CostModel.lambda_memory_mb,
    show_default=True,
    help="Per-tile Lambda memory for the AWS cost estimate (the template's LambdaMemory).",
)
@click.option(
    "--lambda-architecture",
    type=click.Choice(["x86_64", "arm64"]),
    default=CostModel.lambda_architecture,
    show_default=True,
    help="Lambda architecture for the AWS cost estimate.",
)
@click.option(
    "--cpu-seconds-per-tile",
    type=click.FloatRange(0.1, 3600),
    default=CostModel.cpu_seconds_per_tile,
    show_default=True,
    help="CPU-seconds of a full tile for the estimates (measured: real farmland "
    f"{MEASURED_CPU_SECONDS['real_farmland']}, synthetic ASM scenes "
    f"{MEASURED_CPU_SECONDS['synthetic']}; tests/bench/tile.py measures your own).",
)
@click.option(
    "--signed-s3",
    is_flag=True,
    help="Sign S3 requests with your AWS credentials (private buckets).",
)
@click.option("--requester-pays", is_flag=True, help="Read requester-pays buckets (you pay).")
@click.option(
    "--context",
    "contexts",
    multiple=True,
    help="NAME=PATH of a vector layer for the sites (tenements, protected_areas, rivers, …).",
)
@click.option("--no-sites", is_flag=True, help="Skip updating sites and alerts after the scan.")
@json_option
def scan(as_json: bool, **given: Any) -> None:
    """Detect ASM over an area and date range, straight from a STAC API and COGs on S3.

    Exit code 1 if any tile-date failed (each is recorded in tile_runs), 130 after Ctrl-C;
    re-running the same scan skips tile-dates already finished unless --force.
    """
    o = ScanOptions(**given)
    area = _aoi(o.aoi_file, o.bbox)
    rules = load_rules(o.rules_file)
    layers = [load_context(*parse_context_option(c)) for c in o.contexts]  # bad ones fail first
    request = SearchRequest(
        aoi=area,
        start=date(o.start.year, o.start.month, o.start.day),
        end=date(o.end.year, o.end.month, o.end.day),
        stac_url=o.stac_url,
        collection=o.collection,
        max_cloud=o.max_cloud,
    )
    model = CostModel(
        lambda_memory_mb=o.lambda_memory_mb,
        lambda_architecture=o.lambda_architecture,
        cpu_seconds_per_tile=o.cpu_seconds_per_tile,
        local_workers=o.workers,
    )
    plan, planned = _plan(request, rules, model, None if o.full_tiles else area, as_json)
    if o.dry_run:
        emit({"results": o.out, "dry_run": True, "plan": planned}, as_json)
        return
    options = read_options(unsigned_s3=not o.signed_s3)
    if o.requester_pays:
        options["AWS_REQUEST_PAYER"] = "requester"
    windows = (
        {}
        if o.full_tiles
        else {t.item_id: window_bounds(area, t.scene.geometry) for t in plan.tile_dates}
    )
    summary = _run(plan, rules, o.out, o.workers, o.force, options, windows)
    say(_summary_text(summary, o.out), as_json)
    result: dict[str, Any] = {
        "results": o.out,
        "dry_run": False,
        "plan": planned,
        "scan": summary,
    }
    if summary.interrupted:
        emit(result, as_json)
        raise click.exceptions.Exit(130)
    if not o.no_sites:  # the tile-dates that did finish are tracked even if some failed
        done = update_monitoring(o.out, rules.tracking, layers or None)
        say(monitoring_text(done), as_json)
        result["sites"] = done.summary()
    emit(result, as_json)
    if summary.failures:
        raise click.ClickException(
            f"{len(summary.failures)} of {summary.planned} tile-dates failed; see tile_runs"
        )


def _plan(
    request: SearchRequest,
    rules: RuleSet,
    model: CostModel,
    area: Polygon | MultiPolygon | None,
    as_json: bool,
) -> tuple[Plan, dict[str, Any]]:
    """Search and plan the scan, say what it will read and cost; the plan, and its summary."""
    plan = plan_scan(request, rules.baseline.days)
    if plan.baseline_error:  # a scan without a baseline still finds scars
        click.echo(f"no baseline looks ({plan.baseline_error}): no vegetation-loss cue", err=True)
    window = plan.baseline_window or (None, None)
    say(
        f"baseline: {plan.baseline_looks} looks from {window[0]} to {window[1]}; "
        f"{plan.with_baseline} of {len(plan.tile_dates)} tile-dates have one",
        as_json,
    )
    cost = estimate(
        [t.item for t in plan.tile_dates],
        len(plan.tiles),
        len(plan.duplicates),
        area,
        _bands(rules),
        model,
        site_groups=len({site_group(t) for t in plan.tiles}),
        partitions=len({item_partition(t.scene) for t in plan.tile_dates}),
    )
    say(plan_text(plan, cost, model), as_json)
    return plan, {
        "tile_dates": len(plan.tile_dates),
        "tiles": len(plan.tiles),
        "duplicates_replaced": len(plan.duplicates),
        "baseline_looks": plan.baseline_looks,
        "with_baseline": plan.with_baseline,
        "estimate": {**dataclasses.asdict(cost), "aws_usd": cost.aws_usd},
    }


def _run(
    plan: Plan,
    rules: RuleSet,
    out: Path,
    workers: int,
    force: bool,
    options: dict[str, str | bool | int],
    windows: dict[str, tuple[float, float, float, float] | None],
) -> ScanSummary:
    """Run the planned tile-dates with a progress bar on stderr (failures written under it)."""
    bar = tqdm(total=len(plan.tile_dates), unit="tile", file=sys.stderr, disable=None)

    def progress(p: ScanProgress, run: TileRun) -> None:
        bar.total = p.total
        bar.set_postfix(detections=p.detections, MB=round(p.bytes_read / 1e6))
        bar.update(1)
        if run.status == RunStatus.FAILED:
            bar.write(f"  {run.item_id}: failed ({run.error})")

    within = {k: v for k, v in windows.items() if v is not None}
    summary = run_scan(plan, rules, out, workers, force, options, within, progress)
    bar.close()
    return summary


def _summary_text(summary: ScanSummary, out: Path) -> str:
    rows = [[k, str(v)] for k, v in summary.statuses.items()]
    rows += [["skipped (already done)", str(summary.skipped)], ["not run", str(summary.not_run)]]
    rows += [[f"detections: {k}", str(v)] for k, v in summary.detections_by_class.items()]
    rows += [["MB read", f"{summary.megabytes_read or 0:,.1f}"], ["seconds", f"{summary.seconds}"]]
    return table(["scan", "count"], rows) + f"\nsummary: {out / SUMMARY_FILE}"
