"""Build asm_core/data/countries.parquet from Natural Earth admin-0 boundaries (1:50m).

Sources (fetched by hand, not at run time):
    npm pack world-atlas@2.0.2  # Natural Earth 4.1.0 as TopoJSON (ISC; data public domain)
    pip install pycountry       # ISO 3166-1 numeric → alpha-3 (iso-codes data)

    python scripts/build_countries.py path/to/world-atlas/countries-50m.json

TopoJSON is decoded here (delta-encoded, quantized arcs) rather than with a library: the one
Python TopoJSON package converts the other way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pycountry
import shapely
from shapely.geometry import MultiPolygon, Polygon

OUT = Path(__file__).resolve().parents[1] / "asm_core" / "data" / "countries.parquet"
#: Natural Earth units without an ISO 3166-1 numeric code, attributed as ISO does (Kosovo: the
#: user-assigned XKX used by the EU and the World Bank); Siachen Glacier stays unattributed.
NO_NUMERIC = {"Somaliland": "SOM", "N. Cyprus": "CYP", "Kosovo": "XKX", "Indian Ocean Ter.": "AUS"}


def _arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        decoded.append(points)
    return decoded


def _ring(indices: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    ring: list[tuple[float, float]] = []
    for i in indices:
        points = arcs[i] if i >= 0 else arcs[~i][::-1]
        ring.extend(points if not ring else points[1:])
    return ring


def _geometry(geom: dict[str, Any], arcs: list[list[tuple[float, float]]]) -> Any:
    if geom["type"] == "Polygon":
        polygons = [geom["arcs"]]
    elif geom["type"] == "MultiPolygon":
        polygons = geom["arcs"]
    else:
        return None
    parts = [Polygon(_ring(p[0], arcs), [_ring(h, arcs) for h in p[1:]]) for p in polygons]
    return shapely.make_valid(MultiPolygon(parts))


def main(path: str) -> None:
    topology = json.loads(Path(path).read_text())
    arcs = _arcs(topology)
    rows = []
    for geom in topology["objects"]["countries"]["geometries"]:
        shape = _geometry(geom, arcs)
        if shape is None or shape.is_empty:
            continue
        numeric = geom.get("id")
        country = pycountry.countries.get(numeric=numeric) if numeric else None
        name = geom.get("properties", {}).get("name")
        rows.append(
            {
                "iso3": country.alpha_3 if country else NO_NUMERIC.get(name),
                "name": name,
                "geometry": shapely.to_wkb(shape),
            }
        )
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [("iso3", pa.string()), ("name", pa.string()), ("geometry", pa.binary())],
            metadata={
                "source": "Natural Earth 4.1.0 admin-0 countries 1:50m via world-atlas@2.0.2; "
                "ISO 3166-1 alpha-3 from pycountry"
            },
        ),
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, OUT, compression="zstd")
    print(f"{OUT}: {len(rows)} countries, {OUT.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
