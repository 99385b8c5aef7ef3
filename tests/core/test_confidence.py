"""Site confidence and the signs of digging a site needs beyond bare ground."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from asm_core.detection.objects.confidence import (
    SiteCues,
    combine,
    digging_signs,
    ramp,
    site_cue_scores,
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
