"""Candidate objects of one scene, found on crops: scars (seeded, grown, cleaned, filtered for
look-alikes by shape and ring), water bodies (small ones beside a scar are ponds, parts of large
ones turbid reaches), measured, and grouped into sites by distance.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon

from asm_core.detection.objects.disturbance import disturbed_ground, spoil_ground
from asm_core.detection.objects.lookalikes import ring_lookalike, shape_lookalike
from asm_core.detection.objects.morphology import (
    clean_mask,
    dilate,
    fill_small_holes,
    grow_from_seeds,
)
from asm_core.detection.objects.object_stats import ObjectStats, objects_stats
from asm_core.detection.objects.objects import (
    Labelled,
    ObjectCrop,
    inside_fraction,
    label_objects,
    object_crops,
    radius_px,
)
from asm_core.detection.objects.vectorize import in_metres, masks_to_polygons, metric_geometry
from asm_core.detection.pixels.heap import release_free_heap
from asm_core.detection.pixels.layers import SceneLayers, ScenePixels
from asm_core.detection.pixels.packed_mask import Bool
from asm_core.rules import RuleSet
from asm_core.spectral.indices import available_indices


@dataclass
class Candidate:
    crop: ObjectCrop
    cls: str
    polygon: shapely.Geometry
    metric: shapely.Geometry
    rectangularity: float
    stats: ObjectStats = field(default_factory=lambda: ObjectStats({}, {}, 0.0, None))
    #: found as disturbed ground where nearly all land is bare
    #: (asm_core/detection/objects/disturbance.py)
    disturbed: bool = False
    #: water bodies too small to map inside its extent (a processing yard's tanks, flooded
    #: shafts), counted for disturbed ground only
    tanks: int = 0


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


class CandidateFinder:
    def __init__(
        self,
        pixels: ScenePixels,
        layers: SceneLayers,
        rules: RuleSet,
        item_id: str,
        pixel_m: float,
        open_share: float = 0.0,
    ) -> None:
        self.pixels, self.layers, self.rules = pixels, layers, rules
        #: share of the valid pixels that are open land (see :func:`detector.detect_objects`)
        self.open_share = open_share
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

    def candidates(
        self, crops: list[ObjectCrop], cls: str, disturbed: bool = False
    ) -> list[Candidate]:
        """The crops as candidates of a class: their polygons (traced together, see
        :func:`masks_to_polygons`), in metres, and how rectangular they are (``disturbed``:
        found as disturbed ground)."""
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
            out.append(Candidate(crop, cls, polygon, metric, shape_fill, disturbed=disturbed))
        return out

    def measure(self, candidates: list[Candidate]) -> None:
        """Index statistics of every kept candidate, in raster order (GDAL's block cache then
        decodes each block about once for objects read back from the files); the grain of
        their roughness only where disturbed ground is searched (it judges nothing else)."""
        d = self.rules.disturbance
        ordered = sorted(candidates, key=lambda c: (c.crop.rows.start, c.crop.cols.start))
        crops = [c.crop for c in ordered]
        stats = objects_stats(
            self.pixels,
            crops,
            self.layers.valid,
            self.indices,
            self.layers.samples,
            texture_percentile=self.rules.objects.texture_percentile,
            ground=d if self.open_share >= d.open_share_min else None,
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

    def scars(self) -> list[Candidate]:
        """Scar candidates not taken for a look-alike: where nearly all the land is bare (a
        desert), the disturbed ground in it (:mod:`asm_core.detection.objects.disturbance`:
        there bareness says nothing), elsewhere the scar layer's objects."""
        disturbed = self.open_share >= self.rules.disturbance.open_share_min
        crops = self.disturbed_crops() if disturbed else self.scar_layer_crops()
        kept = []
        for cand in self.candidates(crops, "mining_scar", disturbed):
            if disturbed:
                cand.tanks = self.tanks(cand.crop)
            # (a desert has no bare fields to mistake for a dig: a regular working there is a
            # compound or a yard, and regular industrial ground is told apart by its size)
            verdict = (
                None if disturbed else shape_lookalike(cand.rectangularity, self.rules.lookalikes)
            )
            if verdict is None:
                kept.append(cand)
            else:
                self.suppressed[verdict] += 1
        return kept

    def scar_layer_crops(self) -> list[ObjectCrop]:
        """The scar layer's objects that are not the landscape itself and whose surroundings
        betray no look-alike (checked first: a polygon is only made for what they do not rule
        out)."""
        landscape = self.min_pixels(self.rules.objects.max_site_area_m2)
        plausible = []
        for crop in self.scar_crops():
            if crop.pixels > landscape:
                self.suppressed["landscape"] += 1
                continue
            verdict = ring_lookalike(crop, self.layers, self.rules.lookalikes)
            if verdict is None:
                plausible.append(crop)
            else:
                self.suppressed[verdict] += 1
        return plausible

    def disturbed_crops(self) -> list[ObjectCrop]:
        """Workings in the scene's open land found by their roughness (see
        :mod:`asm_core.detection.objects.disturbance`) that neither their size (a formal
        mine), their own pixels (a town) nor their surroundings rule out."""
        d, o = self.rules.disturbance, self.rules.objects
        min_pixels = self.min_pixels(o.min_object_m2)
        region = self.layer("open_land")
        region &= self.layers.valid.unpack()
        industrial = self.min_pixels(d.max_site_area_m2)
        mask = disturbed_ground(self.pixels, region, d, min_pixels)
        mask |= spoil_ground(self.pixels, region, d, o.opening_px, (min_pixels, industrial))
        del region
        crops = object_crops(label_objects(mask, min_pixels), self.ring_px)
        del mask
        built = self.layers.layers.get("built_up")
        out = []
        for crop in crops:
            if crop.pixels > industrial:
                self.suppressed["industrial"] += 1
            elif built is not None and inside_fraction(crop, built) >= d.built_up_min:
                self.suppressed["town"] += 1
            elif (verdict := ring_lookalike(crop, self.layers, self.rules.lookalikes)) is not None:
                self.suppressed[verdict] += 1
            else:
                out.append(crop)
        return out

    def tanks(self, crop: ObjectCrop) -> int:
        """Water bodies (8-connected) of at least ``tank_min_m2`` wholly within the object's
        hole-filled extent."""
        water = self.layers.layers.get("water")
        if water is None:
            return 0
        here = np.asarray(water[crop.rows, crop.cols], dtype=bool)
        inside = here & crop.filled
        if not inside.any():
            return 0
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            inside.view(np.uint8), connectivity=8
        )
        # a body that spills out of the extent is a lake or a river the object borders
        outside = cv2.dilate((here & ~crop.filled).view(np.uint8), _SQUARE).astype(bool)
        spilling = np.zeros(count, dtype=bool)
        spilling[np.unique(labels[outside])] = True
        big = stats[:, cv2.CC_STAT_AREA] >= self.min_pixels(self.rules.disturbance.tank_min_m2)
        return int(np.count_nonzero(big[1:] & ~spilling[1:]))

    def water_bodies(self) -> tuple[list[ObjectCrop], list[Candidate]]:
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

    def ponds(self, small: list[ObjectCrop], scars: list[Candidate]) -> list[Candidate]:
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

    def sites(self, members: list[Candidate]) -> list[list[Candidate]]:
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
        groups: dict[int, list[Candidate]] = {}
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


def _near(scars: list[Candidate], crop: ObjectCrop, reach: int) -> bool:
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
