"""Results as a GeoDataFrame, and exported for the tools analysts use: GeoPackage and
FlatGeobuf (QGIS, ArcGIS), GeoJSON (the web, Earth Engine uploads) and CSV with WKT
geometry (spreadsheets), all written by GDAL through pyogrio.

A period keeps what was seen in it: detections and alerts acquired on its days, sites whose
first and last sightings span any of them. A bbox keeps what touches it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from asm_core.errors import ResultsError
from asm_core.monitoring.alert_listing import read_alerts
from asm_core.results.store import check_results_folder, read_table
from asm_core.sources.aoi import bbox_geometry, check_bbox

EXPORT_TABLES = ("detections", "sites", "alerts")
#: file suffix -> GDAL driver
EXPORT_FORMATS = {"gpkg": "GPKG", "fgb": "FlatGeobuf", "geojson": "GeoJSON", "csv": "CSV"}
#: the columns of each table where a row's time begins and ends
_SPAN = {
    "detections": ("acquired", "acquired"),
    "alerts": ("acquired", "acquired"),
    "sites": ("first_seen", "last_seen"),
}


@dataclass(frozen=True)
class Selection:
    """Which rows: those seen from ``since`` to ``until`` (days, inclusive) that touch
    ``bbox`` (west, south, east, north in degrees); None keeps all."""

    since: date | None = None
    until: date | None = None
    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.bbox is not None:
            check_bbox(self.bbox)
        if self.since and self.until and self.until < self.since:
            raise ResultsError(
                f"until {self.until.isoformat()} is before since {self.since.isoformat()}; "
                "give a period that ends on or after its start"
            )


def _table(table: str) -> str:
    if table not in EXPORT_TABLES:
        raise ResultsError(f"table {table!r} is not one of {', '.join(EXPORT_TABLES)}")
    return table


def _frame(results: Path, table: str) -> gpd.GeoDataFrame:
    if table == "alerts":
        features = read_alerts(results)
        if not features:  # a quiet period: no columns to read the dates from
            return gpd.GeoDataFrame({"acquired": []}, geometry=[], crs="EPSG:4326")
        frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
        frame["acquired"] = pd.to_datetime(frame["acquired"], utc=True)
        return frame
    check_results_folder(results, table)
    rows = read_table(results, table)
    data = rows.drop_columns(["geometry"]).to_pandas()
    geometry = shapely.from_wkb(np.asarray(rows.column("geometry").to_pylist(), dtype=object))
    return gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")


def _in_period(frame: gpd.GeoDataFrame, table: str, chosen: Selection) -> pd.Series:
    start, end = _SPAN[table]
    keep = pd.Series(True, index=frame.index)
    if chosen.since is not None:
        keep &= frame[end] >= datetime.combine(chosen.since, time.min, UTC)
    if chosen.until is not None:
        keep &= frame[start] <= datetime.combine(chosen.until, time.max, UTC)
    return keep


def read_results(
    results: str | os.PathLike[str],
    table: str = "detections",
    since: date | None = None,
    until: date | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """A results table (``detections``, ``sites`` or ``alerts``) of a results folder as a
    GeoDataFrame in EPSG:4326, optionally for a period and an area (see :class:`Selection`)."""
    chosen = Selection(since, until, bbox)
    name = _table(table)
    frame = _frame(Path(results), name)
    if frame.empty:
        return frame
    keep = _in_period(frame, name, chosen)
    if chosen.bbox is not None:
        keep &= frame.geometry.intersects(bbox_geometry(chosen.bbox))
    return frame[keep].reset_index(drop=True)


def _cell(value: Any) -> Any:
    """A value GDAL's formats can hold: lists joined, mappings as JSON."""
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _flat(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GPKG, FlatGeobuf and CSV can hold: the row bbox (the geometry's own extent)
    dropped, lists and mappings as text."""
    out = frame.drop(columns=[c for c in ("bbox",) if c in frame.columns])
    for column in out.columns:
        if column != out.geometry.name and out[column].dtype == object:
            out[column] = out[column].map(_cell)
    return out


def export_format(out: Path, fmt: str | None) -> str:
    """The format to write: as given, or from the file's suffix."""
    chosen = fmt or out.suffix.lstrip(".").lower()
    if chosen not in EXPORT_FORMATS:
        raise ResultsError(
            f"format {chosen!r} (of {str(out)!r}) is not one of {', '.join(EXPORT_FORMATS)}; "
            "give --format or a file ending in one"
        )
    return chosen


def write_export(frame: gpd.GeoDataFrame, out: Path, fmt: str, layer: str) -> None:
    """Write ``frame`` as one layer of a new ``out`` in ``fmt``: built in a folder beside it
    and moved over it at the end, so a failed export leaves any earlier file whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        # (in the folder, under the real name: GDAL's CSV driver makes a folder of any other)
        target = work / out.name
        options = {"GEOMETRY": "AS_WKT"} if fmt == "csv" else {}
        _flat(frame).to_file(
            target, driver=EXPORT_FORMATS[fmt], engine="pyogrio", layer=layer, **options
        )
        target.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
