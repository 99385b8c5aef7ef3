"""Confidence in 0..1 from how many independent cues agree, and whether a site is more than bare
ground.

Each cue is scored in 0..1 on a ramp from the rule set (a soft ramp, not a hard switch, so a
borderline cue counts partly); confidence is the weighted mean of the scores with the rule set's
weights. The names of the cues scoring at least 0.5 are kept with the detection so a reviewer can
see why it was called.

Bare ground is everywhere in a dry season, a savanna or a desert, so bareness (and soil colour)
only supports a site: it must also show signs of digging that ordinary bare ground does not
(``confidence.asm_cues``: ground cut out of vegetation, a cluster of pit ponds, a pitted texture,
vegetation lost since the same season a year before, turbid water next to it, and - for ground
dug where the landscape is as bare, :mod:`asm_core.detection.objects.disturbance` - grey spoil
brighter than the weathered ground around it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from asm_core.rules import ConfidenceSettings, ConfidenceWeights, CueRamps, Ramp


def ramp(value: float | None, r: Ramp) -> float:
    """0 below ``r.start``, 1 above ``r.start + r.span``, linear between; None scores 0."""
    if value is None:
        return 0.0
    return min(1.0, max(0.0, (value - r.start) / r.span))


@dataclass(frozen=True)
class SiteCues:
    """What a site looks like, summarised over its scars and ponds."""

    bsi_mean: float | None
    ferric_mean: float | None
    ring_ndvi: float | None
    rectangularity: float
    ponds: int
    turbid_water_near: bool
    texture: float | None = None  # p75 of the local brightness variation inside the scars
    ndvi_drop: float | None = None  # from the same-season baseline, when there is one
    #: for disturbed ground where nearly all land is bare: how much greyer (B4/B3) than the
    #: ground around it its spoil is, where no darker (0 where darker); None for other sites,
    #: whose vegetation contrast (``ring_ndvi``) is judged instead
    fresh_spoil: float | None = None

    def measured(self) -> dict[str, float | None]:
        """What each cue measured, in its own unit (the scores are these on their ramps)."""
        return {
            "bare_ground": self.bsi_mean,
            "iron_oxide": self.ferric_mean,
            "vegetation_contrast": self.ring_ndvi,
            "ponds": float(self.ponds),
            "pitted_texture": self.texture,
            "irregular_shape": self.rectangularity,
            "turbid_water_near": 1.0 if self.turbid_water_near else 0.0,
            "vegetation_loss": self.ndvi_drop,
            "fresh_spoil": self.fresh_spoil,
        }


def site_cue_scores(cues: SiteCues, ramps: CueRamps) -> dict[str, float]:
    """Score each independent cue of a mining site (vegetation loss only with a baseline)."""
    scores = {
        "bare_ground": ramp(cues.bsi_mean, ramps.bare_ground),
        "iron_oxide": ramp(cues.ferric_mean, ramps.iron_oxide),
        "ponds": ramp(float(cues.ponds), ramps.ponds),
        "pitted_texture": ramp(cues.texture, ramps.pitted_texture),
        "irregular_shape": 1.0 - ramp(cues.rectangularity, ramps.regular_shape),
        "turbid_water_near": 1.0 if cues.turbid_water_near else 0.0,
    }
    if cues.ring_ndvi is not None or cues.fresh_spoil is None:
        scores["vegetation_contrast"] = ramp(cues.ring_ndvi, ramps.vegetation_contrast)
    if cues.ndvi_drop is not None:
        scores["vegetation_loss"] = ramp(cues.ndvi_drop, ramps.vegetation_loss)
    if cues.fresh_spoil is not None:
        scores["fresh_spoil"] = ramp(cues.fresh_spoil, ramps.fresh_spoil)
    return scores


#: Cues that can only add confidence: ground that was bare a year before may be an old working
#: still dug today, so no vegetation loss is no evidence against a site.
BONUS_ONLY = frozenset({"vegetation_loss"})


def _mean(scores: Mapping[str, float], weights: ConfidenceWeights) -> float:
    w = {name: weight for name, weight in weights.model_dump().items() if name in scores}
    total = sum(w.values())
    return sum(w[name] * scores[name] for name in w) / total if total > 0 else 0.0


def combine(
    scores: Mapping[str, float], weights: ConfidenceWeights, agrees_at: float
) -> tuple[float, list[str]]:
    """Weighted mean of the scored cues (a cue that could not be judged, like vegetation loss
    without a baseline, is left out rather than counted as disagreeing; a bonus-only cue is
    counted only where it raises the mean), and the cues that agree (score ≥ ``agrees_at``)."""
    value = _mean(scores, weights)
    plain = {k: v for k, v in scores.items() if k not in BONUS_ONLY}
    if len(plain) < len(scores) and _mean(plain, weights) > value:
        value, scores = _mean(plain, weights), plain
    agreeing = sorted(name for name, s in scores.items() if s >= agrees_at)
    return round(value, 4), agreeing


def digging_signs(scores: Mapping[str, float], settings: ConfidenceSettings) -> list[str]:
    """The cues that tell this site from ordinary bare ground and agree."""
    return sorted(c for c in settings.asm_cues if scores.get(c, 0.0) >= settings.agrees_at)


def signs_count(signs: list[str], cues: SiteCues, settings: ConfidenceSettings) -> int:
    """How many signs of digging a site shows: a sign measured at or beyond its
    ``strong_signs`` level (far beyond anything ordinary ground shows) counts twice."""
    measured = cues.measured()
    strong = sum(
        1
        for cue, level in settings.strong_signs.items()
        if cue in signs and (measured.get(cue) or 0.0) >= level
    )
    return len(signs) + strong


def turbid_confidence(
    ndti_mean: float | None, near_site: bool, settings: ConfidenceSettings
) -> tuple[float, list[str]]:
    """Confidence that a turbid reach is mining sediment: turbidity plus a site upstream/near."""
    strength = ramp(ndti_mean, settings.ramps.turbidity)
    agrees = strength >= settings.agrees_at
    cues = (["turbidity"] if agrees else []) + (["site_near"] if near_site else [])
    return round(0.5 * strength + 0.5 * (1.0 if near_site else 0.0), 4), cues
