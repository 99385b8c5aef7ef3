"""The geology proxy: ratio backgrounds of a tile's bare ground, and site anomalies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.evaluation.synthetic.spectra import SPECTRA
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.sites import build_site_tables
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item
from asm_core.spectral.geology import anomaly, background_columns


def test_anomaly_is_spreads_above_the_median_and_none_when_unknown() -> None:
    run = {"ferric_iron_median": 1.2, "ferric_iron_spread": 0.2}
    assert anomaly(1.7, run, "ferric_iron") == pytest.approx(2.5)
    assert anomaly(1.0, run, "ferric_iron") == pytest.approx(-1.0)
    assert anomaly(None, run, "ferric_iron") is None
    assert anomaly(1.7, run, "clay") is None
    assert (
        anomaly(1.7, {"ferric_iron_median": 1.2, "ferric_iron_spread": 0.0}, "ferric_iron") is None
    )


def test_sites_on_lateritic_spoil_stand_out_from_the_tiles_bare_ground(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scene = scene_factory(seed=5, size=768, sites=4, baseline="05.10")
    run_item(load_item(str(scene.item_path)), load_rules(), tmp_path)
    (run,) = read_table(tmp_path, "tile_runs").to_pylist()
    assert all(run[c] is not None for c in background_columns())
    # bare ground is a mixture of field soils, laterite, sand, roofs and tracks: its median
    # ferric ratio lies between the bare spectra's extremes
    ratios = [SPECTRA[n][2] / SPECTRA[n][1] for n in ("field_soil", "laterite", "concrete")]
    assert min(ratios) < run["ferric_iron_median"] < max(ratios)
    build_site_tables(tmp_path)
    sites = read_table(tmp_path, "sites").to_pylist()
    assert sites and all(s["ferric_anomaly"] > 0 for s in sites)


def test_without_the_swir_bands_there_is_no_clay_background(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scene = scene_factory(seed=5, size=256, sites=1, baseline="05.10")
    item = load_item(str(scene.item_path))
    without = replace(item, bands={k: v for k, v in item.bands.items() if k != "swir22"})
    run_item(without, load_rules(), tmp_path)
    (run,) = read_table(tmp_path, "tile_runs").to_pylist()
    assert run["clay_median"] is None and run["ferric_iron_median"] is not None
