"""Band resolution, processing baseline and MGRS tile across real catalogue items."""

from __future__ import annotations

import json

import pytest

from asm_core.errors import ItemError
from asm_core.sources.sentinel2 import mgrs_tile, processing_baseline, resolve_band_assets
from tests.conftest import STAC_DATA


def _identity(href: str) -> str:
    return href


def test_earth_search_v1_keys_resolve_to_cogs_not_jp2_twins() -> None:
    item = json.loads((STAC_DATA / "S2A_39QTA_20230628_0_L2A.json").read_text())
    bands = resolve_band_assets(item["assets"], _identity)
    assert set(bands) == {"blue", "green", "red", "nir", "swir16", "swir22", "scl"}
    assert bands["red"].href.endswith("/B04.tif")
    assert bands["swir16"].href.endswith("/B11.tif")
    assert bands["scl"].href.endswith("/SCL.tif")
    assert bands["red"].scale == pytest.approx(1e-4)
    assert bands["red"].offset == pytest.approx(-0.1)


def test_planetary_computer_band_ids_resolve_by_common_name() -> None:
    collection = json.loads((STAC_DATA / "site1-20200606-tall-strip-africa.geojson").read_text())
    item = collection["features"][0]
    bands = resolve_band_assets(item["assets"], _identity)
    assert set(bands) == {"blue", "green", "red", "nir", "swir16", "swir22", "scl"}
    assert "/B8A" not in bands["nir"].href  # B8A is "rededge" in PC, nir is B08
    assert "B08" in bands["nir"].href


def test_earth_search_v0_baseline_comes_from_the_product_id() -> None:
    item = json.loads((STAC_DATA / "S2A_28QCH_20200714_0_L2A.json").read_text())
    assert processing_baseline(item["properties"], item["id"]) == (2, 14)
    assert mgrs_tile(item["properties"], item["id"]) == "28QCH"


def test_sinergise_baseline_key_and_mgrs_from_the_id() -> None:
    path = (
        STAC_DATA
        / "non-earthsearch"
        / "S2A_OPER_MSI_L2A_TL_2APS_20230602T025701_A041483_T01WCR.json"
    )
    item = json.loads(path.read_text())
    assert processing_baseline(item["properties"], item["id"]) == (5, 9)
    assert mgrs_tile(item["properties"], item["id"]) == "01WCR"


def test_earth_search_v1_baseline_and_tile() -> None:
    item = json.loads((STAC_DATA / "S2B_39QTA_20230623_0_L2A.json").read_text())
    assert processing_baseline(item["properties"], item["id"]) == (5, 9)
    assert mgrs_tile(item["properties"], item["id"]) == "39QTA"


def test_malformed_baseline_names_the_value() -> None:
    with pytest.raises(ItemError, match=r"'five'.*'05.10'"):
        processing_baseline({"s2:processing_baseline": "five"}, "X")
