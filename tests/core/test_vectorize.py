"""Object masks to polygons: many crops traced together give, vertex for vertex, what tracing
each alone gives, whatever their shapes and wherever they sit."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from scipy import ndimage

import asm_core.detection.objects.vectorize as vectorize
from asm_core.detection.objects.vectorize import mask_to_polygon, masks_to_polygons

UTM = Affine(10, 0, 399960, 0, -10, 700020)
LONLAT = Affine(8.983152841195214e-05, 0, -1.8523, 0, -8.983152841195214e-05, 6.2011)


def _crops(seed: int, count: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    masks: list[np.ndarray] = []
    for k in range(count):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        if k % 3 == 0:  # ragged: holes, pieces touching at corners
            mask = rng.random((h, w)) < 0.7
        else:  # blobs, as cleaned objects are
            mask = ndimage.gaussian_filter(rng.random((h, w)), 2) > 0.5
        mask.flat[rng.integers(0, mask.size)] = True
        masks.append(mask)
    masks.append(np.ones((2, 70), bool))  # wider than the test's canvas: a canvas of its own
    origins = [(int(r), int(c)) for r, c in rng.integers(0, 10_000, (len(masks), 2))]
    return masks, origins


@pytest.mark.parametrize("transform", [UTM, LONLAT], ids=["utm", "lonlat"])
def test_crops_traced_together_are_the_polygons_traced_alone(
    transform: Affine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectorize, "CANVAS_PX", 64)  # many canvases, shelves and a lone crop
    masks, origins = _crops(7, 400)
    together = masks_to_polygons(masks, origins, transform)
    alone = [
        mask_to_polygon(m, transform @ Affine.translation(c, r))
        for m, (r, c) in zip(masks, origins, strict=True)
    ]
    assert [shapely.to_wkb(p) for p in together] == [shapely.to_wkb(p) for p in alone]
    if transform is UTM:  # and each covers exactly its pixels
        areas = [p.area for p in together]
        assert areas == [100.0 * m.sum() for m in masks]


def test_no_crops_no_polygons() -> None:
    assert masks_to_polygons([], [], UTM) == []


def test_rectangularity_from_the_grid_is_the_polygon_s() -> None:
    """A crop's rectangularity on a north-up metric grid, from its pixels, against the same
    measure on its traced polygon (buffers, hole filling and GEOS's rectangle)."""
    from asm_core.detection.objects.candidates import _rectangularity, _rectangularity_on_grid

    masks, _ = _crops(11, 600)
    for mask in masks:
        polygon = mask_to_polygon(mask, UTM)
        assert _rectangularity_on_grid(mask) == pytest.approx(
            _rectangularity(polygon, 10.0), abs=1e-9
        )
    assert _rectangularity_on_grid(np.ones((4, 9), bool)) == 1.0  # a rectangle fills its own
    ell = np.zeros((10, 10), bool)
    ell[:, :3], ell[-3:, :] = True, True
    assert _rectangularity_on_grid(ell) == pytest.approx(51 / 100)
