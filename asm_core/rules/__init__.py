"""Versioned threshold rule sets: YAML files validated by pydantic.

A rule set says which pixels are candidates (pixel rules over indices and band reflectances), how
candidates become objects (minimum mapping unit, morphology, grouping into sites), which
look-alikes to suppress and how cues weigh into confidence. Its version and a content hash go into
every output row, so any result can be traced to the exact thresholds that made it.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from asm_core.errors import RuleSetError
from asm_core.rules.confidence_settings import (
    ConfidenceSettings,
    ConfidenceWeights,
    Cue,
    CueRamps,
    Ramp,
)
from asm_core.rules.model import StrictModel, canonical_hash
from asm_core.rules.pixel_rules import BandName, Condition, IndexName, Layer, PixelRule
from asm_core.rules.settings import (
    BaselineSettings,
    BoaOffsetSettings,
    DisturbanceSettings,
    FootprintGridSettings,
    LookalikeSettings,
    MaskSettings,
    ObjectSettings,
    SceneSettings,
    TrackingSettings,
)
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS
from asm_core.sources.user_files import read_text_file

DEFAULT_RULES_PATH = Path(__file__).with_name("default.yaml")


class RuleSet(StrictModel):
    """A complete, versioned detection configuration."""

    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    rules: tuple[PixelRule, ...] = Field(min_length=1)
    mask: MaskSettings
    objects: ObjectSettings
    disturbance: DisturbanceSettings
    lookalikes: LookalikeSettings
    confidence: ConfidenceSettings
    scene: SceneSettings
    boa_offset: BoaOffsetSettings
    baseline: BaselineSettings
    footprint_grid: FootprintGridSettings
    tracking: TrackingSettings

    @model_validator(mode="after")
    def _unique_rule_names(self) -> RuleSet:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {duplicates}")
        primaries = {r.name: r for r in self.rules if r.fallback_for is None}
        for rule in self.rules:
            target = primaries.get(rule.fallback_for or "")
            if rule.fallback_for is not None and target is None:
                raise ValueError(
                    f"rule {rule.name!r} is a fallback for {rule.fallback_for!r}, which is not "
                    f"a primary rule of this set; primary rules: {sorted(primaries)}"
                )
            if target is not None and target.layer != rule.layer:
                raise ValueError(
                    f"fallback rule {rule.name!r} writes layer {rule.layer!r} but "
                    f"{target.name!r} writes {target.layer!r}; a fallback must write the same"
                )
        return self

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of everything that shapes detections (first 16 hex
        digits; the ``tracking`` settings have their own): computed once (every detection id
        carries it), and what tells a scan a tile-date was already mapped with these rules."""
        return canonical_hash(self.model_dump(mode="json", exclude={"tracking"}))

    @property
    def version_tag(self) -> str:
        """``name@version``: what output rows carry as ``ruleset_version``."""
        return f"{self.name}@{self.version}"

    def runnable(self, bands: set[str]) -> tuple[list[PixelRule], list[str]]:
        """The rules to run on an item with these bands, and each rule skipped, with why.

        A primary rule runs when its bands are there; a fallback runs only when the rule it
        stands in for cannot. Skipped entries name the missing bands and any stand-in, e.g.
        ``"bare_ground (needs swir16; bare_ground_visible runs instead)"``; a fallback that is
        not needed is not listed.
        """
        can = {r.name: r.required_bands() <= bands for r in self.rules}
        stand_in = {
            r.fallback_for: r.name for r in self.rules if r.fallback_for is not None and can[r.name]
        }
        run, skipped = [], []
        for rule in self.rules:
            missing = sorted(rule.required_bands() - bands)
            if missing:
                instead = f"; {stand_in[rule.name]} runs instead" if rule.name in stand_in else ""
                skipped.append(f"{rule.name} (needs {', '.join(missing)}{instead})")
            elif rule.fallback_for is None or not can[rule.fallback_for]:
                run.append(rule)
        return run, skipped

    def fallbacks_used(self, bands: set[str]) -> list[str]:
        """Names of the fallback rules an item with these bands runs."""
        return [r.name for r in self.runnable(bands)[0] if r.fallback_for is not None]


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
    text = read_text_file(rules_path, "rule set", RuleSetError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:  # PyYAML's message spans lines: the problem and where
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RuleSetError(
            f"rule set {str(rules_path)!r} is not valid YAML{where}: {problem}"
        ) from e
    return parse_rules(data, repr(str(rules_path)))


__all__ = [
    "DEFAULT_RULES_PATH",
    "REFLECTANCE_BANDS",
    "BandName",
    "BaselineSettings",
    "BoaOffsetSettings",
    "Condition",
    "ConfidenceSettings",
    "ConfidenceWeights",
    "Cue",
    "CueRamps",
    "DisturbanceSettings",
    "FootprintGridSettings",
    "IndexName",
    "Layer",
    "LookalikeSettings",
    "MaskSettings",
    "ObjectSettings",
    "PixelRule",
    "Ramp",
    "RuleSet",
    "SceneSettings",
    "TrackingSettings",
    "available_rule_sets",
    "load_rules",
    "parse_rules",
    "shipped_rules",
]
