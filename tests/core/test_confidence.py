"""Site confidence and the signs of digging a site needs beyond bare ground."""

from __future__ import annotations

from dataclasses import replace

import pytest

from asm_core.detection.objects.confidence import (
    SiteCues,
    combine,
    digging_signs,
    ramp,
    site_cue_scores,
)
from asm_core.rules import Ramp, load_rules

SETTINGS = load_rules().confidence
#: a dry-season field: as bare and red as a dig, rectangular, nothing else
FIELD = SiteCues(
    bsi_mean=0.3,
    ferric_mean=1.9,
    ring_ndvi=0.15,
    rectangularity=0.7,
    ponds=0,
    turbid_water_near=False,
    texture=0.04,
)


def _signs(cues: SiteCues) -> list[str]:
    return digging_signs(site_cue_scores(cues, SETTINGS.ramps), SETTINGS)


def test_bare_red_ground_alone_shows_no_sign_of_digging() -> None:
    scores = site_cue_scores(FIELD, SETTINGS.ramps)
    assert scores["bare_ground"] == 1.0 and scores["iron_oxide"] == 1.0
    assert _signs(FIELD) == []


@pytest.mark.parametrize(
    ("change", "sign"),
    [
        ({"ring_ndvi": 0.75}, "vegetation_contrast"),
        ({"ponds": 3}, "ponds"),
        ({"texture": 0.4}, "pitted_texture"),
        ({"turbid_water_near": True}, "turbid_water_near"),
        ({"ndvi_drop": 0.4}, "vegetation_loss"),
    ],
)
def test_each_sign_of_digging_is_counted(change: dict, sign: str) -> None:
    assert _signs(replace(FIELD, **change)) == [sign]


def test_open_landscapes_need_two_signs_and_closed_ones_one() -> None:
    rare = SETTINGS.rare_open_share
    assert SETTINGS.signs_needed(rare / 2) == SETTINGS.min_asm_cues_where_bare_is_rare == 1
    assert SETTINGS.signs_needed(rare) == SETTINGS.min_asm_cues == 2


def test_ramps_are_the_rule_sets_and_boundaries_are_exact() -> None:
    r = Ramp(start=0.1, span=0.2)
    assert ramp(0.1, r) == 0.0 and ramp(0.31, r) == 1.0 and ramp(0.2, r) == pytest.approx(0.5)
    assert ramp(None, r) == 0.0


def test_a_sign_counts_from_half_its_ramp() -> None:
    ramps = SETTINGS.ramps.vegetation_contrast
    half = ramps.start + ramps.span / 2
    assert "vegetation_contrast" in _signs(replace(FIELD, ring_ndvi=half + 1e-6))
    assert "vegetation_contrast" not in _signs(replace(FIELD, ring_ndvi=half - 1e-3))


def test_confidence_is_the_weighted_mean_of_the_scores() -> None:
    scores = site_cue_scores(replace(FIELD, ponds=2, texture=0.5), SETTINGS.ramps)
    value, agreeing = combine(scores, SETTINGS.weights, SETTINGS.agrees_at)
    w = SETTINGS.weights.model_dump()
    expected = sum(w[k] * v for k, v in scores.items()) / sum(w[k] for k in scores)
    assert value == pytest.approx(expected, abs=1e-4)
    assert {"ponds", "pitted_texture", "bare_ground"} <= set(agreeing)
