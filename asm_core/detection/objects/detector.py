"""From rule layers to ASM detections: scars, ponds beside scars, turbid reaches, grouped in sites.

Order of work (each step per object, on crops):
1. scar layer (bare ground of any substrate) → morphology → objects ≥ ``min_object_m2``; bare
   ground wider than ``max_site_area_m2`` is the landscape itself, not a dig;
2. look-alike suppression of each scar (cloud edge, sandbar, town/road, regular field);
3. water objects: small ones near a kept scar are ``pond``; the rest (aquaculture, lakes) dropped;
   turbid parts of large water bodies are ``turbid_water`` reaches;
4. scars and ponds within ``site_grouping_distance_m`` form a site; sites under the minimum
   mapping unit are dropped; confidence is scored per site from independent cues, and a site
   must show ``min_asm_cues`` signs of digging (asm_core/detection/objects/confidence.py) to be
   more than bare ground.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import shapely

from asm_core.detection.objects.baseline import BaselineNdvi
from asm_core.detection.objects.candidates import Candidate, CandidateFinder
from asm_core.detection.objects.confidence import (
    turbid_confidence,
)
from asm_core.detection.objects.object_stats import ObjectStats
from asm_core.detection.objects.site_judge import SiteFootprint, SiteJudge
from asm_core.detection.pixels.layers import SceneLayers, ScenePixels
from asm_core.rules import RuleSet


@dataclass
class Detection:
    """One detected object, in the scene's CRS."""

    detection_id: str
    site_id: str | None
    cls: str
    confidence: float
    cues: list[str]
    pixels: int
    area_m2: float
    perimeter_m: float
    rectangularity: float
    stats: ObjectStats
    geometry: shapely.Geometry
    baseline_ndvi: float | None = None  # the site's, in the same-season baseline composite


@dataclass
class SceneDetections:
    """Everything detection found in one scene, with what it threw away and why."""

    detections: list[Detection]
    suppressed: dict[str, int] = field(default_factory=dict)
    rescued_pond_pixels: int = 0
    #: share of the valid pixels that are bare ground: how open the landscape is
    open_share: float | None = None


def _digest(*parts: object) -> str:
    return hashlib.sha1(
        "|".join(str(p) for p in parts).encode(), usedforsecurity=False
    ).hexdigest()[:20]


def detect_objects(
    pixels: ScenePixels,
    layers: SceneLayers,
    rules: RuleSet,
    item_id: str,
    pixel_m: float,
    baseline: BaselineNdvi | None = None,
    fallback: bool = False,
    known_sites: Sequence[shapely.Geometry] = (),
) -> SceneDetections:
    """Turn a scene's rule layers into detections (see the module docstring for the steps);
    with a same-season ``baseline``, vegetation lost since then is one more cue. ``fallback``
    says the layers came from fallback rules (bands missing): confidence is scaled down.
    ``known_sites`` (in the candidates' metric CRS) are re-detected with less evidence."""
    open_share = _open_share(layers)
    d = CandidateFinder(pixels, layers, rules, item_id, pixel_m, open_share)
    # (running the water pipeline in a thread beside the scars measured no faster, with 60 MB
    # more at the peak: the two compete for the same two cores)
    scars = d.scars()
    small_waters, reaches = d.water_bodies()
    ponds = d.ponds(small_waters, scars)
    sites = _mappable_sites(d, scars + ponds, rules)
    # only what can still be kept is measured (each object's statistics are its own): on a
    # real farmland tile 5,000 of 11,000 sites are too small to map
    d.measure([m for members in sites for m in members] + reaches)
    judge = SiteJudge(
        rules,
        baseline,
        shapely.union_all([r.metric for r in reaches]) if reaches else None,
        rules.confidence.signs_needed(open_share),
        rules.confidence.fallback_factor if fallback else 1.0,
        shapely.STRtree(list(known_sites)) if known_sites else None,
    )
    out, centroids = _site_detections(sites, judge, d, item_id, rules)
    out += _reach_detections(reaches, centroids, item_id, rules)
    out.sort(key=lambda det: (det.cls, det.detection_id))
    return SceneDetections(
        out, dict(sorted(d.suppressed.items())), layers.rescued_pond_pixels, open_share
    )


def _mappable_sites(
    d: CandidateFinder, members: list[Candidate], rules: RuleSet
) -> list[list[Candidate]]:
    """Scars and ponds grouped into sites; a site without a scar, or under the minimum
    mapping unit, is dropped (and counted)."""
    sites = []
    for site in d.sites(members):
        if not any(m.cls == "mining_scar" for m in site) or (
            sum(m.metric.area for m in site) < rules.objects.min_mapping_unit_m2
        ):
            d.suppressed["below_mmu"] += 1
        else:
            sites.append(site)
    return sites


def _site_detections(
    sites: list[list[Candidate]],
    judge: SiteJudge,
    d: CandidateFinder,
    item_id: str,
    rules: RuleSet,
) -> tuple[list[Detection], list[shapely.Point]]:
    """The detections of the sites judged to be digs (each id made from its biggest scar),
    and those sites' centres."""
    out: list[Detection] = []
    centres = []
    for members in sites:
        footprint = SiteFootprint(members)
        why_not, confidence, agreeing, before = judge.judge(members, footprint)
        if why_not is not None:
            d.suppressed[why_not] += 1
            continue
        centres.append(footprint.geometry.centroid)
        biggest = max((m for m in members if m.cls == "mining_scar"), key=lambda m: m.crop.pixels)
        site_id = _digest(item_id, rules.content_hash, "site", *biggest.crop.anchor)[:16]
        out.extend(
            replace(
                _detection(m, item_id, rules.content_hash, site_id, confidence, agreeing),
                baseline_ndvi=before,
            )
            for m in members
        )
    return out, centres


def _reach_detections(
    reaches: list[Candidate], centres: list[shapely.Point], item_id: str, rules: RuleSet
) -> list[Detection]:
    """Turbid reaches, more confident with a site within ``turbid_site_search_m``."""
    near_sites = np.array(centres, dtype=object)
    out = []
    for r in reaches:
        near = bool(
            np.any(shapely.dwithin(r.metric, near_sites, rules.objects.turbid_site_search_m))
        )
        confidence, agreeing = turbid_confidence(r.stats.means.get("ndti"), near, rules.confidence)
        out.append(_detection(r, item_id, rules.content_hash, None, confidence, agreeing))
    return out


def _open_share(layers: SceneLayers) -> float:
    """Share of the scene's valid pixels that are open land (no vegetation cover)."""
    open_land, valid = layers.layers.get("open_land"), layers.valid.count()
    return round(open_land.count() / valid, 4) if open_land is not None and valid else 0.0


def _detection(
    m: Candidate,
    item_id: str,
    rules_hash: str,
    site_id: str | None,
    confidence: float,
    cues: list[str],
) -> Detection:
    return Detection(
        detection_id=_digest(item_id, rules_hash, m.cls, *m.crop.anchor, m.crop.pixels),
        site_id=site_id,
        cls=m.cls,
        confidence=confidence,
        cues=cues,
        pixels=m.crop.pixels,
        area_m2=round(float(m.metric.area), 2),
        perimeter_m=round(float(m.metric.length), 2),
        rectangularity=round(m.rectangularity, 4),
        stats=m.stats,
        geometry=m.polygon,
    )
