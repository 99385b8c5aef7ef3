"""How many site groups a pass over Africa updates: the MGRS 100 km squares over African land
(the bundled countries layer, sampled every 0.04°), and the grid-zone columns they fall in
(:mod:`asm_core.planning.site_groups`), hence tiles per group for the cost model.

    python tests/bench/site_groups_africa.py

Squares are counted per latitude band, so a square split by a band edge counts twice, and a
sliver of coast counts whole: the square count is above the ~3,450 Sentinel-2 tiles the cost
model plans with, and the ratio (squares per group) is what the estimate uses. Last line JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import shapely
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[2]
#: UN M49 Africa, with Western Sahara
AFRICA = {
    *("DZA", "AGO", "BEN", "BWA", "BFA", "BDI", "CPV", "CMR", "CAF", "TCD", "COM", "COG", "COD"),
    *("CIV", "DJI", "EGY", "GNQ", "ERI", "SWZ", "ETH", "GAB", "GMB", "GHA", "GIN", "GNB", "KEN"),
    *("LSO", "LBR", "LBY", "MDG", "MWI", "MLI", "MRT", "MUS", "MAR", "MOZ", "NAM", "NER", "NGA"),
    *("RWA", "STP", "SEN", "SYC", "SLE", "SOM", "ZAF", "SSD", "SDN", "TZA", "TGO", "TUN", "UGA"),
    *("ZMB", "ZWE", "ESH"),
}
STEP_DEGREES = 0.04


def main() -> None:
    rows = pq.read_table(ROOT / "asm_core" / "data" / "countries.parquet").to_pylist()
    land = shapely.union_all([shapely.from_wkb(r["geometry"]) for r in rows if r["iso3"] in AFRICA])
    west, south, east, north = land.bounds
    xs, ys = np.meshgrid(np.arange(west, east, STEP_DEGREES), np.arange(south, north, STEP_DEGREES))
    shapely.prepare(land)
    inside = shapely.contains_xy(land, xs.ravel(), ys.ravel())
    lon, lat = xs.ravel()[inside], ys.ravel()[inside]
    zone = np.floor((lon + 180) / 6).astype(int) + 1
    band = np.clip(np.floor((lat + 80) / 8).astype(int), 0, 19)
    squares: set[tuple[int, int, int, int]] = set()
    for z in np.unique(zone).tolist():
        m = zone == z
        north_utm = Transformer.from_crs(4326, 32600 + z, always_xy=True)
        south_utm = Transformer.from_crs(4326, 32700 + z, always_xy=True)
        e, n = north_utm.transform(lon[m], lat[m])
        _, n_south = south_utm.transform(lon[m], lat[m])
        n = np.where(lat[m] < 0, n_south, n)
        keys = zip(
            band[m].tolist(),
            (e // 100_000).astype(int).tolist(),
            (n // 100_000).astype(int).tolist(),
            strict=True,
        )
        squares |= {(z, b, c, r) for b, c, r in keys}
    groups = {s[:3] for s in squares}
    ratio = len(squares) / len(groups)
    print(
        f"{len(squares)} squares of 100 km over African land in {len(groups)} site groups: "
        f"{ratio:.2f} squares a group",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {"squares": len(squares), "groups": len(groups), "squares_per_group": round(ratio, 2)}
        )
    )


if __name__ == "__main__":
    main()
