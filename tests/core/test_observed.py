"""Each tile_runs row says where the scene was clear, so a footprint under cloud on a date reads as
unobserved, not as gone."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import box, shape

from asm_core.detection.objects.observed import (
    CELL_PX,
    NdviGrid,
    NdviGridBuilder,
    ObservedGrid,
    observed_grid,
)
from asm_core.detection.objects.vectorize import reproject
from asm_core.detection.pixels.packed_mask import PackedMask
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.store import result_files
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


def test_grid_is_the_valid_share_per_cell_including_a_ragged_edge() -> None:
    valid = np.zeros((50, 45), dtype=bool)
    valid[:20, :20] = True  # the first cell is fully clear
    valid[20:40, 20:30] = True  # half of the middle cell
    valid[40:, 40:] = True  # the ragged corner (10 x 5 px) is all clear
    grid = observed_grid(
        PackedMask.pack(valid), Affine(10, 0, 500000, 0, -10, 800000), CRS.from_epsg(32630)
    )
    assert grid.share.shape == (3, 3)
    assert grid.share[0, 0] == 100 and grid.share[1, 1] == 50 and grid.share[2, 2] == 100
    assert grid.share[0, 1] == 0
    assert grid.transform.a == 10 * CELL_PX


def test_ndvi_grid_keeps_the_land_greenness_per_cell_and_leaves_water_out() -> None:
    offset, height, width = 1000, 16, 12  # DN carry the +1000 offset of baseline 04.00+
    red = np.full((height, width), offset + 300, dtype=np.uint16)
    nir = np.full((height, width), offset + 300, dtype=np.uint16)  # NDVI 0: bare-ish
    nir[:8, :8] = offset + 2700  # forest: NDVI 0.8
    red[8:, :4], nir[8:, :4] = offset + 600, offset + 200  # water: NDVI -0.5
    nir[8:, 4:8] = offset + 500  # bare spoil beside the water: NDVI 0.25
    valid = np.ones((height, width), dtype=bool)
    valid[:4, 8:] = False  # cloud over one cell
    transform, crs = Affine(10, 0, 500000, 0, -10, 800000), CRS.from_epsg(32630)
    builder = NdviGridBuilder((height, width), 4, transform, crs, water_ndvi=0.0)
    for r0 in (0, 8):  # two strips
        strip = slice(r0, r0 + 8)
        builder.add_strip(r0, red[strip], nir[strip], PackedMask.pack(valid[strip]), offset)
    grid = NdviGrid.from_row(builder.grid().to_row() | {"observed_grid_crs": "EPSG:32630"})
    assert grid is not None and grid.ndvi.shape == (4, 3)
    assert grid.ndvi[0, 0] == pytest.approx(0.8, abs=0.01)
    assert np.isnan(grid.ndvi[0, 2])  # clouded
    assert np.isnan(grid.ndvi[2, 0])  # all water: no land to judge
    assert grid.ndvi[2, 1] == pytest.approx(0.25, abs=0.01)
    # a footprint over the water and the spoil beside it reads as the spoil's land
    x0, y0 = transform @ (0, 8)
    x1, y1 = transform @ (8, 16)
    local = box(x0, y1, x1, y0)
    footprint = reproject(local, "EPSG:32630", "EPSG:4326")
    assert grid.footprint_ndvi(footprint) == pytest.approx(0.25, abs=0.01)
    # one far from the scene has no greenness at all
    assert grid.footprint_ndvi(box(10, 10, 10.001, 10.001)) is None


TRANSFORM, CRS_UTM = Affine(200, 0, 500000, 0, -200, 800000), CRS.from_epsg(32630)


def _lonlat(c0: float, r0: float, c1: float, r1: float) -> object:
    """A footprint over grid cells (columns c0..c1, rows r0..r1 in cell units), in lon/lat."""
    x0, y0 = TRANSFORM @ (c0, r0)
    x1, y1 = TRANSFORM @ (c1, r1)
    return reproject(box(x0, y1, x1, y0), "EPSG:32630", "EPSG:4326")


def test_ndvi_is_stored_in_one_byte_a_cell_and_read_back_to_a_step() -> None:
    ndvi = np.array([[-1.0, 0.0, 0.5, np.nan, 0.9]], dtype=np.float32)
    row = NdviGrid(ndvi, TRANSFORM, CRS_UTM).to_row(ceiling=0.6)
    codes = np.frombuffer(zlib.decompress(row["ndvi_grid"]), np.uint8)
    # 0: no clear land; 1..255: NDVI -1..1 in 254 steps; above the ceiling stored as it
    assert codes.tolist() == [1, 128, 191, 0, 204]
    assert row["ndvi_grid_shape"] == [1, 5] and row["ndvi_grid_transform"] == list(TRANSFORM)[:6]
    back = NdviGrid.from_row(row | {"observed_grid_crs": "EPSG:32630"})
    assert back is not None and back.transform == TRANSFORM
    assert back.ndvi[0, [0, 1, 2, 4]] == pytest.approx([-1.0, 0.0, 0.5, 0.6], abs=1 / 254)
    assert np.isnan(back.ndvi[0, 3])
    assert NdviGrid.from_row(row) is None  # no CRS column: a row of an older release
    assert NdviGrid.from_row({}) is None
    default = NdviGrid(ndvi, TRANSFORM, CRS_UTM).to_row()  # no ceiling: up to 1
    assert np.frombuffer(zlib.decompress(default["ndvi_grid"]), np.uint8)[4] == 242


def test_a_footprint_s_clear_share_weighs_each_cell_it_touches() -> None:
    grid = ObservedGrid(np.array([[100, 50], [0, 0]], np.uint8), TRANSFORM, CRS_UTM)
    assert grid.clear_share(_lonlat(0.2, 0.2, 1.8, 0.8)) == pytest.approx(0.75)
    assert grid.clear_share(_lonlat(0.2, 0.2, 0.8, 0.8)) == pytest.approx(1.0)
    assert grid.clear_share(box(10, 10, 10.001, 10.001)) == 0.0  # outside the scene
    assert ObservedGrid.from_row({"observed_grid": b""}) is None


def test_typical_ground_is_the_median_of_the_cells_wholly_inside() -> None:
    values = np.array([[0.1, 0.1, 0.7, 0.4]] * 3, dtype=np.float32)
    grid = NdviGrid(values, TRANSFORM, CRS_UTM)
    footprint = _lonlat(-0.2, -0.2, 3.2, 3.2)  # nine cells wholly inside, a sliver of others
    assert grid.footprint_ndvi(footprint) == pytest.approx(0.3, abs=1e-6)  # their mean
    assert grid.footprint_ndvi(footprint, inside_only=True) == pytest.approx(0.1)  # median
    # smaller than a cell: no cell lies wholly inside, so the cells it touches
    assert grid.footprint_ndvi(_lonlat(3.2, 0.2, 3.6, 0.6)) == pytest.approx(0.4, abs=1e-6)
    assert grid.footprint_ndvi(_lonlat(3.2, 0.2, 3.6, 0.6), inside_only=True) is None


def test_land_from_the_water_threshold_on_counts() -> None:
    offset = 0
    red = np.full((4, 4), 1000, dtype=np.uint16)
    nir = np.full((4, 4), 1000, dtype=np.uint16)  # NDVI exactly 0: the threshold
    valid = PackedMask.pack(np.ones((4, 4), dtype=bool))
    builder = NdviGridBuilder((4, 4), 4, Affine(10, 0, 0, 0, -10, 0), CRS_UTM, water_ndvi=0.0)
    builder.add_strip(0, red, nir, valid, offset)
    assert builder.grid().ndvi.tolist() == [[0.0]]
    # four samples a 4 px cell (every other pixel), whatever the strip's first row
    assert builder.counts.tolist() == [[4]]


def test_a_cloud_is_unobserved_and_a_clear_site_observed(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scene = scene_factory(seed=11, size=768, sites=3, clouds=1, baseline="05.10")
    run_item(load_item(str(scene.item_path)), load_rules(), tmp_path)
    (path,) = result_files(tmp_path, "tile_runs")
    (row,) = pq.read_table(path).to_pylist()
    grid = ObservedGrid.from_row(row)
    assert grid is not None
    assert float(grid.share.mean()) / 100 == pytest.approx(row["valid_fraction"], abs=0.02)
    truth = json.loads((scene.item_path.parent / "truth.geojson").read_text())["features"]
    clouds = [shape(f["geometry"]) for f in truth if f["properties"]["kind"] == "cloud"]
    assert clouds and all(
        grid.clear_share(c.buffer(-0.001)) < 0.3 for c in clouds if not c.buffer(-0.001).is_empty
    )
    sites = [shape(f["geometry"]) for f in truth if f["properties"]["kind"] == "mining_site"]
    clear = [grid.clear_share(s) for s in sites]
    assert max(clear) > 0.9


def test_a_tile_run_keeps_an_ndvi_grid_where_sites_read_bare_and_forest_green(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scene = scene_factory(seed=12, size=512, sites=2, clouds=0, baseline="05.10")
    run_item(load_item(str(scene.item_path)), load_rules(), tmp_path)
    (path,) = result_files(tmp_path, "tile_runs")
    (row,) = pq.read_table(path).to_pylist()
    grid = NdviGrid.from_row(row)
    assert grid is not None and grid.transform.a == load_rules().footprint_grid.cell_m
    assert len(row["ndvi_grid"]) < 64_000
    truth = json.loads((scene.item_path.parent / "truth.geojson").read_text())["features"]
    sites = [shape(f["geometry"]) for f in truth if f["properties"]["kind"] == "mining_site"]
    assert sites
    for site in sites:
        ndvi = grid.footprint_ndvi(site)
        assert ndvi is not None and ndvi < 0.35
    assert float(np.nanmedian(grid.ndvi)) > 0.5  # the forest around them
