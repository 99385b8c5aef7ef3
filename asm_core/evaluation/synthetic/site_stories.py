"""The sites of a synthetic series and their stories: where each is planted (apart from the
others, some beside the river), how its worked extent opens, grows, shrinks or is left date by
date, and its truth state on each date, worked out from the ground as drawn (open area, its
vegetation, the clear share seen so far) independently of the tracker.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypedDict

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import mapping

from asm_core.detection.objects.vectorize import mask_to_polygon, reproject
from asm_core.errors import SyntheticSceneError
from asm_core.evaluation.synthetic.landscape import (
    Landscape,
)
from asm_core.evaluation.synthetic.scene_files import GeoJsonFeature
from asm_core.evaluation.synthetic.shapes import Mask, smooth_field
from asm_core.rules import TrackingSettings

STORIES = ("steady", "appears", "grows", "shrinks", "revegetates", "pauses", "regrows")


#: Stories set beside the river, clouding it downstream while they are worked: one there all
#: along (as turbid as a year before: no alert) and two whose plume is news when it starts.
RIVERSIDE = ("steady", "appears", "pauses")


MIN_DATES, MAX_DATES = 4, 60


#: Vegetation share of open spoil: fresh pits, and pits being recolonised (still bare enough to
#: be detected, but greener by more than the rule set's revegetation NDVI rise).
FRESH_SPOIL, REGROWING_SPOIL = 0.1, 0.25


#: Vegetation share of an abandoned site's spoil on the looks after it is left, before it is
#: grown over (NDVI about 0.29, 0.33, 0.38 against 0.19 fresh and 0.69 grown over).
REGROWTH_RAMP = (REGROWING_SPOIL, 0.32, 0.4)


#: Sites are planted this far apart (px): closer, the per-date job rightly groups them into one
#: complex (site_grouping_distance_m), and one story could not be told from the other.
SEPARATION_PX = 15


PLACING_TRIES = 5


#: Share of a site's open ground in its pits, under water in the wet months.
FLOODED_PIT_SHARE = 0.3
#: Planted sites stay above the minimum mapping unit even at their smallest extent.
MIN_SITE_HA = 2.5


#: Extent shares (of the site's largest extent) of a small, a middling and a full site.
SMALL, MIDDLING, FULL = 0.45, 0.7, 1.0


@dataclass(frozen=True)
class SeriesSpec:
    """What to generate: ``dates`` looks at one tile, ``revisit_days`` apart from ``start``."""

    seed: int
    dates: int = 10
    size: int = 768
    sites: int = len(STORIES)  # one of each story
    start: date = date(2023, 1, 12)
    revisit_days: int = 36
    hide_chance: float = 0.15

    def validate(self) -> None:
        if not MIN_DATES <= self.dates <= MAX_DATES:
            raise SyntheticSceneError(
                f"dates {self.dates} is out of range; use {MIN_DATES}..{MAX_DATES}"
            )
        if not 256 <= self.size <= 4096:
            raise SyntheticSceneError(f"size {self.size} px is out of range; use 256..4096")
        if not 1 <= self.sites <= 40:
            raise SyntheticSceneError(f"sites {self.sites} is out of range; use 1..40")
        if self.revisit_days < 1:
            raise SyntheticSceneError(f"revisit_days {self.revisit_days} must be at least 1")
        if not 0 <= self.hide_chance < 1:
            raise SyntheticSceneError(f"hide_chance {self.hide_chance} must be in [0, 1)")


@dataclass
class SiteStory:
    """One planted site: where it can reach, and how much of that is open spoil on each date."""

    key: str
    story: str
    rows: slice
    cols: slice
    full: Mask
    order: npt.NDArray[np.float32]  # 0..1: when a pixel joins as the site opens up
    ponds: Mask
    pits: Mask  # flooded in the wet months
    seed: list[int]  # of the site's ground texture and mixture
    plume: tuple[slice, slice, Mask] | None  # the reach its sediment clouds while it is worked
    extent: list[float]  # share of the full extent open on each date (0: not there)
    vegetation: list[float]  # vegetation share of the open spoil on each date

    def open_mask(self, t: int) -> Mask:
        return np.asarray(self.full & (self.order <= self.extent[t]), dtype=bool)

    def centre(self) -> tuple[int, int]:
        r, c = np.nonzero(self.full)
        return self.rows.start + int(r.mean()), self.cols.start + int(c.mean())


def _schedule(
    story: str, n: int, rng: np.random.Generator, quiet_looks: int
) -> tuple[list[float], list[float]]:
    """Extent and vegetation share of a story's site on each of ``n`` dates."""
    k = int(rng.integers(2, n - 1))  # the date the story turns
    fresh = [FRESH_SPOIL] * n
    if story == "appears":
        k = int(rng.integers(max(1, n // 2), n - 1))  # late: a year of looks before it
        return [0.0] * k + [MIDDLING] * (n - k), fresh
    if story == "grows":
        return [SMALL] * k + [FULL] * (n - k), fresh
    if story == "shrinks":
        return [FULL] * k + [SMALL] * (n - k), fresh
    if story == "revegetates":
        return [FULL] * k + [SMALL] * (n - k), [FRESH_SPOIL] * k + [REGROWING_SPOIL] * (n - k)
    if story == "regrows" and n >= len(REGROWTH_RAMP) + 4:
        k = int(rng.integers(2, n - len(REGROWTH_RAMP) - 1))
        left = k + len(REGROWTH_RAMP)
        extent = [MIDDLING] * left + [0.0] * (n - left)
        return extent, [FRESH_SPOIL] * k + list(REGROWTH_RAMP) + [FRESH_SPOIL] * (n - left)
    if story == "pauses" and n >= quiet_looks + 5:
        dug = int(rng.integers(1, 3))
        quiet = quiet_looks + 2
        return [MIDDLING] * dug + [0.0] * quiet + [MIDDLING] * (n - dug - quiet), fresh
    return [MIDDLING] * n, fresh  # steady (and pauses or regrows in too short a series)


def _opening_order(full: Mask, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Rank (0..1) in which the pixels of a site open: outwards from its heart, irregularly."""
    r, c = np.nonzero(full)
    heart = np.zeros_like(full)
    heart[int(np.median(r)), int(np.median(c))] = True
    distance = np.asarray(ndimage.distance_transform_edt(~heart), dtype=np.float32)
    distance *= 1 + 0.25 * smooth_field(rng, full.shape, 4)
    order = np.ones(full.shape, dtype=np.float32) * 2
    ranks = np.argsort(np.argsort(distance[full]))
    order[full] = (ranks + 1) / len(ranks)
    return order


def _apart(
    planned: Mask, rows: slice, cols: slice, full: Mask, separation: int = SEPARATION_PX
) -> bool:
    """Whether a site lies ``separation`` px or more from every site planned before it."""
    r0, c0 = max(0, rows.start - separation), max(0, cols.start - separation)
    r1 = min(planned.shape[0], rows.stop + separation)
    c1 = min(planned.shape[1], cols.stop + separation)
    window = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    window[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = full
    reach = ndimage.binary_dilation(window, iterations=separation)
    return not bool(np.any(reach & planned[r0:r1, c0:c1]))


def plan_sites(land: Landscape, spec: SeriesSpec, quiet_looks: int) -> list[SiteStory]:
    stories: list[SiteStory] = []
    planned = np.zeros((spec.size, spec.size), dtype=bool)
    for k in range(spec.sites):
        story = STORIES[(spec.seed + k) % len(STORIES)]
        # one pit each: how pits group into sites is the per-date job's business, not tracking's
        riverside = story in RIVERSIDE
        for _ in range(PLACING_TRIES):
            placed = land.place_site(riverside, min_hectares=MIN_SITE_HA, max_parts=1)
            if placed is None or _apart(planned, *placed):
                break
        if placed is None or not _apart(planned, *placed):
            continue
        rows, cols, full = placed
        planned[rows, cols] |= full
        plume = land.plume_reach(rows, cols) if riverside and land.water.any() else None
        order = _opening_order(full, land.rng)
        core = full & (order <= SMALL)
        extent, vegetation = _schedule(story, spec.dates, land.rng, quiet_looks)
        depth = smooth_field(land.rng, full.shape, 5)
        pits = full & (depth >= np.quantile(depth[full], 1 - FLOODED_PIT_SHARE))
        stories.append(
            SiteStory(
                f"site-{len(stories) + 1:02d}",
                story,
                rows,
                cols,
                full,
                order,
                land.pond_mask(core),
                pits,
                [spec.seed, 7, k],
                plume,
                extent,
                vegetation,
            )
        )
    return stories


@dataclass
class TruthTracker:
    """The truth state machine over one site's dates (see the module docstring)."""

    settings: TrackingSettings
    seen: bool = False
    inactive: bool = False
    level: float = 0.0  # open area since the site's last change
    worked_vegetation: float = FRESH_SPOIL  # of its spoil when last worked
    footprint: Mask | None = None

    def step(self, open_now: Mask, vegetation: float, obscured: Mask) -> tuple[str | None, float]:
        area = float(open_now.sum()) * 100.0
        judged = self.footprint if self.footprint is not None else open_now
        share = 1.0 - float(obscured[judged].mean()) if judged.any() else 0.0
        clear = share >= self.settings.min_clear_share
        present = area > 0
        if not self.seen:
            if not (present and clear):
                return None, share
            self.seen, self.level, self.worked_vegetation = True, area, vegetation
            self._saw(open_now)
            return "new", share
        if not clear:
            return "unobserved", share
        if not present:  # a site's ground grows over when it closes
            self.inactive = True
            return "inactive", share
        ratio = self.settings.growth_ratio
        greener = vegetation > self.worked_vegetation
        if self.inactive:
            state = "reactivated"
        elif area > self.level * ratio:
            state = "expanding"
        elif area * ratio < self.level:
            state = "revegetating" if greener else "contracting"
        else:
            state = "revegetating" if greener else "persistent"
        if state != "persistent":
            self.level = area
        if not greener:
            self.worked_vegetation = vegetation
        self.inactive = False
        self._saw(open_now)
        return state, share

    def _saw(self, open_now: Mask) -> None:
        self.footprint = open_now if self.footprint is None else self.footprint | open_now


class SiteStateTruth(TypedDict):
    """A planted site's truth on one date (a row of ``site_states.csv``)."""

    site: str
    story: str
    item_id: str
    acquired: str
    present: bool
    area_m2: float
    clear_share: float
    state: str


def site_feature(site: SiteStory, transform: Affine, crs: str) -> GeoJsonFeature:
    local = transform @ Affine.translation(site.cols.start, site.rows.start)
    polygon = reproject(mask_to_polygon(site.full, local), crs, "EPSG:4326")
    return {
        "type": "Feature",
        "properties": {
            "site": site.key,
            "story": site.story,
            "max_area_m2": float(site.full.sum()) * 100.0,
        },
        "geometry": mapping(shapely.set_precision(polygon, 1e-8)),
    }


def write_truth(
    out_dir: Path,
    truth: list[GeoJsonFeature],
    states: list[SiteStateTruth],
    sites: list[GeoJsonFeature],
) -> None:
    (out_dir / "truth.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": truth}), encoding="utf-8"
    )
    (out_dir / "truth_sites.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": sites}), encoding="utf-8"
    )
    with (out_dir / "site_states.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(states[0]) if states else ["site"])
        writer.writeheader()
        writer.writerows(states)
