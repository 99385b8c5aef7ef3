"""Look-alike suppression decides from what surrounds and shapes a candidate."""

from __future__ import annotations

import numpy as np
import pytest

from asm_core.detection.objects.lookalikes import classify_scar
from asm_core.detection.objects.objects import label_objects, object_crops
from asm_core.detection.pixels.layers import SceneLayers
from asm_core.rules import load_rules

SETTINGS = load_rules().lookalikes


def _scene(context: str) -> tuple[SceneLayers, object]:
    scar = np.zeros((40, 40), dtype=bool)
    scar[15:25, 15:25] = True
    valid = np.ones_like(scar)
    water = np.zeros_like(scar)
    built = np.zeros_like(scar)
    around = ~scar
    around[:12] = around[28:] = False
    around[:, :12] = around[:, 28:] = False
    if context == "cloud":
        valid[around] = False
    elif context == "water":
        water[around] = True
    elif context == "town":
        built[around] = True
    layers = SceneLayers(
        valid=valid, layers={"scar": scar, "water": water, "built_up": built}, rescued_pond_pixels=0
    )
    (crop,) = object_crops(label_objects(scar, 1), ring_px=3)
    return layers, crop


@pytest.mark.parametrize(
    ("context", "rectangularity", "expected"),
    [
        ("cloud", 0.5, "cloud_edge"),
        ("water", 0.5, "sandbar"),
        ("town", 0.5, "town"),
        ("vegetation", 0.95, "field"),
        ("vegetation", 0.6, None),
    ],
)
def test_candidates_are_told_apart_by_context_and_shape(
    context: str, rectangularity: float, expected: str | None
) -> None:
    layers, crop = _scene(context)
    assert classify_scar(crop, rectangularity, layers, SETTINGS) == expected
