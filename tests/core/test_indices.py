"""Every index formula cross-checked against spyndex (Awesome Spectral Indices) on one array."""

from __future__ import annotations

import numpy as np
import pytest
import spyndex

from asm_core.spectral.indices import (
    INDEX_BANDS,
    INDICES,
    available_indices,
    compute_index,
    compute_indices,
)

# spyndex short band names for our common names
SPYNDEX_BAND = {"blue": "B", "green": "G", "red": "R", "nir": "N", "swir16": "S1", "swir22": "S2"}
SPYNDEX_ID = {index.name: index.spyndex_id for index in INDICES}


@pytest.fixture(scope="module")
def reflectance() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    return {b: rng.uniform(0.005, 0.6, size=(64, 64)).astype(np.float32) for b in SPYNDEX_BAND}


def test_every_index_is_in_the_spyndex_catalogue() -> None:
    assert set(SPYNDEX_ID.values()) <= set(spyndex.indices)


@pytest.mark.parametrize("name", sorted(INDEX_BANDS))
def test_index_matches_spyndex(name: str, reflectance: dict[str, np.ndarray]) -> None:
    params = {SPYNDEX_BAND[b]: reflectance[b].astype(np.float64) for b in INDEX_BANDS[name]}
    expected = spyndex.computeIndex(SPYNDEX_ID[name], params=params)
    ours = compute_index(name, reflectance)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=2e-5, atol=2e-6)


def test_division_by_zero_gives_nan_not_inf() -> None:
    zero = np.zeros(3, dtype=np.float32)
    out = compute_indices(("ndvi", "ferric_iron"), {"red": zero, "nir": zero, "green": zero})
    assert np.isnan(out["ndvi"]).all()
    assert np.isnan(out["ferric_iron"]).all()


def test_available_indices_follow_the_bands() -> None:
    assert available_indices(frozenset({"red", "nir", "green"})) == (
        "ndvi",
        "ndwi",
        "ndti",
        "ferric_iron",
    )
    assert "bsi" in available_indices(frozenset(SPYNDEX_BAND))
