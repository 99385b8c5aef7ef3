"""The rule set's sections after the pixel rules: the mask, objects, look-alikes, the scene's own
statistics, the BOA offset, the baseline looks, the footprint grid and tracking.
"""

from __future__ import annotations

from functools import cached_property

from pydantic import (
    Field,
)

from asm_core.rules.model import StrictModel, canonical_hash


class MaskSettings(StrictModel):
    """Which SCL classes are invalid, and when a 'cloud' is really a turbid pond."""

    invalid_scl: tuple[int, ...]
    pond_rescue_scl: tuple[int, ...]
    pond_rescue_mndwi_gt: float
    pond_rescue_swir16_lt: float


class ObjectSettings(StrictModel):
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


class DisturbanceSettings(StrictModel):
    """Ground dug where the landscape is as bare as the dig, found by its roughness
    (asm_core/detection/objects/disturbance.py)."""

    #: scenes whose open land is at least this share of their valid pixels are searched for
    #: disturbed ground instead of bare ground
    open_share_min: float = Field(gt=0, le=1)
    #: a pixel is rough where the local variation of brightness (3x3 coefficient of variation)
    #: is at least this, and at least this quantile of it over the bare ground searched
    rough_min: float = Field(gt=0, lt=0.5)
    rough_quantile: float = Field(gt=0, lt=1)
    #: ground is disturbed where rough pixels are at least this share of the window around it
    density_window_px: int = Field(ge=3, le=31)
    density_min: float = Field(gt=0, le=1)
    #: disturbed ground this close (px) joins one working
    join_px: int = Field(ge=0, le=5)
    #: disturbed ground wider than this is industrial mining (a formal mine's benched pit and
    #: dumps), not ASM
    max_site_area_m2: float = Field(gt=0)
    #: a smooth, regular body of disturbed ground this large is a tailings facility
    #: (industrial), not a processing yard
    impoundment_min_m2: float = Field(gt=0)
    #: disturbed ground whose own pixels are built-up for this share is a town
    built_up_min: float = Field(gt=0, le=1)
    #: spoil dug from below a weathered (varnished, iron-stained) surface is greyer than the
    #: ground around it, and no darker: its brightness at least (1 + this) times the ground's
    spoil_brighter_min: float = Field(ge=-1)
    #: water inside a working this large at least is a tank or a flooded shaft (MNDWI needs
    #: SWIR at 20 m: a lone 10 m pixel of it at a bright edge is a resolution artefact)
    tank_min_m2: float = Field(gt=0)
    #: smooth ground this much below the open land's median B4/B3, and no darker than its
    #: median brightness by spoil_brighter_min, is spoil ground (a processing yard's fines)
    spoil_greyer_min: float = Field(gt=0)
    #: spoil ground narrower than 2 x this + 1 px is a pale track, not a yard
    spoil_opening_px: int = Field(ge=0, le=5)
    #: ... and covers at least this share of a working (heaps and berms among pits and trenches)
    spoil_share_min: float = Field(ge=0, le=1)
    #: the scale (Gaussian sigma, px) at which a working's roughness averages out ...
    coarse_sigma_px: float = Field(gt=0, le=10)
    #: ... while an outcrop's does not: disturbed ground whose brightness, smoothed at that
    #: scale, still varies by this share of its texture or more is a rock body's shaded faces
    #: and edges
    coarse_ratio_max: float = Field(gt=0)
    #: ... where that smoothed brightness varies by this much at least (a smooth body, a yard
    #: of fines or a sand sheet, has little texture and little coarse variation either)
    coarse_variation_min: float = Field(ge=0)
    #: disturbed ground whose smoothed brightness varies this much is relief whatever its
    #: texture: an outcrop's faces or the benches of a formal pit 30 m wide
    coarse_variation_max: float = Field(gt=0)
    #: a site is relief where its relief members are this share of its disturbed pixels
    relief_share_min: float = Field(gt=0, le=1)


class LookalikeSettings(StrictModel):
    """Thresholds that tell ASM from its confounders (DESIGN.md)."""

    field_rectangularity_min: float = Field(gt=0, le=1)
    sandbar_ring_water_min: float = Field(ge=0, le=1)
    town_ring_built_up_min: float = Field(ge=0, le=1)
    cloud_ring_invalid_min: float = Field(ge=0, le=1)
    #: a site darker than this (mean of B2 B3 B4 B8 reflectance) is charcoal, not soil
    burn_brightness_max: float = Field(ge=0, le=1)


class SceneSettings(StrictModel):
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


class BoaOffsetSettings(StrictModel):
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


class BaselineSettings(StrictModel):
    """The same-season baseline looks (asm_core/detection/objects/baseline.py)."""

    #: looks within these days of the same date a year before
    days: int = Field(ge=1, le=182)
    #: the looks are read at this pixel size (from the COG overviews)
    resolution_m: float = Field(ge=10, le=60)


class FootprintGridSettings(StrictModel):
    """The per-look NDVI grid the tile job keeps for judging footprints
    (asm_core/detection/objects/observed.py)."""

    cell_m: float = Field(ge=10, le=200)
    #: pixels with NDVI below this are water, left out of a footprint's greenness
    water_ndvi: float = Field(ge=-1, le=1)
    #: the grid keeps NDVI up to this; greener cells are kept as this (all vegetation)
    vegetated_ndvi: float = Field(gt=0, le=1)


class TrackingSettings(StrictModel):
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
        return canonical_hash(self.model_dump(mode="json"))
