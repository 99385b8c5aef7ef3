"""How a site's cues become its confidence, and how many signs of digging it needs
(asm_core/detection/objects/confidence.py applies them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from asm_core.rules.model import StrictModel

#: The cues a site is scored on (asm_core/detection/objects/confidence.py says what each measures).
Cue = Literal[
    "bare_ground",
    "iron_oxide",
    "vegetation_contrast",
    "ponds",
    "pitted_texture",
    "irregular_shape",
    "turbid_water_near",
    "vegetation_loss",
    "fresh_spoil",
]


class ConfidenceWeights(StrictModel):
    """Weight of each independent cue; confidence is the weighted mean of the cue scores."""

    bare_ground: float = Field(ge=0)
    iron_oxide: float = Field(ge=0)
    vegetation_contrast: float = Field(ge=0)
    ponds: float = Field(ge=0)
    pitted_texture: float = Field(ge=0)
    irregular_shape: float = Field(ge=0)
    turbid_water_near: float = Field(ge=0)
    #: counts only where a same-season baseline was available
    #: (asm_core/detection/objects/baseline.py)
    vegetation_loss: float = Field(ge=0)
    #: counts only for disturbed ground found inside bare landscape
    #: (asm_core/detection/objects/disturbance.py)
    fresh_spoil: float = Field(ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ConfidenceWeights:
        sometimes = ("vegetation_loss", "fresh_spoil")
        always = {k: v for k, v in self.model_dump().items() if k not in sometimes}
        if sum(always.values()) <= 0:
            raise ValueError(
                "at least one confidence weight other than vegetation_loss (which needs a "
                "baseline) and fresh_spoil (for disturbed ground) must be positive"
            )
        return self


class Ramp(StrictModel):
    """A cue's score: 0 at ``start``, 1 at ``start + span``, linear between."""

    start: float
    span: float = Field(gt=0)


class CueRamps(StrictModel):
    """Where each measured cue starts to count and where it counts fully."""

    bare_ground: Ramp  # BSI over the site's scars
    iron_oxide: Ramp  # ferric-iron ratio B4/B3
    vegetation_contrast: Ramp  # NDVI of the ring around the scars
    ponds: Ramp  # number of pit ponds in the site
    pitted_texture: Ramp  # p75 of the local (3x3) coefficient of variation of brightness
    regular_shape: Ramp  # rectangularity (irregular_shape scores 1 minus this ramp)
    vegetation_loss: Ramp  # NDVI drop from the same-season baseline
    turbidity: Ramp  # NDTI of a turbid reach
    fresh_spoil: Ramp  # how much lower B4/B3 is on pale disturbed ground than around it


class ConfidenceSettings(StrictModel):
    """How cues become a site's confidence, and what a site needs beyond bare ground."""

    weights: ConfidenceWeights
    ramps: CueRamps
    #: a cue agrees (is named with the detection, and counts as a sign) from this score on
    agrees_at: float = Field(gt=0, le=1)
    #: the cues that tell a dig from ordinary bare ground (fields, savanna, sandbars)
    asm_cues: tuple[Cue, ...] = Field(min_length=1)
    #: a site needs at least this many of them agreeing (score >= 0.5) ...
    min_asm_cues: int = Field(ge=0)
    #: ... or this many in a scene where bare ground is rare (a forest, wet-season farmland):
    #: there, ground cut out of the vegetation is itself unusual
    min_asm_cues_where_bare_is_rare: int = Field(ge=0)
    #: signs of digging a site already tracked there needs (hysteresis)
    known_site_signs: int = Field(ge=0)
    #: a sign measured at or beyond this level (in the cue's own unit) counts as two
    strong_signs: dict[Cue, float]
    #: bare ground is rare where open land (the ``open_land`` layer) covers less than this
    #: share of a scene's valid pixels
    rare_open_share: float = Field(ge=0, le=1)
    #: confidence multiplier of sites found with fallback rules (e.g. no SWIR bands)
    fallback_factor: float = Field(gt=0, le=1)

    def signs_needed(self, open_share: float) -> int:
        """Signs of digging a site needs in a scene whose open land covers ``open_share``."""
        if open_share < self.rare_open_share:
            return self.min_asm_cues_where_bare_is_rare
        return self.min_asm_cues

    @model_validator(mode="after")
    def _enough_cues(self) -> ConfidenceSettings:
        for name in ("min_asm_cues", "min_asm_cues_where_bare_is_rare"):
            if getattr(self, name) > len(self.asm_cues):
                raise ValueError(
                    f"{name} {getattr(self, name)} exceeds the {len(self.asm_cues)} asm_cues"
                )
        return self
