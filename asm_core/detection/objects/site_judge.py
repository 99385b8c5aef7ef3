"""Whether a group of candidates is an ASM site: its cues scored
(asm_core/detection/objects/confidence.py), its signs of digging counted against what the
landscape needs, a known site kept from less evidence, and the vegetation the same-season
baseline saw under it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import shapely

from asm_core.detection.objects.baseline import BaselineNdvi
from asm_core.detection.objects.candidates import Candidate
from asm_core.detection.objects.confidence import (
    SiteCues,
    combine,
    digging_signs,
    signs_count,
    site_cue_scores,
)
from asm_core.rules import DisturbanceSettings, RuleSet


def _size_weighted(pairs: list[tuple[float | None, int]]) -> float | None:
    known = [(v, w) for v, w in pairs if v is not None]
    if not known:
        return None
    return sum(v * w for v, w in known) / sum(w for _, w in known)


def _weighted(members: list[Candidate], key: str) -> float | None:
    return _size_weighted([(m.stats.means.get(key), m.crop.pixels) for m in members])


def _weighted_extra(members: list[Candidate], key: str) -> float | None:
    return _size_weighted([(m.stats.extra.get(key), m.crop.pixels) for m in members])


def _ring_ndvi(members: list[Candidate]) -> float | None:
    """NDVI around a site's scars, weighted by their size: what most of the site is cut into
    (a small scar beside a hedge does not make a field look cut out of forest)."""
    return _size_weighted([(m.stats.ring_ndvi, m.crop.pixels) for m in members])


def _fresh_spoil(members: list[Candidate], share_min: float) -> float | None:
    """How much greyer (lower B4/B3) than the ground around it the disturbed members' spoil is:
    their pixels no darker than that ground (``spoil_ferric``: fresh rock from below a
    varnished or iron-stained surface is grey and pale, the pits and trenches between the
    heaps are shaded), where such pixels are at least ``share_min`` of the member (a basalt
    outcrop is grey and dark: 0), weighted by size; None without a disturbed member to
    measure."""
    pairs: list[tuple[float | None, int]] = []
    for m in members:
        extra = m.stats.extra
        spoil, share, around = (
            extra.get("spoil_ferric"),
            extra.get("spoil_share", 0.0),
            extra.get("ring_ferric"),
        )
        if not m.disturbed or around is None:
            continue
        greyer = around - spoil if spoil is not None and share >= share_min else 0.0
        pairs.append((greyer, m.crop.pixels))
    return _size_weighted(pairs)


def _is_relief(member: Candidate, settings: DisturbanceSettings) -> bool:
    """Whether a disturbed member's brightness still varies at the coarse scale, by
    ``coarse_variation_max``, or by ``coarse_variation_min`` and ``coarse_ratio_max`` of its
    texture: the shaded faces and edges of a rock body or the benches of a formal pit, not
    pits and heaps that average out."""
    extra = member.stats.extra
    coarse, texture = extra.get("coarse_variation"), extra.get("texture")
    if coarse is None or coarse < settings.coarse_variation_min:
        return False
    return coarse >= settings.coarse_variation_max or (
        bool(texture) and coarse / texture >= settings.coarse_ratio_max  # type: ignore[operator]
    )


def _relief(members: list[Candidate], settings: DisturbanceSettings) -> bool:
    """Whether relief (:func:`_is_relief`) is at least ``relief_share_min`` of the disturbed
    members' pixels (a smooth dump beside a benched pit does not make the pit a working)."""
    disturbed = [m for m in members if m.disturbed]
    total = sum(m.crop.pixels for m in disturbed)
    relief = sum(m.crop.pixels for m in disturbed if _is_relief(m, settings))
    return bool(total) and relief >= settings.relief_share_min * total


def _industrial(members: list[Candidate], rules: RuleSet) -> bool:
    """Whether the disturbed members are industrial mining: together wider than a working
    (``max_site_area_m2``: a formal pit, its dumps and haul roads, each piece smaller), or one
    of them a tailings facility, a smooth (texture under the roughness floor), regular
    (rectangularity of a field) body of ``impoundment_min_m2`` or more."""
    d = rules.disturbance
    disturbed = sum(m.metric.area for m in members if m.disturbed)
    return disturbed > d.max_site_area_m2 or any(
        m.disturbed
        and m.metric.area >= d.impoundment_min_m2
        and m.rectangularity >= rules.lookalikes.field_rectangularity_min
        and m.stats.extra.get("texture", 0.0) < d.rough_min
        for m in members
    )


def _baseline_ndvi(baseline: BaselineNdvi | None, scars: list[Candidate]) -> float | None:
    """Mean of the baseline composite's NDVI under a site's scars (None: no baseline, or no
    baseline look saw them)."""
    if baseline is None:
        return None
    total, count = 0.0, 0
    for m in scars:
        part, n = baseline.mean_under(m.crop.rows, m.crop.cols, m.crop.mask)
        total, count = total + part, count + n
    return round(total / count, 4) if count else None


class SiteFootprint:
    """A site's footprint (the union of its members, metric CRS), made the first time it is
    asked for: most sites are judged without it (it is compared only with turbid reaches and
    known sites), and making every site's was 6 % of a real farmland tile's time."""

    def __init__(self, members: list[Candidate]) -> None:
        self._members = members

    @cached_property
    def geometry(self) -> shapely.Geometry:
        return shapely.union_all([m.metric for m in self._members])


@dataclass
class SiteJudge:
    """Decides, site by site, whether a group of scars and ponds is a dig (and how sure)."""

    rules: RuleSet
    baseline: BaselineNdvi | None
    reach_union: shapely.Geometry | None
    signs_needed: int
    factor: float  # confidence multiplier (fallback rules)
    #: footprints of the sites already tracked here (metric CRS), for hysteresis
    known: shapely.STRtree | None = None

    def __post_init__(self) -> None:
        if self.reach_union is not None:
            shapely.prepare(self.reach_union)

    def is_known(self, footprint: SiteFootprint) -> bool:
        if self.known is None:
            return False
        near = self.rules.objects.known_site_match_m
        return bool(len(self.known.query(footprint.geometry, predicate="dwithin", distance=near)))

    def cues(self, members: list[Candidate], footprint: SiteFootprint) -> SiteCues:
        scars = [m for m in members if m.cls == "mining_scar"]
        biggest = max(scars, key=lambda m: m.crop.pixels)
        near = self.rules.objects.site_turbid_search_m
        # disturbed ground is found where nearly all land is bare: no vegetation frames it, so
        # its contrast with vegetation cannot be judged (left out, not counted against it)
        disturbed = any(m.disturbed for m in scars)
        return SiteCues(
            bsi_mean=_weighted(scars, "bsi"),
            ferric_mean=_weighted(scars, "ferric_iron"),
            ring_ndvi=None if disturbed else _ring_ndvi(scars),
            rectangularity=biggest.rectangularity,
            ponds=len(members) - len(scars) + sum(m.tanks for m in scars),
            turbid_water_near=self.reach_union is not None
            and bool(shapely.dwithin(footprint.geometry, self.reach_union, near)),
            texture=_weighted_extra(scars, "texture"),
            fresh_spoil=_fresh_spoil(scars, self.rules.disturbance.spoil_share_min),
        )

    def signs(self, cues: SiteCues) -> int:
        settings = self.rules.confidence
        scores = site_cue_scores(cues, settings.ramps)
        return signs_count(digging_signs(scores, settings), cues, settings)

    def judge(
        self, members: list[Candidate], footprint: SiteFootprint
    ) -> tuple[str | None, float, list[str], float | None]:
        """(why it is not a dig, or None), confidence, agreeing cues, baseline NDVI. A site
        already tracked here needs less (``known_site_signs``, ``known_site_min_confidence``)
        and says so with the ``known_site`` cue."""
        scars = [m for m in members if m.cls == "mining_scar"]
        if _relief(scars, self.rules.disturbance):
            return "relief", 0.0, [], None
        if _industrial(scars, self.rules):
            return "industrial", 0.0, [], None
        cues = self.cues(members, footprint)
        known = self.is_known(footprint)
        settings, objects = self.rules.confidence, self.rules.objects
        needed = settings.known_site_signs if known else self.signs_needed
        floor = objects.known_site_min_confidence if known else objects.min_site_confidence
        before, now = None, _weighted(scars, "ndvi")
        # the baseline is read (a window per look) only where it can decide, or for a site
        # that is kept anyway (alerts ask whether it was bare a year before)
        if self.baseline is not None and self.signs(cues) >= needed - 1:
            before = _baseline_ndvi(self.baseline, scars)
            if before is not None and now is not None:
                cues = replace(cues, ndvi_drop=before - now)
        if self.signs(cues) < needed:
            return "bare_ground_only", 0.0, [], before
        brightness = _weighted_extra(scars, "brightness")
        if brightness is not None and brightness < self.rules.lookalikes.burn_brightness_max:
            return "burn_scar", 0.0, [], before
        scores = site_cue_scores(cues, settings.ramps)
        confidence, agreeing = combine(scores, settings.weights, settings.agrees_at)
        confidence = round(confidence * self.factor, 4)
        if confidence < floor:
            return "low_confidence", confidence, agreeing, before
        return None, confidence, sorted([*agreeing, "known_site"]) if known else agreeing, before
