"""Rule sets: the shipped default validates; malformed files name the key and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

import asm_core.rules as rules_module
from asm_core.errors import RuleSetError
from asm_core.rules import DEFAULT_RULES_PATH, load_rules, parse_rules
from asm_core.rules.pixel_rules import Condition, PixelRule


def _default() -> dict:
    return yaml.safe_load(DEFAULT_RULES_PATH.read_text())


def test_default_rule_set_loads_with_version_and_hash() -> None:
    rules = load_rules()
    assert rules.version_tag == "default@" + rules.version
    assert len(rules.content_hash) == 16
    assert {r.layer for r in rules.rules} >= {"scar", "water", "turbid"}


def test_hash_changes_with_any_threshold() -> None:
    data = _default()
    before = parse_rules(data).content_hash
    data["rules"][0]["all"][0]["gt"] = 0.09
    assert parse_rules(data).content_hash != before


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("baseline", "days", 30),
        ("footprint_grid", "cell_m", 20),
        ("objects", "known_site_match_m", 90),
    ],
)
def test_settings_the_tile_job_uses_change_the_detection_hash(
    section: str, key: str, value: float
) -> None:
    data = _default()
    before = parse_rules(data)
    data[section][key] = value
    after = parse_rules(data)
    assert after.content_hash != before.content_hash
    assert after.tracking.content_hash == before.tracking.content_hash


@pytest.mark.parametrize(
    ("key", "value"), [("alteration_alert_spreads", 3.0), ("match_distance_m", 90)]
)
def test_a_tracking_change_re_tracks_sites_without_re_mapping_tiles(key: str, value: float) -> None:
    data = _default()
    before = parse_rules(data)
    data["tracking"][key] = value
    after = parse_rules(data)
    assert after.content_hash == before.content_hash  # a scan finds every tile-date done
    assert after.tracking.content_hash != before.tracking.content_hash  # sites are re-tracked


def _settings_models() -> list[type[BaseModel]]:
    return [
        m
        for m in vars(rules_module).values()
        if isinstance(m, type)
        and issubclass(m, BaseModel)
        and m.__module__ == rules_module.__name__
    ]


def test_no_setting_has_a_default_that_restates_the_yaml() -> None:
    """Every number lives in the rule set file: a model default could disagree with it."""
    defaults = {
        f"{model.__name__}.{name}": field.default
        for model in _settings_models()
        for name, field in model.model_fields.items()
        if not field.is_required()
    }
    assert defaults and all(value in (None, "") for value in defaults.values()), defaults


def test_rules_are_skipped_when_their_bands_are_missing() -> None:
    rules = load_rules()
    run, skipped = rules.runnable({"green", "red", "nir", "swir16", "swir22"})
    # BSI and the built-up rules need blue; bare ground falls back on visible/NIR rules
    assert skipped == [
        "bare_ground (needs blue; bare_ground_visible runs instead)",
        "bare_ground_margin (needs blue; bare_ground_margin_visible runs instead)",
        "built_up (needs blue)",
        "built_up_visible (needs blue)",
    ]
    assert [r.name for r in run] == [
        "bare_ground_visible",
        "bare_ground_margin_visible",
        "open_water",
        "sediment_laden_water",
        "unvegetated_land",
    ]


def test_visible_nir_items_run_the_fallback_rules_and_say_which() -> None:
    # GIVEN a 4-band item (B2 B3 B4 B8, as many published datasets ship Sentinel-2)
    rules = load_rules()
    bands = {"blue", "green", "red", "nir"}
    # WHEN the rules are split
    run, skipped = rules.runnable(bands)
    # THEN every SWIR rule is skipped naming swir16 and its stand-in, and the stand-ins run
    assert "bare_ground (needs swir16; bare_ground_visible runs instead)" in skipped
    assert "open_water (needs swir16; open_water_visible runs instead)" in skipped
    assert all("swir16" in s for s in skipped)
    layers = {"scar", "scar_grow", "water", "turbid", "built_up", "open_land"}
    assert {r.layer for r in run} == layers
    assert rules.fallbacks_used(bands) == [r.name for r in run if r.fallback_for]
    # and a full item runs no fallback at all
    full = {"blue", "green", "red", "nir", "swir16", "swir22"}
    assert rules.fallbacks_used(full) == []
    assert rules.runnable(full)[1] == []


def test_a_fallback_must_stand_in_for_a_primary_rule_of_the_same_layer() -> None:
    data = _default()
    stand_in = next(r for r in data["rules"] if r.get("fallback_for"))
    stand_in["fallback_for"] = "no_such_rule"
    with pytest.raises(RuleSetError, match="fallback for 'no_such_rule'"):
        parse_rules(data)
    data = _default()
    stand_in = next(r for r in data["rules"] if r.get("fallback_for"))
    stand_in["layer"] = "water" if stand_in["layer"] != "water" else "scar"
    with pytest.raises(RuleSetError, match="a fallback must write the same"):
        parse_rules(data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["rules"][0]["all"][0].update(index="ndvx"),
            r"rules\.0\.all\.0\.index.*\"ndvx\"",
        ),
        (lambda d: d.update(version="one"), r"version.*\"one\""),
        (
            lambda d: d["rules"][0]["all"][0].update(gt=0.5, lt=0.1),
            r"'gt' 0.5 must be below 'lt' 0.1",
        ),
        (lambda d: d["rules"][0]["all"][0].pop("gt"), r"at least one bound"),
        (
            lambda d: d["objects"].update(min_mapping_unit_m2=-5),
            r"objects\.min_mapping_unit_m2.*-5",
        ),
        (lambda d: d["objects"].update(mmu=5), r"objects\.mmu.*Extra inputs"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), r"repeated: \['bare_ground'\]"),
        (lambda d: d["rules"][1].update(layer="lake"), r"rules\.1\.layer.*\"lake\""),
        (lambda d: d.pop("rules"), r"rules: Field required"),
        (lambda d: d["tracking"].update(growth_ratio=0.9), r"tracking\.growth_ratio.*0\.9"),
    ],
)
def test_malformed_rule_sets_name_the_offending_key_and_value(
    tmp_path: Path, edit, message: str
) -> None:
    data = _default()
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RuleSetError, match=message):
        load_rules(path)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed\n")
    with pytest.raises(RuleSetError, match="not valid YAML at line 2, column 1: ") as raised:
        load_rules(bad)
    assert "\n" not in str(raised.value)
    with pytest.raises(RuleSetError, match="does not exist"):
        load_rules(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(RuleSetError, match="expected a mapping"):
        load_rules(tmp_path / "list.yaml")


def test_an_empty_range_is_refused_and_exact_bands_suffice() -> None:
    with pytest.raises(RuleSetError, match=r"'gt' 0.2 must be below 'lt' 0.2"):
        parse_rules(
            _default()
            | {
                "rules": [
                    {"name": "r", "layer": "scar", "all": [{"index": "ndvi", "gt": 0.2, "lt": 0.2}]}
                ]
            }
        )
    rules = load_rules()
    for rule in rules.rules:
        if rule.fallback_for is None:
            runnable, skipped = rules.runnable(rule.required_bands())
            assert rule in runnable, (rule.name, skipped)


def _condition(**fields: object) -> Condition:
    return Condition.model_validate(fields)


@pytest.mark.parametrize("side", ["gt", "lt"])
def test_a_quantile_is_strictly_between_zero_and_one_and_needs_its_bound(side: str) -> None:
    bound = {"gt": -0.5} if side == "gt" else {"lt": 0.5}
    for quantile in (0.01, 0.5, 0.99):
        assert getattr(_condition(index="ndvi", **bound, **{f"{side}_quantile": quantile}), side)
    for quantile in (0, 1, -0.5, 1.5):
        with pytest.raises(ValidationError, match=f"{side}_quantile"):
            _condition(index="ndvi", **bound, **{f"{side}_quantile": quantile})
    other = {"lt": 0.5} if side == "gt" else {"gt": -0.5}  # a bound, but not its own
    with pytest.raises(ValidationError, match=f"'{side}_quantile' needs '{side}' too"):
        _condition(index="ndvi", **other, **{f"{side}_quantile": 0.5})


def test_a_condition_names_its_operand_and_bands() -> None:
    on_index = _condition(index="bsi", gt=0.1)
    on_band = _condition(band="swir22", lt=0.3)
    assert (on_index.operand, on_band.operand) == ("bsi", "swir22")
    assert on_index.required_bands() == {"swir16", "red", "nir", "blue"}
    assert on_band.required_bands() == {"swir22"}
    for both_or_none in ({"index": "bsi", "band": "red"}, {}):
        with pytest.raises(ValidationError, match="exactly one of 'index' or 'band'"):
            _condition(**both_or_none, gt=0.1)


def test_a_rule_needs_at_least_one_condition() -> None:
    one = PixelRule.model_validate(
        {"name": "r", "layer": "scar", "all": [{"band": "red", "gt": 0}]}
    )
    assert one.required_bands() == {"red"}
    with pytest.raises(ValidationError, match="all"):
        PixelRule.model_validate({"name": "r", "layer": "scar", "all": []})
