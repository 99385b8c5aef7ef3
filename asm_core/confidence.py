"""Confidence in 0..1 from how many independent cues agree.

Each cue is scored in 0..1 (a soft ramp, not a hard switch, so a borderline cue counts partly);
confidence is the weighted mean of the scores with the rule set's weights. The names of the cues
scoring at least 0.5 are kept with the detection so a reviewer can see why it was called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from asm_core.rules import ConfidenceWeights

# Ramps: value at which a cue starts to count, and the span over which it reaches full weight.
BSI_RAMP = (0.08, 0.15)
IRON_RAMP = (1.38, 0.4)
RING_NDVI_RAMP = (0.25, 0.25)
RECTANGULARITY_RAMP = (0.55, 0.3)
NDTI_RAMP = (-0.02, 0.12)
VEGETATION_LOSS_RAMP = (0.05, 0.15)  # NDVI drop from the same-season baseline: full at 0.2


def ramp(value: float | None, start: float, span: float) -> float:
    """0 below ``start``, 1 above ``start + span``, linear between; None scores 0."""
    if value is None:
        return 0.0
    return min(1.0, max(0.0, (value - start) / span))


@dataclass(frozen=True)
class SiteCues:
    """What a site looks like, summarised over its scars."""

    bsi_mean: float | None
    ferric_mean: float | None
    ring_ndvi: float | None
    rectangularity: float
    has_ponds: bool
    turbid_water_near: bool
    ndvi_drop: float | None = None  # from the same-season baseline, when there is one


def site_cue_scores(cues: SiteCues) -> dict[str, float]:
    """Score each independent cue of a mining site (vegetation loss only with a baseline)."""
    scores = {
        "spectral_strength": ramp(cues.bsi_mean, *BSI_RAMP),
        "iron_oxide": ramp(cues.ferric_mean, *IRON_RAMP),
        "vegetation_contrast": ramp(cues.ring_ndvi, *RING_NDVI_RAMP),
        "ponds": 1.0 if cues.has_ponds else 0.0,
        "irregular_shape": 1.0 - ramp(cues.rectangularity, *RECTANGULARITY_RAMP),
        "turbid_water_near": 1.0 if cues.turbid_water_near else 0.0,
    }
    if cues.ndvi_drop is not None:
        scores["vegetation_loss"] = ramp(cues.ndvi_drop, *VEGETATION_LOSS_RAMP)
    return scores


#: Cues that can only add confidence: ground that was bare a year before may be an old working
#: still dug today, so no vegetation loss is no evidence against a site.
BONUS_ONLY = frozenset({"vegetation_loss"})


def _mean(scores: Mapping[str, float], weights: ConfidenceWeights) -> float:
    w = {name: weight for name, weight in weights.model_dump().items() if name in scores}
    total = sum(w.values())
    return sum(w[name] * scores[name] for name in w) / total if total > 0 else 0.0


def combine(scores: Mapping[str, float], weights: ConfidenceWeights) -> tuple[float, list[str]]:
    """Weighted mean of the scored cues (a cue that could not be judged, like vegetation loss
    without a baseline, is left out rather than counted as disagreeing; a bonus-only cue is
    counted only where it raises the mean), and the cues that agree (score ≥ 0.5)."""
    value = _mean(scores, weights)
    plain = {k: v for k, v in scores.items() if k not in BONUS_ONLY}
    if len(plain) < len(scores) and _mean(plain, weights) > value:
        value, scores = _mean(plain, weights), plain
    agreeing = sorted(name for name, s in scores.items() if s >= 0.5)
    return round(value, 4), agreeing


def turbid_confidence(ndti_mean: float | None, near_site: bool) -> tuple[float, list[str]]:
    """Confidence that a turbid reach is mining sediment: turbidity plus a site upstream/near."""
    strength = ramp(ndti_mean, *NDTI_RAMP)
    cues = (["turbidity"] if strength >= 0.5 else []) + (["site_near"] if near_site else [])
    return round(0.5 * strength + 0.5 * (1.0 if near_site else 0.0), 4), cues
