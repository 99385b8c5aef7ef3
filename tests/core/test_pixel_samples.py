"""Object statistics from the DN kept in the strip pass equal those read back from the files."""

from __future__ import annotations

import dataclasses

import pytest

from asm_core.detect import detect_objects
from asm_core.layers import ScenePixels, compute_layers
from asm_core.pixel_samples import PixelSamples
from asm_core.reader import open_bands
from asm_core.rules import load_rules
from asm_core.stac import load_item
from asm_core.synthetic.scene import WrittenScene
from asm_core.tile_job import OBJECT_LAYERS, _offset_decision


@pytest.mark.parametrize("budget", [10**9, 2000])  # all kept; budget exhausted: files
def test_kept_pixels_give_the_same_statistics_as_reading_back(
    small_scene: WrittenScene, budget: int
) -> None:
    item, rules = load_item(str(small_scene.item_path)), load_rules()
    with open_bands(item.bands, list(item.bands), item.epsg) as files:
        pixels = ScenePixels(files, item.bands, _offset_decision(item, files).dn_offset)
        samples = PixelSamples(files.shape[1], margin_px=4, budget_pixels=budget)
        layers = compute_layers(  # strips of 100 rows: objects straddle strip boundaries
            pixels, list(rules.rules), rules.mask, samples, OBJECT_LAYERS, strip_rows=100
        )
        kept = detect_objects(pixels, layers, rules, item.item_id, 10.0)
        read = detect_objects(
            pixels, dataclasses.replace(layers, samples=None), rules, item.item_id, 10.0
        )
    assert samples.full == (budget < 10**9)
    assert samples.count > 0
    assert (samples.misses == 0) == (budget == 10**9)  # whole objects kept across strips
    assert kept.detections, "the scene has detections to compare"
    assert [d.stats for d in kept.detections] == [d.stats for d in read.detections]
