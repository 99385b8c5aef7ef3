"""Strip-wise labelling joins components across strips exactly like whole-grid labelling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from asm_core.detection.objects.components import label_components


@pytest.mark.parametrize("connectivity", [4, 8])
def test_strip_labels_equal_whole_grid_labels(connectivity: int) -> None:
    rng = np.random.default_rng(connectivity)
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    for _ in range(15):
        height, width = (int(v) for v in rng.integers(5, 120, 2))
        mask = rng.random((height, width)) < rng.uniform(0.2, 0.6)
        marker = mask & (rng.random(mask.shape) < 0.05)
        labels, count = ndimage.label(mask, structure)
        parts = label_components(
            mask, connectivity, marker=marker, strip_rows=int(rng.integers(1, 30))
        )
        assert parts.count == count
        sizes = np.bincount(labels.ravel())[1:]
        np.testing.assert_array_equal(np.sort(parts.sizes), np.sort(sizes))
        big = np.flatnonzero(sizes > 3) + 1
        np.testing.assert_array_equal(parts.select(parts.sizes > 3), np.isin(labels, big))
        touched = np.unique(labels[marker])
        np.testing.assert_array_equal(
            parts.select(parts.marked), np.isin(labels, touched[touched > 0])
        )
        for _, (rows, cols), crop in parts.crops(np.flatnonzero(parts.sizes > 3)[:6], 2):
            r, c = np.argwhere(crop)[0]
            label = labels[r + rows.start, c + cols.start]
            np.testing.assert_array_equal(crop, labels[rows, cols] == label)
        background = label_components(mask, connectivity, invert=True, strip_rows=7)
        assert background.count == ndimage.label(~mask, structure)[1]
