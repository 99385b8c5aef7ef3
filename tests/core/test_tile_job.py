"""The per-tile job end to end: synthetic scene in, GeoParquet detections and tile_runs out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely

from asm_core.evaluation.evaluate import evaluate
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.schema import DETECTIONS, TILE_RUNS
from asm_core.results.store import read_table, result_files
from asm_core.rules import load_rules, parse_rules
from asm_core.sources.stac import load_item
from tests.conftest import edit_item

CONTRACT = [
    "detection_id",
    "item_id",
    "mgrs_tile",
    "acquired",
    "processing_baseline",
    "ruleset_version",
    "class",
    "confidence",
    "area_m2",
    "lon",
    "lat",
    "geometry",
    "ndvi_mean",
    "ndwi_mean",
    "mndwi_mean",
    "bsi_mean",
    "ndti_mean",
]
RUN_CONTRACT = [
    "item_id",
    "mgrs_tile",
    "acquired",
    "status",
    "error",
    "detections",
    "valid_fraction",
    "seconds",
    "ruleset_version",
    "rules_skipped",
]


@pytest.fixture(scope="module")
def detected(small_scene: WrittenScene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    run = run_item(
        load_item(str(small_scene.item_path)), load_rules(), out, quicklook_dir=out / "quicklooks"
    )
    assert run.status == "ok", run.error
    return out


def _one(out: Path, table: str) -> Path:
    files = result_files(out, table)
    assert len(files) == 1
    return files[0]


def test_planted_sites_are_found(small_scene: WrittenScene, detected: Path) -> None:
    truth = small_scene.item_path.parent / "truth.geojson"
    scores = evaluate(truth, detected)
    assert scores.truth_sites_in_scope >= 1
    assert scores.recall >= 0.99
    assert scores.precision >= 0.99
    assert scores.pixel_iou is not None and scores.pixel_iou >= 0.7


def test_hive_layout_and_contract_columns(small_scene: WrittenScene, detected: Path) -> None:
    path = _one(detected, "detections")
    rel = path.relative_to(detected).as_posix()
    item = load_item(str(small_scene.item_path))
    assert rel == f"detections/dt={item.acquired:%Y-%m-%d}/utm_zone=30/{item.item_id}.parquet"
    table = pq.read_table(path)
    assert set(CONTRACT) <= set(table.column_names)
    assert set(table.column("class").to_pylist()) <= {"mining_scar", "pond", "turbid_water"}
    confidence = np.array(table.column("confidence").to_pylist())
    assert ((confidence >= 0) & (confidence <= 1)).all()
    runs = pq.read_table(_one(detected, "tile_runs"))
    assert set(RUN_CONTRACT) <= set(runs.column_names)


def _unsafe_types(schema: pa.Schema) -> list[str]:
    bad = []
    for f in schema:
        types = [f.type]
        while types:
            t = types.pop()
            if pa.types.is_unsigned_integer(t):
                bad.append(f"{f.name}: unsigned")
            if pa.types.is_timestamp(t) and (t.unit != "ms" or t.tz != "UTC"):
                bad.append(f"{f.name}: {t}")
            types.extend(t.field(i).type for i in range(t.num_fields))
            if pa.types.is_list(t) or pa.types.is_map(t):
                types.append(t.value_type if pa.types.is_list(t) else t.item_type)
    return bad


def test_athena_safe_physical_types(detected: Path) -> None:
    for table in ("detections", "tile_runs"):
        schema = pq.read_schema(_one(detected, table))
        assert _unsafe_types(schema) == []
    parquet_schema = pq.ParquetFile(_one(detected, "detections")).schema
    acquired = parquet_schema.column(parquet_schema.names.index("acquired"))
    assert "timeUnit=milliseconds" in str(acquired.logical_type)
    assert "isAdjustedToUTC=true" in str(acquired.logical_type)
    assert pq.read_schema(_one(detected, "detections")).field("geometry").type == pa.binary()


def test_geoparquet_metadata_and_readers(detected: Path) -> None:
    path = _one(detected, "detections")
    meta = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert meta["version"] == "1.1.0"
    column = meta["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    assert column["crs"]["id"]["code"] == 4326
    frame = gpd.read_parquet(path)
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.is_valid.all()
    xmin, ymin, xmax, ymax = frame.total_bounds
    assert column["bbox"] == pytest.approx([xmin, ymin, xmax, ymax], abs=1e-6)
    # areas are metres in UTM, not degrees: a 10 m pixel grid gives multiples of 100 m²
    assert (frame["area_m2"] % 100 == 0).all()
    assert frame["area_m2"].min() >= 1000


def test_duckdb_reads_the_hive_layout(detected: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        "select dt, utm_zone, count(*) as n from "
        f"read_parquet('{detected}/detections/**/*.parquet', hive_partitioning=true) group by all"
    ).fetchall()
    assert len(rows) == 1 and rows[0][2] > 0


def test_same_input_gives_byte_identical_detections(
    small_scene: WrittenScene, detected: Path, tmp_path: Path
) -> None:
    run_item(load_item(str(small_scene.item_path)), load_rules(), tmp_path)
    first = _one(detected, "detections").read_bytes()
    assert _one(tmp_path, "detections").read_bytes() == first
    run_item(load_item(str(small_scene.item_path)), load_rules(), tmp_path)  # re-run: overwrite
    assert _one(tmp_path, "detections").read_bytes() == first
    assert len(result_files(tmp_path, "tile_runs")) == 1
    runs = read_table(tmp_path, "tile_runs").to_pylist()
    assert len(runs) == 1 and runs[0]["status"] == "ok"


def test_a_failed_rerun_withdraws_the_detections_its_row_denies(
    small_scene: WrittenScene, tmp_path: Path
) -> None:
    """A failed run's tile_runs row says no detections; an earlier run's detections left
    beside it would contradict it (and be tracked as sites of a failed tile-date). They are
    withdrawn, and a successful re-run brings them back as they were."""
    out = tmp_path / "out"
    item = load_item(str(small_scene.item_path))
    run_item(item, load_rules(), out)
    before = _one(out, "detections").read_bytes()
    broken = tmp_path / "B08.tif"
    broken.write_bytes(Path(item.bands["nir"].href).read_bytes()[:5000])
    path = edit_item(
        small_scene.item_path, tmp_path / "i", lambda d: d["assets"]["nir"].update(href=str(broken))
    )
    run = run_item(load_item(str(path)), load_rules(), out)
    assert run.status == "failed"
    assert "B08.tif" in (run.error or "")
    assert result_files(out, "detections") == []
    (row,) = read_table(out, "tile_runs").to_pylist()
    assert row["status"] == "failed" and row["error_type"] == "RasterReadError"
    assert row["detections"] == 0
    assert run_item(item, load_rules(), out).status == "ok"
    assert _one(out, "detections").read_bytes() == before


def _drop(*names: str) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        for n in names:
            d["assets"].pop(n)

    return edit


@pytest.mark.parametrize(
    ("dropped", "status", "skipped"),
    [
        (("swir22",), "ok", []),
        (
            ("blue",),
            "ok",
            [
                "bare_ground (needs blue; bare_ground_visible runs instead)",
                "bare_ground_margin (needs blue; bare_ground_margin_visible runs instead)",
                "built_up (needs blue)",
                "built_up_visible (needs blue)",
            ],
        ),
        (("scl",), "ok", []),
        (("blue", "green", "red", "nir", "swir16", "swir22"), "failed", []),
    ],
)
def test_missing_bands_skip_rules_and_say_so(
    small_scene: WrittenScene,
    tmp_path: Path,
    dropped: tuple[str, ...],
    status: str,
    skipped: list[str],
) -> None:
    path = edit_item(small_scene.item_path, tmp_path / "i", _drop(*dropped))
    run = run_item(load_item(str(path)), load_rules(), tmp_path / "out")
    (row,) = read_table(tmp_path / "out", "tile_runs").to_pylist()
    assert row["status"] == status, row["error"]
    assert row["bands_missing"] == [
        b for b in ("blue", "green", "red", "nir", "swir16", "swir22", "scl") if b in dropped
    ]
    if status == "failed":
        assert "too few for any rule: bare_ground (needs blue, green" in (run.error or "")
    else:
        assert row["rules_skipped"] == skipped


def test_without_scl_nodata_alone_defines_validity(
    small_scene: WrittenScene, tmp_path: Path
) -> None:
    path = edit_item(small_scene.item_path, tmp_path / "i", _drop("scl"))
    run = run_item(load_item(str(path)), load_rules(), tmp_path / "out")
    assert run.status == "ok" and run.classes.get("mining_scar", 0) >= 1


def _rewrite_scl(item_path: Path, tmp_path: Path, value: int) -> Path:
    item = load_item(str(item_path))
    scl = tmp_path / "SCL.tif"
    with rasterio.open(item.bands["scl"].href) as src:
        profile = src.profile | {"driver": "GTiff"}
        with rasterio.open(scl, "w", **profile) as dst:
            dst.write(np.full((1, src.height, src.width), value, np.uint8))
    return edit_item(item_path, tmp_path / "i", lambda d: d["assets"]["scl"].update(href=str(scl)))


def test_scene_without_valid_pixels_is_no_data(small_scene: WrittenScene, tmp_path: Path) -> None:
    path = _rewrite_scl(small_scene.item_path, tmp_path, 0)
    run = run_item(load_item(str(path)), load_rules(), tmp_path / "out")
    assert run.status == "no_data" and run.detections == 0
    assert result_files(tmp_path / "out", "detections")  # an empty file replaces older rows


def test_turbid_ponds_labelled_cloud_are_kept(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scene = scene_factory(seed=13, size=768, sites=4, clouds=0)
    assert scene.mislabelled_ponds > 0
    data = (
        json.loads(Path(load_rules().model_dump_json()).read_text())
        if False
        else load_rules().model_dump(mode="json")
    )
    data["mask"]["pond_rescue_scl"] = []
    without = run_item(load_item(str(scene.item_path)), parse_rules(data), tmp_path / "a")
    with_rescue = run_item(load_item(str(scene.item_path)), load_rules(), tmp_path / "b")
    (row,) = read_table(tmp_path / "b", "tile_runs").to_pylist()
    assert row["rescued_pond_pixels"] > 0
    assert with_rescue.classes.get("pond", 0) > without.classes.get("pond", 0)


def test_geographic_crs_scene_gives_the_same_sites_in_square_metres(
    scene_factory: Callable[..., WrittenScene],
    small_scene: WrittenScene,
    detected: Path,
    tmp_path: Path,
) -> None:
    geo = scene_factory(seed=11, size=768, sites=3, clouds=1, baseline="05.10", epsg=4326)
    run = run_item(load_item(str(geo.item_path)), load_rules(), tmp_path)
    assert run.status == "ok", run.error
    utm = read_table(detected, "detections").to_pylist()
    lonlat = read_table(tmp_path, "detections").to_pylist()
    utm_sites = {r["site_id"] for r in utm if r["site_id"]}
    geo_sites = {r["site_id"] for r in lonlat if r["site_id"]}
    assert len(geo_sites) == len(utm_sites)
    utm_area = sum(r["area_m2"] for r in utm if r["class"] == "mining_scar")
    geo_area = sum(r["area_m2"] for r in lonlat if r["class"] == "mining_scar")
    assert geo_area == pytest.approx(utm_area, rel=0.05)
    a = shapely.union_all([shapely.from_wkb(r["geometry"]) for r in utm if r["site_id"]])
    b = shapely.union_all([shapely.from_wkb(r["geometry"]) for r in lonlat if r["site_id"]])
    assert a.intersection(b).area / a.union(b).area > 0.8


def test_schemas_have_no_partition_columns_in_the_files() -> None:
    for schema in (DETECTIONS, TILE_RUNS):
        assert "dt" not in schema.names and "utm_zone" not in schema.names


def test_a_100_pixel_patch_runs(scene_factory: Callable[..., WrittenScene], tmp_path: Path) -> None:
    patch = scene_factory(seed=5, size=100, sites=1)
    run = run_item(load_item(str(patch.item_path)), load_rules(), tmp_path)
    assert run.status == "ok", run.error
    (row,) = read_table(tmp_path, "tile_runs").to_pylist()
    assert 0 < row["valid_area_km2"] <= 1.0 + 1e-9  # 100 × 100 px of 10 m = 1 km²


def test_a_site_already_tracked_is_kept_with_less_evidence(
    small_scene: WrittenScene, detected: Path, tmp_path: Path
) -> None:
    # GIVEN a rule set under which no new site is sure enough, but a known one is
    data = load_rules().model_dump(mode="json")
    data["objects"].update(min_site_confidence=0.99, known_site_min_confidence=0.3)
    strict = parse_rules(data)
    rows = read_table(detected, "detections").to_pylist()
    site = next(r for r in rows if r["class"] == "mining_scar")
    footprint = shapely.from_wkb(site["geometry"])
    item = load_item(str(small_scene.item_path))
    # WHEN the tile is detected without and with that site's footprint as already tracked
    run_item(item, strict, tmp_path / "new")
    run_item(item, strict, tmp_path / "known", known_sites=[footprint])
    # THEN only the tracked site comes back, saying why it needed less
    assert not [r for r in read_table(tmp_path / "new", "detections").to_pylist() if r["site_id"]]
    kept = [r for r in read_table(tmp_path / "known", "detections").to_pylist() if r["site_id"]]
    assert kept and all("known_site" in r["cues"] for r in kept)
    assert any(shapely.from_wkb(r["geometry"]).intersects(footprint) for r in kept)
    (run,) = read_table(tmp_path / "known", "tile_runs").to_pylist()
    assert run["known_sites"] == 1
