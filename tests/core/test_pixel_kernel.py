"""The fused kernel gives bit-identical layers to the numpy formulas of indices/reflectance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from asm_core.detection.pixels import rule_table as rule_table_module
from asm_core.detection.pixels.pixel_kernel import classify_strip
from asm_core.detection.pixels.rule_table import LAYOUT, OPERANDS, index_terms, rule_table
from asm_core.errors import RuleSetError
from asm_core.rules import MaskSettings, PixelRule, load_rules
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS
from asm_core.spectral.indices import INDEX_NAMES, INDICES, Form, SpectralIndex, compute_indices
from asm_core.spectral.reflectance import to_reflectance

FACTORS = {"blue": 1, "green": 1, "red": 1, "nir": 1, "swir16": 2, "swir22": 2, "scl": 2}


def _numpy_layers(
    dn: dict[str, np.ndarray],
    row0: int,
    col0: int,
    shape: tuple[int, int],
    rules: list[PixelRule],
    mask: MaskSettings,
    offset: int,
) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """The plain numpy way: upsample, reflectance, every index, then each condition."""
    height, width = shape
    full = {}
    for name, a in dn.items():
        f = FACTORS[name]
        up = np.repeat(np.repeat(a, f, axis=0), f, axis=1)
        full[name] = up[row0 % f : row0 % f + height, col0 % f : col0 % f + width]
    refl = {n: to_reflectance(full[n], 1e-4, offset) for n in REFLECTANCE_BANDS if n in full}
    values = {**refl, **compute_indices(INDEX_NAMES, refl)}
    valid = np.all([np.isfinite(v) for v in refl.values()], axis=0)
    rescued = 0
    if "scl" in full:
        bad = np.isin(full["scl"], mask.invalid_scl)
        pond = (
            np.isin(full["scl"], mask.pond_rescue_scl)
            & (values["mndwi"] > np.float32(mask.pond_rescue_mndwi_gt))
            & (values["swir16"] < np.float32(mask.pond_rescue_swir16_lt))
        )
        rescued = int(np.count_nonzero(pond & bad & valid))
        valid &= ~(bad & ~pond)
    layers: dict[str, np.ndarray] = {}
    for rule in rules:
        hit = valid.copy()
        for c in rule.all:
            v = values[c.operand]
            if c.gt is not None:
                hit &= v > np.float32(c.gt)
            if c.lt is not None:
                hit &= v < np.float32(c.lt)
        layers[rule.layer] = layers.get(rule.layer, np.zeros_like(hit)) | hit
    return valid, layers, rescued


@pytest.mark.parametrize(("row0", "col0", "height", "width"), [(0, 0, 64, 100), (7, 3, 33, 41)])
@pytest.mark.parametrize("offset", [0, 1000])
def test_kernel_layers_equal_the_numpy_formulas(
    row0: int, col0: int, height: int, width: int, offset: int
) -> None:
    rng = np.random.default_rng(row0 + offset)
    dn = {}
    for name, f in FACTORS.items():
        shape = ((row0 + height - 1) // f - row0 // f + 1, (col0 + width - 1) // f - col0 // f + 1)
        if name == "scl":
            dn[name] = rng.integers(0, 12, shape).astype(np.uint8)
        else:
            low = 0 if name in ("red", "green") else offset  # exact zeros: ratio denominators
            a = rng.integers(low, low + 3000, shape).astype(np.uint16)
            a[rng.random(shape) < 0.03] = 0  # nodata
            dn[name] = a
    dn["green"][rng.random(dn["green"].shape) < 0.05] = offset  # zero reflectance
    rules = load_rules()
    table = rule_table(list(rules.rules), rules.mask)
    out = np.zeros((table.planes, height, -(-width // 8)), dtype=np.uint8)
    scales = dict.fromkeys(FACTORS, 1e-4)
    rescued = classify_strip(dn, FACTORS, scales, offset, table, out, width, row0, col0)
    valid, layers, expected_rescued = _numpy_layers(
        dn, row0, col0, (height, width), list(rules.rules), rules.mask, offset
    )
    unpacked = np.unpackbits(out, axis=-1, count=width).astype(bool)
    np.testing.assert_array_equal(unpacked[0], valid)
    for i, name in enumerate(table.layers):
        np.testing.assert_array_equal(unpacked[i + 1], layers[name], err_msg=name)
    assert rescued == expected_rescued
    assert any(layers[n].any() for n in layers)  # the comparison is not vacuous


def test_every_index_of_the_table_is_computed_by_the_kernel() -> None:
    """One rule per operand at its median: the kernel reads every index from the table in
    spectral/indices.py, none restated by position."""
    rng = np.random.default_rng(7)
    height, width = 24, 40
    dn = {
        name: rng.integers(1, 3000, (height // f, width // f)).astype(np.uint16)
        for name, f in FACTORS.items()
        if name != "scl"
    }
    refl = {n: to_reflectance(dn[n], 1e-4, 0) for n in REFLECTANCE_BANDS}
    full = {n: np.repeat(np.repeat(a, FACTORS[n], 0), FACTORS[n], 1) for n, a in refl.items()}
    values = {**full, **compute_indices(INDEX_NAMES, full)}
    rules = [
        PixelRule(
            name=f"{name}_high",
            layer="scar",
            all=({"index" if name in INDEX_NAMES else "band": name, "gt": float(np.median(v))},),
        )
        for name, v in values.items()
    ]
    mask = load_rules().mask
    for rule, name in zip(rules, values, strict=True):
        table = rule_table([rule], mask)
        out = np.zeros((table.planes, height, -(-width // 8)), dtype=np.uint8)
        classify_strip(dn, FACTORS, dict.fromkeys(FACTORS, 1e-4), 0, table, out, width)
        layer = np.unpackbits(out[1], axis=-1, count=width).astype(bool)
        expected = values[name] > np.float32(rule.all[0].gt)
        np.testing.assert_array_equal(layer, expected, err_msg=name)
        assert 0 < expected.sum() < expected.size


def _one_band_strip(values: list[int]) -> tuple[dict[str, np.ndarray], int]:
    red = np.array([values], dtype=np.uint16)
    return {"red": red, "nir": np.full_like(red, 3000)}, red.shape[1]


def _layers(rules: list[PixelRule], dn: dict[str, np.ndarray], width: int) -> dict[str, np.ndarray]:
    table = rule_table(rules, load_rules().mask)
    out = np.zeros((table.planes, 1, -(-width // 8)), dtype=np.uint8)
    factors, scales = dict.fromkeys(dn, 1), dict.fromkeys(dn, 1e-4)
    classify_strip(dn, factors, scales, 0, table, out, width)
    unpacked = np.unpackbits(out, axis=-1, count=width).astype(bool)[:, 0]
    return {name: unpacked[i + 1] for i, name in enumerate(table.layers)}


def test_rules_of_one_layer_are_ored_not_overwritten() -> None:
    dn, width = _one_band_strip([500, 1500, 2500])
    low = PixelRule(name="low", layer="scar", all=({"band": "red", "lt": 0.1},))
    high = PixelRule(name="high", layer="scar", all=({"band": "red", "gt": 0.2},))
    assert _layers([low, high], dn, width)["scar"].tolist() == [True, False, True]
    assert _layers([high, low], dn, width)["scar"].tolist() == [True, False, True]


def test_bounds_are_strict_at_the_exact_value() -> None:
    dn, width = _one_band_strip([1999, 2000, 2001])
    at = float(np.float32(2000) * np.float32(1e-4))  # the middle pixel's reflectance, exactly
    above = PixelRule(name="above", layer="scar", all=({"band": "red", "gt": at},))
    below = PixelRule(name="below", layer="water", all=({"band": "red", "lt": at},))
    layers = _layers([above, below], dn, width)
    assert layers["scar"].tolist() == [False, False, True]
    assert layers["water"].tolist() == [True, False, False]


def test_the_table_cannot_change_under_the_kernel() -> None:
    """One table serves every strip (and thread) of a scene: it is immutable."""
    table = rule_table(list(load_rules().rules), load_rules().mask)
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.layers = ()  # type: ignore[misc]


def test_value_rows_are_the_operands_and_one_zero_row() -> None:
    """The kernel allocates ``value_rows`` rows and zeroes ``zero_row``: one row past the
    operands, each index's missing second band reads it, and the pond rescue reads MNDWI and
    SWIR 1.6 from their own rows."""
    table = rule_table(list(load_rules().rules), load_rules().mask)
    layout = dict(zip(LAYOUT, table.layout.tolist(), strict=True))
    assert layout["zero_row"] == len(OPERANDS)
    assert layout["value_rows"] == len(OPERANDS) + 1
    assert (OPERANDS[layout["mndwi_row"]], OPERANDS[layout["swir16_row"]]) == ("mndwi", "swir16")
    form, terms = index_terms()
    ndvi = INDEX_NAMES.index("ndvi")  # one band each side: the second term is the zero row
    assert terms[ndvi].tolist() == [
        OPERANDS.index("nir"),
        len(OPERANDS),
        OPERANDS.index("red"),
        len(OPERANDS),
    ]
    assert len(form) == len(terms) == len(INDEX_NAMES)


def test_an_index_of_more_than_two_bands_a_side_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    three = SpectralIndex("evi3", Form.RATIO, ("nir", "red", "blue"), ("green",), "X", "test")
    monkeypatch.setattr(rule_table_module, "INDICES", (*INDICES, three))
    with pytest.raises(RuleSetError, match="index 'evi3' sums more than two bands"):
        index_terms()
    two = SpectralIndex("pair", Form.RATIO, ("nir", "red"), ("green", "blue"), "X", "test")
    monkeypatch.setattr(rule_table_module, "INDICES", (*INDICES, two))
    assert index_terms()[1][-1].tolist() == [
        OPERANDS.index(b) for b in ("nir", "red", "green", "blue")
    ]
