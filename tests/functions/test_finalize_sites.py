"""The Finalize step's site update in S3: incremental by tile, and the same tables as tracking
everything locally in one go."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from asm_core.rules import load_rules
from asm_core.sites import build_site_tables
from asm_core.stac import load_item
from asm_core.synthetic.scene import WrittenScene
from asm_core.tile_job import run_item
from functions.finalize.monitoring import update_sites
from functions.settings import Settings
from functions.storage import Bucket

BUCKET = "asm-watch-sites-test"


@pytest.fixture
def bucket(fake_aws: None) -> Iterator[Bucket]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield Bucket(BUCKET)


def _sites(path: Path) -> list[dict[str, object]]:
    return pq.read_table(path).to_pylist()


def test_a_second_scan_updates_only_its_tile_and_matches_a_local_build(
    bucket: Bucket, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    rules = load_rules()
    # seeds 3 and 38: one tile 35 days apart; 11: another tile
    scenes = {s: scene_factory(seed=s, size=512, sites=3, baseline="05.10") for s in (3, 11, 38)}
    items = {s: load_item(str(w.item_path)) for s, w in scenes.items()}
    settings = Settings(results_bucket=BUCKET)
    first = tmp_path / "first"
    for seed in (3, 11):
        run_item(items[seed], rules, first)
    bucket.upload_tree(first, "results")
    tiles = {items[3].mgrs_tile, items[11].mgrs_tile}
    one = update_sites(bucket, settings, tiles, rules.tracking, "scan-1", hold_seconds=900)
    assert one["tiles_tracked"] == 2 and one["alerts"] == one["sites"]  # all new
    # every alert's evidence chip is stored under the scan, beside alerts.geojson, and linked
    chips = bucket.keys("scans/scan-1/chips/")
    assert len(chips) == one["evidence_chips"] == one["alerts"] > 0
    alerts = bucket.get_json("scans/scan-1/alerts.geojson")["features"]
    assert {f"scans/scan-1/{a['properties']['chip']}" for a in alerts} == set(chips)
    for alert in one["_alerts"]:
        assert alert["properties"]["chip_url"].startswith("https://")
        assert alert["properties"]["chip"] in alert["properties"]["chip_url"]
    head = bucket.client.head_object(Bucket=BUCKET, Key=chips[0])
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] <= 60_000
    report = bucket.client.get_object(Bucket=BUCKET, Key="scans/scan-1/report.html")
    assert f'"{alerts[0]["properties"]["chip"]}"' in report["Body"].read().decode()

    second = tmp_path / "second"
    run_item(items[38], rules, second)
    bucket.upload_tree(second, "results")
    two = update_sites(bucket, settings, {items[38].mgrs_tile}, rules.tracking, "scan-2", 900)
    assert two["tiles_tracked"] == 1

    everything = tmp_path / "everything"
    for seed in (3, 11, 38):
        run_item(items[seed], rules, everything)
    build_site_tables(everything, rules.tracking)
    for table in ("sites", "site_observations"):
        bucket.download(f"results/{table}/{table}.parquet", tmp_path / "s3" / f"{table}.parquet")
        assert _sites(tmp_path / "s3" / f"{table}.parquet") == _sites(
            everything / table / f"{table}.parquet"
        ), table
