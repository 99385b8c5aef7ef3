"""Disturbed ground where nearly all land is bare (issue 20): roughness dense over an area, not
along a line, above the scene's own background; and the cues it is judged by."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from asm_core.detection.objects.confidence import SiteCues, site_cue_scores
from asm_core.detection.objects.disturbance import disturbed_ground
from asm_core.rules import load_rules

RULES = load_rules()
SETTINGS = RULES.disturbance


@dataclass
class _Pixels:
    """The part of ScenePixels the search reads: 10 m reflectance of the texture bands."""

    brightness: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.brightness.shape  # type: ignore[return-value]

    @property
    def reflectance_bands(self) -> frozenset[str]:
        return frozenset({"blue", "green", "red", "nir"})

    def reflectance(self, name: str, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        return self.brightness[r0:r1, c0:c1].astype(np.float32)


def _desert(size: int = 300, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.17 * (1 + 0.01 * rng.standard_normal((size, size)))  # smooth pavement


def _speckle(image: np.ndarray, rows: slice, cols: slice, share: float, seed: int = 2) -> None:
    """Pale spoil heaps scattered over a patch (a shaft field at 10 m)."""
    rng = np.random.default_rng(seed)
    patch = image[rows, cols]
    patch[rng.random(patch.shape) < share] = 0.30


def test_a_shaft_field_is_disturbed_and_a_track_is_not() -> None:
    image = _desert()
    _speckle(image, slice(100, 140), slice(100, 150), 0.3)
    image[:, 250] = 0.30  # a pale track: a line of roughness
    region = np.ones(image.shape, dtype=bool)
    found = disturbed_ground(_Pixels(image), region, SETTINGS, 10)  # type: ignore[arg-type]
    assert found[105:135, 105:145].mean() > 0.9
    assert not found[:, 245:256].any()
    assert found.sum() < 1.3 * 40 * 50  # the field, joined, not the plain around it


def test_only_the_region_is_searched() -> None:
    image = _desert()
    _speckle(image, slice(100, 140), slice(100, 150), 0.3)
    region = np.ones(image.shape, dtype=bool)
    region[:, 125:] = False  # (say, vegetated or cloudy)
    found = disturbed_ground(_Pixels(image), region, SETTINGS, 10)  # type: ignore[arg-type]
    assert found[105:135, 105:120].all() and not found[:, 125:].any()


def test_a_rough_landscape_raises_its_own_bar() -> None:
    """Gravel or gullied ground rough all over: only what is rougher than most of it counts."""
    image = _desert()
    rng = np.random.default_rng(3)
    image *= 1 + 0.12 * rng.standard_normal(image.shape)  # rough everywhere
    region = np.ones(image.shape, dtype=bool)
    found = disturbed_ground(_Pixels(image), region, SETTINGS, 10)  # type: ignore[arg-type]
    assert found.mean() < 0.02
    smooth = SETTINGS.model_copy(update={"rough_quantile": 0.01})  # without its own bar
    assert disturbed_ground(_Pixels(image), region, smooth, 10).mean() > 0.5  # type: ignore[arg-type]


PALE_GREY = SiteCues(
    bsi_mean=0.13,
    ferric_mean=1.2,
    ring_ndvi=None,
    rectangularity=0.5,
    ponds=0,
    turbid_water_near=False,
    texture=0.3,
    fresh_spoil=0.25,
)


def test_disturbed_ground_is_judged_by_its_spoil_not_by_vegetation_it_cannot_have() -> None:
    ramps = RULES.confidence.ramps
    scores = site_cue_scores(PALE_GREY, ramps)
    assert "vegetation_contrast" not in scores  # not judged: no vegetation frames it
    assert scores["fresh_spoil"] == 1.0
    assert site_cue_scores(replace(PALE_GREY, fresh_spoil=0.0), ramps)["fresh_spoil"] == 0.0
    # other sites keep their vegetation contrast, even unmeasured (it then counts against)
    other = replace(PALE_GREY, fresh_spoil=None)
    assert "fresh_spoil" not in site_cue_scores(other, ramps)
    assert site_cue_scores(other, ramps)["vegetation_contrast"] == 0.0


@pytest.mark.parametrize("key", ["open_share_min", "rough_quantile", "density_min"])
def test_the_search_s_numbers_are_the_rule_set_s(key: str) -> None:
    assert 0 < getattr(SETTINGS, key) <= 1


def test_pits_and_heaps_average_out_at_the_coarse_scale_and_a_rock_body_s_edge_does_not() -> None:
    from asm_core.detection.objects.texture import coarse_variation

    rng = np.random.default_rng(5)
    region = np.ones((40, 40), dtype=bool)
    speckled = np.where(rng.random((40, 40)) < 0.3, 0.30, 0.17)  # heaps among pavement
    edged = np.full((40, 40), 0.30)
    edged[:, :20] = 0.12  # a pale outcrop against its shaded face
    working = coarse_variation(region, region.ravel(), speckled.ravel(), 2.0)
    relief = coarse_variation(region, region.ravel(), edged.ravel(), 2.0)
    assert working is not None and relief is not None
    assert working < SETTINGS.coarse_variation_min < SETTINGS.coarse_variation_max < relief


def test_a_grey_yard_is_spoil_ground_and_a_pale_track_and_a_whole_valley_of_sand_are_not() -> None:
    from asm_core.detection.objects.disturbance import spoil_ground

    size = 300
    red = np.full((size, size), 0.19)
    green = np.full((size, size), 0.13)  # varnished pavement, B4/B3 1.46
    red[100:130, 100:130], green[100:130, 100:130] = 0.22, 0.20  # grey fines, 1.1
    red[:, 250:254], green[:, 250:254] = 0.22, 0.20  # a pale grey track 4 px wide
    red[:, 10:60], green[:, 10:60] = 0.22, 0.20  # a valley's sand, bigger than a working

    class Pixels:
        shape = (size, size)
        reflectance_bands = frozenset({"blue", "green", "red", "nir"})

        def reflectance(self, name: str, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
            band = {"red": red, "green": green}.get(name, green)
            return band[r0:r1, c0:c1].astype(np.float32)

    region = np.ones((size, size), dtype=bool)
    found = spoil_ground(Pixels(), region, SETTINGS, 1, (10, 2000))  # type: ignore[arg-type]
    assert found[100:130, 100:130].all()
    assert not found[:, 240:260].any() and not found[:, 10:60].any()
