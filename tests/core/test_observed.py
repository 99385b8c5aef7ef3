"""Each tile_runs row says where the scene was clear, so a footprint under cloud on a date reads as
unobserved, not as gone."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import shape

from asm_core.observed import CELL_PX, ObservedGrid, observed_grid
from asm_core.packed_mask import PackedMask
from asm_core.results import result_files
from asm_core.rules import load_rules
from asm_core.stac import load_item
from asm_core.synthetic.scene import WrittenScene
from asm_core.tile_job import run_item


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
