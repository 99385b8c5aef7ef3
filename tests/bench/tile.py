"""Per-tile cost on a full-size 10980² tile, side by side with the ways most users would
compute the same indices and rule (stackstac, odc-stac + xarray).

    pip install -e '.[bench]'       # stackstac, odc-stac, dask, xarray (optional comparisons)
    python tests/bench/tile.py      # builds the synthetic tile once into .cache/bench-tile/
    python tests/bench/tile.py --landscape real-farmland   # real pixels (../shared), ~3 min build

Every measurement runs in a fresh child process (best of ``--repeat`` runs) that reports the
CPU-seconds and wall time of its work, after its imports, and its peak RSS (imports included).
Prints per-stage seconds and ratios; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import shape as shapely_shape

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asm_core.sources.sentinel2 import COMMON_TO_BAND_ID  # noqa: E402

SIZE = 10980
PART = 2196  # 5 × 5 parts make a tile
BANDS = COMMON_TO_BAND_ID  # blue → B02 … scl → SCL
LAMBDA_GB_SECOND_USD = 0.0000166667
LOOKS = 3  # baseline looks of the job_looks mode
LAMBDA_MEMORY_GB = 2.0


def build_tile(cache: Path) -> Path:
    """Mosaic five 2196² synthetic scenes into one full-size tile of COGs (built once)."""
    import rasterio
    from rasterio.shutil import copy as gdal_copy
    from rasterio.windows import Window

    from asm_core.evaluation.synthetic import SceneSpec, write_scene

    item_path = cache / "tile" / "tile.json"
    if item_path.exists():
        return item_path
    parts = [
        write_scene(SceneSpec(seed=s, size=PART, baseline="05.10"), cache / "parts")
        for s in range(1, 6)
    ]
    (cache / "tile").mkdir(parents=True, exist_ok=True)
    first = json.loads(parts[0].item_path.read_text())
    for band in BANDS.values():
        sources = [rasterio.open(p.item_path.parent / f"{band}.tif") for p in parts]
        profile = sources[0].profile
        side = sources[0].width * 5
        profile.update(
            driver="GTiff",
            width=side,
            height=side,
            tiled=True,
            blockxsize=512,
            blockysize=512,
            compress="DEFLATE",
            BIGTIFF="YES",
        )
        scratch = cache / "tile" / f"{band}.scratch.tif"
        with rasterio.open(scratch, "w", **profile) as dst:
            w = sources[0].width
            for i in range(5):
                for j in range(5):
                    part = sources[(i + 2 * j) % 5].read(1)
                    dst.write(part, 1, window=Window(j * w, i * w, w, w))
        gdal_copy(
            scratch,
            cache / "tile" / f"{band}.tif",
            driver="COG",
            BLOCKSIZE=1024,
            COMPRESS="DEFLATE",
            NUM_THREADS="ALL_CPUS",
        )
        scratch.unlink()
        for s in sources:
            s.close()
    for name, band in BANDS.items():
        asset = first["assets"][name]
        asset["href"] = f"./{band}.tif"
        scale = 2 if name in ("swir16", "swir22", "scl") else 1
        asset["proj:shape"] = [SIZE // scale, SIZE // scale]
    first["id"] = "S2A_30NVL_20240301_0_L2A"
    with rasterio.open(cache / "tile" / "B04.tif") as src:  # footprint of the whole mosaic
        footprint = _lonlat_box(src.bounds, src.crs)
    first["geometry"], first["bbox"] = footprint, list(shapely_shape(footprint).bounds)
    item_path.write_text(json.dumps(first))
    shutil.rmtree(cache / "parts")
    return item_path


#: the real development set's scenes that share a grid (256² px at 10 m, six bands): dry-season,
#: laterite and irrigated farmland, braided rivers and sandbars, forested hills in India
REAL_FARMLAND = ("source_001c1", "source_004fa", "1f3c0", "5c120", "64200", "80c25", "a7d1a")
REAL_CELL = 256


def build_real_tile(cache: Path) -> Path:
    """A full-size tile of real Sentinel-2 pixels: the real farmland patches of
    ``../shared/realdata/s2`` laid in a 43 × 43 grid, each cell a patch chosen at random and
    turned or mirrored (built once). Its object density is that of real farmland - about 19
    times the synthetic tile's - which is what a tile's post-processing costs scale with."""
    import rasterio
    from rasterio.shutil import copy as gdal_copy
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from tests.real_scenes import ABSENT, available, real_scenes

    item_path = cache / "real-tile" / "tile.json"
    if item_path.exists():
        return item_path
    if not available():
        raise SystemExit(f"skipped: {ABSENT}")
    scenes = {s.name: s for s in real_scenes(cache / "real-items")}
    items = [json.loads(scenes[n].item_path.read_text()) for n in REAL_FARMLAND]
    cells = -(-SIZE // REAL_CELL)
    rng = np.random.default_rng(7)
    layout = [(rng.integers(len(items)), rng.integers(4), rng.integers(2)) for _ in range(cells**2)]
    first = items[1]
    x0, y0 = (
        first["assets"]["red"]["proj:transform"][2],
        first["assets"]["red"]["proj:transform"][5],
    )
    transform = from_origin(x0, y0, 10.0, 10.0)
    (cache / "real-tile").mkdir(parents=True, exist_ok=True)
    for name in first["assets"]:
        patches = []
        for item in items:
            with rasterio.open(item["assets"][name]["href"]) as src:
                patches.append(src.read(1))
        scratch = cache / "real-tile" / f"{name}.scratch.tif"
        profile = {
            "driver": "GTiff",
            "width": SIZE,
            "height": SIZE,
            "count": 1,
            "dtype": "uint16",
            "crs": f"EPSG:{first['properties']['proj:epsg']}",
            "transform": transform,
            "nodata": 0,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "DEFLATE",
            "BIGTIFF": "YES",
        }
        with rasterio.open(scratch, "w", **profile) as dst:
            for i in range(cells):
                strip = np.zeros((REAL_CELL, cells * REAL_CELL), np.uint16)
                for j in range(cells):
                    which, turns, mirror = layout[i * cells + j]
                    patch = np.rot90(patches[which], int(turns))
                    strip[:, j * REAL_CELL : (j + 1) * REAL_CELL] = (
                        patch[:, ::-1] if mirror else patch
                    )
                rows = min(REAL_CELL, SIZE - i * REAL_CELL)
                dst.write(strip[:rows, :SIZE], 1, window=Window(0, i * REAL_CELL, SIZE, rows))
        band_path = cache / "real-tile" / f"{name}.tif"
        gdal_copy(scratch, band_path, driver="COG", BLOCKSIZE=1024, COMPRESS="DEFLATE")
        scratch.unlink()
        asset = first["assets"][name]
        asset.update(href=f"./{name}.tif", **{"proj:shape": [SIZE, SIZE]})
        asset["proj:transform"] = list(transform)[:6]
    first["id"] = "real_farmland_mosaic"
    with rasterio.open(cache / "real-tile" / "red.tif") as src:
        footprint = _lonlat_box(src.bounds, src.crs)
    first["geometry"], first["bbox"] = footprint, list(shapely_shape(footprint).bounds)
    item_path.write_text(json.dumps(first))
    return item_path


def _lonlat_box(bounds: Any, crs: Any) -> dict[str, Any]:
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping

    return dict(transform_geom(crs, "EPSG:4326", mapping(box(*bounds))))


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": me.ru_utime + me.ru_stime, "peak_rss_mb": me.ru_maxrss / 1024}


def _digest(masks: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(masks):
        h.update(name.encode())
        h.update(np.packbits(np.asarray(masks[name], dtype=bool)).tobytes())
    return h.hexdigest()[:16]


#: What each mode imports before its clock starts: the figures are the work (read → result),
#: not the interpreter's start-up, which is paid once per Lambda container, not per tile.
IMPORTS = {
    "decode": ("rasterio",),
    "job": ("asm_core.rules", "asm_core.sources.stac", "asm_core.jobs.tile_job"),
    "job_looks": ("asm_core.rules", "asm_core.sources.stac", "asm_core.jobs.tile_job"),
    "layers": (
        "asm_core.detection.pixels.layers",
        "asm_core.sources.reader",
        "asm_core.jobs.tile_job",
    ),
    "stackstac": ("pystac", "stackstac", "xarray", "dask.array", "asm_core.spectral.indices"),
    "odc": ("pystac", "odc.stac", "xarray", "asm_core.spectral.indices"),
}


def child(mode: str, item_path: Path, out: Path) -> dict[str, Any]:
    import importlib

    for module in IMPORTS.get(mode, ()):
        importlib.import_module(module)
    before = _usage()
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if mode == "decode":
        import rasterio

        for band in BANDS.values():
            with rasterio.open(item_path.parent / f"{band}.tif") as src:
                src.read(1)
    elif mode == "job":
        from asm_core.jobs.tile_job import run_item
        from asm_core.rules import load_rules
        from asm_core.sources.stac import load_item

        run = run_item(load_item(str(item_path)), load_rules(), out)
        result.update(stages=run.stage_seconds, detections=run.detections, status=run.status)
    elif mode == "job_looks":
        from dataclasses import replace
        from datetime import timedelta

        from asm_core.jobs.tile_job import run_item
        from asm_core.rules import load_rules
        from asm_core.sources.stac import load_item

        # the same-season baseline: three looks of the tile a year before (its own files)
        item = load_item(str(item_path))
        looks = [
            replace(
                item, item_id=f"look-{k}", acquired=item.acquired - timedelta(days=355 + 10 * k)
            )
            for k in range(LOOKS)
        ]
        run = run_item(item, load_rules(), out, baseline=looks)
        result.update(stages=run.stage_seconds, detections=run.detections, status=run.status)
    elif mode == "warm":
        from asm_core.detection.pixels.warm_up import compile_kernels

        compile_kernels(out / "warm-up")
    elif mode == "layers":
        result["digest"] = _digest(_our_layers(item_path))
    elif mode in ("stackstac", "odc"):
        result["digest"] = _digest(_xarray_layers(item_path, mode))
    after = _usage()
    result.update(
        cpu_s=after["cpu_s"] - before["cpu_s"],
        peak_rss_mb=after["peak_rss_mb"],  # the whole process: imports included
        wall_s=time.perf_counter() - started,
    )
    return result


def _rule_masks(values: Any, dn_valid: Any, rules: Any) -> dict[str, Any]:
    masks: dict[str, Any] = {}
    for rule in rules.rules:
        hit = dn_valid
        for c in rule.all:
            v = values[c.operand]
            if c.gt is not None:
                hit = hit & (v > np.float32(c.gt))
            if c.lt is not None:
                hit = hit & (v < np.float32(c.lt))
        masks[rule.layer] = hit if rule.layer not in masks else masks[rule.layer] | hit
    return masks


def _our_layers(item_path: Path) -> dict[str, np.ndarray]:
    from asm_core.detection.pixels.layers import ScenePixels, compute_layers
    from asm_core.jobs.tile_stages import offset_decision
    from asm_core.rules import load_rules
    from asm_core.sources.reader import open_bands
    from asm_core.sources.stac import load_item

    item, rules = load_item(str(item_path)), load_rules()
    with open_bands(item.bands, list(BANDS), item.epsg) as files:
        pixels = ScenePixels(
            files, item.bands, offset_decision(item, files, rules.boa_offset).dn_offset
        )
        layers = compute_layers(pixels, list(rules.rules), rules.mask)
    return {name: packed.unpack() for name, packed in layers.layers.items()}


def _xarray_layers(item_path: Path, library: str) -> dict[str, np.ndarray]:
    """The same reflectance, indices and rules written the usual xarray way."""
    import pystac

    from asm_core.rules import load_rules
    from asm_core.spectral.indices import compute_index

    rules = load_rules()
    data = json.loads(item_path.read_text())
    for asset in data["assets"].values():
        asset["href"] = str((item_path.parent / asset["href"]).resolve())
    item = pystac.Item.from_dict(data)
    names = list(BANDS)
    if library == "stackstac":
        import stackstac

        red = data["assets"]["red"]
        a, _, x0, _, e, y0 = red["proj:transform"][:6]
        height, width = red["proj:shape"]
        cube = stackstac.stack(
            [item],
            assets=names,
            epsg=data["properties"]["proj:epsg"],
            resolution=10,
            bounds=(x0, y0 + e * height, x0 + a * width, y0),  # exactly the raster grid
            snap_bounds=False,
            dtype="uint16",
            fill_value=np.uint16(0),
            rescale=False,
        )
        arrays = {n: cube.sel(band=n).isel(time=0).compute().values for n in names}
    else:
        import odc.stac

        ds = odc.stac.load([item], bands=names, resolution=10)
        arrays = {n: ds[n].isel(time=0).values for n in names}
    offset = 1000  # baseline 05.10 with the offset in the DN (as the job decides)
    refl = {}
    for n in names[:-1]:
        dn = arrays[n]
        refl[n] = np.where(
            dn == 0, np.nan, (dn.astype(np.float32) - np.float32(offset)) * np.float32(1e-4)
        ).astype(np.float32)
    values = dict(refl)
    for name in ("ndvi", "ndwi", "mndwi", "bsi", "ndti", "ferric_iron", "clay"):
        values[name] = compute_index(name, refl)
    scl = arrays["scl"]
    valid = np.all([np.isfinite(refl[n]) for n in refl], axis=0) & ~np.isin(
        scl, rules.mask.invalid_scl
    )
    pond = (
        np.isin(scl, rules.mask.pond_rescue_scl)
        & (values["mndwi"] > rules.mask.pond_rescue_mndwi_gt)
        & (values["swir16"] < rules.mask.pond_rescue_swir16_lt)
    )
    valid |= pond & np.all([np.isfinite(refl[n]) for n in refl], axis=0)
    return {k: np.asarray(v) for k, v in _rule_masks(values, valid, rules).items()}


def measure(mode: str, item_path: Path, out: Path, repeat: int = 1) -> dict[str, Any] | None:
    """Run a mode ``repeat`` times; each figure is its best run (this machine is noisy)."""
    runs = [_measure_once(mode, item_path, out) for _ in range(repeat)]
    done = [r for r in runs if r is not None]
    if not done:
        return None
    best = dict(done[-1])
    for key in ("cpu_s", "wall_s", "peak_rss_mb"):
        best[key] = min(r[key] for r in done)
    return best


def _measure_once(mode: str, item_path: Path, out: Path) -> dict[str, Any] | None:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--item", str(item_path), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"{mode}: failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench-tile")
    parser.add_argument("--child", default=None)
    parser.add_argument("--item", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=2, help="runs per mode; best of them")
    parser.add_argument(
        "--landscape",
        choices=("synthetic", "real-farmland"),
        default="synthetic",
        help="the synthetic tile, or a mosaic of the real farmland patches of ../shared",
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.item, args.out)))
        return
    item = (build_real_tile if args.landscape == "real-farmland" else build_tile)(args.cache)
    out = args.cache / "results"
    shutil.rmtree(out, ignore_errors=True)
    measure("warm", item, args.cache)
    figures = {
        m: measure(m, item, out, 1 if m == "layers" else args.repeat)
        for m in ("decode", "job", "job_looks", "layers", "stackstac", "odc")
    }
    decode, job = figures["decode"] or {}, figures["job"] or {}
    with_looks = figures["job_looks"] or {}
    for mode, f in figures.items():
        if f:
            print(
                f"{mode:<10} wall {f['wall_s']:7.1f} s   cpu {f['cpu_s']:7.1f} s   "
                f"peak RSS {f['peak_rss_mb']:8.0f} MB",
                file=sys.stderr,
            )
    print(f"job stages (s): {job.get('stages')}", file=sys.stderr)

    def ratio(a: dict[str, Any] | None, b: dict[str, Any], key: str) -> float | None:
        return round(a[key] / b[key], 2) if a and b and b.get(key) else None

    ours = figures["layers"] or {}
    identical = (
        all(
            f is not None and f.get("digest") == ours.get("digest")
            for f in (figures["stackstac"], figures["odc"])
        )
        if ours
        else False
    )
    wall_gb_s = job.get("wall_s", 0.0) * LAMBDA_MEMORY_GB
    summary = {
        "landscape": args.landscape,
        "tile_px": SIZE,
        "job_cpu_s": round(job.get("cpu_s", 0.0), 1),
        "decode_cpu_s": round(decode.get("cpu_s", 0.0), 1),
        "cpu_ratio": ratio(job, decode, "cpu_s"),
        "peak_rss_mb": round(job.get("peak_rss_mb", 0.0)),
        f"job_with_{LOOKS}_baseline_looks_cpu_s": round(with_looks.get("cpu_s", 0.0), 1),
        f"job_with_{LOOKS}_baseline_looks_peak_rss_mb": round(with_looks.get("peak_rss_mb", 0.0)),
        "speedup_vs_stackstac": ratio(figures["stackstac"], job, "wall_s"),
        "speedup_vs_odc_stac": ratio(figures["odc"], job, "wall_s"),
        "mem_ratio_vs_stackstac": ratio(figures["stackstac"], job, "peak_rss_mb"),
        "mem_ratio_vs_odc_stac": ratio(figures["odc"], job, "peak_rss_mb"),
        "identical_detections": identical,
        "stage_seconds": job.get("stages"),
        "lambda_usd_per_1000_tiles_at_2gb": round(1000 * wall_gb_s * LAMBDA_GB_SECOND_USD, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
