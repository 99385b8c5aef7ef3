"""Small synthetic context layers for a synthetic series, so the demo shows context without
downloads: mining tenements (with a status), a protected area, the river (digitised in its flow
direction) and settlements. Written in the formats and CRSs users bring: a GeoPackage in UTM,
GeoJSON in lon/lat. Real layers (national cadastres, WDPA, HydroRIVERS) are the user's to supply.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine

from asm_core.evaluation.synthetic.landscape import Feature

#: Layer name -> file name; the names are the ones with a meaning for the site flags.
CONTEXT_FILES = {
    "tenements": "tenements.gpkg",
    "protected_areas": "protected_areas.geojson",
    "rivers": "rivers.geojson",
    "settlements": "settlements.geojson",
}


def _box_around(rows: slice, cols: slice, transform: Affine, margin_px: int) -> shapely.Polygon:
    x0, y0 = transform @ (cols.start - margin_px, rows.start - margin_px)
    x1, y1 = transform @ (cols.stop + margin_px, rows.stop + margin_px)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _tenements(
    sites: Sequence[tuple[str, str, slice, slice]], transform: Affine, crs: str
) -> gpd.GeoDataFrame:
    licences, status = [], []
    for k, (_, _, rows, cols) in enumerate(sites):
        if k % 2 == 0:
            licences.append(_box_around(rows, cols, transform, 40))
            status.append("granted" if k % 4 == 0 else "application")
    return gpd.GeoDataFrame(
        {
            "licence_id": [f"SML-{101 + k}" for k in range(len(licences))],
            "status": status,
            "holder": [f"Small-scale licence holder {k + 1}" for k in range(len(licences))],
        },
        geometry=licences,
        crs=crs,
    )


def _rivers_and_towns(
    rivers: Sequence[npt.NDArray[np.float64]],
    features: Sequence[Feature],
    transform: Affine,
    crs: str,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    lines = [
        shapely.LineString([transform @ (float(c), float(r)) for r, c in line[::20]])
        for line in rivers
    ]
    river_layer = gpd.GeoDataFrame(
        {"id": [f"river-{k + 1}" for k in range(len(lines))], "flows": ["east"] * len(lines)},
        geometry=lines,
        crs=crs,
    ).to_crs(4326)
    towns = [f for f in features if f.kind == "town"]
    settlements = gpd.GeoDataFrame(
        {"id": [f"town-{k + 1}" for k in range(len(towns))]},
        geometry=[
            shapely.Point(
                transform @ ((f.cols.start + f.cols.stop) / 2, (f.rows.start + f.rows.stop) / 2)
            )
            for f in towns
        ],
        crs=crs,
    ).to_crs(4326)
    return river_layer, settlements


def write_context_layers(
    out_dir: Path,
    sites: Sequence[tuple[str, str, slice, slice]],
    rivers: Sequence[npt.NDArray[np.float64]],
    features: Sequence[Feature],
    transform: Affine,
    crs: str,
) -> dict[str, Path]:
    """Write the layers under ``out_dir`` and return ``{name: path}``.

    ``sites`` are (key, story, rows, cols): every other site lies in a licence (alternately
    granted and under application), the rest outside every tenement; the site of the first
    ``pauses`` story (else the last site) lies in a forest reserve.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tenements = _tenements(sites, transform, crs)
    reserve_site = next((s for s in sites if s[1] == "pauses"), sites[-1])
    reserve = _box_around(reserve_site[2], reserve_site[3], transform, 120)
    protected = gpd.GeoDataFrame(
        {"WDPAID": [900001], "name": ["Synthetic Forest Reserve"], "iucn_cat": ["VI"]},
        geometry=[reserve],
        crs=crs,
    ).to_crs(4326)
    river_layer, settlements = _rivers_and_towns(rivers, features, transform, crs)
    paths = {name: out_dir / file for name, file in CONTEXT_FILES.items()}
    tenements.to_file(paths["tenements"], driver="GPKG")
    for name, frame in (
        ("protected_areas", protected),
        ("rivers", river_layer),
        ("settlements", settlements),
    ):
        if not frame.empty:
            frame.to_file(paths[name], driver="GeoJSON")
        else:
            del paths[name]
    return paths
