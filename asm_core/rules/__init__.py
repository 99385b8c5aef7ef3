"""Versioned threshold rule sets: YAML files validated by pydantic.

A rule set says which pixels are candidates (pixel rules over indices and band reflectances), how
candidates become objects (minimum mapping unit, morphology, grouping into sites), which
look-alikes to suppress and how cues weigh into confidence. Its version and a content hash go into
every output row, so any result can be traced to the exact thresholds that made it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from asm_core.errors import RuleSetError
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS
from asm_core.sources.user_files import read_text_file
from asm_core.spectral.indices import INDEX_BANDS, INDEX_NAMES

DEFAULT_RULES_PATH = Path(__file__).with_name("default.yaml")


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
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


class PixelRule(_Strict):
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


class MaskSettings(_Strict):
    """Which SCL classes are invalid, and when a 'cloud' is really a turbid pond."""

    invalid_scl: tuple[int, ...]
    pond_rescue_scl: tuple[int, ...]
    pond_rescue_mndwi_gt: float
    pond_rescue_swir16_lt: float


class ObjectSettings(_Strict):
    """From candidate pixels to objects and sites."""

    min_mapping_unit_m2: float = Field(gt=0)
    min_object_m2: float = Field(gt=0)
    #: bare ground more extensive than this is the landscape (a savanna, a dry plain), not a dig
    max_site_area_m2: float = Field(gt=0)
    min_site_confidence: float = Field(ge=0, le=1)
    opening_px: int = Field(ge=0, le=5)
    #: after the opening, pixels of the original mask this close to a surviving body return
    opening_reconstruct_px: int = Field(ge=0, le=5)
    closing_px: int = Field(ge=0, le=5)
    pond_max_area_m2: float = Field(gt=0)
    pond_max_distance_to_scar_m: float = Field(ge=0)
    site_grouping_distance_m: float = Field(ge=0)
    turbid_min_area_m2: float = Field(gt=0)
    ring_width_m: float = Field(gt=0)
    #: an object this near a site already tracked on the tile is re-detected with less
    #: evidence than a new site needs (hysteresis; asm_core/detection/objects/known_sites.py)
    known_site_match_m: float = Field(ge=0)
    #: a turbid reach this close to a site is "site near"; a site this close to a reach has
    #: "turbid water near"
    turbid_site_search_m: float = Field(gt=0)
    site_turbid_search_m: float = Field(gt=0)
    #: a site already tracked there is kept from this confidence on (hysteresis)
    known_site_min_confidence: float = Field(ge=0, le=1)
    #: an object's texture is this percentile of its local variation
    #: (asm_core/detection/objects/objects.py)
    texture_percentile: float = Field(gt=0, le=100)


class LookalikeSettings(_Strict):
    """Thresholds that tell ASM from its confounders (DESIGN.md)."""

    field_rectangularity_min: float = Field(gt=0, le=1)
    sandbar_ring_water_min: float = Field(ge=0, le=1)
    town_ring_built_up_min: float = Field(ge=0, le=1)
    cloud_ring_invalid_min: float = Field(ge=0, le=1)
    #: a site darker than this (mean of B2 B3 B4 B8 reflectance) is charcoal, not soil
    burn_brightness_max: float = Field(ge=0, le=1)


class SceneSettings(_Strict):
    """How a scene's own statistics are sampled and when they make bounds relative."""

    #: pixels sampled from the COG overviews (asm_core/rules/scene_statistics.py)
    sample_pixels: int = Field(ge=1000)
    #: quantile bounds apply where open land covers at least this share of the sample
    relative_open_share: float = Field(ge=0, le=1)
    #: the land background of the geology ratios (asm_core/spectral/geology.py): pixels
    #: sampled, the scene classes that are bare ground, and the fewest bare pixels to trust
    geology_sample_pixels: int = Field(ge=1000)
    bare_scl: tuple[int, ...] = Field(min_length=1)
    geology_min_bare_pixels: int = Field(ge=1)


class BoaOffsetSettings(_Strict):
    """When a scene's own dark pixels say its DN carry the +1000 BOA offset
    (asm_core/spectral/reflectance.py)."""

    #: share of valid dark-band pixels below DN 1000 above which the offset cannot be there
    absent_if_below_share: float = Field(gt=0, lt=1)
    #: with the offset, [1000 - window, 1000) is nearly empty while [1000, 1000 + window) is
    #: populated: at least floor_min_pixels above, at most floor_max_ratio of that below
    floor_window_dn: int = Field(gt=0, le=1000)
    floor_min_pixels: int = Field(ge=1)
    floor_max_ratio: float = Field(ge=0, lt=1)
    #: pixels per band sampled (from the COG overviews) to look for the floor
    evidence_samples: int = Field(ge=1000)


class BaselineSettings(_Strict):
    """The same-season baseline looks (asm_core/detection/objects/baseline.py)."""

    #: looks within these days of the same date a year before
    days: int = Field(ge=1, le=182)
    #: the looks are read at this pixel size (from the COG overviews)
    resolution_m: float = Field(ge=10, le=60)


class FootprintGridSettings(_Strict):
    """The per-look NDVI grid the tile job keeps for judging footprints
    (asm_core/detection/objects/observed.py)."""

    cell_m: float = Field(ge=10, le=200)
    #: pixels with NDVI below this are water, left out of a footprint's greenness
    water_ndvi: float = Field(ge=-1, le=1)
    #: the grid keeps NDVI up to this; greener cells are kept as this (all vegetation)
    vegetated_ndvi: float = Field(gt=0, le=1)


class TrackingSettings(_Strict):
    """How sites are followed over dates, and when they make alerts
    (asm_core/monitoring/): hashed apart from detection, so changing them re-tracks sites
    without re-mapping a tile."""

    match_distance_m: float = Field(ge=0)
    min_clear_share: float = Field(gt=0, le=1)
    growth_ratio: float = Field(gt=1)
    #: how far in or out each look's boundary may sit (the size-change margin, per metre of
    #: perimeter and look)
    edge_uncertainty_m: float = Field(ge=0)
    #: a change past growth_ratio but within the margin counts after this many clear looks
    size_confirm_looks: int = Field(ge=1)
    #: pits, spoil and the ponds in them are one extent: gaps this narrow are closed
    extent_closing_m: float = Field(ge=0)
    inactive_after_clear_looks: int = Field(ge=1)
    revegetation_ndvi_rise: float = Field(ge=0)
    #: a footprint this much greener than when it was worked has grown over
    regrown_ndvi_rise: float = Field(gt=0)
    bare_baseline_ndvi: float = Field(ge=-1, le=1)
    turbidity_ndti_rise: float = Field(ge=0)
    upstream_look_m: float = Field(gt=0)
    upstream_sites_within_m: float = Field(gt=0)
    #: a turbid reach is judged against its clear looks within these days of the same date
    #: a year before
    turbidity_baseline_days: int = Field(ge=1, le=182)
    #: a reach is on a river when its footprint is this near a river line
    turbidity_on_river_m: float = Field(gt=0)
    #: the water probed upstream: a disc this wide
    turbidity_probe_radius_m: float = Field(gt=0)
    #: a site counts as upstream when this near the river, from this far below the reach's
    #: head (a site beside the head feeds it too)
    turbidity_site_on_river_m: float = Field(gt=0)
    turbidity_beside_head_m: float = Field(ge=0)
    #: sites this near a turbid reach on its tile are named in its alert
    turbidity_near_sites_m: float = Field(gt=0)
    #: a site's ferric-iron or clay anomaly this many spreads above its tile-date's land
    #: median is reported as altered ground (asm_core/spectral/geology.py)
    alteration_alert_spreads: float = Field(gt=0)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of these settings (first 16 hex digits)."""
        return _canonical_hash(self.model_dump(mode="json"))


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
]


class ConfidenceWeights(_Strict):
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

    @model_validator(mode="after")
    def _some_weight(self) -> ConfidenceWeights:
        always = {k: v for k, v in self.model_dump().items() if k != "vegetation_loss"}
        if sum(always.values()) <= 0:
            raise ValueError(
                "at least one confidence weight other than vegetation_loss (which needs a "
                "baseline) must be positive"
            )
        return self


class Ramp(_Strict):
    """A cue's score: 0 at ``start``, 1 at ``start + span``, linear between."""

    start: float
    span: float = Field(gt=0)


class CueRamps(_Strict):
    """Where each measured cue starts to count and where it counts fully."""

    bare_ground: Ramp  # BSI over the site's scars
    iron_oxide: Ramp  # ferric-iron ratio B4/B3
    vegetation_contrast: Ramp  # NDVI of the ring around the scars
    ponds: Ramp  # number of pit ponds in the site
    pitted_texture: Ramp  # p75 of the local (3x3) coefficient of variation of brightness
    regular_shape: Ramp  # rectangularity (irregular_shape scores 1 minus this ramp)
    vegetation_loss: Ramp  # NDVI drop from the same-season baseline
    turbidity: Ramp  # NDTI of a turbid reach


class ConfidenceSettings(_Strict):
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


class RuleSet(_Strict):
    """A complete, versioned detection configuration."""

    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    rules: tuple[PixelRule, ...] = Field(min_length=1)
    mask: MaskSettings
    objects: ObjectSettings
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
        return _canonical_hash(self.model_dump(mode="json", exclude={"tracking"}))

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


def _canonical_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


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
    "BaselineSettings",
    "BoaOffsetSettings",
    "Condition",
    "FootprintGridSettings",
    "PixelRule",
    "RuleSet",
    "SceneSettings",
    "TrackingSettings",
    "available_rule_sets",
    "load_rules",
    "parse_rules",
    "shipped_rules",
]
