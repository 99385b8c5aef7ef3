"""``asm detect``: Sentinel-2 L2A items in, detections and their run rows out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click
from shapely.geometry import MultiPolygon, Polygon

from asm_core.detection.objects.known_sites import known_site_footprints
from asm_core.jobs.tile_job import TileRun, run_item
from asm_core.planning.baseline_looks import baseline_looks
from asm_core.report.cli_json import emit, json_option, say
from asm_core.report.report_text import (
    detect_table,
)
from asm_core.results.results_catalogue import write_results_collection
from asm_core.results.schema import RunStatus
from asm_core.rules import RuleSet, load_rules
from asm_core.sources.aoi import bbox_geometry, check_overlap, parse_bbox, window_bounds
from asm_core.sources.gdal_settings import read_options
from asm_core.sources.stac import SceneItem, load_item


def baseline_line(run: TileRun, given: int) -> str:
    """One line on the baseline looks an item got: how many were read, and why any were not."""
    line = f"baseline: {len(run.baseline_looks)} of {given} looks a year before used"
    return line + (f"; skipped {'; '.join(run.baseline_skipped)}" if run.baseline_skipped else "")


def detect_items(
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
        looks = baseline_looks(item, items, rules.baseline.days)
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


@click.command()
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
    runs = detect_items(scenes, rules, out, out / "quicklooks" if quicklooks else None, aoi)
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
