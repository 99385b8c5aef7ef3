"""Planted look-alikes: what index thresholds mistake for ASM (DESIGN.md's confounders).

Fields (some on red lateritic soil), a town with a street grid, dirt roads, aquaculture ponds, a
burnt area and a quarry. Sandbars come with the rivers, cloud edges and haze with the atmosphere.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from asm_core.evaluation.synthetic.landscape import (
    SCL_BARE,
    SCL_VEGETATION,
    SCL_WATER,
    Feature,
    Landscape,
)
from asm_core.evaluation.synthetic.shapes import (
    irregular_blob,
    polyline_mask,
    rotated_rectangle,
    smooth_field,
)
from asm_core.evaluation.synthetic.spectra import spectrum


def add_fields(land: Landscape, count: int) -> None:
    """Rectangular farm fields: bare (brown or red lateritic soil) or green crops."""
    for _ in range(count):
        width, height = land.rng.uniform(18, 45), land.rng.uniform(15, 35)
        local = rotated_rectangle(land.rng, width, height, 25)
        spot = land._free_spot(local, margin=4)
        if spot is None:
            continue
        rows, cols, mask = spot
        kind = land.rng.choice(["red_field_soil", "field_soil", "crop"], p=[0.5, 0.3, 0.2])
        texture = 1 + 0.03 * smooth_field(land.rng, mask.shape, 4)
        cube = (spectrum(str(kind)) * texture[..., None]).astype(np.float32)
        land.paint(rows, cols, mask, cube, SCL_VEGETATION if kind == "crop" else SCL_BARE)
        land.features.append(Feature("field", rows, cols, mask.copy(), {"cover": str(kind)}))


def add_town(land: Landscape) -> None:
    """A town: metal roofs, concrete, bare compounds and trees, with a dirt street grid."""
    local = irregular_blob(land.rng, land.rng.uniform(3000, 9000), land.rng.uniform(1, 1.8), 0.25)
    spot = land._free_spot(local, margin=12)
    if spot is None:
        return
    rows, cols, mask = spot
    shape = mask.shape
    shares = np.stack([np.exp(0.8 * smooth_field(land.rng, shape, 1.5)) for _ in range(4)])
    shares /= shares.sum(axis=0)
    cube = sum(
        shares[k][..., None] * spectrum(name)
        for k, name in enumerate(("metal_roof", "concrete", "laterite", "forest"))
    )
    land.paint(rows, cols, mask, np.asarray(cube, dtype=np.float32), SCL_BARE)
    spacing = int(land.rng.integers(8, 13))
    streets = np.zeros(shape, dtype=bool)
    streets[::spacing, :] = True
    streets[:, ::spacing] = True
    land.paint(rows, cols, mask & streets, spectrum("laterite"), SCL_BARE)
    land.features.append(Feature("town", rows, cols, mask.copy()))


def add_roads(land: Landscape, count: int) -> None:
    """Red dirt roads, 10–20 m wide, crossing the scene."""
    size = land.size
    for _ in range(count):
        start = np.array([land.rng.uniform(0, size), 0.0])
        end = np.array([land.rng.uniform(0, size), float(size)])
        if land.rng.random() < 0.5:
            start, end = start[::-1], end[::-1]
        steps = np.linspace(0, 1, size * 4)[:, None]
        wobble = np.cumsum(land.rng.standard_normal(len(steps))) * 0.03
        points = start + steps * (end - start)
        points[:, 0] += wobble
        half_width = land.rng.uniform(0.5, 1.0)
        # Pixels within half_width (< 1 px) of the centreline are the centreline itself: a
        # rasterised polyline gives them without a scene-wide distance transform per road.
        road = polyline_mask((size, size), points)
        if half_width >= 1.0:
            road = ndimage.binary_dilation(road)
        rows, cols = slice(0, size), slice(0, size)
        road &= ~land.water
        land.paint(rows, cols, road, spectrum("laterite"), SCL_BARE)
        land.features.append(Feature("road", rows, cols, road.copy()))


def add_aquaculture(land: Landscape) -> None:
    """A block of rectangular fish ponds with earth dykes between them."""
    n_rows, n_cols = int(land.rng.integers(2, 4)), int(land.rng.integers(2, 5))
    ph, pw, dyke = int(land.rng.integers(6, 10)), int(land.rng.integers(8, 13)), 2
    block = np.zeros((n_rows * (ph + dyke) + dyke, n_cols * (pw + dyke) + dyke), dtype=bool)
    for i in range(n_rows):
        for j in range(n_cols):
            r, c = dyke + i * (ph + dyke), dyke + j * (pw + dyke)
            block[r : r + ph, c : c + pw] = True
    spot = land._free_spot(np.ones_like(block), margin=15)
    if spot is None:
        return
    rows, cols, _ = spot
    land.paint(rows, cols, ~block, spectrum("savanna"), SCL_VEGETATION)
    land.paint(rows, cols, block, spectrum("aquaculture_water"), SCL_WATER)
    land.features.append(Feature("aquaculture", rows, cols, block.copy()))


def add_patch(land: Landscape, kind: str, cover: str, area_px: float, scl: int) -> None:
    """An irregular patch of one cover (burnt area, quarry)."""
    local = irregular_blob(land.rng, area_px, land.rng.uniform(1, 2), 0.25)
    if kind == "quarry":  # benched industrial pits are geometric, not ragged
        local = rotated_rectangle(land.rng, np.sqrt(area_px) * 1.3, np.sqrt(area_px) / 1.3, 40)
    spot = land._free_spot(local, margin=10)
    if spot is None:
        return
    rows, cols, mask = spot
    land.paint(rows, cols, mask, spectrum(cover), scl)
    land.features.append(Feature(kind, rows, cols, mask.copy()))


def add_confounders(land: Landscape, density: float) -> None:
    """Every kind of look-alike, in numbers scaled to the scene area (roads first: others
    paint over them)."""
    add_roads(land, max(1, round(2 * density)))
    add_town(land)
    add_aquaculture(land)
    add_fields(land, max(3, round(10 * density)))
    add_patch(land, "burn", "burnt", land.rng.uniform(600, 3000), SCL_VEGETATION)
    add_patch(land, "quarry", "granite", land.rng.uniform(800, 2500), SCL_BARE)
