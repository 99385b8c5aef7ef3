"""Rule sets: the shipped default validates; malformed files name the key and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from asm_core.errors import RuleSetError
from asm_core.rules import DEFAULT_RULES_PATH, load_rules, parse_rules


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


def test_rules_are_skipped_when_their_bands_are_missing() -> None:
    rules = load_rules()
    run, skipped = rules.runnable({"green", "red", "nir", "swir16", "swir22"})
    assert skipped == ["fresh_bare_soil", "bare_soil_margin", "built_up"]  # both need blue
    assert [r.name for r in run] == ["open_water", "sediment_laden_water"]


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
        (lambda d: d["rules"].append(dict(d["rules"][0])), r"repeated: \['fresh_bare_soil'\]"),
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
    with pytest.raises(RuleSetError, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(RuleSetError, match="cannot be read"):
        load_rules(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(RuleSetError, match="expected a mapping"):
        load_rules(tmp_path / "list.yaml")
