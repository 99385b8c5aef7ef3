"""AOIs: bboxes, GeoJSON files, the antimeridian, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import MultiPolygon

from asm_core.errors import AoiError
from asm_core.sources.aoi import bbox_geometry, load_aoi, parse_bbox, window_bounds


def test_bbox_across_the_antimeridian_splits_in_two() -> None:
    geom = bbox_geometry(parse_bbox("170,-20,-170,-10"))
    assert isinstance(geom, MultiPolygon) and len(geom.geoms) == 2
    assert geom.area == pytest.approx(200.0)


def test_geojson_polygon_crossing_the_antimeridian(tmp_path: Path) -> None:
    path = tmp_path / "fiji.geojson"
    ring = [[177, -19], [-179, -19], [-179, -16], [177, -16], [177, -19]]
    path.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    )
    aoi = load_aoi(path)
    assert aoi.bounds[0] == pytest.approx(-180) and aoi.bounds[2] == pytest.approx(180)
    assert aoi.area == pytest.approx(4 * 3)
    west, _, east, _ = window_bounds(
        aoi,
        {
            "type": "Polygon",
            "coordinates": [[[178, -18], [179, -18], [179, -17], [178, -17], [178, -18]]],
        },
    ) or (0, 0, 0, 0)
    assert (west, east) == (178, 179)


def test_multipolygon_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "two.geojson"
    squares = [[[[x, 0], [x + 1, 0], [x + 1, 1], [x, 1], [x, 0]]] for x in (0, 5)]
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "MultiPolygon", "coordinates": squares},
                    }
                ],
            }
        )
    )
    assert load_aoi(path).area == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{", "not readable GeoJSON"),
        ('{"type": "Point", "coordinates": [0, 0]}', "expected GeoJSON polygons"),
        ('{"type": "FeatureCollection", "features": []}', "is empty"),
        ('{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}', "invalid polygon"),
        (
            '{"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1], [500, 0]]]}',
            r"the point \(500.0, 0.0\) out of range; longitudes ±180",
        ),
    ],
)
def test_bad_aoi_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "aoi.geojson"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AoiError, match=message):
        load_aoi(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3", "not four numbers"),
        ("a,b,c,d", "not four numbers"),
        ("0,10,5,5", "is empty"),
        ("0,0,200,5", "out of range"),
    ],
)
def test_bad_bboxes(text: str, message: str) -> None:
    with pytest.raises(AoiError, match=message):
        parse_bbox(text)
