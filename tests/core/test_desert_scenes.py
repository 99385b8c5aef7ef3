"""The desert landscape of the synthetic generator (issue 20): mechanics only. It holds ASM sites
of each kind among the desert's look-alikes and a formal mine, all bare ground."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from asm_core.evaluation.evaluate import evaluate
from asm_core.evaluation.synthetic import SceneSpec
from asm_core.evaluation.synthetic.desert import SITE_HECTARES, SITE_KINDS
from asm_core.evaluation.synthetic.landscape import SCL_BARE, Landscape
from asm_core.evaluation.synthetic.landscapes import draw_landscape
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


def test_a_desert_holds_every_site_kind_among_its_look_alikes_and_a_formal_mine() -> None:
    land = Landscape(1024, np.random.default_rng(9701))
    draw_landscape(land, "desert", density=0.25, sites=4)
    kinds = {f.kind for f in land.features}
    assert {"wadi", "dune", "outcrop", "pivot", "road", "town"} <= kinds
    assert {"formal_mine", "tailings_facility"} <= kinds
    sites = [f for f in land.features if f.kind == "mining_site"]
    assert {f.props["site_kind"] for f in sites} == set(SITE_KINDS)
    for site in sites:
        assert SITE_HECTARES[0] * 0.6 <= float(site.props["hectares"]) <= SITE_HECTARES[1] * 1.6
        assert site.props["landscape"] == "desert"
    # no vegetation to contrast with: the land is bare but for the pivots and acacias
    assert np.mean(land.scl == SCL_BARE) > 0.9
    assert SceneSpec(seed=1, landscape="desert").landscape == "desert"


def test_a_desert_scene_is_searched_for_disturbed_ground(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    """Mechanics: the whole scene is open land, so the detector looks for rough ground, not
    bare ground (no 'landscape'-sized bare object is set aside), and reports the formal mine
    and the town as what they are."""
    scene = scene_factory(seed=9705, size=1024, sites=4, landscape="desert", clouds=0)
    run = run_item(load_item(str(scene.item_path)), load_rules(), tmp_path)
    (row,) = read_table(tmp_path, "tile_runs").to_pylist()
    suppressed = dict(row["suppressed"] or [])
    assert row["open_share"] >= load_rules().disturbance.open_share_min
    assert "landscape" not in suppressed and suppressed.get("industrial", 0) >= 1
    assert run.sites >= 1
    truth = tmp_path / "truth.geojson"
    truth.write_text(json.dumps({"type": "FeatureCollection", "features": scene.truth}))
    evaluation = evaluate(truth, tmp_path)
    assert evaluation.confusion.get("mining_scar", {}).get("formal_mine", 0) == 0
