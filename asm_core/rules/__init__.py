"""Versioned threshold rule sets: YAML files validated by pydantic.

A rule set says which pixels are candidates (pixel rules over indices and band reflectances), how
candidates become objects (minimum mapping unit, morphology, grouping into sites), which
look-alikes to suppress and how cues weigh into confidence. Its version and a content hash go into
every output row, so any result can be traced to the exact thresholds that made it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from asm_core.errors import RuleSetError
from asm_core.indices import INDEX_BANDS
from asm_core.sentinel2 import REFLECTANCE_BANDS

DEFAULT_RULES_PATH = Path(__file__).with_name("default.yaml")

IndexName = Literal["ndvi", "ndwi", "mndwi", "bsi", "ndti", "ferric_iron", "clay"]
BandName = Literal["blue", "green", "red", "nir", "swir16", "swir22"]
#: What a pixel rule marks. ``scar_grow`` pixels join a scar only when connected to a ``scar``
#: pixel (hysteresis: strict seeds, relaxed growth). ``built_up`` is context for look-alike
#: suppression, not a result.
Layer = Literal["scar", "scar_grow", "water", "turbid", "built_up"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """One comparison: an index or a band reflectance against thresholds."""

    index: IndexName | None = None
    band: BandName | None = None
    gt: float | None = None
    lt: float | None = None

    @model_validator(mode="after")
    def _one_operand_and_a_bound(self) -> Condition:
        if (self.index is None) == (self.band is None):
            raise ValueError("give exactly one of 'index' or 'band'")
        if self.gt is None and self.lt is None:
            raise ValueError("give at least one bound, 'gt' or 'lt'")
        if self.gt is not None and self.lt is not None and self.gt >= self.lt:
            raise ValueError(f"'gt' {self.gt} must be below 'lt' {self.lt}")
        return self

    @property
    def operand(self) -> str:
        return self.index or self.band or ""

    def required_bands(self) -> set[str]:
        return set(INDEX_BANDS[self.index]) if self.index else {self.band or ""}


class PixelRule(_Strict):
    """Pixels meeting every condition join the rule's layer."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    layer: Layer
    all: tuple[Condition, ...] = Field(min_length=1)

    def required_bands(self) -> set[str]:
        return set().union(*(c.required_bands() for c in self.all))


class MaskSettings(_Strict):
    """Which SCL classes are invalid, and when a 'cloud' is really a turbid pond."""

    invalid_scl: tuple[int, ...] = (0, 1, 3, 8, 9, 10, 11)
    pond_rescue_scl: tuple[int, ...] = (8, 9, 10)
    pond_rescue_mndwi_gt: float = 0.3
    pond_rescue_swir16_lt: float = 0.08


class ObjectSettings(_Strict):
    """From candidate pixels to objects and sites."""

    min_mapping_unit_m2: float = Field(5000.0, gt=0)
    min_object_m2: float = Field(1000.0, gt=0)
    min_site_confidence: float = Field(0.45, ge=0, le=1)
    opening_px: int = Field(1, ge=0, le=5)
    closing_px: int = Field(1, ge=0, le=5)
    pond_max_area_m2: float = Field(50000.0, gt=0)
    pond_max_distance_to_scar_m: float = Field(60.0, ge=0)
    site_grouping_distance_m: float = Field(60.0, ge=0)
    turbid_min_area_m2: float = Field(5000.0, gt=0)
    ring_width_m: float = Field(30.0, gt=0)


class LookalikeSettings(_Strict):
    """Thresholds that tell ASM from its confounders (DESIGN.md)."""

    field_rectangularity_min: float = Field(0.85, gt=0, le=1)
    sandbar_ring_water_min: float = Field(0.35, ge=0, le=1)
    town_ring_built_up_min: float = Field(0.2, ge=0, le=1)
    cloud_ring_invalid_min: float = Field(0.25, ge=0, le=1)


class TrackingSettings(_Strict):
    """How sites are followed over dates (asm_core/sites.py)."""

    match_distance_m: float = Field(60.0, ge=0)
    min_clear_share: float = Field(0.8, gt=0, le=1)
    growth_ratio: float = Field(1.2, gt=1)
    inactive_after_clear_looks: int = Field(2, ge=1)
    revegetation_ndvi_rise: float = Field(0.06, ge=0)
    baseline_days: int = Field(45, ge=1, le=182)
    bare_baseline_ndvi: float = Field(0.3, ge=-1, le=1)
    turbidity_ndti_rise: float = Field(0.03, ge=0)
    upstream_look_m: float = Field(300.0, gt=0)
    upstream_sites_within_m: float = Field(5000.0, gt=0)


class ConfidenceWeights(_Strict):
    """Weight of each independent cue; confidence is the weighted share of cues that agree."""

    spectral_strength: float = Field(0.25, ge=0)
    iron_oxide: float = Field(0.2, ge=0)
    vegetation_contrast: float = Field(0.2, ge=0)
    ponds: float = Field(0.15, ge=0)
    irregular_shape: float = Field(0.1, ge=0)
    turbid_water_near: float = Field(0.1, ge=0)
    #: counts only where a same-season baseline was available (asm_core/baseline.py)
    vegetation_loss: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ConfidenceWeights:
        always = {k: v for k, v in self.model_dump().items() if k != "vegetation_loss"}
        if sum(always.values()) <= 0:
            raise ValueError(
                "at least one confidence weight other than vegetation_loss (which needs a "
                "baseline) must be positive"
            )
        return self


class RuleSet(_Strict):
    """A complete, versioned detection configuration."""

    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    rules: tuple[PixelRule, ...] = Field(min_length=1)
    mask: MaskSettings = MaskSettings()
    objects: ObjectSettings = ObjectSettings()
    lookalikes: LookalikeSettings = LookalikeSettings()
    confidence: ConfidenceWeights = ConfidenceWeights()
    tracking: TrackingSettings = TrackingSettings()

    @model_validator(mode="after")
    def _unique_rule_names(self) -> RuleSet:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {duplicates}")
        return self

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the validated rule set (first 16 hex digits)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def version_tag(self) -> str:
        """``name@version``: what output rows carry as ``ruleset_version``."""
        return f"{self.name}@{self.version}"

    def runnable(self, bands: set[str]) -> tuple[list[PixelRule], list[str]]:
        """Split rules into those the available bands allow and the names of those skipped."""
        run = [r for r in self.rules if r.required_bands() <= bands]
        skipped = [r.name for r in self.rules if not r.required_bands() <= bands]
        return run, skipped


def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    location = ".".join(str(p) for p in first["loc"]) or "(top level)"
    value = first.get("input")
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"rule set {source}: {location}: {first['msg']}; got {shown}{more}"


def parse_rules(data: Any, source: str = "<memory>") -> RuleSet:
    """Validate an already-parsed rule set mapping."""
    if not isinstance(data, dict):
        raise RuleSetError(f"rule set {source}: expected a mapping at top level, got {data!r:.60}")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as e:
        raise RuleSetError(_describe(e, source)) from e


def available_rule_sets() -> list[str]:
    """Names of the rule sets shipped with the package (``default`` …)."""
    return sorted(p.stem for p in DEFAULT_RULES_PATH.parent.glob("*.yaml"))


def shipped_rules(name: str) -> RuleSet:
    """A rule set shipped with the package, by name."""
    if name not in available_rule_sets():
        raise RuleSetError(
            f"unknown rule set {name!r}; available: {', '.join(available_rule_sets())}"
        )
    return load_rules(DEFAULT_RULES_PATH.with_name(f"{name}.yaml"))


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a rule set YAML file (the shipped ``default.yaml`` when None)."""
    rules_path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        text = rules_path.read_text(encoding="utf-8")
    except OSError as e:
        raise RuleSetError(f"rule set {str(rules_path)!r} cannot be read: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RuleSetError(f"rule set {str(rules_path)!r} is not valid YAML: {e}") from e
    return parse_rules(data, repr(str(rules_path)))


__all__ = [
    "DEFAULT_RULES_PATH",
    "REFLECTANCE_BANDS",
    "Condition",
    "PixelRule",
    "RuleSet",
    "TrackingSettings",
    "available_rule_sets",
    "load_rules",
    "parse_rules",
    "shipped_rules",
]
