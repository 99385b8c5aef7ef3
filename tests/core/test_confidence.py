"""Site confidence and the signs of digging a site needs beyond bare ground."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import pytest

from asm_core.detection.objects.confidence import (
    SiteCues,
    combine,
    digging_signs,
    ramp,
    signs_count,
    site_cue_scores,
    turbid_confidence,
)
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.store import read_table
from asm_core.rules import Ramp, load_rules
from asm_core.sources.stac import load_item

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


def test_ramps_clamp_to_zero_and_one() -> None:
    r = Ramp(start=0.1, span=0.2)
    assert (ramp(-5.0, r), ramp(0.15, r), ramp(5.0, r)) == (0.0, pytest.approx(0.25), 1.0)


def test_each_cue_is_scored_from_its_own_measure() -> None:
    ramps = SETTINGS.ramps
    cues = replace(FIELD, rectangularity=ramps.regular_shape.start, turbid_water_near=True)
    scores = site_cue_scores(cues, ramps)
    assert scores["irregular_shape"] == 1.0  # as irregular as a parcel gets
    assert scores["turbid_water_near"] == 1.0
    assert "vegetation_loss" not in scores  # no baseline: not judged at all
    regular = ramps.regular_shape.start + ramps.regular_shape.span
    assert site_cue_scores(replace(FIELD, rectangularity=regular), ramps)["irregular_shape"] == 0
    assert site_cue_scores(replace(FIELD, ndvi_drop=-0.2), ramps)["vegetation_loss"] == 0.0
    assert cues.measured() == {
        "bare_ground": 0.3,
        "iron_oxide": 1.9,
        "vegetation_contrast": 0.15,
        "ponds": 0.0,
        "pitted_texture": 0.04,
        "irregular_shape": ramps.regular_shape.start,
        "turbid_water_near": 1.0,
        "vegetation_loss": None,
        "fresh_spoil": None,
    }
    assert FIELD.measured()["turbid_water_near"] == 0.0


@pytest.mark.parametrize(
    ("scores", "value", "agreeing"),
    [
        # vegetation loss raises the mean: counted (0.4 / 0.55)
        (
            {"bare_ground": 0.0, "ponds": 1.0, "vegetation_loss": 1.0},
            0.7273,
            ["ponds", "vegetation_loss"],
        ),
        # it lowers the mean: left out, and not named as agreeing though it scores 0.5
        ({"bare_ground": 1.0, "ponds": 1.0, "vegetation_loss": 0.5}, 1.0, ["bare_ground", "ponds"]),
        # it leaves the mean as it is: kept
        (
            {"bare_ground": 1.0, "ponds": 1.0, "vegetation_loss": 1.0},
            1.0,
            ["bare_ground", "ponds", "vegetation_loss"],
        ),
        # (0.15 + 0.1) / 0.55 against 0.15 / 0.35: it raises it, so it stays
        (
            {"bare_ground": 1.0, "ponds": 0.0, "vegetation_loss": 0.5},
            0.4545,
            ["bare_ground", "vegetation_loss"],
        ),
        ({}, 0.0, []),  # nothing judged
    ],
)
def test_vegetation_loss_only_ever_adds_confidence(
    scores: dict[str, float], value: float, agreeing: list[str]
) -> None:
    weights = SETTINGS.weights.model_copy(
        update={"bare_ground": 0.15, "ponds": 0.2, "vegetation_loss": 0.2}
    )
    assert combine(scores, weights, 0.5) == (value, agreeing)


def test_digging_signs_agree_at_the_threshold_and_need_a_score() -> None:
    at = {"ponds": SETTINGS.agrees_at, "pitted_texture": SETTINGS.agrees_at - 1e-9}
    assert digging_signs(at, SETTINGS) == ["ponds"]  # unscored cues do not agree
    assert digging_signs({"bare_ground": 1.0, "iron_oxide": 1.0}, SETTINGS) == []


def test_a_strong_sign_counts_twice_from_its_level_and_only_as_a_sign() -> None:
    level = SETTINGS.strong_signs["pitted_texture"]
    pitted = replace(FIELD, texture=level)
    signs = _signs(pitted)
    assert signs == ["pitted_texture"]
    assert signs_count(signs, pitted, SETTINGS) == 2
    below = replace(FIELD, texture=level - 1e-6)
    assert signs_count(_signs(below), below, SETTINGS) == 1
    # measured at the level but not among the signs (the rule set does not count it): nothing
    assert signs_count([], pitted, SETTINGS) == 0
    assert signs_count(["ponds"], replace(pitted, ponds=2), SETTINGS) == 1


def test_a_turbid_reach_is_surer_with_a_site_near() -> None:
    turbidity = SETTINGS.ramps.turbidity
    full = turbidity.start + turbidity.span
    half = turbidity.start + turbidity.span / 2
    assert turbid_confidence(full, True, SETTINGS) == (1.0, ["turbidity", "site_near"])
    assert turbid_confidence(full, False, SETTINGS) == (0.5, ["turbidity"])
    assert turbid_confidence(None, True, SETTINGS) == (0.5, ["site_near"])
    assert turbid_confidence(half, False, SETTINGS) == (0.25, ["turbidity"])
    below = turbid_confidence(half - 0.012, False, SETTINGS)
    assert below == (0.2, [])


def test_a_strong_sign_counts_beyond_its_level_and_from_a_measured_zero() -> None:
    level = SETTINGS.strong_signs["pitted_texture"]
    beyond = replace(FIELD, texture=level + 0.05)
    assert signs_count(_signs(beyond), beyond, SETTINGS) == 2
    # a cue measured 0 is measured (a rectangularity of 0 is as irregular as shapes get), not
    # missing: it is held to the level like any other value
    shape_cues = SETTINGS.model_copy(
        update={"asm_cues": ["irregular_shape"], "strong_signs": {"irregular_shape": 0.5}}
    )
    shapeless = replace(FIELD, rectangularity=0.0)
    signs = digging_signs(site_cue_scores(shapeless, SETTINGS.ramps), shape_cues)
    assert signs == ["irregular_shape"]
    assert signs_count(signs, shapeless, shape_cues) == 1
    below_zero = shape_cues.model_copy(update={"strong_signs": {"irregular_shape": -0.5}})
    assert signs_count(signs, shapeless, below_zero) == 2


def test_no_turbid_water_scores_zero_and_cues_are_frozen() -> None:
    assert site_cue_scores(FIELD, SETTINGS.ramps)["turbid_water_near"] == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        FIELD.ponds = 3  # type: ignore[misc]


def test_a_turbid_reach_s_confidence_is_rounded_to_four_places() -> None:
    turbidity = SETTINGS.ramps.turbidity
    third = turbidity.start + turbidity.span / 3  # strength 1/3: confidence 1/6
    assert turbid_confidence(third, False, SETTINGS) == (0.1667, [])


def test_a_strong_sign_adds_one_to_the_others() -> None:
    level = SETTINGS.strong_signs["pitted_texture"]
    dug = replace(FIELD, texture=level + 0.05, ponds=3)
    signs = _signs(dug)
    assert signs == ["pitted_texture", "ponds"]
    assert signs_count(signs, dug, SETTINGS) == 3


def test_sites_under_the_confidence_floor_are_suppressed_as_low_confidence(
    small_scene: WrittenScene, tmp_path: Path
) -> None:
    """The floor is exercised on a scene with sites just under it: the least confident site
    goes (counted as ``low_confidence``) one step above its score, and stays at it."""
    rules = load_rules()
    item = load_item(str(small_scene.item_path))

    def run(floor: float | None, out: str) -> tuple[list[float], dict[str, int]]:
        chosen = rules
        if floor is not None:
            objects = rules.objects.model_copy(update={"min_site_confidence": floor})
            chosen = rules.model_copy(update={"objects": objects})
        run_item(item, chosen, tmp_path / out)
        runs = read_table(tmp_path / out, "tile_runs").to_pylist()
        dets = read_table(tmp_path / out, "detections").to_pylist()
        sites = {d["site_id"]: d["confidence"] for d in dets if d["site_id"]}
        return sorted(sites.values()), dict(runs[0]["suppressed"] or [])

    scores, _ = run(None, "default")
    assert scores, "the scene has sites"
    lowest = scores[0]
    at, suppressed_at = run(lowest, "at")
    above, suppressed_above = run(lowest + 1e-4, "above")
    assert at == scores
    assert above == scores[1:]
    assert suppressed_above.get("low_confidence", 0) == suppressed_at.get("low_confidence", 0) + 1
