"""Look-alike suppression decides from what surrounds and shapes a candidate."""

from __future__ import annotations

import numpy as np
import pytest

from asm_core.detection.objects.lookalikes import classify_scar, ring_lookalike, shape_lookalike
from asm_core.detection.objects.objects import ObjectCrop, label_objects, object_crops
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


def _ring_scene(hits: dict[str, int]) -> tuple[SceneLayers, ObjectCrop, int]:
    """A 10 × 10 scar whose ring has ``hits[name]`` pixels set in each named layer ('invalid':
    cleared in the valid mask), the first ones in raster order."""
    scar = np.zeros((40, 40), dtype=bool)
    scar[15:25, 15:25] = True
    (crop,) = object_crops(label_objects(scar, 1), ring_px=3)
    ring_rows, ring_cols = np.nonzero(crop.ring)
    ring_rows, ring_cols = ring_rows + crop.rows.start, ring_cols + crop.cols.start
    planes = {
        "valid": np.ones_like(scar),
        "water": np.zeros_like(scar),
        "built_up": np.zeros_like(scar),
    }
    for name, count in hits.items():
        plane = planes["valid" if name == "invalid" else name]
        plane[ring_rows[:count], ring_cols[:count]] = name != "invalid"
    layers = SceneLayers(
        valid=planes["valid"],
        layers={"scar": scar, "water": planes["water"], "built_up": planes["built_up"]},
        rescued_pond_pixels=0,
    )
    return layers, crop, len(ring_rows)


@pytest.mark.parametrize(
    ("layer", "setting", "verdict"),
    [
        ("invalid", "cloud_ring_invalid_min", "cloud_edge"),
        ("water", "sandbar_ring_water_min", "sandbar"),
        ("built_up", "town_ring_built_up_min", "town"),
    ],
)
def test_a_ring_share_counts_from_its_threshold(layer: str, setting: str, verdict: str) -> None:
    layers, crop, ring = _ring_scene({layer: 30})
    share = 30 / ring
    at = SETTINGS.model_copy(update={setting: share})
    assert ring_lookalike(crop, layers, at) == verdict
    above = SETTINGS.model_copy(update={setting: share + 1e-9})
    assert ring_lookalike(crop, layers, above) is None


def test_cloud_outranks_water_which_outranks_town() -> None:
    everything = {"invalid": 60, "water": 60, "built_up": 60}
    low = SETTINGS.model_copy(
        update={
            "cloud_ring_invalid_min": 0.01,
            "sandbar_ring_water_min": 0.01,
            "town_ring_built_up_min": 0.01,
        }
    )
    layers, crop, _ = _ring_scene(everything)
    assert ring_lookalike(crop, layers, low) == "cloud_edge"
    layers, crop, _ = _ring_scene({"water": 60, "built_up": 60})
    assert ring_lookalike(crop, layers, low) == "sandbar"
    # a ring look-alike is named before the shape is looked at
    assert classify_scar(crop, 0.99, layers, low) == "sandbar"


def test_a_rule_set_without_water_or_built_up_layers_judges_the_rest() -> None:
    layers, crop, _ = _ring_scene({"water": 200, "built_up": 200})
    bare = SceneLayers(
        valid=layers.valid, layers={"scar": layers.layers["scar"]}, rescued_pond_pixels=0
    )
    assert ring_lookalike(crop, bare, SETTINGS) is None
    assert classify_scar(crop, SETTINGS.field_rectangularity_min, bare, SETTINGS) == "field"
    below = np.nextafter(SETTINGS.field_rectangularity_min, 0)
    assert shape_lookalike(float(below), SETTINGS) is None
