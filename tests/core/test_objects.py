"""Morphology and objects: roads go, scars keep their spurs, pits fill, seeds grow."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from asm_core.detection.objects.morphology import clean_mask, fill_small_holes, grow_from_seeds
from asm_core.detection.objects.object_stats import _group_percentiles, _sorted_percentile
from asm_core.detection.objects.objects import (
    EIGHT_CONNECTED,
    label_objects,
    object_crops,
    ring_fraction,
)


def _blob_with_road() -> np.ndarray:
    mask = np.zeros((60, 60), dtype=bool)
    mask[10:30, 10:30] = True  # a scar
    mask[40, :] = True  # a 1-pixel dirt road across the scene
    mask[20, 30:36] = True  # a thin spur of the scar
    return mask


def test_opening_removes_roads_but_gives_back_spurs_near_bodies() -> None:
    cleaned = clean_mask(_blob_with_road(), opening_px=1, closing_px=1, reconstruct_px=2)
    assert not cleaned[40].any()
    assert cleaned[20, 30:32].all()  # the first two pixels of the spur come back
    assert cleaned[10:30, 10:30].all()


def test_small_holes_fill_and_large_holes_stay() -> None:
    mask = np.ones((40, 40), dtype=bool)
    mask[5:7, 5:7] = False  # a 4-pixel pit
    mask[20:30, 20:30] = False  # a 100-pixel pond
    filled = fill_small_holes(mask, max_pixels=10)
    assert filled[5:7, 5:7].all()
    assert not filled[20:30, 20:30].any()


def test_hysteresis_keeps_only_relaxed_pixels_connected_to_seeds() -> None:
    seeds = np.zeros((20, 20), dtype=bool)
    seeds[5, 5] = True
    relaxed = np.zeros_like(seeds)
    relaxed[4:8, 4:8] = True  # touches the seed
    relaxed[15:18, 15:18] = True  # isolated weak patch
    grown = grow_from_seeds(seeds, relaxed)
    assert grown[4:8, 4:8].all()
    assert not grown[15:18, 15:18].any()


def test_labels_drop_small_objects_and_rings_measure_surroundings() -> None:
    mask = np.zeros((30, 30), dtype=bool)
    mask[5:15, 5:15] = True
    mask[25, 25] = True
    objects = label_objects(mask, min_pixels=5)
    assert objects.count == 1
    (crop,) = object_crops(objects, ring_px=2)
    assert crop.pixels == 100
    water = np.zeros_like(mask)
    water[:, :10] = True  # water on the west half of the ring
    share = ring_fraction(crop, water)
    assert share == 0.5  # 48 of the 96 ring pixels lie west of column 10


def test_strip_wise_hole_filling_equals_labelling_the_whole_background() -> None:
    rng = np.random.default_rng(5)
    four = ndimage.generate_binary_structure(2, 1)
    for _ in range(30):
        mask = rng.random((int(rng.integers(5, 80)), int(rng.integers(5, 80)))) < 0.6
        max_pixels = int(rng.integers(1, 12))
        labels, _ = ndimage.label(~mask, four)
        sizes = np.bincount(labels.ravel())
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        small = (sizes < max_pixels) & ~np.isin(np.arange(sizes.size), border)
        small[0] = False
        expected = mask | small[labels]
        got = fill_small_holes(mask.copy(), max_pixels, strip_rows=int(rng.integers(1, 9)))
        np.testing.assert_array_equal(got, expected)


def test_opencv_morphology_equals_scipy_with_background_borders() -> None:
    rng = np.random.default_rng(6)
    mask = rng.random((50, 70)) < 0.7
    opened = ndimage.binary_opening(mask, EIGHT_CONNECTED, iterations=1)
    expected = ndimage.binary_dilation(opened, EIGHT_CONNECTED, iterations=2) & mask
    closed = ndimage.binary_closing(expected, EIGHT_CONNECTED, iterations=1)
    expected = closed & ndimage.binary_dilation(mask, EIGHT_CONNECTED, iterations=1)
    np.testing.assert_array_equal(clean_mask(mask.copy(), 1, 1, 2), expected)
    for strip_rows in (1, 7, 13):  # strip by strip, in place: the same answer
        np.testing.assert_array_equal(clean_mask(mask.copy(), 1, 1, 2, strip_rows), expected)


def test_local_variation_sees_pits_not_a_uniform_parcel_or_its_edge() -> None:
    from asm_core.detection.objects.texture import local_variation

    region = np.zeros((30, 30), dtype=bool)
    region[5:25, 5:25] = True
    flat = np.full(region.shape, 0.2)
    flat[~region] = 0.6  # bright surroundings: the edge must not count
    pitted = flat.copy()
    pitted[8:22:3, 8:22:3] = 0.04  # 1-px pits among spoil
    flat_cv = local_variation(flat, region)
    pitted_cv = local_variation(pitted, region)
    # only pixels whose whole 3x3 window is in the region are measured
    assert np.isnan(flat_cv[5, 5]) and np.isfinite(flat_cv[6, 6])
    assert np.nanmax(flat_cv) == pytest.approx(0.0, abs=1e-9)
    assert np.nanpercentile(pitted_cv, 75) > 0.25


def test_group_percentiles_are_numpy_s_to_the_last_bit() -> None:
    """All groups at once give what one np.percentile per group gives (sizes 0 to 300, values
    of every scale), and None for a group with no finite chosen value."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        ids = np.repeat(np.arange(n), rng.integers(0, 300, n))
        values = (rng.normal(size=ids.size) * rng.choice([1e-3, 1.0, 100.0])).astype(np.float32)
        values[rng.random(ids.size) < 0.05] = np.nan
        chosen = rng.random(ids.size) < 0.9
        got = _group_percentiles(values, ids, chosen, n)
        ok = chosen & np.isfinite(values)
        order = np.lexsort((values[ok], ids[ok]))
        kept, bounds = values[ok][order], np.searchsorted(ids[ok][order], np.arange(n + 1))
        exact = [_sorted_percentile(kept, bounds, q) for q in (10, 90)]
        for i in range(n):
            part = values[(ids == i) & ok]
            if part.size:
                low, high = np.percentile(part, (10, 90))
                assert (exact[0][i], exact[1][i]) == (low, high)  # bit for bit
                assert got[i] == (round(float(low), 5), round(float(high), 5))
            else:
                assert got[i] == (None, None)
