"""Results that open everywhere: every file the demo writes, judged by tools we did not write
(the GeoParquet validator's OGC abstract tests, geopandas, GDAL, pystac's validator)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import geopandas as gpd
import geoparquet_validator
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyogrio
import pystac
import pystac.validation
import pystac_client
import pytest
import rasterio
import rasterio.transform
import shapely
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.table import TableExtension

from asm_core.cli import main
from asm_core.results.export import read_results
from asm_core.results.schema import CLASS_CODES, DETECTIONS, covering_bbox
from asm_core.results.store import read_table
from tests.conftest import DemoRun


def _geometry_files(root: Path) -> list[Path]:
    return [
        p
        for p in sorted(root.rglob("*.parquet"))
        if "geometry" in pq.read_schema(p).names or b"geo" in (pq.read_schema(p).metadata or {})
    ]


def test_every_geometry_file_of_the_demo_is_conformant_geoparquet(demo_run: DemoRun) -> None:
    files = _geometry_files(demo_run.out)
    tables = {p.parent.name if "=" not in p.parent.name else "detections" for p in files}
    assert {"detections", "sites"} <= tables, tables
    findings = {}
    for path in files:
        report = geoparquet_validator.check(str(path))
        failed = [o for o in report["outcomes"] if o["status"] == "fail"]
        if failed:
            findings[str(path.relative_to(demo_run.out))] = [
                (o["id"], o["message"]) for o in failed
            ]
    assert findings == {}


def test_sites_open_in_geopandas_with_their_crs(demo_run: DemoRun) -> None:
    (path,) = (demo_run.out / "monitoring" / "results" / "sites").glob("*.parquet")
    sites = gpd.read_parquet(path)
    assert sites.crs is not None and sites.crs.to_epsg() == 4326
    assert len(sites) > 0 and sites.geometry.is_valid.all()
    # each row's covering bbox (which geopandas hides) holds its footprint
    boxes = pq.read_table(path, columns=["bbox"]).column("bbox").to_pylist()
    for box, geometry in zip(boxes, sites.geometry, strict=True):
        xmin, ymin, xmax, ymax = geometry.bounds
        assert box["xmin"] <= xmin and box["ymin"] <= ymin
        assert box["xmax"] >= xmax and box["ymax"] >= ymax


def test_results_are_readable_by_others(demo_run: DemoRun) -> None:
    """Not 0600 (what a temporary file is made with): what the umask gives a new file."""
    mask = os.umask(0o022)
    os.umask(mask)
    expected = 0o666 & ~mask
    modes = {
        oct(stat.S_IMODE(p.stat().st_mode))
        for p in (demo_run.out / "monitoring").rglob("*")
        if p.is_file() and p.suffix in {".parquet", ".geojson", ".html", ".json", ".png"}
    }
    assert modes == {oct(expected)}


@pytest.mark.parametrize(
    "bounds",
    [
        (-2.83342914, 7.19862774, -2.81449661, 7.20739902),
        (0.0, -0.0, 1e-9, 180.0),
        (-179.99999995, -89.99999999, 179.99999991, 89.99999999),
        # a value whose nearest 1e-7 step lies inside it (rounding to nearest fails here)
        (12.34567894999, 1.00000005, 12.34567896, 1.00000015),
    ],
)
def test_a_row_bbox_is_rounded_outward(bounds: tuple[float, float, float, float]) -> None:
    box = covering_bbox(bounds)
    assert box["xmin"] <= bounds[0] and box["ymin"] <= bounds[1]
    assert box["xmax"] >= bounds[2] and box["ymax"] >= bounds[3]
    # and not by more than the rounding step
    assert all(abs(box[k] - v) <= 1.0000001e-7 for k, v in zip(box, bounds, strict=True))
    assert shapely.box(*box.values()).covers(shapely.box(*bounds))


_KEYS = {"detections": "detection_id", "sites": "site_id", "alerts": "reason"}


@pytest.mark.parametrize("table", ["detections", "sites", "alerts"])
@pytest.mark.parametrize("fmt", ["gpkg", "fgb", "geojson", "csv"])
def test_each_export_opens_in_gdal_with_the_rows_of_the_results(
    demo_run: DemoRun, tmp_path: Path, table: str, fmt: str
) -> None:
    results = demo_run.out / "monitoring" / "results"
    out = tmp_path / f"{table}.{fmt}"
    code = main(["export", "--results", str(results), "--table", table, "--out", str(out)])
    assert code == 0
    written = pyogrio.read_dataframe(out)
    if table == "alerts":
        source = json.loads((results / "alerts.geojson").read_text())["features"]
        expected = sorted(f["properties"]["reason"] for f in source)
        areas = sorted(f["properties"]["area_m2"] for f in source)
    else:
        parquet = pq.read_table(results / table) if table == "sites" else None
        rows = parquet if parquet is not None else read_table(results, table)
        expected = sorted(rows.column(_KEYS[table]).to_pylist())
        areas = sorted(rows.column("max_area_m2" if table == "sites" else "area_m2").to_pylist())
    assert len(expected) > 0
    assert sorted(written[_KEYS[table]]) == expected
    area_column = "max_area_m2" if table == "sites" else "area_m2"
    assert sorted(written[area_column].astype(float)) == pytest.approx(areas)
    # the geometry survives (CSV as WKT, read back by GDAL's CSV driver)
    assert written.geometry.notna().all() and not written.geometry.is_empty.any()


def test_exports_keep_a_period_and_an_area(demo_run: DemoRun, tmp_path: Path) -> None:
    results = demo_run.out / "monitoring" / "results"
    every = read_results(results, "detections")
    day = every["acquired"].dt.date
    middle = sorted(set(day))[len(set(day)) // 2]
    some = read_results(results, "detections", since=middle, until=middle)
    assert 0 < len(some) == int((day == middle).sum()) < len(every)
    sites = read_results(results, "sites")
    west, south, east, north = sites.geometry.iloc[0].bounds
    near = read_results(results, "sites", bbox=(west, south, east, north))
    assert sites["site_id"].iloc[0] in set(near["site_id"]) and len(near) < len(sites)
    out = tmp_path / "one-day.gpkg"
    assert (
        main(
            [
                "export",
                "--results",
                str(results),
                "--table",
                "detections",
                "--since",
                middle.isoformat(),
                "--until",
                middle.isoformat(),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(pyogrio.read_dataframe(out)) == len(some)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "sites", "--out", "{tmp}/x.shp"], "format 'shp'"),
        (
            [
                "--table",
                "sites",
                "--since",
                "2024-02-01",
                "--until",
                "2024-01-01",
                "--out",
                "{tmp}/x.gpkg",
            ],
            "until 2024-01-01 is before since 2024-02-01",
        ),
        (["--table", "sites", "--bbox", "1,2,3", "--out", "{tmp}/x.gpkg"], "not four numbers"),
    ],
)
def test_bad_exports_are_one_line_errors_and_keep_an_earlier_file(
    demo_run: DemoRun,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    earlier = tmp_path / "x.gpkg"
    earlier.write_bytes(b"an earlier export")
    results = demo_run.out / "monitoring" / "results"
    given = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["export", "--results", str(results), *given]) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert earlier.read_bytes() == b"an earlier export"


def test_class_masks_are_cogs_that_show_the_detections(demo_run: DemoRun) -> None:
    results = demo_run.out / "results"
    masks = sorted((results / "masks").rglob("*.tif"))
    detections = read_results(results, "detections")
    assert len(masks) == 4 == detections["item_id"].nunique()
    for path in masks:
        item_id = path.stem
        with rasterio.open(path) as src:
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"  # GDAL's own verdict
            assert src.overviews(1) and src.dtypes[0] == "uint8"
            assert src.profile["compress"].lower() == "deflate"
            colours = src.colormap(1)
            assert len({colours[code] for code in CLASS_CODES.values()}) == len(CLASS_CODES)
            codes = src.read(1)
            transform, crs = src.transform, src.crs
        assert set(np.unique(codes)) <= set(CLASS_CODES.values())
        mine = detections[detections["item_id"] == item_id].to_crs(crs)
        for cls in ("mining_scar", "pond", "turbid_water"):
            rows, cols = np.nonzero(codes == CLASS_CODES[cls])
            polygons = mine[mine["class"] == cls]
            if not len(rows):
                assert polygons.empty or polygons.area.sum() < 2 * abs(transform.a * transform.e)
                continue
            xs, ys = rasterio.transform.xy(transform, rows, cols)
            centres = shapely.points(xs, ys)
            inside = shapely.contains(polygons.union_all(), centres).mean()
            assert inside >= 0.95, (item_id, cls, inside)
            # and the polygons are covered: their area within a pixel ring of the coded area
            pixel_area = abs(transform.a * transform.e)
            assert len(rows) * pixel_area == pytest.approx(polygons.area.sum(), rel=0.25)


def _core_valid(stac: dict[str, Any]) -> None:
    """pystac's validator on the STAC core schemas it bundles. (The extensions' schemas are
    fetched from stac-extensions.github.io, which no test may reach: their fields are read
    back through pystac's own extension classes instead.)"""
    pystac.validation.validate_dict(stac, extensions=[])


def test_results_are_a_stac_catalogue_that_validates_and_opens(demo_run: DemoRun) -> None:
    results = demo_run.out / "results"
    collection_path = results / "stac" / "collection.json"
    collection = json.loads(collection_path.read_text())
    _core_valid(collection)
    items = [json.loads(p.read_text()) for p in sorted((results / "stac" / "items").glob("*"))]
    assert len(items) == 4
    for stac in items:
        _core_valid(stac)
    # the table extension's columns, read by pystac: the detections' schema
    opened = pystac.Collection.from_file(str(collection_path))
    columns = TableExtension.ext(opened).columns or []
    assert [c.name for c in columns] == DETECTIONS.names
    assert set(opened.extra_fields["item_assets"]) == {
        "detections",
        "mask",
        "tile_run",
        "quicklook",
    }
    # pystac-client walks the static catalogue like an API's items
    catalog = results / "stac" / "catalog.json"
    _core_valid(json.loads(catalog.read_text()))
    client = pystac_client.Client.from_file(str(catalog))
    walked = {i.id: i for i in client.get_items(recursive=True)}
    assert set(walked) == {i["id"] for i in items}
    detections = read_results(results, "detections")
    for item_id, item in walked.items():
        assert any(link.rel == "derived_from" for link in item.links)
        assert item.properties["asm:ruleset_hash"] and "processing:software" in item.properties
        table = pq.read_table(item.assets["detections"].get_absolute_href())
        assert (
            table.filter(pc.field("item_id") == item_id).num_rows
            == int((detections["item_id"] == item_id).sum())
            == item.properties["asm:detections"]
        )
        mask = ProjectionExtension.ext(item.assets["mask"])
        with rasterio.open(item.assets["mask"].get_absolute_href()) as src:
            assert list(src.shape) == mask.shape and src.crs.to_string() == mask.code
        with rasterio.open(item.assets["quicklook"].get_absolute_href()) as png:
            assert png.count >= 3
        assert pq.read_table(item.assets["tile_run"].get_absolute_href()).num_rows == 1


def test_a_quiet_period_exports_an_empty_layer(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "alerts.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    out = tmp_path / "alerts.gpkg"
    assert main(["export", "--results", str(results), "--table", "alerts", "--out", str(out)]) == 0
    assert len(pyogrio.read_dataframe(out)) == 0
