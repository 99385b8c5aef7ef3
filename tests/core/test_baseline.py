"""The same-season baseline: looks chosen by tile and season, a median-NDVI composite read in
windows on the item's grid (SCL-masked where a look has SCL, nodata-masked where it has not),
and the vegetation-loss cue it gives new scars."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from asm_core.detection.objects.baseline import open_baseline
from asm_core.detection.objects.confidence import SiteCues, combine, site_cue_scores
from asm_core.errors import CatalogError
from asm_core.evaluation.synthetic.series import WrittenSeries, write_series
from asm_core.evaluation.synthetic.site_stories import SeriesSpec
from asm_core.jobs.tile_job import run_item
from asm_core.planning.baseline_looks import baseline_looks, look_dict
from asm_core.planning.plan import attach_baselines, plan_tile_dates
from asm_core.planning.scan_planning import plan_scan
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.catalog import SearchRequest, SearchResult
from asm_core.sources.reader import open_bands
from asm_core.sources.stac import SceneItem, load_item, scene_item_from_dict

SEED = 5151  # used by no other test: 12 looks, 60 days apart, two years


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[WrittenSeries, list[SceneItem]]:
    written = write_series(
        SeriesSpec(seed=SEED, dates=12, size=512, revisit_days=60),
        tmp_path_factory.mktemp("baseline"),
    )
    return written, [load_item(str(p)) for p in written.item_paths]


def _item_dicts(written: WrittenSeries) -> list[dict[str, Any]]:
    """The series' STAC items as a search returns them (with self links to resolve hrefs)."""
    dicts = []
    for path in written.item_paths:
        item = json.loads(path.read_text())
        item["links"] = [{"rel": "self", "href": str(path)}]
        dicts.append(item)
    return dicts


def _ndvi(item: SceneItem) -> np.ndarray:
    with open_bands(item.bands, ["red", "nir", "scl"], item.epsg, {}, None) as files:
        height, width = files.shape
        red = files.read("red", 0, height, 0, width).astype(np.float32) - 1000
        nir = files.read("nir", 0, height, 0, width).astype(np.float32) - 1000
        scl = files.read("scl", 0, height, 0, width)
    ndvi = ((nir - red) / (nir + red)).reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    ndvi[np.isin(scl, (0, 3, 8, 9, 10))] = np.nan
    return ndvi


def test_looks_are_the_same_tile_in_the_same_season_a_year_before(
    series: tuple[WrittenSeries, list[SceneItem]],
) -> None:
    _, items = series
    latest = items[-1]
    looks = baseline_looks(latest, items, 45)
    assert looks and all(look.mgrs_tile == latest.mgrs_tile for look in looks)
    assert all(
        abs(look.acquired - (latest.acquired - timedelta(days=365))) <= timedelta(days=45)
        for look in looks
    )
    assert baseline_looks(items[0], items, 45) == []  # nothing a year before the first
    other_tile = [replace(look, mgrs_tile="31NAA") for look in looks]
    assert baseline_looks(latest, other_tile, 45) == []


_RULES = load_rules()
_SETTINGS = (_RULES.baseline.resolution_m, _RULES.mask.invalid_scl)


def _composite(looks: list[SceneItem], item: SceneItem) -> tuple[Any, np.ndarray]:
    with (
        open_bands(item.bands, ["red"], item.epsg, {}, None) as files,
        ExitStack() as stack,
    ):
        baseline = open_baseline(looks, item.epsg or 0, files.transform, stack, *_SETTINGS)
        height, width = files.shape
        composite, r0, c0 = baseline.composite(slice(0, height), slice(0, width))
    assert (r0, c0) == (0, 0)
    return baseline, composite


def test_the_composite_is_the_median_of_the_clear_looks_on_the_items_grid(
    series: tuple[WrittenSeries, list[SceneItem]],
) -> None:
    _, items = series
    looks = items[:3]
    baseline, composite = _composite(looks, items[-1])
    assert baseline.factor == 2 and baseline.looks == [look.item_id for look in looks]
    with np.errstate(all="ignore"):
        expected = np.nanmedian(np.stack([_ndvi(look) for look in looks]), axis=0)
    both = np.isfinite(expected) & np.isfinite(composite)
    assert both.mean() > 0.9
    # the windows are read from the 20 m overviews (nearest), the reference by a 2x2 mean
    assert np.abs(composite[both] - expected[both]).mean() < 0.03
    assert np.array_equal(np.isnan(expected), np.isnan(composite))


def test_a_window_of_the_composite_equals_the_same_part_of_the_whole(
    series: tuple[WrittenSeries, list[SceneItem]],
) -> None:
    _, items = series
    item = items[-1]
    _, whole = _composite(items[:3], item)
    with (
        open_bands(item.bands, ["red"], item.epsg, {}, None) as files,
        ExitStack() as stack,
    ):
        baseline = open_baseline(items[:3], item.epsg or 0, files.transform, stack, *_SETTINGS)
        part, r0, c0 = baseline.composite(slice(101, 180), slice(33, 97))
        mask = np.zeros((79, 64), dtype=bool)
        mask[10:40, 5:30] = True
        total, count = baseline.mean_under(slice(101, 180), slice(33, 97), mask)
    assert (r0, c0) == (50, 16)  # 101 // 2, 33 // 2: aligned to the 20 m grid
    np.testing.assert_array_equal(part, whole[50 : 50 + part.shape[0], 16 : 16 + part.shape[1]])
    r, c = np.nonzero(mask)
    values = whole[(101 + r) // 2, (33 + c) // 2]
    assert count == np.isfinite(values).sum()
    assert total == pytest.approx(float(np.nansum(values)), rel=1e-5)


def test_looks_without_scl_are_masked_by_nodata_and_other_crs_looks_are_skipped(
    series: tuple[WrittenSeries, list[SceneItem]],
) -> None:
    _, items = series
    no_scl = [
        replace(look, bands={k: v for k, v in look.bands.items() if k != "scl"})
        for look in items[:3]
    ]
    other_crs = replace(items[3], epsg=32631)
    no_red = replace(items[4], bands={k: v for k, v in items[4].bands.items() if k != "red"})
    baseline, composite = _composite([*no_scl, other_crs, no_red], items[-1])
    # a look without SCL counts, as composites and most published datasets come
    assert baseline.looks == [look.item_id for look in no_scl]
    assert baseline.skipped == [
        f"{other_crs.item_id}: in EPSG:32631, the item in EPSG:{items[-1].epsg}",
        f"{no_red.item_id}: no red band",
    ]
    # no SCL: clouds are not masked, so every pixel with data has a value
    assert np.isfinite(composite).mean() > 0.99


def _without_scl(item: SceneItem) -> SceneItem:
    return replace(item, bands={k: v for k, v in item.bands.items() if k != "scl"})


@pytest.mark.parametrize("scl", [True, False], ids=["with-scl", "without-scl"])
def test_a_scar_cut_since_last_year_gets_the_vegetation_loss_cue(
    series: tuple[WrittenSeries, list[SceneItem]], tmp_path: Path, scl: bool
) -> None:
    written, items = series
    rules = load_rules()
    if not scl:  # annual composites and published datasets: no SCL on the item or its looks
        items = [_without_scl(i) for i in items]
    appear = next(r for r in written.states if r["story"] == "appears" and r["state"] == "new")
    item = next(i for i in items if i.item_id == appear["item_id"])
    looks = baseline_looks(item, items, rules.baseline.days)
    assert looks, "the site appears in the second year"
    run_item(item, rules, tmp_path / "with", baseline=looks)
    run_item(item, rules, tmp_path / "without")
    with_rows = read_table(tmp_path / "with", "detections").to_pylist()
    without = {
        r["detection_id"]: r for r in read_table(tmp_path / "without", "detections").to_pylist()
    }
    (run,) = read_table(tmp_path / "with", "tile_runs").to_pylist()
    assert run["baseline_looks"] == [look.item_id for look in looks]
    cut = [r for r in with_rows if "vegetation_loss" in (r["cues"] or [])]
    assert cut, "the new scar was forest or savanna a year before"
    for row in cut:
        assert row["baseline_ndvi"] > 0.4  # vegetated a year before (forest and savanna)
        # more sure with the cue; or a site only with it (no site at all without the baseline)
        alone = without.get(row["detection_id"], {"confidence": 0.0})
        assert row["confidence"] > alone["confidence"]
    old = [r for r in with_rows if r["class"] == "mining_scar" and r["baseline_ndvi"] is not None]
    assert any(r["baseline_ndvi"] < 0.3 for r in old), "sites dug a year before were bare then"


def test_without_a_baseline_the_cue_is_left_out_not_counted_against() -> None:
    settings = load_rules().confidence
    weights, ramps = settings.weights, settings.ramps
    cues = SiteCues(0.2, 1.9, 0.6, 0.3, 2, False)
    agrees = settings.agrees_at
    plain, _ = combine(site_cue_scores(cues, ramps), weights, agrees)
    lost, agreeing = combine(site_cue_scores(replace(cues, ndvi_drop=0.5), ramps), weights, agrees)
    kept, _ = combine(site_cue_scores(replace(cues, ndvi_drop=0.0), ramps), weights, agrees)
    # no loss is no evidence against a site (old workings were bare a year before too)
    assert kept == plain < lost and "vegetation_loss" in agreeing


def test_plans_carry_small_look_items_that_read_back_as_the_same_scene(
    series: tuple[WrittenSeries, list[SceneItem]],
) -> None:
    written, items = series
    dicts = _item_dicts(written)
    plan = plan_tile_dates(dicts[-2:])
    assert attach_baselines(plan, dicts, 45) == 2
    for tile_date in plan.tile_dates:
        (look,) = tile_date.baseline
        back = scene_item_from_dict(look, "<manifest>")
        original = next(i for i in items if i.item_id == back.item_id)
        assert (back.acquired, back.epsg, back.baseline, back.boa_offset_flag) == (
            original.acquired,
            original.epsg,
            original.baseline,
            original.boa_offset_flag,
        )
        assert back.bands["red"].href == original.bands["red"].href
        assert look == look_dict(original)


def test_a_scan_searches_the_season_a_year_before_and_survives_its_failure(
    series: tuple[WrittenSeries, list[SceneItem]],
) -> None:
    written, items = series
    dicts = _item_dicts(written)
    last = items[-1].acquired.date()
    request = SearchRequest(shapely.box(-180, -90, 180, 90), last, last)
    asked: list[tuple[date, date]] = []

    def search(req: SearchRequest) -> SearchResult:
        asked.append((req.start, req.end))
        chosen = [
            d
            for d, i in zip(dicts, items, strict=True)
            if req.start <= i.acquired.date() <= req.end
        ]
        return SearchResult(chosen, len(chosen), "none", 0)

    plan = plan_scan(request, 45, search=search)
    assert asked == [(last, last), (last - timedelta(days=410), last - timedelta(days=320))]
    assert len(plan.tile_dates) == 1 and plan.with_baseline == 1 and plan.baseline_error is None

    def failing(req: SearchRequest) -> SearchResult:
        if req.start < last:
            raise CatalogError("the STAC API said 503 three times")
        return search(req)

    degraded = plan_scan(request, 45, search=failing)
    assert len(degraded.tile_dates) == 1 and degraded.with_baseline == 0
    assert degraded.baseline_error == "the STAC API said 503 three times"


def test_a_look_that_cannot_be_read_costs_the_cue_not_the_tile(
    series: tuple[WrittenSeries, list[SceneItem]], tmp_path: Path
) -> None:
    _, items = series
    item = items[-1]
    (look,) = baseline_looks(item, items, 45)
    broken = replace(
        look, bands={**look.bands, "red": replace(look.bands["red"], href="/nonexistent/B04.tif")}
    )
    run = run_item(item, load_rules(), tmp_path, baseline=[broken])
    assert run.status == "ok" and run.detections > 0
    (row,) = read_table(tmp_path, "tile_runs").to_pylist()
    assert "/nonexistent/B04.tif" in row["baseline_error"] and row["baseline_looks"] is None
    assert all(d["baseline_ndvi"] is None for d in read_table(tmp_path, "detections").to_pylist())


def test_an_unusable_candidate_look_is_skipped_not_fatal(
    series: tuple[WrittenSeries, list[SceneItem]],
) -> None:
    written, _ = series
    dicts = _item_dicts(written)
    plan = plan_tile_dates(dicts[-1:])
    assert attach_baselines(plan, [{"type": "Feature", "id": "broken"}, *dicts], 45) == 1


def test_looks_given_outside_the_window_are_named_not_used(
    series: tuple[WrittenSeries, list[SceneItem]], tmp_path: Path
) -> None:
    _, items = series
    item = items[-1]
    (look,) = baseline_looks(item, items, 45)
    too_recent = items[-2]  # 60 days before: another season
    run_item(item, load_rules(), tmp_path, baseline=[look, too_recent])
    (row,) = read_table(tmp_path, "tile_runs").to_pylist()
    assert row["baseline_looks"] == [look.item_id]
    assert row["baseline_skipped"] == [
        f"{too_recent.item_id}: outside the window (45 days of the same date a year before)"
    ]


def test_the_composite_read_in_blocks_is_the_one_read_window_by_window(
    series: tuple[WrittenSeries, list[SceneItem]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``blocks``, the looks are read in blocks, each once from its second request;
    every window cut from them equals the window read alone, bit for bit, in raster order, out
    of order and across block edges, with blocks dropped from the cache and read again."""
    import asm_core.detection.objects.baseline as baseline_module

    monkeypatch.setattr(baseline_module, "BASELINE_BLOCK", 16)  # many blocks, many edges
    monkeypatch.setattr(baseline_module, "BASELINE_BLOCKS_KEPT", 8)
    _, items = series
    item = items[-1]
    rng = np.random.default_rng(3)
    windows = []
    for _ in range(60):
        r, c = (int(v) for v in rng.integers(0, 480, 2))
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        windows.append((slice(r, min(512, r + h)), slice(c, min(512, c + w))))
    ordered = sorted(windows, key=lambda rc: (rc[0].start, rc[1].start))
    with (
        open_bands(item.bands, ["red"], item.epsg, {}, None) as files,
        ExitStack() as stack,
    ):
        alone = open_baseline(items[:3], item.epsg or 0, files.transform, stack, *_SETTINGS)
        banded = open_baseline(
            items[:3], item.epsg or 0, files.transform, stack, *_SETTINGS, blocks=True
        )
        for rows, cols in ordered + windows:
            part, r0, c0 = banded.composite(rows, cols)
            expected, er0, ec0 = alone.composite(rows, cols)
            assert (r0, c0) == (er0, ec0)
            np.testing.assert_array_equal(part, expected)
        assert 0 < len(banded._blocks) <= 8  # read whole from their second request, some dropped
        once = open_baseline(
            items[:3], item.epsg or 0, files.transform, stack, *_SETTINGS, blocks=True
        )
        part, _, _ = once.composite(slice(40, 60), slice(40, 60))
        np.testing.assert_array_equal(part, alone.composite(slice(40, 60), slice(40, 60))[0])
        assert once._blocks == {}  # a block asked for once: the window alone was read


@pytest.mark.parametrize("looks", [1, 2, 3, 4, 5])
def test_the_median_of_the_looks_is_numpy_s_nanmedian_bit_for_bit(looks: int) -> None:
    from asm_core.detection.objects.baseline import median_of_looks

    rng = np.random.default_rng(looks)
    stack = rng.standard_normal((looks, 120, 90)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.35] = np.nan  # some pixels seen by none
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.nanmedian(stack, axis=0).astype(np.float32)
    np.testing.assert_array_equal(median_of_looks(stack).view(np.int32), expected.view(np.int32))
