"""A site group's update in S3: the group's tables and merged history, a second scan that
reads its history instead of listing the bucket, and the same tables as tracking everything
locally in one go."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pystac_client
import pytest
from moto import mock_aws

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.scan_summary import ScanSummary
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.sites import build_site_tables
from asm_core.planning.site_groups import SITE_TABLES
from asm_core.results.result_paths import result_keys
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import SceneItem, load_item
from asm_watch_functions.events import SiteGroupWork, TileTask
from asm_watch_functions.finalize.monitoring import update_group
from asm_watch_functions.settings import FinalizeSettings, Settings
from asm_watch_functions.storage import Bucket

BUCKET = "asm-watch-sites-test"


@pytest.fixture
def bucket(fake_aws: None) -> Iterator[Bucket]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield Bucket(BUCKET)


def _work(scan_id: str, group: str, scenes: list[tuple[SceneItem, Path]]) -> SiteGroupWork:
    return SiteGroupWork(
        scan_id=scan_id,
        group=group,
        tasks=[
            TileTask(
                scan_id=scan_id,
                item_id=item.item_id,
                mgrs_tile=str(item.mgrs_tile),
                day=item.acquired.date(),
                item=json.loads(path.read_text()),
                keys={t: f"results/{k}" for t, k in result_keys(item).items()},
            )
            for item, path in scenes
        ],
    )


def _scan(
    bucket: Bucket, folder: Path, scenes: list[tuple[SceneItem, Path]], scan_id: str, group: str
) -> dict[str, Any]:
    """Detect the scenes as the scan's functions would (their files uploaded), then update the
    group."""
    for item, _ in scenes:
        run_item(item, load_rules(), folder)
    bucket.upload_tree(folder, "results")
    settings = Settings(results_bucket=BUCKET)
    return update_group(bucket, settings, _work(scan_id, group, scenes), load_rules().tracking, 900)


def test_a_group_update_keeps_its_history_and_matches_a_local_build(
    bucket: Bucket,
    scene_factory: Callable[..., WrittenScene],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # seeds 3 and 38: tile 30NWK 35 days apart; 10: tile 30NWL (same group 30NW); 11: 30NXL
    written = {
        s: scene_factory(seed=s, size=512, sites=3, baseline="05.10") for s in (3, 10, 11, 38)
    }
    scenes = {s: (load_item(str(w.item_path)), w.item_path) for s, w in written.items()}
    one = _scan(bucket, tmp_path / "one", [scenes[3], scenes[10]], "scan-1", "30NW")
    assert one["tiles_tracked"] == 2 and len(one["_alerts"]) == one["sites"] > 0  # all new
    other = _scan(bucket, tmp_path / "other", [scenes[11]], "scan-1", "30NX")
    assert other["tiles_tracked"] == 1
    # every alert's evidence chip is stored under the scan and linked
    chips = bucket.keys("scans/scan-1/chips/")
    assert len(chips) == one["evidence_chips"] + other["evidence_chips"] > 0
    for alert in one["_alerts"]:
        assert alert["properties"]["chip_url"].startswith("https://")
        assert f"scans/scan-1/{alert['properties']['chip']}" in chips
    head = bucket.client.head_object(Bucket=BUCKET, Key=chips[0])
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] <= 60_000
    report = bucket.client.get_object(Bucket=BUCKET, Key="scans/scan-1/reports/30NW.html")
    assert f'"../{one["_alerts"][0]["properties"]["chip"]}"' in report["Body"].read().decode()
    assert len(bucket.keys("results/site_history/30NW/")) == 2

    # the second scan of the group reads the group's history: it lists nothing
    def no_listing(self: Bucket, prefix: str) -> list[str]:
        if prefix.startswith("results/"):
            raise AssertionError(f"listed {prefix}")
        return []

    monkeypatch.setattr(Bucket, "keys", no_listing)
    two = _scan(bucket, tmp_path / "two", [scenes[38]], "scan-2", "30NW")
    assert two["tiles_tracked"] == 1 and two["sites"] >= one["sites"] // 2
    monkeypatch.undo()

    everything = tmp_path / "everything"
    for seed in (3, 10, 11, 38):
        run_item(scenes[seed][0], load_rules(), everything)
    build_site_tables(everything, load_rules().tracking)
    stored = tmp_path / "stored"
    for key in bucket.keys("results/site"):
        if not key.startswith("results/site_history/"):
            bucket.download(key, stored / Path(key).relative_to("results"))
    for table in SITE_TABLES:
        assert read_table(stored, table).to_pylist() == read_table(everything, table).to_pylist()
    history = tmp_path / "history.parquet"
    bucket.download("results/site_history/30NW/tile_runs.parquet", history)
    assert sorted(pq.read_table(history).column("item_id").to_pylist()) == sorted(
        scenes[s][0].item_id for s in (3, 10, 38)
    )


def test_finalize_gathers_a_group_whose_update_never_finished_from_its_rows(
    bucket: Bucket, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    """A site group whose function failed past its retries left no outcome: Finalize names it,
    takes its tile-dates from their rows and records the one that has none."""
    from asm_watch_functions.events import FinalizeEvent, PlanResult, S3Location
    from asm_watch_functions.finalize.app import MISSING, finalize

    scenes = {
        s: (load_item(str(w.item_path)), w.item_path)
        for s, w in (
            (s, scene_factory(seed=s, size=512, sites=3, baseline="05.10")) for s in (3, 10)
        )
    }
    run_item(scenes[3][0], load_rules(), tmp_path / "done")  # seed 10's task vanished
    bucket.upload_tree(tmp_path / "done", "results")
    work = _work("stuck", "30NW", [scenes[3], scenes[10]])
    bucket.put_json("manifests/stuck/site_groups.json", [work.model_dump(mode="json")])
    bucket.put_json(
        "manifests/stuck/manifest.json", [{"tasks": work.model_dump(mode="json")["tasks"]}]
    )
    plan = PlanResult(
        scan_id="stuck",
        manifest=S3Location(bucket=BUCKET, key="manifests/stuck/manifest.json"),
        site_groups=S3Location(bucket=BUCKET, key="manifests/stuck/site_groups.json"),
        groups=1,
        tile_dates=2,
        tiles=2,
        searched=2,
        duplicates_replaced=0,
    )
    summary = finalize(FinalizeEvent(scan=plan), FinalizeSettings(results_bucket=BUCKET), bucket)
    # the summary asm scan and asm serve write, with AWS's locations filled in
    assert set(summary) == {f.name for f in fields(ScanSummary)}
    assert summary["stac_collection"].startswith(f"s3://{BUCKET}/")
    assert summary["statuses"] == {"ok": 1, "no_data": 0, "failed": 1}
    assert summary["failures"] == [{"item_id": scenes[10][0].item_id, "error": MISSING}]
    monitoring = summary["monitoring"]
    assert monitoring["groups"] == 1 and monitoring["reports"] == {}
    assert monitoring["groups_failed"] == [
        {"group": "30NW", "error": "the group's site update did not finish"}
    ]
    assert monitoring["report"] is None and monitoring["alerts"] == 0
    assert bucket.get_json("scans/stuck/alerts.geojson")["features"] == []
    assert bucket.get_json("scans/stuck/summary.json")["statuses"] == summary["statuses"]
    # the scan's finished tile-date joins the bucket's STAC catalogue; the failed one does not
    assert summary["stac_collection"] == f"s3://{BUCKET}/results/stac/collection.json"
    stac = tmp_path / "stac"
    for key in bucket.keys("results/stac/"):
        bucket.download(key, stac / key.removeprefix("results/stac/"))
    walked = pystac_client.Client.from_file(str(stac / "catalog.json")).get_items(recursive=True)
    assert [i.id for i in walked] == [scenes[3][0].item_id]


def test_scans_ending_together_both_join_the_catalogue(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another Finalize replaces the collection between this one's read and write: the write
    is refused (If-Match) and made again over the other's, so neither scan's items are lost."""
    from asm_watch_functions.finalize.catalogue import add_to_catalogue

    settings = Settings(results_bucket=BUCKET)

    def item(item_id: str, day: str, west: float) -> dict[str, Any]:
        bbox = [west, 5.0, west + 1, 6.0]
        return {"id": item_id, "bbox": bbox, "properties": {"datetime": f"{day}T10:00:00Z"}}

    add_to_catalogue(bucket, settings, [item("first", "2024-01-01", -2.0)])
    read = bucket.get_json_with_etag
    raced = []

    def read_then_lose_the_race(key: str) -> Any:
        found = read(key)
        if not raced:  # the other scan writes after this one has read
            raced.append(True)
            add_to_catalogue(bucket, settings, [item("other", "2024-03-01", 4.0)])
        return found

    monkeypatch.setattr(bucket, "get_json_with_etag", read_then_lose_the_race)
    add_to_catalogue(bucket, settings, [item("mine", "2024-02-01", 0.0)])
    collection = bucket.get_json("results/stac/collection.json")
    links = sorted(link["href"] for link in collection["links"] if link["rel"] == "item")
    assert links == ["./items/first.json", "./items/mine.json", "./items/other.json"]
    assert collection["extent"]["spatial"]["bbox"] == [[-2.0, 5.0, 5.0, 6.0]]
    interval = collection["extent"]["temporal"]["interval"][0]
    assert interval[0].startswith("2024-01-01") and interval[1].startswith("2024-03-01")
