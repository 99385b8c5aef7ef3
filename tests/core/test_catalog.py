"""STAC search errors and the client-side cloud filter (the API itself: tests/integration)."""

from __future__ import annotations

from datetime import date

import pytest
from shapely.geometry import box

from asm_core.errors import CatalogError
from asm_core.sources.catalog import SearchRequest, search_items
from tests.integration.conftest import free_port


def test_unreachable_api_is_a_catalog_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    request = SearchRequest(
        aoi=box(0, 0, 1, 1), start=date(2024, 1, 1), end=date(2024, 1, 2), stac_url=url, retries=0
    )
    with pytest.raises(CatalogError, match=url.replace(".", r"\.")):
        search_items(request)


def test_reversed_dates_are_refused() -> None:
    request = SearchRequest(aoi=box(0, 0, 1, 1), start=date(2024, 2, 1), end=date(2024, 1, 1))
    with pytest.raises(CatalogError, match="end date 2024-01-01 is before start date 2024-02-01"):
        search_items(request)
