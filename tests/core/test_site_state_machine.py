"""A site's states from what each look showed: size changes against the extent's own noise,
flooded pits, missed looks on bare ground, slow regrowth and ground grown over."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import replace

import pytest
import shapely

from asm_core.monitoring.site_states import SiteLook, SiteStates
from asm_core.monitoring.tracking import worked_extent
from asm_core.rules import load_rules

SETTINGS = load_rules().tracking
HECTARE = 10_000.0


def _look(
    hectares: float | None,
    footprint: float | None = 0.2,
    extent: float | None = None,
    clear: float = 1.0,
    scars: float | None = 0.18,
) -> SiteLook:
    """A look at a roughly round site of ``hectares`` (None: not detected)."""
    if hectares is None:
        return SiteLook(clear_share=clear, detected=False, footprint_ndvi=footprint)
    area = hectares * HECTARE
    perimeter = 1.5 * 2 * math.sqrt(math.pi * area)  # irregular: 1.5x a circle's
    return SiteLook(
        clear_share=clear,
        detected=True,
        extent_m2=area,
        perimeter_m=perimeter,
        scar_ndvi=scars,
        extent_ndvi=footprint if extent is None else extent,
        footprint_ndvi=footprint,
    )


def _states(*looks: SiteLook) -> list[str]:
    machine = SiteStates(SETTINGS)
    return [machine.step(look) for look in looks]


def test_a_steady_site_whose_area_wobbles_stays_persistent() -> None:
    wobble = [5.0, 5.6, 4.6, 5.5, 4.7, 5.4, 4.8, 5.7]  # ±10-14 %, lows and highs in a row
    assert _states(*(_look(h) for h in wobble)) == ["new"] + ["persistent"] * 7


def test_a_real_doubling_is_expanding_at_once() -> None:
    assert _states(_look(5.0), _look(5.1), _look(10.5), _look(10.4)) == [
        "new",
        "persistent",
        "expanding",
        "persistent",
    ]


def test_a_change_within_the_margin_counts_when_the_next_clear_look_confirms_it() -> None:
    # 1 ha growing 25 %: past the 1.2 ratio, within a small site's boundary uncertainty (28 %)
    states = _states(_look(1.0), _look(1.25), _look(1.0), _look(1.25), _look(1.25, clear=0.3),
                     _look(1.26))  # fmt: skip
    assert states == ["new", "persistent", "persistent", "persistent", "unobserved", "expanding"]


def test_flooded_pits_are_neither_contraction_nor_growth() -> None:
    """The detected extent halves (pits joined to a flooded river, spoil taken for a sandbar)
    while the footprint's land is as bare as ever; the rebound is not growth."""
    states = _states(_look(19.0), _look(18.8), _look(4.8, footprint=0.21), _look(18.9))
    assert states == ["new", "persistent", "persistent", "persistent"]


def test_backfilled_ground_that_greens_is_contraction_and_greener_spoil_revegetation() -> None:
    backfilled = _states(_look(14.0), _look(6.0, footprint=0.45, extent=0.2))
    regrowing = _states(_look(14.0), _look(6.0, footprint=0.47, extent=0.29, scars=0.22))
    assert backfilled == ["new", "contracting"]
    assert regrowing == ["new", "revegetating"]


def test_a_missed_look_on_bare_ground_is_not_inactive_and_no_false_reactivation() -> None:
    states = _states(_look(5.0), _look(None, footprint=0.21), _look(None, footprint=0.19),
                     _look(5.1))  # fmt: skip
    assert states == ["new", "persistent", "persistent", "persistent"]


def test_slow_regrowth_adds_up_and_ground_grown_over_is_inactive_until_dug_again() -> None:
    looks = [_look(5.0, footprint=0.2) for _ in range(3)]
    looks += [_look(5.0, footprint=0.23), _look(5.0, footprint=0.27)]  # +0.03: not yet; +0.07
    looks += [_look(None, footprint=0.38), _look(None, footprint=0.65)]  # +0.18; grown over
    looks += [_look(None, footprint=0.2, clear=0.1), _look(4.0, footprint=0.19)]
    assert _states(*looks) == ["new", "persistent", "persistent", "persistent", "revegetating",
                               "revegetating", "inactive", "unobserved", "reactivated"]  # fmt: skip


def test_without_an_ndvi_grid_two_clear_misses_make_a_site_inactive() -> None:
    looks = [_look(5.0, footprint=None), _look(None, footprint=None)]
    looks += [_look(None, footprint=None), _look(5.0, footprint=None)]
    assert _states(*looks) == ["new", "persistent", "inactive", "reactivated"]


def test_the_first_look_must_be_a_detection() -> None:
    with pytest.raises(ValueError, match="first look"):
        SiteStates(SETTINGS).step(_look(None))


def test_worked_extent_fills_flooded_pits_and_closes_the_mixed_pixel_gap() -> None:
    ring = shapely.box(0, 0, 200, 200).difference(shapely.box(50, 50, 150, 150))
    pond_beside = shapely.box(210, 0, 300, 100)  # one 10 m pixel of mixed shore between
    extent = worked_extent([ring, pond_beside], closing_m=SETTINGS.extent_closing_m)
    assert extent.area == pytest.approx(200 * 200 + 100 * 90 + 10 * 100, rel=0.01)
    assert worked_extent([ring], closing_m=0).area == pytest.approx(200 * 200)


def _box(hectares: float, lon: float = -2.0, lat: float = 6.0) -> shapely.Polygon:
    side = math.sqrt(hectares * HECTARE) / 111_320  # degrees, near the equator
    return shapely.box(lon, lat, lon + side, lat + side)


def _ground(green: shapely.Geometry | None) -> Callable[[shapely.Geometry], float | None]:
    """A look's NDVI: 0.7 over ``green`` ground, 0.2 (bare spoil) elsewhere."""

    def ndvi(footprint: shapely.Geometry) -> float | None:
        if green is not None and shapely.intersection(footprint, green).area > 0.5 * footprint.area:
            return 0.7
        return 0.2

    return ndvi


def _placed(geometry: shapely.Geometry, green: shapely.Geometry | None = None) -> SiteLook:
    hectares = _HECTARES_PER_DEGREE2 * geometry.area
    return replace(_look(hectares, extent=0.2), footprint=geometry, ground_ndvi=_ground(green))


_HECTARES_PER_DEGREE2 = 111_320**2 / HECTARE


def test_a_size_change_counts_only_where_the_ground_changed() -> None:
    whole = _box(10.0)
    part = _box(3.0)  # the corner the detection kept on a wet look
    dug = shapely.box(*whole.bounds[:2], whole.bounds[2] + 0.0015, whole.bounds[3])
    # spoil lost to a flooded-river look is still bare: persistent; its return is no growth
    assert _states(_placed(whole), _placed(part), _placed(whole)) == ["new"] + ["persistent"] * 2
    # the lost ground greened: contracting; ground dug out of the forest beside it: expanding
    regrown = shapely.difference(whole, part)
    assert _states(_placed(whole), _placed(part, green=regrown), _placed(dug, green=regrown))[
        1:
    ] == ["contracting", "expanding"]


def test_ground_detected_before_and_bare_on_the_last_look_is_no_growth() -> None:
    whole, part = _box(10.0), _box(3.0)
    regrown = shapely.difference(whole, part)
    looks = [_placed(whole), _placed(part, green=regrown), _placed(part), _placed(whole)]
    assert _states(*looks) == ["new", "contracting", "persistent", "persistent"]


def test_a_detection_under_partial_cloud_is_unobserved_not_judged() -> None:
    """Half the footprint hidden: the detection says nothing of the site's size."""
    partly = SETTINGS.min_clear_share / 2
    assert _states(_look(2), _look(4, clear=partly)) == ["new", "unobserved"]
    assert _states(_look(2), _look(4, clear=partly), _look(4)) == ["new", "unobserved", "expanding"]


def test_a_look_is_clear_from_the_share_the_settings_ask_for() -> None:
    enough = SETTINGS.min_clear_share
    just_under = math.nextafter(enough, 0.0)
    assert _states(_look(2), _look(4, clear=enough)) == ["new", "expanding"]
    assert _states(_look(2), _look(4, clear=just_under)) == ["new", "unobserved"]
    assert _states(_look(2), _look(None, clear=just_under)) == ["new", "unobserved"]


#: settings without the boundary's own uncertainty: a change past the ratio counts at once
EXACT = SETTINGS.model_copy(update={"edge_uncertainty_m": 0.0})


def _exact(*looks: SiteLook, settings: object = EXACT) -> list[str]:
    machine = SiteStates(settings)  # type: ignore[arg-type]
    return [machine.step(look) for look in looks]


def test_a_change_of_exactly_the_growth_ratio_is_no_change() -> None:
    assert _exact(_look(5.0), _look(6.0)) == ["new", "persistent"]
    assert _exact(_look(5.0), _look(6.01)) == ["new", "expanding"]
    # shrinking: the ground lost greened (footprint greener, scars and extent as they were)
    greener = {"footprint": 0.3, "extent": 0.2}
    assert _exact(_look(6.0), _look(5.0, **greener)) == ["new", "persistent"]
    assert _exact(_look(6.0), _look(4.99, **greener)) == ["new", "contracting"]
    # the ratio multiplies the smaller extent: 8.4 ha is within it of 10 (8.4 + 1.2 is not)
    assert _exact(_look(10.0), _look(8.4, **greener)) == ["new", "persistent"]


def test_the_level_is_the_median_of_the_looks_since_the_size_last_changed() -> None:
    # the level of 5 and 4.6 ha is 4.8 ha: 5.55 ha is within 1.2 times it (not of 4.6 alone)
    assert _exact(_look(5.0), _look(4.6), _look(5.55)) == ["new", "persistent", "persistent"]


def test_cloud_over_the_footprint_widens_the_margin_until_a_clear_look_confirms() -> None:
    # 20 % of a 6.2 ha look hidden: 1.24 ha may be under the cloud; 1.2 ha more is within it
    partly = replace(_look(6.2), clear_share=0.8)
    assert _exact(_look(5.0), partly, _look(6.2)) == ["new", "persistent", "expanding"]
    assert _exact(_look(5.0), replace(_look(6.6), clear_share=0.8)) == ["new", "expanding"]


def test_misses_counted_toward_inactive_restart_at_any_detection() -> None:
    def missed() -> SiteLook:
        return SiteLook(clear_share=1.0, detected=False)  # no NDVI grid: misses are counted

    cloudy_detection = replace(_look(5.0), clear_share=0.5)
    assert _states(_look(5.0), missed(), cloudy_detection, missed(), missed()) == [
        "new",
        "persistent",
        "unobserved",
        "persistent",
        "inactive",
    ]
    assert _states(_look(5.0), missed(), _look(5.0), missed(), missed()) == [
        "new",
        "persistent",
        "persistent",
        "persistent",
        "inactive",
    ]


def test_revegetating_looks_do_not_become_the_ground_worked() -> None:
    # scars greening by 0.08 stay greener than when worked however many looks show it
    greening = [_look(5.0, scars=0.26, extent=0.2) for _ in range(3)]
    assert _states(_look(5.0), *greening) == ["new"] + ["revegetating"] * 3


def test_a_rise_of_exactly_the_revegetation_step_is_revegetation() -> None:
    settings = SETTINGS.model_copy(update={"revegetation_ndvi_rise": 0.0625})  # exact in binary
    looks = [_look(5.0, footprint=0.25), SiteLook(1.0, False, footprint_ndvi=0.3125)]
    assert _exact(*looks, settings=settings) == ["new", "revegetating"]


def test_a_look_cannot_be_changed_once_made() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _look(5.0).clear_share = 0.0  # type: ignore[misc]
