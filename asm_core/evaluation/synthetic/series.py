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

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from scipy import ndimage
from shapely.geometry import mapping

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
from asm_core.evaluation.synthetic.scene import UTM_EPSG
from asm_core.evaluation.synthetic.scene_files import (
    GeoJsonFeature,
    scene_footprint,
    stac_item,
    truth_features,
    write_rasters,
)
from asm_core.evaluation.synthetic.shapes import Mask
from asm_core.evaluation.synthetic.site_stories import (
    FRESH_SPOIL,
    SeriesSpec,
    SiteStateTruth,
    SiteStory,
    TruthTracker,
    plan_sites,
    site_feature,
    write_truth,
)
from asm_core.evaluation.synthetic.spectra import spectrum
from asm_core.rules import TrackingSettings, load_rules
from asm_core.sources.sentinel2 import BOA_ADD_OFFSET_DN

WET_MONTHS = range(5, 11)  # May to October: the West African monsoon
SERIES_BASELINE = "05.10"


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


@dataclass(frozen=True)
class WrittenSeries:
    """Where a generated series went."""

    item_paths: list[Path]
    states: list[SiteStateTruth] = field(default_factory=list)
    sites: list[GeoJsonFeature] = field(default_factory=list)
    context: dict[str, Path] = field(default_factory=dict)  # layer name -> file


def _tile(seed: int) -> str:
    return f"30N{'TUVWXYZ'[seed % 7]}{'KLMNP'[(seed // 7) % 5]}"


def write_series(
    spec: SeriesSpec, out_dir: Path, settings: TrackingSettings | None = None
) -> WrittenSeries:
    """Generate the series and write one scene folder per date plus the truth files; truth
    states follow ``settings`` (default: the default rule set's)."""
    spec.validate()
    series = _Series.planted(spec, out_dir, settings or load_rules().tracking)
    paths, states, all_truth = [], [], []
    for t in range(spec.dates):
        path, seen, truth = series.look(t)
        paths.append(path)
        states.extend(seen)
        all_truth.extend(truth)
    site_features = [site_feature(s, series.transform, series.crs) for s in series.sites]
    write_truth(out_dir, all_truth, states, site_features)
    context = write_context_layers(
        out_dir / "context",
        [(s.key, s.story, s.rows, s.cols) for s in series.sites],
        series.land.rivers,
        series.base_features,
        series.transform,
        series.crs,
    )
    return WrittenSeries(paths, states, site_features, context)


@dataclass
class _Series:
    """One tile's land and planted sites, drawn again for each date from the same base."""

    spec: SeriesSpec
    out_dir: Path
    land: Landscape
    sites: list[SiteStory]
    trackers: dict[str, TruthTracker]
    transform: Affine
    crs: str = f"EPSG:{UTM_EPSG}"
    keep_clear: Mask = field(init=False)
    ever_open: dict[str, Mask] = field(init=False)
    base: tuple[Any, ...] = field(init=False)
    base_features: list[Any] = field(init=False)

    def __post_init__(self) -> None:
        size = self.spec.size
        self.keep_clear = np.zeros((size, size), dtype=bool)
        for site in self.sites:
            self.keep_clear[site.rows, site.cols] |= site.full
        self.ever_open = {s.key: np.zeros_like(s.full) for s in self.sites}
        land = self.land
        self.base = (land.reflectance.copy(), land.scl.copy(), land.water.copy())
        self.base_features = list(land.features)

    @classmethod
    def planted(cls, spec: SeriesSpec, out_dir: Path, settings: TrackingSettings) -> _Series:
        land = Landscape(spec.size, np.random.default_rng([spec.seed, 1_000_003]))
        land.add_river(amplitude=land.rng.uniform(0.04, 0.12) * spec.size)
        add_confounders(land, (spec.size / 2048) ** 2)
        sites = plan_sites(land, spec, settings.inactive_after_clear_looks)
        if not sites:
            raise SyntheticSceneError(
                f"no room for a site in a {spec.size} px scene; use a larger one"
            )
        transform = Affine(10.0, 0.0, 500000.0 + (spec.seed % 7) * 2560.0, 0.0, -10.0, 800000.0)
        trackers = {s.key: TruthTracker(settings) for s in sites}
        return cls(spec, out_dir, land, sites, trackers, transform)

    def look(self, t: int) -> tuple[Path, list[SiteStateTruth], list[GeoJsonFeature]]:
        """Draw and write date ``t``: its item's path, the sites' truth states, its truth."""
        spec, land = self.spec, self.land
        day = datetime.combine(spec.start, datetime.min.time(), UTC) + timedelta(
            days=t * spec.revisit_days, hours=10, minutes=42, seconds=31
        )
        land.rng = np.random.default_rng([spec.seed, t])
        land.reflectance, land.scl, land.water = (a.copy() for a in self.base)
        land.features = list(self.base_features)
        wet = day.month in WET_MONTHS
        _seasons(land, wet)
        opened = {}
        for site in self.sites:
            opened[site.key] = _paint_site(land, site, t, self.ever_open[site.key], wet)
            self.ever_open[site.key] |= opened[site.key]
        count = int(land.rng.integers(0, 3))
        hiding = _hiding_clouds(self.sites, land.rng, spec.hide_chance)
        obscured = add_clouds(land, count, hiding, self.keep_clear)
        mislabel_ponds_as_cloud(land, 0.3)
        add_haze(land)
        add_noise(land)
        item_id = f"S2{'AB'[t % 2]}_{_tile(spec.seed)}_{day:%Y%m%d}_0_L2A"
        path = self._write_scene(item_id, day)
        truth = truth_features(land, item_id, self.transform, self.crs, 100.0)
        (path.parent / "truth.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": truth}), encoding="utf-8"
        )
        return path, self._states(t, item_id, day, opened, obscured), truth

    def _write_scene(self, item_id: str, day: datetime) -> Path:
        spec, scene_dir = self.spec, self.out_dir / item_id
        scene_dir.mkdir(parents=True, exist_ok=True)
        write_rasters(
            self.land,
            scene_dir,
            self.transform,
            self.crs,
            np.zeros_like(self.keep_clear),
            BOA_ADD_OFFSET_DN,
        )
        footprint = mapping(scene_footprint(self.transform, spec.size, self.crs))
        item = stac_item(
            spec.size, spec.seed, item_id, day, _tile(spec.seed), SERIES_BASELINE, True,
            self.transform, self.crs, footprint, offset_in_metadata=True,
        )  # fmt: skip
        path = scene_dir / f"{item_id}.json"
        path.write_text(json.dumps(item, indent=1), encoding="utf-8")
        return path

    def _states(
        self,
        t: int,
        item_id: str,
        day: datetime,
        opened: dict[str, Mask],
        obscured: Mask,
    ) -> list[SiteStateTruth]:
        states: list[SiteStateTruth] = []
        for site in self.sites:
            crop = obscured[site.rows, site.cols]
            state, share = self.trackers[site.key].step(opened[site.key], site.vegetation[t], crop)
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
        return states
