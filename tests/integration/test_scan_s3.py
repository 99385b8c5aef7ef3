"""`asm scan` end to end against real stand-ins: rustac's STAC API serving real Earth Search
item JSON whose hrefs point at moto's S3 server, read by GDAL with range requests."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from asm_core.cli import main
from asm_core.evaluation.synthetic import SceneSpec, write_scene
from asm_core.jobs.scan import SUMMARY_FILE
from asm_core.planning.cost import MEASURED_CPU_SECONDS
from asm_core.results.store import read_table, result_files
from asm_core.sources.catalog import SearchRequest, SearchResult, search_items
from asm_core.sources.sentinel2 import COMMON_TO_BAND_ID
from tests.conftest import STAC_DATA
from tests.integration.conftest import StacApi, start_stac_api, stop_stac_api

BANDS = COMMON_TO_BAND_ID  # blue → B02 … scl → SCL
KEY = "sentinel-s2-l2a-cogs/39/Q/{sq}/2023/{m}/{id}/{band}.tif"
# Real Earth Search items (tests/data/stac/SOURCES.md); the last two are dated copies of the
# first, one for each fault: a missing asset and a truncated COG, and one fully clouded.
REAL = ["S2A_39QTA_20230628_0_L2A", "S2A_39QUA_20230628_0_L2A", "S2B_39QTA_20230623_0_L2A"]
SIZE = 384


def _item(real_id: str, new_id: str | None = None, day: str | None = None) -> dict[str, Any]:
    item = json.loads((STAC_DATA / f"{real_id}.json").read_text())
    if new_id:
        item = copy.deepcopy(item)
        item["id"] = new_id
        item["properties"]["datetime"] = f"{day}T07:24:41.632000Z"
    square = item["properties"]["mgrs:grid_square"]
    month = int(item["properties"]["datetime"][5:7])
    for name, band in BANDS.items():
        key = KEY.format(sq=square, m=month, id=item["id"], band=band)
        item["assets"][name]["href"] = f"s3://sentinel-cogs/{key}"
    item["links"] = [link for link in item["links"] if link["rel"] != "self"]
    return item


def _upload_scene(client: Any, item: dict[str, Any], seed: int, tmp: Path) -> Path:
    origin = item["assets"]["red"]["proj:transform"]
    spec = SceneSpec(
        seed=seed,
        size=SIZE,
        epsg=32639,
        origin=(origin[2], origin[5]),
        baseline="05.10",
        sites=3,
        clouds=0,
        item_id=item["id"],
    )
    scene = write_scene(spec, tmp)
    for name, asset in item["assets"].items():
        if name in BANDS:
            key = asset["href"].removeprefix("s3://sentinel-cogs/")
            client.upload_file(
                str(scene.item_path.parent / f"{BANDS[name]}.tif"), "sentinel-cogs", key
            )
    local = copy.deepcopy(item)  # the same item, read from local files
    for name in BANDS:
        local["assets"][name]["href"] = str(scene.item_path.parent / f"{BANDS[name]}.tif")
    path = tmp / f"{item['id']}.local.json"
    path.write_text(json.dumps(local))
    return path


@pytest.fixture(scope="module")
def catalogue(
    s3: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StacApi, dict[str, Path], Any]]:
    client, proxy = s3
    tmp = tmp_path_factory.mktemp("catalogue")
    items = [_item(i) for i in REAL]
    local = {i["id"]: _upload_scene(client, i, 60 + k, tmp) for k, i in enumerate(items)}
    # a reprocessed duplicate of the same tile-date (sequence 1): the plan must keep it
    dup = _item(REAL[0], "S2A_39QTA_20230628_1_L2A", "2023-06-28")
    dup["properties"]["s2:sequence"] = "1"
    local[dup["id"]] = _upload_scene(client, dup, 60, tmp)
    missing = _item(REAL[0], "S2A_39QTA_20230713_0_L2A", "2023-07-13")
    _upload_scene(client, missing, 70, tmp)
    client.delete_object(
        Bucket="sentinel-cogs",
        Key=missing["assets"]["nir"]["href"].removeprefix("s3://sentinel-cogs/"),
    )
    truncated = _item(REAL[0], "S2A_39QTA_20230718_0_L2A", "2023-07-18")
    _upload_scene(client, truncated, 71, tmp)
    key = truncated["assets"]["red"]["href"].removeprefix("s3://sentinel-cogs/")
    body = client.get_object(Bucket="sentinel-cogs", Key=key)["Body"].read()
    client.put_object(Bucket="sentinel-cogs", Key=key, Body=body[: len(body) // 3])
    cloudy = _item(REAL[1], "S2A_39QUA_20230723_0_L2A", "2023-07-23")
    _upload_cloud(client, cloudy, tmp)
    collection = json.loads(
        (STAC_DATA / "collection-earthsearch-v1-sentinel-2-l2a.json").read_text()
    )
    api = start_stac_api(tmp, collection, [*items, dup, missing, truncated, cloudy])
    yield api, local, proxy
    stop_stac_api(api)


def _upload_cloud(client: Any, item: dict[str, Any], tmp: Path) -> None:
    origin = item["assets"]["red"]["proj:transform"]
    for name, band in BANDS.items():
        factor = 2 if name in ("swir16", "swir22", "scl") else 1
        transform = rasterio.Affine(10.0 * factor, 0, origin[2], 0, -10.0 * factor, origin[5])
        value, dtype = (9, "uint8") if name == "scl" else (6000, "uint16")
        path = tmp / f"cloud-{band}.tif"
        with rasterio.open(
            path,
            "w",
            driver="COG",
            width=SIZE // factor,
            height=SIZE // factor,
            count=1,
            dtype=dtype,
            crs="EPSG:32639",
            transform=transform,
            nodata=0,
        ) as dst:
            dst.write(np.full((1, SIZE // factor, SIZE // factor), value, dtype=dtype))
        key = item["assets"][name]["href"].removeprefix("s3://sentinel-cogs/")
        client.upload_file(str(path), "sentinel-cogs", key)


def _scan(
    capsys: pytest.CaptureFixture[str], api: StacApi, out: Path, *extra: str
) -> tuple[int, str]:
    code = main(
        [
            "scan",
            "--bbox",
            "48.0,18.7,49.8,19.0",
            "--stac-url",
            api.url,
            "--out",
            str(out),
            "--workers",
            "2",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_dry_run_plans_without_reading_pixels(
    capsys: pytest.CaptureFixture[str],
    catalogue: tuple[StacApi, dict[str, Path], Any],
    tmp_path: Path,
) -> None:
    api, _, proxy = catalogue
    before = len(proxy.log)
    code, text = _scan(
        capsys, api, tmp_path, "--start", "2023-06-01", "--end", "2023-07-31", "--dry-run"
    )
    assert code == 0
    assert "tile-dates to process" in text and "AWS total" in text
    assert "kept S2A_39QTA_20230628_1_L2A, skipped S2A_39QTA_20230628_0_L2A" in text
    assert len(proxy.log) == before  # no S3 request at all
    assert not (tmp_path / "tile_runs").exists()
    # the real-farmland figure
    assert f"estimated CPU-seconds ({MEASURED_CPU_SECONDS['real_farmland']:g} a full tile)" in text
    # --json: the plan and each AWS line on stdout, for scripts
    dates = ["--start", "2023-06-01", "--end", "2023-07-31"]
    area = ["--bbox", "48.0,18.7,49.8,19.0", "--stac-url", api.url, "--out", str(tmp_path)]
    code = main(["scan", *area, *dates, "--dry-run", "--json"])
    out, err = capsys.readouterr()
    planned = json.loads(out)
    assert code == 0 and planned["dry_run"] is True and "tile-dates to process" in err
    assert planned["plan"]["tile_dates"] == 6 and planned["plan"]["duplicates_replaced"] == 1
    assert planned["plan"]["estimate"]["aws_usd"] > 0
    code, text = _scan(
        capsys,
        api,
        tmp_path,
        "--start",
        "2023-06-01",
        "--end",
        "2023-07-31",
        "--dry-run",
        "--cpu-seconds-per-tile",
        "25.3",
        "--lambda-architecture",
        "arm64",
    )
    assert code == 0 and "estimated CPU-seconds (25.3 a full tile)" in text
    assert "Lambda (arm64, 2048 MB," in text


def test_scan_reads_s3_by_range_and_matches_local_files(
    capsys: pytest.CaptureFixture[str],
    catalogue: tuple[StacApi, dict[str, Path], Any],
    tmp_path: Path,
) -> None:
    api, local, proxy = catalogue
    proxy.log.clear()
    api.proxy.handler.fail_first = 2  # the STAC API fails twice, then recovers
    code, text = _scan(
        capsys, api, tmp_path / "s3", "--start", "2023-06-01", "--end", "2023-06-30", "--full-tiles"
    )
    assert code == 0, text
    ranges = [r for method, _, r in proxy.log if method == "GET" and r]
    assert ranges, "GDAL must read the COGs with HTTP range requests"
    summary = json.loads((tmp_path / "s3" / SUMMARY_FILE).read_text())
    assert summary["statuses"] == {"ok": 3, "no_data": 0, "failed": 0}
    # the scan ends by bringing the sites up to date and writing its alerts
    assert "tiles tracked again: 2" in text and (tmp_path / "s3" / "alerts.geojson").is_file()
    sites = read_table(tmp_path / "s3", "sites")
    assert sites.num_rows == len(set(sites.column("site_id").to_pylist()))
    assert summary["duplicates_replaced"] == 1
    assert summary["duplicates"] == [["S2A_39QTA_20230628_1_L2A", "S2A_39QTA_20230628_0_L2A"]]
    items = [str(local[i]) for i in ("S2A_39QTA_20230628_1_L2A", REAL[1], REAL[2])]
    assert main(["detect", *items, "--out", str(tmp_path / "local")]) == 0
    capsys.readouterr()
    remote = read_table(tmp_path / "s3", "detections").sort_by("detection_id")
    disk = read_table(tmp_path / "local", "detections").sort_by("detection_id")
    assert remote.num_rows > 0
    assert remote.column("detection_id").to_pylist() == disk.column("detection_id").to_pylist()
    assert remote.column("geometry").to_pylist() == disk.column("geometry").to_pylist()


def test_faults_end_as_tile_runs_and_keep_earlier_results(
    capsys: pytest.CaptureFixture[str],
    catalogue: tuple[StacApi, dict[str, Path], Any],
    tmp_path: Path,
) -> None:
    api, _, _ = catalogue
    out = tmp_path / "faults"
    code, text = _scan(capsys, api, out, "--start", "2023-06-01", "--end", "2023-06-30")
    assert code == 0, text
    before = {p: p.read_bytes() for p in result_files(out, "detections")}
    code, text = _scan(capsys, api, out, "--start", "2023-06-01", "--end", "2023-07-31")
    assert code == 1 and "2 of 6 tile-dates failed" in text
    runs = {r["item_id"]: r for r in read_table(out, "tile_runs").to_pylist()}
    assert runs["S2A_39QTA_20230713_0_L2A"]["status"] == "failed"
    assert "does not exist" in runs["S2A_39QTA_20230713_0_L2A"]["error"]  # S3 404
    assert runs["S2A_39QTA_20230718_0_L2A"]["status"] == "failed"
    assert runs["S2A_39QUA_20230723_0_L2A"]["status"] == "no_data"
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["skipped"] == 3 and summary["planned"] == 6
    assert {p: p.read_bytes() for p in before} == before  # earlier detections untouched


def _search(api: StacApi, **options: Any) -> SearchResult:
    request = SearchRequest(
        aoi=box(48.0, 18.7, 49.8, 19.0),
        start=date(2023, 6, 1),
        end=date(2023, 7, 31),
        stac_url=api.url,
        **options,
    )
    return search_items(request)


def test_search_follows_pages_to_the_end(catalogue: tuple[StacApi, dict[str, Path], Any]) -> None:
    api, _, _ = catalogue
    api.proxy.log.clear()
    found = _search(api, page_size=2)
    expected = [
        *REAL,
        "S2A_39QTA_20230628_1_L2A",
        "S2A_39QTA_20230713_0_L2A",
        "S2A_39QTA_20230718_0_L2A",
        "S2A_39QUA_20230723_0_L2A",
    ]
    assert sorted(i["id"] for i in found.items) == sorted(expected)
    searches = [path for method, path, _ in api.proxy.log if "search" in path]
    assert len(searches) >= 4  # 7 items, 2 a page


def test_cloud_cover_is_filtered_on_the_client_when_the_api_cannot(
    catalogue: tuple[StacApi, dict[str, Path], Any],
) -> None:
    api, _, _ = catalogue
    found = _search(api, max_cloud=4.1)
    covers = {i["id"]: i["properties"]["eo:cloud_cover"] for i in found.items}
    assert found.cloud_filter == "client"  # rustac's memory backend advertises no query/filter
    assert all(c <= 4.1 for c in covers.values())
    assert found.dropped_for_cloud == found.found - len(found.items) > 0
