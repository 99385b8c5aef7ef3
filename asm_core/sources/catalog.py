"""Search a STAC API for Sentinel-2 L2A items over an AOI and a date range (pystac-client).

Cloud cover is filtered on the server when the API advertises the Query or Filter extension and
always again on the client (servers that ignore an unknown parameter return everything).
Transient HTTP errors (429, 5xx) are retried with backoff; pages are followed to the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import pystac_client
import requests
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from shapely.geometry import MultiPolygon, Polygon, mapping
from urllib3.util.retry import Retry

from asm_core.errors import CatalogError, CatalogUnavailableError
from asm_core.sources.stac import StacItemDict

EARTH_SEARCH_URL = "https://earth-search.aws.element84.com/v1"
SENTINEL2_L2A = "sentinel-2-l2a"
TRANSIENT_STATUS = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class SearchRequest:
    """What to look for."""

    aoi: Polygon | MultiPolygon
    start: date
    end: date
    stac_url: str = EARTH_SEARCH_URL
    collection: str = SENTINEL2_L2A
    max_cloud: float | None = None
    page_size: int = 200
    retries: int = 5
    backoff_s: float = 0.5


@dataclass(frozen=True)
class SearchResult:
    """Items found, and how the cloud filter was applied."""

    items: list[StacItemDict]
    found: int
    cloud_filter: str
    dropped_for_cloud: int


def open_client(request: SearchRequest) -> pystac_client.Client:
    """A pystac-client Client with retries on transient HTTP errors."""
    retry = Retry(
        total=request.retries,
        backoff_factor=request.backoff_s,
        status_forcelist=TRANSIENT_STATUS,
        allowed_methods=None,
        raise_on_status=False,
    )
    stac_io = StacApiIO(max_retries=retry, timeout=60)
    return pystac_client.Client.open(request.stac_url, stac_io=stac_io)


def _cloud_cover(item: StacItemDict) -> float | None:
    value = (item.get("properties") or {}).get("eo:cloud_cover")
    return float(value) if isinstance(value, int | float) else None


def search_items(
    request: SearchRequest,
    client_factory: Callable[[SearchRequest], pystac_client.Client] = open_client,
) -> SearchResult:
    """Every item of the collection intersecting the AOI within the dates (all pages).

    Raises:
        CatalogError: the API cannot be reached, keeps failing, or is not a STAC item search.
    """
    if request.end < request.start:
        raise CatalogError(f"end date {request.end} is before start date {request.start}")
    query: dict[str, Any] | None = None
    cql: dict[str, Any] | None = None
    try:
        client = client_factory(request)
        mode = "client"
        if request.max_cloud is not None and client.conforms_to(ConformanceClasses.QUERY):
            query, mode = {"eo:cloud_cover": {"lte": request.max_cloud}}, "server (query)"
        elif request.max_cloud is not None and client.conforms_to(ConformanceClasses.FILTER):
            cql = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, request.max_cloud]}
            mode = "server (filter)"
        search = client.search(
            collections=[request.collection],
            intersects=mapping(request.aoi),
            datetime=f"{request.start:%Y-%m-%d}T00:00:00Z/{request.end:%Y-%m-%d}T23:59:59Z",
            query=query,
            filter=cql,
            filter_lang="cql2-json" if cql else None,
            limit=request.page_size,
        )
        found = [cast(StacItemDict, dict(i)) for i in search.items_as_dicts()]
    except (APIError, requests.RequestException, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        # unreachable, timed out, failing or not a STAC API: the catalogue's trouble, not the
        # request's (the API answers 503 with Retry-After)
        raise CatalogUnavailableError(
            f"STAC API {request.stac_url!r} search failed: {first}"
        ) from e
    if request.max_cloud is None:
        return SearchResult(found, len(found), "none", 0)
    kept = [i for i in found if (_cloud_cover(i) or 0.0) <= request.max_cloud]
    return SearchResult(kept, len(found), mode, len(found) - len(kept))
