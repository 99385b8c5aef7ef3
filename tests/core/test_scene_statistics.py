"""Scene-relative bounds: quantiles of the scene's own open land, only where it is common."""

from __future__ import annotations

import numpy as np
import pytest

from asm_core.errors import RuleSetError
from asm_core.rules import PixelRule, load_rules, parse_rules
from asm_core.rules.scene_statistics import SceneStatistics, quantile_key, scene_rules


def _bare(rules_by_name: list[PixelRule]) -> PixelRule:
    return next(r for r in rules_by_name if r.name == "bare_ground")


def _ndvi_lt(rule: PixelRule) -> float | None:
    return next(c.lt for c in rule.all if c.operand == "ndvi")


def test_bounds_tighten_to_the_scene_quantile_where_open_land_is_common() -> None:
    rules = load_rules()
    runnable, _ = rules.runnable({"blue", "green", "red", "nir", "swir16", "swir22"})
    q = next(c.lt_quantile for c in _bare(runnable).all if c.operand == "ndvi")
    stats = SceneStatistics(open_share=0.9, quantiles={quantile_key("ndvi", "<", q): 0.12})
    fixed, moved = scene_rules(rules, runnable, stats)
    assert _ndvi_lt(_bare(fixed)) == pytest.approx(0.12)
    assert moved["bare_ground.ndvi<"] == pytest.approx(0.12)
    # the kernel only ever sees fixed bounds
    assert all(c.lt_quantile is None and c.gt_quantile is None for r in fixed for c in r.all)


def test_bounds_stay_fixed_where_open_land_is_rare() -> None:
    rules = load_rules()
    runnable, _ = rules.runnable({"blue", "green", "red", "nir", "swir16", "swir22"})
    share = rules.scene.relative_open_share
    key = quantile_key("ndvi", "<", 0.05)
    stats = SceneStatistics(open_share=share - 0.01, quantiles={key: 0.01})
    fixed, moved = scene_rules(rules, runnable, stats)
    assert moved == {}
    assert _ndvi_lt(_bare(fixed)) == _ndvi_lt(_bare(runnable))


def test_a_quantile_never_loosens_a_fixed_bound_and_an_empty_range_marks_nothing() -> None:
    rules = parse_rules(
        {
            **load_rules().model_dump(mode="json"),
            "rules": [
                {
                    "name": "bare_ground",
                    "layer": "scar",
                    "all": [{"index": "ndvi", "gt": 0.1, "lt": 0.3, "lt_quantile": 0.5}],
                },
                {"name": "open", "layer": "open_land", "all": [{"index": "ndvi", "lt": 0.3}]},
            ],
        }
    )
    runnable = list(rules.rules)
    looser = SceneStatistics(0.9, {quantile_key("ndvi", "<", 0.5): 0.6})
    assert _ndvi_lt(scene_rules(rules, runnable, looser)[0][0]) == pytest.approx(0.3)
    below_gt = SceneStatistics(0.9, {quantile_key("ndvi", "<", 0.5): 0.05})
    (condition,) = scene_rules(rules, runnable, below_gt)[0][0].all
    x = np.linspace(-1, 1, 2001, dtype=np.float32)
    assert not np.any((x > condition.gt) & (x < condition.lt))


def test_a_quantile_bound_needs_its_fixed_bound() -> None:
    data = load_rules().model_dump(mode="json")
    data["rules"][0]["all"] = [{"index": "ndvi", "gt": 0.0, "lt_quantile": 0.1}]
    with pytest.raises(RuleSetError, match="'lt_quantile' needs 'lt' too"):
        parse_rules(data)


def test_open_share_and_quantiles_come_from_the_scene(scene_factory) -> None:
    from asm_core.rules.scene_statistics import scene_statistics
    from asm_core.sources.reader import open_bands
    from asm_core.sources.stac import load_item

    scene = scene_factory(
        seed=9311, size=512, landscape="savanna", sites=2, clouds=0, baseline="05.10"
    )
    item = load_item(str(scene.item_path))
    rules = load_rules()
    runnable, _ = rules.runnable(set(item.bands))
    with open_bands(item.bands, sorted(item.bands), item.epsg) as files:
        stats = scene_statistics(files, item.bands, 1000, runnable, 50_000)
    assert stats.open_share > 0.5  # a dry-season savanna is mostly open land
    assert 0.0 < stats.quantiles[quantile_key("ndvi", "<", 0.05)] < 0.3
