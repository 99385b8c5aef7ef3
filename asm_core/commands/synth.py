"""``asm synth``: synthetic scenes for testing the mechanics (never for accuracy claims)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asm_core.evaluation.synthetic import SceneSpec, generate_set, write_scene
from asm_core.evaluation.synthetic.landscapes import LANDSCAPES
from asm_core.evaluation.synthetic.scene import BASELINES, MAX_SIZE, MIN_SIZE
from asm_core.evaluation.synthetic.series import write_series
from asm_core.evaluation.synthetic.site_stories import MAX_DATES, SeriesSpec


@click.command()
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
