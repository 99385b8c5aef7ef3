"""Compose a synthetic scene and write it as COGs, a STAC item and truth GeoJSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from affine import Affine
from pyproj import Transformer
from shapely.geometry import mapping

from asm_core.errors import SyntheticSceneError
from asm_core.evaluation.synthetic.atmosphere import (
    add_clouds,
    add_haze,
    add_noise,
    mislabel_ponds_as_cloud,
)
from asm_core.evaluation.synthetic.confounders import add_confounders
from asm_core.evaluation.synthetic.landscape import Landscape
from asm_core.evaluation.synthetic.landscapes import LANDSCAPES, draw_landscape
from asm_core.evaluation.synthetic.scene_files import (
    GeoJsonFeature,
    scene_footprint,
    stac_item,
    truth_features,
    write_rasters,
)
from asm_core.sources.sentinel2 import BOA_ADD_OFFSET_DN

MIN_SIZE, MAX_SIZE = 100, 10980
BASELINES = ("02.14", "04.00", "05.10")
UTM_EPSG = 32630  # WGS 84 / UTM 30N: Ghana, Burkina Faso, Côte d'Ivoire
CLOUDY_SCL = (3, 8, 9)


@dataclass(frozen=True)
class SceneSpec:
    """What to generate. Unset fields are drawn from the seed."""

    seed: int
    size: int = 1024
    lookalikes_only: bool = False
    baseline: str | None = None
    boa_flag: bool | None = None
    flag_absent: bool = False
    dn_offset_in_pixels: bool | None = None
    epsg: int = UTM_EPSG
    clouds: int | None = None
    sites: int | None = None
    origin: tuple[float, float] | None = None
    item_id: str | None = None
    #: what the scene shows (asm_core/evaluation/synthetic/landscapes.py); ``forest`` is the default
    landscape: str = "forest"

    def validate(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise SyntheticSceneError(
                f"size {self.size} px is out of range; use {MIN_SIZE}..{MAX_SIZE}"
            )
        if self.baseline is not None and self.baseline not in BASELINES:
            raise SyntheticSceneError(
                f"baseline {self.baseline!r} unknown; use one of {', '.join(BASELINES)}"
            )
        if self.landscape not in LANDSCAPES:
            raise SyntheticSceneError(
                f"landscape {self.landscape!r} unknown; use one of {', '.join(LANDSCAPES)}"
            )
        utm = 32601 <= self.epsg <= 32660 or 32701 <= self.epsg <= 32760
        if not utm and self.epsg != 4326:
            raise SyntheticSceneError(
                f"epsg {self.epsg} unsupported; use a WGS 84 / UTM zone (326xx, 327xx) or 4326"
            )


def _landscape(spec: SceneSpec, rng: np.random.Generator) -> tuple[Landscape, int]:
    land = Landscape(spec.size, rng)
    density = (spec.size / 2048) ** 2
    n_sites = (
        0
        if spec.lookalikes_only
        else (spec.sites if spec.sites is not None else max(2, round(8 * density)))
    )
    if spec.landscape == "forest":
        land.add_river(amplitude=rng.uniform(0.04, 0.12) * spec.size)
        add_confounders(land, density)
        for k in range(n_sites):
            land.add_site(near_river=(k % 2 == 0) and not spec.lookalikes_only)
    else:
        draw_landscape(land, spec.landscape, density, n_sites)
    n_clouds = spec.clouds if spec.clouds is not None else int(rng.integers(0, 3))
    add_clouds(land, round(n_clouds * max(1.0, density)))
    cloudy = np.isin(land.scl, CLOUDY_SCL)
    for f in land.features:
        if f.kind == "mining_site":
            f.props["cloud_fraction"] = round(float(cloudy[f.rows, f.cols][f.mask].mean()), 3)
    mislabelled = mislabel_ponds_as_cloud(land, 0.3)
    add_haze(land)
    add_noise(land)
    return land, mislabelled


def _grid(spec: SceneSpec) -> tuple[Affine, str]:
    """Top-left origin and pixel size: ``spec.origin`` (in ``spec.epsg`` for UTM) or a spot in
    Ghana that moves with the seed."""
    x0, y0 = spec.origin or (500000.0 + (spec.seed % 7) * 10 * spec.size / 4, 800000.0)
    if spec.epsg != 4326:
        return Affine(10.0, 0.0, x0, 0.0, -10.0, y0), f"EPSG:{spec.epsg}"
    lon0, lat0 = Transformer.from_crs(f"EPSG:{UTM_EPSG}", "EPSG:4326", always_xy=True).transform(
        x0, y0
    )
    dlat = 10.0 / 110574.0
    dlon = 10.0 / (111320.0 * math.cos(math.radians(lat0)))
    return Affine(dlon, 0.0, lon0, 0.0, -dlat, lat0), "EPSG:4326"


def _item_id(spec: SceneSpec, baseline: str) -> tuple[str, datetime, str]:
    year = {"02.14": 2021, "04.00": 2022, "05.10": 2024}[baseline]
    day = datetime(year, 1, 1, 10, 42, 31, tzinfo=UTC) + timedelta(days=spec.seed % 365)
    tile = f"30N{'TUVWXYZ'[spec.seed % 7]}{'KLMNP'[(spec.seed // 7) % 5]}"
    platform = "A" if spec.seed % 2 == 0 else "B"
    return f"S2{platform}_{tile}_{day:%Y%m%d}_{(spec.seed // 365) % 10}_L2A", day, tile


@dataclass(frozen=True)
class WrittenScene:
    """Where a generated scene went."""

    item_path: Path
    truth: list[GeoJsonFeature]
    mislabelled_ponds: int


def write_scene(spec: SceneSpec, out_dir: Path) -> WrittenScene:
    """Generate one scene and write its COGs, STAC item and truth under ``out_dir/<item_id>``."""
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    baseline = spec.baseline or BASELINES[spec.seed % len(BASELINES)]
    has_offset = baseline >= "04.00"
    flag = (
        None
        if spec.flag_absent
        else (spec.boa_flag if spec.boa_flag is not None else (True if has_offset else None))
    )
    in_pixels = has_offset if spec.dn_offset_in_pixels is None else spec.dn_offset_in_pixels
    item_id, day, tile = _item_id(spec, baseline)
    item_id = spec.item_id or item_id
    land, mislabelled = _landscape(spec, rng)
    transform, crs = _grid(spec)
    scene_dir = out_dir / item_id
    scene_dir.mkdir(parents=True, exist_ok=True)
    nodata = np.zeros((spec.size, spec.size), dtype=bool)
    if rng.random() < 0.25:  # the edge of the orbit swath crosses the tile
        rr, cc = np.mgrid[0 : spec.size, 0 : spec.size]
        nodata = rr + 0.5 * cc > 1.35 * spec.size
    for f in land.features:
        if f.kind == "mining_site":
            f.props["nodata_fraction"] = round(float(nodata[f.rows, f.cols][f.mask].mean()), 3)
    write_rasters(land, scene_dir, transform, crs, nodata, BOA_ADD_OFFSET_DN if in_pixels else 0)
    pixel_m2 = 100.0
    footprint = scene_footprint(transform, spec.size, crs)
    item = stac_item(
        spec.size,
        spec.seed,
        item_id,
        day,
        tile,
        baseline,
        flag,
        transform,
        crs,
        mapping(footprint),
        offset_in_metadata=bool(flag) and has_offset,
    )
    item_path = scene_dir / f"{item_id}.json"
    item_path.write_text(json.dumps(item, indent=1), encoding="utf-8")
    truth = truth_features(land, item_id, transform, crs, pixel_m2)
    (scene_dir / "truth.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": truth}), encoding="utf-8"
    )
    return WrittenScene(item_path, truth, mislabelled)


def generate_set(
    out_dir: Path,
    seeds: list[int],
    size: int,
    lookalikes_only: bool = False,
    landscape: str = "forest",
) -> list[WrittenScene]:
    """Several scenes plus one combined ``truth.geojson`` at the top of ``out_dir``."""
    scenes = [
        write_scene(
            SceneSpec(seed=s, size=size, lookalikes_only=lookalikes_only, landscape=landscape),
            out_dir,
        )
        for s in seeds
    ]
    truth = [f for scene in scenes for f in scene.truth]
    (out_dir / "truth.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": truth}), encoding="utf-8"
    )
    return scenes
