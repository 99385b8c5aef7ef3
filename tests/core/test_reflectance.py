"""The BOA offset: decided from baseline, flag and pixels, and never applied twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_stages import offset_decision
from asm_core.rules import BoaOffsetSettings, load_rules
from asm_core.sources.reader import open_bands
from asm_core.sources.sentinel2 import BandAsset
from asm_core.sources.stac import load_item
from asm_core.spectral.reflectance import decide_boa_offset, pixel_evidence, to_reflectance

RNG = np.random.default_rng(0)
BOA = load_rules().boa_offset
# A vegetated scene's dark-band DN without the offset: red ~300-600, nir ~3000, water ~200.
DARK_DN = np.concatenate([RNG.integers(150, 700, 20000), RNG.integers(2500, 3500, 20000)])


def _bands(offset: float) -> dict[str, BandAsset]:
    return {"red": BandAsset("red", "x", 1e-4, offset, 0)}


@pytest.mark.parametrize(
    ("baseline", "flag", "meta_offset", "pixels_carry_offset", "expected", "source"),
    [
        # PB 02.xx: no offset in the DN, whatever the flag says
        ((2, 14), None, 0.0, False, 0, "baseline"),
        ((2, 12), True, -0.1, False, 0, "baseline"),  # wrong flag and metadata: pixels agree
        ((2, 14), False, 0.0, False, 0, "baseline"),
        # PB 04.00 and 05.xx: DN carry +1000
        ((4, 0), True, -0.1, True, 1000, "baseline"),
        ((4, 0), None, 0.0, True, 1000, "baseline"),
        ((5, 9), False, 0.0, True, 1000, "baseline"),  # flag false, offset still in the DN
        ((5, 10), None, -0.1, True, 1000, "baseline"),
        # wrong flag the other way: data harmonised (offset removed) though PB 05 says otherwise
        ((5, 10), True, -0.1, False, 0, "pixels"),
        # PB 02 but the DN do carry the offset (a mislabelled reprocessing)
        ((2, 14), None, 0.0, True, 1000, "pixels"),
        # no baseline at all: pixels decide
        (None, None, 0.0, True, 1000, "pixels"),
        (None, None, -0.1, False, 0, "pixels"),
    ],
)
def test_offset_decision_matrix(
    baseline: tuple[int, int] | None,
    flag: bool | None,
    meta_offset: float,
    pixels_carry_offset: bool,
    expected: int,
    source: str,
) -> None:
    dn = DARK_DN + (1000 if pixels_carry_offset else 0)
    decision = decide_boa_offset(baseline, flag, _bands(meta_offset), pixel_evidence([dn], BOA))
    assert decision.dn_offset == expected
    assert decision.source == source


def test_bright_scene_without_dark_pixels_falls_back_to_the_baseline() -> None:
    bright = RNG.integers(2500, 4000, 10000)  # desert: nothing near DN 1000 either way
    assert pixel_evidence([bright], BOA) == "inconclusive"
    assert decide_boa_offset((5, 10), None, _bands(0.0), "inconclusive").dn_offset == 1000
    assert decide_boa_offset((3, 1), None, _bands(0.0), "inconclusive").dn_offset == 0


def test_unknown_baseline_and_no_evidence_trusts_the_metadata_offset() -> None:
    assert decide_boa_offset(None, None, _bands(-0.1), "inconclusive").dn_offset == 1000
    assert decide_boa_offset(None, None, _bands(0.0), "inconclusive").dn_offset == 0


def test_to_reflectance_subtracts_once_and_masks_nodata() -> None:
    dn = np.array([0, 1000, 1500, 11000], dtype=np.uint16)
    refl = to_reflectance(dn, 1e-4, 1000)
    assert np.isnan(refl[0])
    np.testing.assert_allclose(refl[1:], [0.0, 0.05, 1.0], atol=1e-6)
    assert refl.dtype == np.float32


SCENE_CASES = [
    # (baseline, flag, flag_absent, dn_offset_in_pixels, expected dn_offset)
    ("02.14", None, True, None, 0),
    ("04.00", True, False, None, 1000),
    ("04.00", None, True, None, 1000),
    ("05.10", False, False, None, 1000),
    ("05.10", True, False, False, 0),  # wrong flag: the COGs were harmonised
]


@pytest.mark.parametrize(("baseline", "flag", "absent", "in_pixels", "expected"), SCENE_CASES)
def test_synthetic_scenes_give_true_reflectance(
    scene_factory: Callable[..., WrittenScene],
    baseline: str,
    flag: bool | None,
    absent: bool,
    in_pixels: bool | None,
    expected: int,
) -> None:
    """GIVEN a scene written with a known offset WHEN read THEN water is dark but not negative."""
    scene = scene_factory(
        seed=21,
        size=256,
        baseline=baseline,
        boa_flag=flag,
        flag_absent=absent,
        dn_offset_in_pixels=in_pixels,
    )
    item = load_item(str(scene.item_path))
    with open_bands(item.bands, ["blue", "red", "nir", "swir16"], item.epsg) as files:
        decision = offset_decision(item, files, BOA)
        dn = files.read("swir16", 0, files.shape[0])
    assert decision.dn_offset == expected, decision.detail
    swir = to_reflectance(dn, item.bands["swir16"].scale, decision.dn_offset)
    finite = swir[np.isfinite(swir)]
    assert np.percentile(finite, 1) >= -0.005  # applied twice, water would reach -0.1
    assert 0.1 < np.median(finite) < 0.4  # vegetation/savanna SWIR, not shifted by 0.1


def test_synthetic_item_metadata_follows_the_flag(
    scene_factory: Callable[..., WrittenScene],
) -> None:
    scene = scene_factory(
        seed=21,
        size=256,
        baseline="02.14",
        boa_flag=None,
        flag_absent=True,
        dn_offset_in_pixels=None,
    )
    item = load_item(str(scene.item_path))
    assert item.boa_offset_flag is None
    assert item.baseline == (2, 14)
    assert Path(item.bands["red"].href).is_file()


# Pixel evidence at each of its edges, with settings fixed here (not the shipped YAML's, which
# may be retuned): more than 1 % below DN 1000 is 'absent'; the floor needs at least 200 pixels
# in [1000, 1200) and at most 2 % of that in [800, 1000).
EDGES = BoaOffsetSettings(
    absent_if_below_share=0.01,
    floor_window_dn=200,
    floor_min_pixels=200,
    floor_max_ratio=0.02,
    evidence_samples=1000,
)
BULK = [3000] * 2000  # bright pixels no count looks at


def _dn(*runs: tuple[int, int]) -> np.ndarray:
    return np.array([value for value, count in runs for _ in range(count)] + BULK, np.uint16)


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        # exactly the minimum above (1199 still in the window) and exactly the ratio below
        (_dn((1000, 199), (1199, 1), (800, 4)), "present"),
        # 1200 is past the window: one short of the minimum
        (_dn((1000, 199), (1200, 1)), "inconclusive"),
        # one more below (800 is in the window) than the ratio allows
        (_dn((1000, 200), (800, 5)), "inconclusive"),
        # 799 is outside the window below
        (_dn((1000, 200), (799, 5)), "present"),
        # 999 is just below
        (_dn((1000, 200), (999, 5)), "inconclusive"),
    ],
)
def test_pixel_evidence_floor_edges(dn: np.ndarray, expected: str) -> None:
    assert pixel_evidence([dn], EDGES) == expected


def test_pixel_evidence_absent_only_above_the_share() -> None:
    # 1 % of 1,000 pixels below DN 1000 is allowed (noise), one more is not
    assert pixel_evidence([np.array([500] * 10 + [3000] * 990)], EDGES) == "inconclusive"
    assert pixel_evidence([np.array([500] * 11 + [3000] * 989)], EDGES) == "absent"
    # DN 1000 itself is not below the offset
    assert pixel_evidence([np.array([1000] * 11 + [3000] * 989)], EDGES) == "inconclusive"


def test_pixel_evidence_pools_every_band_and_skips_empty_ones() -> None:
    floor = np.array([1000] * 200, np.uint16)
    bulk = np.array(BULK, np.uint16)
    assert pixel_evidence([np.array([], np.uint16), floor, bulk], EDGES) == "present"
    # the floor's pixels below 1000 in a second band count against it
    assert pixel_evidence([floor, np.array([900] * 5, np.uint16), bulk], EDGES) == "inconclusive"
    assert pixel_evidence([np.array([], np.uint16)], EDGES) == "inconclusive"
    assert pixel_evidence([], EDGES) == "inconclusive"


def test_offset_decision_says_what_it_weighed() -> None:
    bands = {
        "red": BandAsset("red", "x", 1e-4, -0.12345, 0),
        "nir": BandAsset("nir", "x", 1e-4, -0.1, 0),
        "scl": BandAsset("scl", "x", 1.0, 7.0, 0),  # the class band's offset is no claim
    }
    decision = decide_boa_offset((5, 9), True, bands, "present")
    assert decision.detail == (
        "baseline 05.09, boa_offset_applied=true, raster:bands offset=[-0.1235, -0.1], "
        "pixels present"
    )
    assert decide_boa_offset(None, False, {}, "absent").detail == (
        "baseline unknown, boa_offset_applied=false, pixels absent"
    )


@pytest.mark.parametrize(
    ("baseline", "evidence", "expected", "source"),
    [
        # the baseline decides only when the pixels agree with it, or say nothing
        ((4, 0), "present", 1000, "baseline"),
        ((3, 99), "present", 1000, "pixels"),
        ((4, 0), "absent", 0, "pixels"),
        ((3, 99), "absent", 0, "baseline"),
        ((4, 0), "inconclusive", 1000, "baseline"),
        ((3, 99), "inconclusive", 0, "baseline"),
        (None, "present", 1000, "pixels"),
        (None, "absent", 0, "pixels"),
    ],
)
def test_offset_decision_at_the_offset_baseline(
    baseline: tuple[int, int] | None, evidence: str, expected: int, source: str
) -> None:
    decision = decide_boa_offset(baseline, None, _bands(-0.1), evidence)
    assert (decision.dn_offset, decision.source) == (expected, source)


def test_metadata_offset_must_be_the_boa_one() -> None:
    # only -0.1 (to rounding) is the BOA offset; other offsets are not trusted as it
    for offset, expected in [(-0.1, 1000), (-0.10001, 1000), (-0.1002, 0), (0.1, 0), (-1.1, 0)]:
        decision = decide_boa_offset(None, None, _bands(offset), "inconclusive")
        assert decision.dn_offset == expected, offset
        assert decision.source == "metadata"


def test_to_reflectance_without_offset_and_with_another_scale() -> None:
    dn = np.array([0, 1, 500, 65535], dtype=np.uint16)
    refl = to_reflectance(dn, 2e-4, 0)
    assert np.isnan(refl[0])
    np.testing.assert_allclose(refl[1:], [2e-4, 0.1, 13.107], rtol=1e-6)
    # the input is left alone (nodata still 0, not NaN or shifted)
    assert dn.tolist() == [0, 1, 500, 65535]
