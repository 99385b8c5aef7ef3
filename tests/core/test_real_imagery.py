"""The detector on real Sentinel-2 imagery (../shared/realdata/s2; see tests/real_scenes.py).

The set is mostly hard negatives: dry-season farmland on red laterite, sandbars, a braided river
bed, arid hills, forest mosaics. These floors keep the detector from calling them mines again;
the figures per scene come from `python tests/bench/real.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asm_core.jobs.tile_job import run_item
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item
from tests.real_scenes import ABSENT, available, real_scenes, score_scene, summarise

pytestmark = pytest.mark.skipif(not available(), reason=ABSENT)


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    root = tmp_path_factory.mktemp("real")
    scenes = real_scenes(root / "items")
    rules = load_rules()
    for scene in scenes:
        run = run_item(load_item(str(scene.item_path)), rules, root / "results")
        assert run.status == "ok", f"{scene.name}: {run.error}"
    return scenes, root / "results"


def test_no_mines_called_in_real_landscapes_without_mining(detected: tuple[list, Path]) -> None:
    scenes, results = detected
    figures = summarise([score_scene(s, results) for s in scenes])
    assert figures["negative_area_km2"] > 50
    # issue 12's bars: <= 2 false sites per 100 km², <= 15 % of natural look-alikes flagged
    assert figures["false_sites_per_100km2"] <= 2.0, figures
    assert figures["lookalike_share_flagged"] <= 0.15, figures


def test_open_landscapes_are_measured_as_open(detected: tuple[list, Path]) -> None:
    _, results = detected
    runs = {r["item_id"]: r for r in read_table(results, "tile_runs").to_pylist()}
    # harvested Rajasthan farmland and Patagonian hills are open land; Ghanaian forest is not
    assert runs["real_1f3c0"]["open_share"] > 0.9
    assert runs["real_patagonia"]["open_share"] > 0.9
    assert runs["real_forest_001"]["open_share"] < 0.1
    # so bare ground there is the barest part of the scene, not NDVI below 0.3
    moved = dict(runs["real_1f3c0"]["scene_thresholds"])
    assert moved["bare_ground.ndvi<"] < 0.3
    assert not runs["real_forest_001"]["scene_thresholds"]


def test_four_band_patches_run_the_visible_nir_rules_and_say_so(
    detected: tuple[list, Path],
) -> None:
    _, results = detected
    (run,) = [
        r for r in read_table(results, "tile_runs").to_pylist() if r["item_id"] == "real_forest_001"
    ]
    assert run["status"] == "ok"
    assert "bare_ground_visible" in run["rules_fallback"]
    assert "bare_ground (needs swir16; bare_ground_visible runs instead)" in run["rules_skipped"]
