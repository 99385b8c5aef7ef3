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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon

from asm_core.detection.objects.baseline import BaselineNdvi
from asm_core.detection.objects.confidence import (
    SiteCues,
    combine,
    digging_signs,
    signs_count,
    site_cue_scores,
    turbid_confidence,
)
from asm_core.detection.objects.lookalikes import ring_lookalike, shape_lookalike
from asm_core.detection.objects.objects import (
    Labelled,
    ObjectCrop,
    ObjectStats,
    clean_mask,
    dilate,
    fill_small_holes,
    grow_from_seeds,
    label_objects,
    object_crops,
    objects_stats,
    radius_px,
)
from asm_core.detection.objects.vectorize import in_metres, masks_to_polygons, metric_geometry
from asm_core.detection.pixels.heap import release_free_heap
from asm_core.detection.pixels.layers import SceneLayers, ScenePixels
from asm_core.detection.pixels.packed_mask import Bool
from asm_core.rules import RuleSet
from asm_core.spectral.indices import available_indices


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


@dataclass
class _Candidate:
    crop: ObjectCrop
    cls: str
    polygon: shapely.Geometry
    metric: shapely.Geometry
    rectangularity: float
    stats: ObjectStats = field(default_factory=lambda: ObjectStats({}, {}, 0.0, None))


def _digest(*parts: object) -> str:
    return hashlib.sha1(
        "|".join(str(p) for p in parts).encode(), usedforsecurity=False
    ).hexdigest()[:20]


def _rectangularity(metric: shapely.Geometry, pixel_m: float) -> float:
    """How well the parcel fills its minimum rotated rectangle (1.0 for a rectangle).

    Measured on the parcel (holes filled, closed by one pixel with square joins) so that noise
    nibbling at a field's edge does not make it look irregular.
    """
    closed = metric.buffer(pixel_m, join_style="mitre").buffer(-pixel_m, join_style="mitre")
    parcel = shapely.union_all(
        [Polygon(p.exterior) for p in getattr(closed, "geoms", [closed]) if isinstance(p, Polygon)]
    )
    rectangle = shapely.minimum_rotated_rectangle(parcel)
    return float(parcel.area / rectangle.area) if rectangle.area > 0 else 0.0


_SQUARE = np.ones((3, 3), np.uint8)


def _rectangularity_on_grid(mask: Bool) -> float:
    """:func:`_rectangularity` of a crop's pixels on a north-up grid of square pixels, from the
    raster (equal to the polygon's within 1e-9, twice as fast: it was 13 % of a real farmland
    tile's time): closing by one pixel with a 3×3 square is the mitre buffer out and in, the
    parcel is the closed mask with its holes filled, and the pixel corners at each row's ends
    have the parcel's convex hull, hence its minimum rotated rectangle."""
    padded = np.zeros((mask.shape[0] + 4, mask.shape[1] + 4), np.uint8)
    padded[2:-2, 2:-2] = mask
    closed = cv2.erode(cv2.dilate(padded, _SQUARE), _SQUARE)
    cv2.floodFill(closed, None, (0, 0), 2)  # the outside (4-connected, as holes are)
    parcel = closed != 2
    rows = np.flatnonzero(parcel.any(axis=1))
    ends = parcel[rows]
    left = ends.argmax(axis=1)
    right = ends.shape[1] - ends[:, ::-1].argmax(axis=1)
    corners = np.column_stack(
        [np.concatenate([left, left, right, right]), np.concatenate([rows, rows + 1] * 2)]
    ).astype(np.float64)
    rectangle = shapely.minimum_rotated_rectangle(shapely.multipoints(corners))
    return float(parcel.sum() / rectangle.area) if rectangle.area > 0 else 0.0


class _Detector:
    def __init__(
        self, pixels: ScenePixels, layers: SceneLayers, rules: RuleSet, item_id: str, pixel_m: float
    ) -> None:
        self.pixels, self.layers, self.rules = pixels, layers, rules
        self.item_id, self.pixel_m = item_id, pixel_m
        self.pixel_area = pixel_m * pixel_m
        self.indices = available_indices(pixels.reflectance_bands)
        self.ring_px = radius_px(rules.objects.ring_width_m, pixel_m)
        self.suppressed: Counter[str] = Counter()

    def layer(self, name: str) -> Bool:
        """A rule layer unpacked to a full-grid mask (all false if the rule set lacks it)."""
        release_free_heap()  # strip-sized temporaries of the last step, before a full-size array
        packed = self.layers.layers.get(name)
        return packed.unpack() if packed is not None else np.zeros(self.pixels.shape, bool)

    def min_pixels(self, area_m2: float) -> int:
        return max(1, round(area_m2 / self.pixel_area))

    def candidates(self, crops: list[ObjectCrop], cls: str) -> list[_Candidate]:
        """The crops as candidates of a class: their polygons (traced together, see
        :func:`masks_to_polygons`), in metres, and how rectangular they are."""
        polygons = masks_to_polygons(
            [c.mask for c in crops],
            [(c.rows.start, c.cols.start) for c in crops],
            self.pixels.files.transform,
        )
        out = []
        grid = self.pixels.files.transform
        on_grid = (
            grid.b == grid.d == 0
            and abs(grid.a) == abs(grid.e) == self.pixel_m
            and in_metres(self.pixels.files.crs)
        )
        for crop, polygon in zip(crops, polygons, strict=True):
            # (a metric grid's polygon is its own metric geometry: asked once, not per object)
            metric = polygon if on_grid else metric_geometry(polygon, self.pixels.files.crs)
            shape_fill = (
                _rectangularity_on_grid(crop.mask)
                if on_grid
                else _rectangularity(metric, self.pixel_m)
            )
            out.append(_Candidate(crop, cls, polygon, metric, shape_fill))
        return out

    def measure(self, candidates: list[_Candidate]) -> None:
        """Index statistics of every kept candidate, in raster order (GDAL's block cache then
        decodes each block about once for objects read back from the files)."""
        ordered = sorted(candidates, key=lambda c: (c.crop.rows.start, c.crop.cols.start))
        crops = [c.crop for c in ordered]
        stats = objects_stats(
            self.pixels,
            crops,
            self.layers.valid,
            self.indices,
            self.layers.samples,
            texture_percentile=self.rules.objects.texture_percentile,
        )
        for cand, measured in zip(ordered, stats, strict=True):
            cand.stats = measured

    def scar_crops(self) -> list[ObjectCrop]:
        """Scar objects: strict seeds grown into relaxed neighbours, cleaned and labelled.

        (Working window by window around candidates does not pay: dirt roads connect
        candidates across a whole tile.)
        """
        o = self.rules.objects
        min_pixels = self.min_pixels(o.min_object_m2)
        seeds, grow = self.layers.layers.get("scar"), self.layers.layers.get("scar_grow")
        if seeds is not None and grow is not None:
            release_free_heap()
            mask = grow_from_seeds(seeds, grow)
        else:
            mask = self.layer("scar")
        # pits and puddles inside a scar are part of it: fill them before the opening, or a
        # scar ringing a small pond would be opened away as a thin line
        mask = fill_small_holes(mask, min_pixels)
        mask = clean_mask(mask, o.opening_px, o.closing_px, o.opening_reconstruct_px)
        mask = fill_small_holes(mask, min_pixels)
        return object_crops(label_objects(mask, min_pixels), self.ring_px)

    def scars(self) -> list[_Candidate]:
        settings = self.rules.lookalikes
        landscape = self.min_pixels(self.rules.objects.max_site_area_m2)
        plausible = []
        for crop in self.scar_crops():
            if crop.pixels > landscape:
                self.suppressed["landscape"] += 1
                continue
            # surroundings first: a polygon is only made for what they do not rule out
            verdict = ring_lookalike(crop, self.layers, settings)
            if verdict is None:
                plausible.append(crop)
            else:
                self.suppressed[verdict] += 1
        kept = []
        for cand in self.candidates(plausible, "mining_scar"):
            verdict = shape_lookalike(cand.rectangularity, settings)
            if verdict is None:
                kept.append(cand)
            else:
                self.suppressed[verdict] += 1
        return kept

    def water_bodies(self) -> tuple[list[ObjectCrop], list[_Candidate]]:
        """Small water bodies (pond candidates, judged later against the kept scars) and the
        turbid reaches of large ones. Works on bit-packed masks only (tens of MB for a tile),
        and touches no shared state."""
        o = self.rules.objects
        water = self.layers.layers.get("water")
        turbid_layer = self.layers.layers.get("turbid")
        if water is None:
            return [], []
        objects = label_objects(water, self.min_pixels(o.min_object_m2))
        parts, max_pond = objects.components, self.min_pixels(o.pond_max_area_m2)
        small = object_crops(
            Labelled(parts, objects.kept[parts.sizes[objects.kept] <= max_pond]), 1
        )
        if turbid_layer is None:
            return small, []
        # the turbid parts of large water bodies
        turbid = parts.select_packed(parts.sizes > max_pond) & turbid_layer
        reaches = label_objects(turbid, self.min_pixels(o.turbid_min_area_m2))
        return small, self.candidates(object_crops(reaches, 1), "turbid_water")

    def ponds(self, small: list[ObjectCrop], scars: list[_Candidate]) -> list[_Candidate]:
        """Small water bodies beside a kept scar; the others (fish ponds) are suppressed."""
        reach = radius_px(self.rules.objects.pond_max_distance_to_scar_m, self.pixel_m) + 1
        # the scars whose windows a pond's reach overlaps, from an index of their windows:
        # each pond against every scar took 400 of 635 CPU-s on a real farmland tile
        tree = shapely.STRtree([_window_box(s.crop, 0) for s in scars])
        beside = []
        for crop in small:
            nearby = [scars[int(i)] for i in sorted(tree.query(_window_box(crop, reach)))]
            if _near(nearby, crop, reach):
                beside.append(crop)
            else:
                self.suppressed["isolated_pond"] += 1
        return self.candidates(beside, "pond")

    def sites(self, members: list[_Candidate]) -> list[list[_Candidate]]:
        """Members within the grouping distance of each other (transitively) form a site."""
        if not members:
            return []
        distance = self.rules.objects.site_grouping_distance_m
        parent = list(range(len(members)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        tree = shapely.STRtree([m.metric for m in members])
        pairs = tree.query([m.metric for m in members], predicate="dwithin", distance=distance)
        for a, b in zip(*pairs, strict=True):
            parent[root(int(a))] = root(int(b))
        groups: dict[int, list[_Candidate]] = {}
        for i, m in enumerate(members):
            groups.setdefault(root(i), []).append(m)
        return sorted(groups.values(), key=lambda g: min(m.crop.anchor for m in g))


def _window_box(crop: ObjectCrop, reach: int) -> shapely.Geometry:
    """A crop's window on the grid (columns as x, rows as y), widened by ``reach`` px."""
    return shapely.box(
        crop.cols.start - reach,
        crop.rows.start - reach,
        crop.cols.stop + reach,
        crop.rows.stop + reach,
    )


def _near(scars: list[_Candidate], crop: ObjectCrop, reach: int) -> bool:
    """Whether any scar pixel lies within ``reach`` px (8-connected steps) of the object."""
    r0, c0 = crop.rows.start - reach, crop.cols.start - reach
    r1, c1 = crop.rows.stop + reach, crop.cols.stop + reach
    window = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    for s in scars:
        sr, sc = s.crop.rows, s.crop.cols
        top, left = max(r0, sr.start), max(c0, sc.start)
        bottom, right = min(r1, sr.stop), min(c1, sc.stop)
        if top < bottom and left < right:
            window[top - r0 : bottom - r0, left - c0 : right - c0] |= s.crop.mask[
                top - sr.start : bottom - sr.start, left - sc.start : right - sc.start
            ]
    if not window.any():
        return False
    placed = np.zeros_like(window)
    placed[reach : reach + crop.mask.shape[0], reach : reach + crop.mask.shape[1]] = crop.mask
    return bool(np.any(dilate(window, reach) & placed))


def _size_weighted(pairs: list[tuple[float | None, int]]) -> float | None:
    known = [(v, w) for v, w in pairs if v is not None]
    if not known:
        return None
    return sum(v * w for v, w in known) / sum(w for _, w in known)


def _weighted(members: list[_Candidate], key: str) -> float | None:
    return _size_weighted([(m.stats.means.get(key), m.crop.pixels) for m in members])


def _weighted_extra(members: list[_Candidate], key: str) -> float | None:
    return _size_weighted([(m.stats.extra.get(key), m.crop.pixels) for m in members])


def _ring_ndvi(members: list[_Candidate]) -> float | None:
    """NDVI around a site's scars, weighted by their size: what most of the site is cut into
    (a small scar beside a hedge does not make a field look cut out of forest)."""
    return _size_weighted([(m.stats.ring_ndvi, m.crop.pixels) for m in members])


def _baseline_ndvi(baseline: BaselineNdvi | None, scars: list[_Candidate]) -> float | None:
    """Mean of the baseline composite's NDVI under a site's scars (None: no baseline, or no
    baseline look saw them)."""
    if baseline is None:
        return None
    total, count = 0.0, 0
    for m in scars:
        part, n = baseline.mean_under(m.crop.rows, m.crop.cols, m.crop.mask)
        total, count = total + part, count + n
    return round(total / count, 4) if count else None


@dataclass
class _SiteJudge:
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

    def is_known(self, footprint: shapely.Geometry) -> bool:
        if self.known is None:
            return False
        near = self.rules.objects.known_site_match_m
        return bool(len(self.known.query(footprint, predicate="dwithin", distance=near)))

    def cues(self, members: list[_Candidate], footprint: shapely.Geometry) -> SiteCues:
        scars = [m for m in members if m.cls == "mining_scar"]
        biggest = max(scars, key=lambda m: m.crop.pixels)
        near = self.rules.objects.site_turbid_search_m
        return SiteCues(
            bsi_mean=_weighted(scars, "bsi"),
            ferric_mean=_weighted(scars, "ferric_iron"),
            ring_ndvi=_ring_ndvi(scars),
            rectangularity=biggest.rectangularity,
            ponds=len(members) - len(scars),
            turbid_water_near=self.reach_union is not None
            and bool(shapely.dwithin(footprint, self.reach_union, near)),
            texture=_weighted_extra(scars, "texture"),
        )

    def signs(self, cues: SiteCues) -> int:
        settings = self.rules.confidence
        scores = site_cue_scores(cues, settings.ramps)
        return signs_count(digging_signs(scores, settings), cues, settings)

    def judge(
        self, members: list[_Candidate], footprint: shapely.Geometry
    ) -> tuple[str | None, float, list[str], float | None]:
        """(why it is not a dig, or None), confidence, agreeing cues, baseline NDVI. A site
        already tracked here needs less (``known_site_signs``, ``known_site_min_confidence``)
        and says so with the ``known_site`` cue."""
        scars = [m for m in members if m.cls == "mining_scar"]
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
    d = _Detector(pixels, layers, rules, item_id, pixel_m)
    # (running the water pipeline in a thread beside the scars measured no faster, with 60 MB
    # more at the peak: the two compete for the same two cores)
    scars = d.scars()
    small_waters, reaches = d.water_bodies()
    ponds = d.ponds(small_waters, scars)
    settings, o = rules.confidence, rules.objects
    sites = []
    for members in d.sites(scars + ponds):
        if not any(m.cls == "mining_scar" for m in members) or (
            sum(m.metric.area for m in members) < o.min_mapping_unit_m2
        ):
            d.suppressed["below_mmu"] += 1
        else:
            sites.append(members)
    # only what can still be kept is measured (each object's statistics are its own): on a
    # real farmland tile 5,000 of 11,000 sites are too small to map
    d.measure([m for members in sites for m in members] + reaches)
    out: list[Detection] = []
    open_share = _open_share(layers)
    judge = _SiteJudge(
        rules,
        baseline,
        shapely.union_all([r.metric for r in reaches]) if reaches else None,
        settings.signs_needed(open_share),
        settings.fallback_factor if fallback else 1.0,
        shapely.STRtree(list(known_sites)) if known_sites else None,
    )
    site_centroids = []
    for members in sites:
        site_scars = [m for m in members if m.cls == "mining_scar"]
        footprint = shapely.union_all([m.metric for m in members])
        why_not, confidence, agreeing, before = judge.judge(members, footprint)
        if why_not is not None:
            d.suppressed[why_not] += 1
            continue
        site_centroids.append(footprint.centroid)
        biggest = max(site_scars, key=lambda m: m.crop.pixels)
        site_id = _digest(item_id, rules.content_hash, "site", *biggest.crop.anchor)[:16]
        out.extend(
            replace(
                _detection(m, item_id, rules.content_hash, site_id, confidence, agreeing),
                baseline_ndvi=before,
            )
            for m in members
        )
    centroids = np.array(site_centroids, dtype=object)
    for r in reaches:
        near = bool(np.any(shapely.dwithin(r.metric, centroids, o.turbid_site_search_m)))
        confidence, agreeing = turbid_confidence(r.stats.means.get("ndti"), near, settings)
        out.append(_detection(r, item_id, rules.content_hash, None, confidence, agreeing))
    out.sort(key=lambda det: (det.cls, det.detection_id))
    return SceneDetections(
        out, dict(sorted(d.suppressed.items())), layers.rescued_pond_pixels, open_share
    )


def _open_share(layers: SceneLayers) -> float:
    """Share of the scene's valid pixels that are open land (no vegetation cover)."""
    open_land, valid = layers.layers.get("open_land"), layers.valid.count()
    return round(open_land.count() / valid, 4) if open_land is not None and valid else 0.0


def _detection(
    m: _Candidate,
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
