"""Context layers in any format and CRS: the feature a site lies in, the nearest one's distance."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from pyproj import Transformer

from asm_core.errors import ContextError
from asm_core.monitoring.context import load_context, parse_context_option, relate

TO_UTM = Transformer.from_crs(4326, 32630, always_xy=True)
TO_LONLAT = Transformer.from_crs(32630, 4326, always_xy=True)
X0, Y0 = TO_UTM.transform(-1.8, 6.0)  # near Kumasi, Ghana


def _square(x: float, y: float, side: float) -> shapely.Polygon:
    """A square with its south-west corner at UTM (x, y), returned in lon/lat."""
    utm = shapely.box(x, y, x + side, y + side)
    return shapely.transform(utm, lambda xy: list(zip(*TO_LONLAT.transform(*xy.T), strict=True)))


@pytest.fixture
def tenements(tmp_path: Path) -> Path:
    """Two licences in UTM (a GeoPackage), ids from a 'licence_id' column."""
    frame = gpd.GeoDataFrame(
        {"licence_id": ["PL-001", "PL-002"], "status": ["granted", "application"]},
        geometry=[
            shapely.box(X0, Y0, X0 + 1000, Y0 + 1000),
            shapely.box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000),
        ],
        crs=32630,
    )
    path = tmp_path / "licences.gpkg"
    frame.to_file(path, driver="GPKG")
    return path


def test_sites_get_the_feature_they_overlap_most_and_metric_distances(
    tenements: Path, tmp_path: Path
) -> None:
    layer = load_context("tenements", tenements)
    sites = [
        _square(X0 + 100, Y0 + 100, 200),  # inside PL-001
        _square(X0 + 900, Y0 + 100, 300),  # 100 m in PL-001, 200 m in PL-002
        _square(X0 + 2500, Y0 + 100, 100),  # 500 m east of PL-002
    ]
    related = relate(layer, sites)
    assert related["inside_tenements"].tolist() == ["PL-001", "PL-002", None]
    distances = related["distance_to_tenements_m"].tolist()
    assert distances[:2] == [0.0, 0.0]
    assert distances[2] == pytest.approx(500, abs=2)


def test_any_format_and_crs(tenements: Path, tmp_path: Path) -> None:
    frame = gpd.read_file(tenements).to_crs(4326)
    frame.to_file(tmp_path / "t.geojson", driver="GeoJSON")
    frame.to_file(tmp_path / "t.shp")
    frame.to_parquet(tmp_path / "t.parquet")
    site = [_square(X0 + 100, Y0 + 100, 200)]
    for path in ("t.geojson", "t.shp", "t.parquet"):
        related = relate(load_context("tenements", tmp_path / path), site)
        assert related["inside_tenements"].tolist() == ["PL-001"], path


def test_bad_layers_and_names_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="is not NAME=PATH"):
        parse_context_option("tenements")
    with pytest.raises(ContextError, match="must be lower-case"):
        parse_context_option("Protected Areas=wdpa.gpkg")
    assert parse_context_option("wdpa=areas.gpkg") == ("wdpa", Path("areas.gpkg"))
    with pytest.raises(ContextError, match="does not exist"):
        load_context("wdpa", tmp_path / "none.gpkg")
    (tmp_path / "junk.geojson").write_text("not json")
    with pytest.raises(ContextError, match="cannot be read"):
        load_context("wdpa", tmp_path / "junk.geojson")
    with pytest.warns(UserWarning, match="crs"):  # writing it without a CRS is the point
        gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(tmp_path / "nocrs.shp")
    with pytest.raises(ContextError, match="has no CRS"):
        load_context("wdpa", tmp_path / "nocrs.shp")
