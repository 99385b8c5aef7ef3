"""Pixel rules: conditions on an index (asm_core/spectral/indices.py) or a band's reflectance,
ANDed within a rule and ORed into the rule's layer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from asm_core.rules.model import StrictModel
from asm_core.spectral.indices import INDEX_BANDS, INDEX_NAMES


def _known_index(name: str) -> str:
    if name not in INDEX_NAMES:
        raise ValueError(f"unknown index {name!r}; known: {', '.join(INDEX_NAMES)}")
    return name


#: an index of asm_core/spectral/indices.py (the table there is the only list of them)
IndexName = Annotated[str, AfterValidator(_known_index)]


BandName = Literal["blue", "green", "red", "nir", "swir16", "swir22"]


#: What a pixel rule marks. ``scar_grow`` pixels join a scar only when connected to a ``scar``
#: pixel (hysteresis: strict seeds, relaxed growth). ``built_up`` is context for look-alike
#: suppression, and ``open_land`` (land without vegetation cover) measures how open a
#: landscape is; neither is a result.
Layer = Literal["scar", "scar_grow", "water", "turbid", "built_up", "open_land"]


class Condition(StrictModel):
    """One comparison: an index or a band reflectance against thresholds.

    ``lt_quantile``/``gt_quantile`` make a bound scene-relative: where open land is common,
    the bound tightens to that quantile of the operand over the scene's open land
    (asm_core/rules/scene_statistics.py); ``lt``/``gt`` stay the limits it never passes.
    """

    index: IndexName | None = None
    band: BandName | None = None
    gt: float | None = None
    lt: float | None = None
    gt_quantile: float | None = Field(None, gt=0, lt=1)
    lt_quantile: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_operand_and_a_bound(self) -> Condition:
        if (self.index is None) == (self.band is None):
            raise ValueError("give exactly one of 'index' or 'band'")
        if self.gt is None and self.lt is None:
            raise ValueError("give at least one bound, 'gt' or 'lt'")
        if self.gt is not None and self.lt is not None and self.gt >= self.lt:
            raise ValueError(f"'gt' {self.gt} must be below 'lt' {self.lt}")
        for side in ("gt", "lt"):
            if getattr(self, f"{side}_quantile") is not None and getattr(self, side) is None:
                raise ValueError(
                    f"'{side}_quantile' needs '{side}' too: the fixed bound it never passes"
                )
        return self

    @property
    def operand(self) -> str:
        return self.index or self.band or ""

    def required_bands(self) -> set[str]:
        return set(INDEX_BANDS[self.index]) if self.index else {self.band or ""}


class PixelRule(StrictModel):
    """Pixels meeting every condition join the rule's layer.

    A rule with ``fallback_for`` stands in for the named rule when an item lacks that rule's
    bands (e.g. visible/NIR-only patches have no SWIR): it runs only then, and the sites it
    makes are scored lower (``confidence.fallback_factor``).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    layer: Layer
    all: tuple[Condition, ...] = Field(min_length=1)
    fallback_for: str | None = None

    def required_bands(self) -> set[str]:
        return set().union(*(c.required_bands() for c in self.all))
