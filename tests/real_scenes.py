"""The real Sentinel-2 development set (../shared/realdata/s2) as Earth Search-style STAC items.

The data stay in ../shared: each scene's bands are written as uint16 reflectance x 10000
GeoTIFFs into a cache folder outside the repository's tracked files (a few MB in all), and an
item points at them. Each source encodes values its own way (SOURCES.md), so each gets its own
conversion:

- Ghana (GEE ``S2_SR_HARMONIZED`` median composite): surface reflectance x 10000 -> scale 1e-4,
  reprojected to UTM 30N at 10 m (nearest neighbour) because the pipeline works on a UTM grid.
- AgriFieldNet chips: uint8 with an undocumented scale. Read as reflectance x 255: coastal
  aerosol (B01) sits at 0.16-0.18 and water vapour (B09) at ~0.04 in every chip, green crops
  reach NIR ~0.30, turbid Ganges water has SWIR2 ~0.03 - the levels of top-of-atmosphere
  reflectance over hazy plains (blue over the Ganges reads 0.16, where surface reflectance is
  0.05-0.08). To bring them near the L2A surface reflectance the detector sees in production,
  the haze is taken off by dark-object subtraction (Chavez 1988, DOS1): each band's 0.1th
  percentile is taken as a 1 % reflectance dark object. The result is written as uint16 x 10000.
- Patagonia (xarray-spatial sample): DN 1001-2095 in blue, scale 1e-4; whether the L2A offset
  of +1000 is in the numbers is undocumented, so the item says nothing and the pipeline's own
  pixel check decides (asm_core/spectral/reflectance.py), as it would for any catalogue.

None has an SCL band: the valid mask is the nodata mask, as for any SCL-less item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
import yaml
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject
from shapely.geometry import box, mapping

from asm_core.detection.objects.vectorize import WGS84
from asm_core.detection.objects.vectorize import reproject as reproject_geometry
from asm_core.sources.sentinel2 import COMMON_TO_BAND_ID

REPO = Path(__file__).resolve().parents[1]
REAL_S2 = REPO.parent / "shared" / "realdata" / "s2"
LABELS = Path(__file__).parent / "data" / "real_labels.yaml"
BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")
ABSENT = (
    f"the real Sentinel-2 development set is not at {REAL_S2} "
    "(CI has ../shared beside its clone; a fresh clone elsewhere may not)"
)

_AGRIFIELDNET = {
    "source_001c1": "radiantearth-agrifieldnet-bronze/source_001c1",
    "source_004fa": "radiantearth-agrifieldnet-bronze/source_004fa",
    **{
        name: f"masawdah-agrifieldnet-silver/{name}"
        for name in ("1f3c0", "5c120", "64200", "80c25", "a7d1a")
    },
}
_GHANA_BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 4}  # B2 B3 B4 B8 VV VH NDVI NDWI
_NETCDF_NAMES = {
    "blue": "blue",
    "green": "green",
    "red": "red",
    "nir": "nir",
    "swir16": "swir1",
    "swir22": "swir2",
}
_DATES = {
    "ghana": "2025-07-01T10:30:00Z",  # a median composite of an unrecorded year (about 2025)
    "agrifieldnet": "2022-03-15T05:00:00Z",  # a snapshot from the 2022-01-01..05-31 window
    "patagonia": "2020-01-15T14:00:00Z",  # unknown: the package records no date
}


def available() -> bool:
    """Whether the development set is beside the repository."""
    return (REAL_S2 / "SOURCES.md").is_file()


@dataclass(frozen=True)
class Lookalike:
    kind: str
    geometry: shapely.Geometry  # EPSG:4326


@dataclass(frozen=True)
class RealScene:
    """One labelled real scene, ready to run."""

    name: str
    landscape: str
    mining: bool
    evidence: str | None
    item_path: Path
    area_km2: float
    lookalikes: tuple[Lookalike, ...]


def load_labels() -> list[dict[str, Any]]:
    scenes: list[dict[str, Any]] = yaml.safe_load(LABELS.read_text())["scenes"]
    return scenes


def _asset(href: str, name: str, scale: float, shape: tuple[int, int], transform: Affine) -> dict:
    return {
        "href": href,
        "type": "image/tiff; application=geotiff",
        "roles": ["data"],
        "eo:bands": [{"name": COMMON_TO_BAND_ID[name], "common_name": name}],
        "raster:bands": [{"nodata": 0, "scale": scale, "offset": 0.0}],
        "proj:shape": list(shape),
        "proj:transform": list(transform)[:6],
    }


def _item(
    name: str, date: str, epsg: int, assets: dict[str, dict], transform: Affine, shape: tuple
) -> dict[str, Any]:
    height, width = shape
    x0, y0 = transform @ (0, 0)
    x1, y1 = transform @ (width, height)
    footprint = reproject_geometry(
        box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), f"EPSG:{epsg}", WGS84
    )
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": f"real_{name}",
        "collection": "asm-real-development",
        "geometry": mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": {"datetime": date, "proj:epsg": epsg, "constellation": "sentinel-2"},
        "links": [],
        "assets": assets,
    }


def _write_band(path: Path, data: np.ndarray, epsg: int, transform: Affine) -> None:
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "uint16",
        "crs": f"EPSG:{epsg}",
        "transform": transform,
        "nodata": 0,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.clip(np.nan_to_num(data), 1, 65535).astype(np.uint16), 1)


#: DOS1: the darkest pixels of a scene (this percentile) are taken to reflect 1 %.
DARK_PERCENTILE, DARK_REFLECTANCE = 0.1, 0.01


def _agrifieldnet(name: str, folder: Path, cache: Path) -> tuple[dict[str, Any], float]:
    assets = {}
    for band in BANDS:
        with rasterio.open(folder / f"{COMMON_TO_BAND_ID[band]}.tif") as src:
            epsg, transform, shape = src.crs.to_epsg(), src.transform, src.shape
            dn = src.read(1).astype(np.float64)
        dark = np.percentile(dn[dn > 0], DARK_PERCENTILE)
        reflectance = (dn - dark) / 255 + DARK_REFLECTANCE
        path = cache / f"{name}_{COMMON_TO_BAND_ID[band]}.tif"
        _write_band(path, np.where(dn > 0, reflectance * 1e4, 0), epsg, transform)
        assets[band] = _asset(str(path.resolve()), band, 1e-4, shape, transform)
    area = shape[0] * shape[1] * abs(transform.a * transform.e) / 1e6
    return _item(name, _DATES["agrifieldnet"], epsg, assets, transform, shape), area


def _ghana(name: str, cache: Path) -> tuple[dict[str, Any], float]:
    epsg = 32630
    with rasterio.open(REAL_S2 / "asuogh-galamsey-sentinel" / f"{name}.tif") as src:
        transform, width, height = calculate_default_transform(
            src.crs, f"EPSG:{epsg}", src.width, src.height, *src.bounds, resolution=10.0
        )
        assets = {}
        for band, index in _GHANA_BANDS.items():
            out = np.zeros((height, width), dtype=np.float64)
            reproject(
                src.read(index),
                out,
                src_transform=src.transform,
                src_crs=src.crs,
                dst_transform=transform,
                dst_crs=f"EPSG:{epsg}",
                resampling=Resampling.nearest,
                dst_nodata=0,
            )
            path = cache / f"{name}_{COMMON_TO_BAND_ID[band]}.tif"
            _write_band(path, out, epsg, transform)
            assets[band] = _asset(str(path.resolve()), band, 1e-4, (height, width), transform)
    area = width * height * 100 / 1e6
    return _item(name, _DATES["ghana"], epsg, assets, transform, (height, width)), area


def _patagonia(cache: Path) -> tuple[dict[str, Any], float]:
    from scipy.io import netcdf_file

    # every variable is on the same 200 x 300 grid of 10 m pixels; the SWIR variables still carry
    # the 20 m transform of the band they were resampled from, so the blue band's grid is used
    assets, transform = {}, None
    for band, stem in _NETCDF_NAMES.items():
        with netcdf_file(REAL_S2 / "xarray-spatial" / f"{stem}_band.nc", mmap=False) as nc:
            variable = nc.variables["__xarray_dataarray_variable__"]
            data = np.array(variable[:], dtype=np.float64)
            a, b, c, d, e, f = (float(v) for v in variable._attributes["transform"][:6])
            crs = variable._attributes["crs"].decode()
        epsg = int(crs.rsplit(":", 1)[1])
        transform = transform or Affine(a, b, c, d, e, f)
        path = cache / f"patagonia_{COMMON_TO_BAND_ID[band]}.tif"
        _write_band(path, data, epsg, transform)
        assets[band] = _asset(str(path.resolve()), band, 1e-4, data.shape, transform)
    area = data.shape[0] * data.shape[1] * 100 / 1e6
    return _item("patagonia", _DATES["patagonia"], epsg, assets, transform, data.shape), area


def _lookalikes(label: dict[str, Any], item: dict[str, Any]) -> tuple[Lookalike, ...]:
    boxes = label.get("lookalikes") or []
    if not boxes:
        return ()
    transform = Affine(*next(iter(item["assets"].values()))["proj:transform"])
    epsg = item["properties"]["proj:epsg"]
    out = []
    for b in boxes:
        (r0, r1), (c0, c1) = b["rows"], b["cols"]
        x0, y0 = transform @ (c0, r0)
        x1, y1 = transform @ (c1, r1)
        geometry = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        out.append(Lookalike(b["kind"], reproject_geometry(geometry, f"EPSG:{epsg}", WGS84)))
    return tuple(out)


def real_scenes(cache: Path) -> list[RealScene]:
    """Every labelled scene as a STAC item JSON under ``cache`` (band files converted there
    where the source is not a single-band GeoTIFF)."""
    cache.mkdir(parents=True, exist_ok=True)
    scenes = []
    for label in load_labels():
        name = str(label["name"])
        if name in _AGRIFIELDNET:
            item, area = _agrifieldnet(name, REAL_S2 / _AGRIFIELDNET[name], cache)
        elif name == "patagonia":
            item, area = _patagonia(cache)
        else:
            item, area = _ghana(name, cache)
        path = cache / f"{item['id']}.json"
        path.write_text(json.dumps(item, indent=1))
        scenes.append(
            RealScene(
                name=name,
                landscape=label["landscape"],
                mining=bool(label["mining"]),
                evidence=label.get("evidence"),
                item_path=path,
                area_km2=round(area, 3),
                lookalikes=_lookalikes(label, item),
            )
        )
    return scenes


SITE_CLASSES = ("mining_scar", "pond")


@dataclass(frozen=True)
class SceneScore:
    """What the detector said about one real scene."""

    name: str
    landscape: str
    mining: bool
    found: bool | None  # None: no mining to find
    sites: int
    false_sites: int
    site_area_ha: float
    turbid_reaches: int
    lookalikes: int
    lookalikes_flagged: int
    area_km2: float
    suppressed: dict[str, int]


def score_scene(scene: RealScene, results: Path) -> SceneScore:
    """Score one scene's detections (results of `asm detect` on its item)."""
    from asm_core.results.store import read_table

    item_id = f"real_{scene.name}"
    rows = [r for r in read_table(results, "detections").to_pylist() if r["item_id"] == item_id]
    runs = [r for r in read_table(results, "tile_runs").to_pylist() if r["item_id"] == item_id]
    if not runs or runs[0]["status"] not in ("ok", "no_data"):
        raise AssertionError(f"{scene.name}: the job did not end ok: {runs}")
    site_rows = [r for r in rows if r["class"] in SITE_CLASSES]
    sites = {r["site_id"] for r in site_rows}
    shapes = [shapely.from_wkb(r["geometry"]) for r in site_rows]
    turbid = sum(r["class"] == "turbid_water" for r in rows)
    flagged = sum(any(s.intersects(lk.geometry) for s in shapes) for lk in scene.lookalikes)
    if scene.mining:
        found: bool | None = bool(sites) or (scene.evidence == "turbid_water" and turbid > 0)
    else:
        found = None
    return SceneScore(
        name=scene.name,
        landscape=scene.landscape,
        mining=scene.mining,
        found=found,
        sites=len(sites),
        false_sites=0 if scene.mining else len(sites),
        site_area_ha=round(sum(r["area_m2"] for r in site_rows) / 1e4, 2),
        turbid_reaches=turbid,
        lookalikes=len(scene.lookalikes),
        lookalikes_flagged=flagged,
        area_km2=scene.area_km2,
        suppressed=dict(runs[0]["suppressed"] or []),
    )


def summarise(scores: list[SceneScore]) -> dict[str, Any]:
    """Figures over a set of scored scenes: mining found, false sites per 100 km² where there
    is no mining, look-alikes flagged."""
    negative = [s for s in scores if not s.mining]
    area = sum(s.area_km2 for s in negative)
    positives = [s for s in scores if s.mining]
    lookalikes = sum(s.lookalikes for s in scores)
    return {
        "scenes": len(scores),
        "mining_scenes": len(positives),
        "mining_found": sum(bool(s.found) for s in positives),
        "negative_area_km2": round(area, 2),
        "false_sites": sum(s.false_sites for s in negative),
        "false_sites_per_100km2": round(100 * sum(s.false_sites for s in negative) / area, 2)
        if area
        else None,
        "false_site_area_ha": round(sum(s.site_area_ha for s in negative), 2),
        "lookalikes": lookalikes,
        "lookalikes_flagged": sum(s.lookalikes_flagged for s in scores),
        "lookalike_share_flagged": round(sum(s.lookalikes_flagged for s in scores) / lookalikes, 3)
        if lookalikes
        else None,
    }
