"""Which country a place is in, from the bundled Natural Earth boundaries (see data/SOURCES.md).

Points at sea or outside every country get None: never a guess from the nearest border.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import numpy as np
import pyarrow.parquet as pq
import shapely

_DATA = files("asm_core") / "data" / "countries.parquet"


@functools.cache
def _index() -> tuple[shapely.STRtree, list[str | None]]:
    with _DATA.open("rb") as f:
        table = pq.read_table(f).to_pydict()
    shapes = shapely.from_wkb(table["geometry"])
    return shapely.STRtree(shapes), list(table["iso3"])


def countries_at(lons: list[float], lats: list[float]) -> list[str | None]:
    """ISO 3166-1 alpha-3 code of the country containing each (lon, lat), or None."""
    if not lons:
        return []
    tree, codes = _index()
    points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
    found: list[str | None] = [None] * len(lons)
    hits = tree.query(points, predicate="intersects")
    for point_at, country_at in zip(*hits, strict=True):
        if found[int(point_at)] is None:
            found[int(point_at)] = codes[int(country_at)]
    return found
