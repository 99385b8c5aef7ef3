"""One synthetic tile seen on many dates, with the truth state of every site on every date.

Each site follows a story over the dates: it is there all along (``steady``), ``appears``,
``grows``, ``shrinks`` (the pit is backfilled), ``revegetates`` (smaller and greener),
``pauses`` (grows over, then is dug again) or ``regrows`` (abandoned: its spoil greens look by
look until it is grown over). The land around it has seasons: in the monsoon months
(May–October) vegetation greens up, the river floods its banks with sediment-laden water and
the pits of every site fill with water (a third of its open ground), to drain again in the dry
season. Every date has its own clouds; some are placed on sites to hide them on that date, the
others keep clear of every site, so a site is either plainly seen or plainly hidden.

The truth state of a site on a date is worked out here from the story and the ground as drawn
(open area, flooded pits included; how much vegetation its spoil carries; grown over or not;
clear share of the footprint seen so far), independently of :mod:`asm_core.monitoring.sites`, so the
evaluation checks the tracker against the definitions rather than against itself: a size
change is one past ``growth_ratio`` of the extent since the site's last change; spoil greener
than when last worked is revegetating; ground grown over is inactive.

Written next to the scenes: ``truth.geojson`` (every planted feature of every
date), ``site_states.csv`` (site × date: story, present, area, clear share, state) and
``truth_sites.geojson`` (each site's largest extent and story).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import mapping

from asm_core.detection.objects.vectorize import mask_to_polygon, reproject
from asm_core.errors import SyntheticSceneError
from asm_core.evaluation.synthetic.atmosphere import (
    add_clouds,
    add_haze,
    add_noise,
    mislabel_ponds_as_cloud,
)
from asm_core.evaluation.synthetic.confounders import add_confounders
from asm_core.evaluation.synthetic.context_layers import write_context_layers
from asm_core.evaluation.synthetic.landscape import (
    SCL_BARE,
    SCL_VEGETATION,
    SCL_WATER,
    Feature,
    Landscape,
)
from asm_core.evaluation.synthetic.scene import (
    UTM_EPSG,
    scene_footprint,
    stac_item,
    truth_features,
    write_rasters,
)
from asm_core.evaluation.synthetic.shapes import Mask, smooth_field
from asm_core.evaluation.synthetic.spectra import spectrum
from asm_core.rules import TrackingSettings, load_rules
from asm_core.sources.sentinel2 import BOA_ADD_OFFSET_DN

STORIES = ("steady", "appears", "grows", "shrinks", "revegetates", "pauses", "regrows")
#: Stories set beside the river, clouding it downstream while they are worked: one there all
#: along (as turbid as a year before: no alert) and two whose plume is news when it starts.
RIVERSIDE = ("steady", "appears", "pauses")
WET_MONTHS = range(5, 11)  # May to October: the West African monsoon
MIN_DATES, MAX_DATES = 4, 60
SERIES_BASELINE = "05.10"
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


def _plan_sites(land: Landscape, spec: SeriesSpec, quiet_looks: int) -> list[SiteStory]:
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


def _seasons(land: Landscape, wet: bool) -> None:
    """Monsoon green-up of the vegetation and sediment-laden floods over the river banks."""
    if not wet:
        return
    vegetation = (land.scl == SCL_VEGETATION) & ~land.taken
    land.reflectance[vegetation] = (
        0.75 * land.reflectance[vegetation] + 0.25 * spectrum("forest")
    ).astype(np.float32)
    banks = ndimage.binary_dilation(land.water, iterations=3) & ~land.taken
    floodwater = (0.2 * spectrum("clear_water") + 0.8 * spectrum("turbid_water")).astype(np.float32)
    land.reflectance[banks] = floodwater
    land.scl[banks] = SCL_WATER


def _paint_site(land: Landscape, site: SiteStory, t: int, ever_open: Mask, wet: bool) -> Mask:
    """The site as it is on date ``t``; ground dug before and closed now grows over; in the
    wet months its pits are flooded."""
    now = site.open_mask(t)
    regrowth = ever_open & ~now
    if regrowth.any():
        grown = (0.5 * spectrum("forest") + 0.5 * spectrum("savanna")).astype(np.float32)
        land.paint(site.rows, site.cols, regrowth, grown, SCL_VEGETATION)
    if now.any():
        # the same ground on every date: its texture and mixture come from the site's own seed
        # (regrowth evens out: recolonised spoil is greener all over, not in patches)
        level = site.vegetation[t]
        texture = 0.06 if level == FRESH_SPOIL else 0.02
        spoil = land.site_spoil(now.shape, level, np.random.default_rng(site.seed), texture)
        land.paint(site.rows, site.cols, now, spoil, SCL_BARE)
        water = (site.ponds | site.pits) if wet else site.ponds
        land.paint(site.rows, site.cols, water & now, spectrum("mining_pond"), SCL_WATER)
        land.features.append(
            Feature("mining_site", site.rows, site.cols, now.copy(), {"site": site.key})
        )
        if site.plume is not None:
            rows, cols, reach = site.plume
            land.paint(rows, cols, reach, spectrum("turbid_water"), SCL_WATER)
            land.features.append(
                Feature("turbid_reach", rows, cols, reach.copy(), {"site": site.key})
            )
    return now


def _hiding_clouds(
    sites: list[SiteStory], rng: np.random.Generator, chance: float
) -> list[tuple[int, int, float]]:
    placed = []
    for site in sites:
        if rng.random() < chance:
            h, w = site.full.shape
            radius = math.hypot(h, w) / 2 + 30
            placed.append((*site.centre(), math.pi * radius**2))
    return placed


@dataclass
class _TruthTracker:
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


@dataclass(frozen=True)
class WrittenSeries:
    """Where a generated series went."""

    item_paths: list[Path]
    states: list[dict[str, Any]] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Path] = field(default_factory=dict)  # layer name -> file


def _tile(seed: int) -> str:
    return f"30N{'TUVWXYZ'[seed % 7]}{'KLMNP'[(seed // 7) % 5]}"


def write_series(
    spec: SeriesSpec, out_dir: Path, settings: TrackingSettings | None = None
) -> WrittenSeries:
    """Generate the series and write one scene folder per date plus the truth files; truth
    states follow ``settings`` (default: the default rule set's)."""
    spec.validate()
    settings = settings or load_rules().tracking
    land = Landscape(spec.size, np.random.default_rng([spec.seed, 1_000_003]))
    land.add_river(amplitude=land.rng.uniform(0.04, 0.12) * spec.size)
    add_confounders(land, (spec.size / 2048) ** 2)
    sites = _plan_sites(land, spec, settings.inactive_after_clear_looks)
    if not sites:
        raise SyntheticSceneError(f"no room for a site in a {spec.size} px scene; use a larger one")
    keep_clear = np.zeros((spec.size, spec.size), dtype=bool)
    for site in sites:
        keep_clear[site.rows, site.cols] |= site.full
    transform = Affine(10.0, 0.0, 500000.0 + (spec.seed % 7) * 2560.0, 0.0, -10.0, 800000.0)
    crs = f"EPSG:{UTM_EPSG}"
    footprint = mapping(scene_footprint(transform, spec.size, crs))
    tile = _tile(spec.seed)
    trackers = {s.key: _TruthTracker(settings) for s in sites}
    ever_open = {s.key: np.zeros_like(s.full) for s in sites}
    base_reflectance, base_scl = land.reflectance.copy(), land.scl.copy()
    base_water, base_features = land.water.copy(), list(land.features)
    paths, states, all_truth = [], [], []
    for t in range(spec.dates):
        day = datetime.combine(spec.start, datetime.min.time(), UTC) + timedelta(
            days=t * spec.revisit_days, hours=10, minutes=42, seconds=31
        )
        land.rng = np.random.default_rng([spec.seed, t])
        land.reflectance, land.scl = base_reflectance.copy(), base_scl.copy()
        land.water, land.features = base_water.copy(), list(base_features)
        wet = day.month in WET_MONTHS
        _seasons(land, wet)
        opened = {}
        for site in sites:
            opened[site.key] = _paint_site(land, site, t, ever_open[site.key], wet)
            ever_open[site.key] |= opened[site.key]
        count = int(land.rng.integers(0, 3))
        obscured = add_clouds(
            land, count, _hiding_clouds(sites, land.rng, spec.hide_chance), keep_clear
        )
        mislabel_ponds_as_cloud(land, 0.3)
        add_haze(land)
        add_noise(land)
        item_id = f"S2{'AB'[t % 2]}_{tile}_{day:%Y%m%d}_0_L2A"
        scene_dir = out_dir / item_id
        scene_dir.mkdir(parents=True, exist_ok=True)
        write_rasters(land, scene_dir, transform, crs, np.zeros_like(keep_clear), BOA_ADD_OFFSET_DN)
        item = stac_item(
            spec.size, spec.seed, item_id, day, tile, SERIES_BASELINE, True, transform, crs,
            footprint, offset_in_metadata=True,
        )  # fmt: skip
        paths.append(scene_dir / f"{item_id}.json")
        paths[-1].write_text(json.dumps(item, indent=1), encoding="utf-8")
        for site in sites:
            crop = obscured[site.rows, site.cols]
            state, share = trackers[site.key].step(opened[site.key], site.vegetation[t], crop)
            if state is None:
                continue
            states.append(
                {
                    "site": site.key,
                    "story": site.story,
                    "item_id": item_id,
                    "acquired": day.strftime("%Y-%m-%d"),
                    "present": bool(opened[site.key].any()),
                    "area_m2": float(opened[site.key].sum()) * 100.0,
                    "clear_share": round(share, 3),
                    "state": state,
                }
            )
        truth = truth_features(land, item_id, transform, crs, 100.0)
        (scene_dir / "truth.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": truth}), encoding="utf-8"
        )
        all_truth.extend(truth)
    site_features = [_site_feature(s, transform, crs) for s in sites]
    _write_truth(out_dir, all_truth, states, site_features)
    context = write_context_layers(
        out_dir / "context",
        [(s.key, s.story, s.rows, s.cols) for s in sites],
        land.rivers,
        base_features,
        transform,
        crs,
    )
    return WrittenSeries(paths, states, site_features, context)


def _site_feature(site: SiteStory, transform: Affine, crs: str) -> dict[str, Any]:
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


def _write_truth(
    out_dir: Path,
    truth: list[dict[str, Any]],
    states: list[dict[str, Any]],
    sites: list[dict[str, Any]],
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
