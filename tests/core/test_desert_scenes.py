"""The desert landscape of the synthetic generator (issue 20): mechanics only. It holds ASM sites
of each kind among the desert's look-alikes and a formal mine, all bare ground."""

from __future__ import annotations

import numpy as np

from asm_core.evaluation.synthetic import SceneSpec
from asm_core.evaluation.synthetic.desert import SITE_HECTARES, SITE_KINDS
from asm_core.evaluation.synthetic.landscape import SCL_BARE, Landscape
from asm_core.evaluation.synthetic.landscapes import draw_landscape


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
