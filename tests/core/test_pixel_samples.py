"""Object statistics from the DN kept in the strip pass equal those read back from the files,
rows at a time or object by object, in groups or all at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from asm_core.detection.objects import object_stats
from asm_core.detection.objects.candidates import CandidateFinder, _near
from asm_core.detection.objects.detector import detect_objects
from asm_core.detection.objects.objects import radius_px
from asm_core.detection.pixels.layers import ScenePixels, compute_layers
from asm_core.detection.pixels.pixel_samples import PixelSamples
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_stages import OBJECT_LAYERS, offset_decision
from asm_core.rules import load_rules
from asm_core.sources.reader import expand_window, open_bands
from asm_core.sources.stac import load_item


@pytest.mark.parametrize("budget", [10**9, 2000])  # all kept; budget exhausted: files
def test_kept_pixels_give_the_same_statistics_as_reading_back(
    small_scene: WrittenScene, budget: int
) -> None:
    item, rules = load_item(str(small_scene.item_path)), load_rules()
    with open_bands(item.bands, list(item.bands), item.epsg) as files:
        pixels = ScenePixels(
            files, item.bands, offset_decision(item, files, rules.boa_offset).dn_offset
        )
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


def _scene_objects(scene: WrittenScene) -> Iterator[tuple[Any, Any, Any]]:
    item, rules = load_item(str(scene.item_path)), load_rules()
    with open_bands(item.bands, list(item.bands), item.epsg) as files:
        pixels = ScenePixels(
            files, item.bands, offset_decision(item, files, rules.boa_offset).dn_offset
        )
        layers = compute_layers(pixels, list(rules.rules), rules.mask, None, OBJECT_LAYERS)
        yield pixels, layers, CandidateFinder(pixels, layers, rules, item.item_id, 10.0)


def test_objects_read_back_rows_at_a_time_get_each_window_s_own_pixels(
    small_scene: WrittenScene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows at a time (starting on odd rows, so the 20 m bands' pixel pairs are split) give
    each object the pixels a read of its own window gives."""
    monkeypatch.setattr(object_stats, "READ_BACK_ROWS", 7)
    for pixels, _, detector in _scene_objects(small_scene):
        crops = sorted(detector.scar_crops(), key=lambda c: (c.rows.start, c.cols.start))
        assert len(crops) > 3
        read_back = object_stats._ReadBack(pixels)
        for crop in crops:
            r, c = crop.rows, crop.cols
            got = read_back.crop(crop)
            for name in sorted(pixels.reflectance_bands):
                own = pixels.files.read(name, r.start, r.stop, c.start, c.stop)
                f = pixels.files.factors[name]
                want = expand_window(own, f, r.start, c.start, r.stop - r.start, c.stop - c.start)
                np.testing.assert_array_equal(got[name], want, err_msg=name)


def test_objects_measured_in_small_groups_measure_the_same(
    small_scene: WrittenScene, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _, _, detector in _scene_objects(small_scene):
        scars = detector.scars()
        detector.measure(scars)
        whole = [s.stats for s in scars]
        monkeypatch.setattr(object_stats, "STATS_CHUNK_PIXELS", 1)  # one object a group
        detector.measure(scars)
        assert [s.stats for s in scars] == whole


def test_ponds_found_through_the_index_are_those_near_any_scar(
    small_scene: WrittenScene,
) -> None:
    for _, _, detector in _scene_objects(small_scene):
        scars = detector.scars()
        small, _ = detector.water_bodies()
        reach = radius_px(detector.rules.objects.pond_max_distance_to_scar_m, 10.0) + 1
        every = [c.crop.anchor for c in detector.ponds(small, scars)]
        assert every == [c.anchor for c in small if _near(scars, c, reach)]
        assert every and len(every) < len(small), "the scene has ponds of both kinds"
