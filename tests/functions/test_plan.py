"""The plan Lambda: manifest rows in S3, the tile cap, and one-line refusals of bad events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_watch_functions.errors import ConfigurationError, ScanTooLargeError
from asm_watch_functions.events import PartitionWork, PlanEvent, manifest_tasks
from asm_watch_functions.plan.app import plan
from asm_watch_functions.settings import ApiSettings, PlanSettings, Settings
from asm_watch_functions.storage import Bucket
from tests.conftest import edit_item

BUCKET = "plan-test"


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield Bucket(BUCKET)


def _items(scene_factory: Callable[..., WrittenScene], tmp_path: Path) -> list[dict[str, Any]]:
    scenes = [scene_factory(seed=s, size=256) for s in (51, 52)]
    return [
        json.loads(edit_item(s.item_path, tmp_path / str(i), lambda d: None).read_text())
        for i, s in enumerate(scenes)
    ]


def _settings(scene_factory: Callable[..., WrittenScene], **changes: Any) -> Settings:
    """A deployment allowed to read the synthetic scenes' folder (and nothing else local)."""
    scenes = scene_factory(seed=51, size=256).item_path.resolve().parents[2]  # every scene
    return PlanSettings(results_bucket=BUCKET, asset_sources=(str(scenes),), **changes)


def test_manifest_rows_carry_the_item_and_deterministic_result_keys(
    bucket: Bucket, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    items = _items(scene_factory, tmp_path)
    event = PlanEvent(scan_id="s1", items=items, start="2020-01-01", end="2030-01-01")
    settings = _settings(scene_factory)
    result = plan(event, settings, bucket)
    assert (result.tile_dates, result.manifest.key) == (2, "manifests/s1/manifest.json")
    rows = bucket.get_json(result.manifest.key)
    tasks = manifest_tasks(rows)
    assert {t.item_id for t in tasks} == {i["id"] for i in items}
    for task in tasks:
        assert task.keys["tile_runs"].startswith("results/tile_runs/dt=")
        assert task.keys["detections"].endswith(f"/{task.item_id}.parquet")
    # the partitions the tile-dates write to, each once, for the merge after the scan
    assert result.partitions is not None
    assert bucket.get_json(result.partitions.key) == [
        {"scan_id": "s1", "partition": p}
        for p in sorted({t.keys["tile_runs"].split("/", 2)[2].rsplit("/", 1)[0] for t in tasks})
    ]
    again = plan(event, settings, bucket)
    assert bucket.get_json(again.manifest.key) == rows  # same scan, same manifest


@pytest.mark.parametrize(
    "partition", ["dt=2024-01-05/utm_zone=05", "dt=2024-1-5/utm_zone=5", "../x", "dt=2024-01-05"]
)
def test_a_partition_row_names_a_date_and_an_unpadded_zone(partition: str) -> None:
    assert PartitionWork(scan_id="s", partition="dt=2024-01-05/utm_zone=5").partition
    with pytest.raises(ValidationError, match="partition"):
        PartitionWork(scan_id="s", partition=partition)


@pytest.mark.parametrize(("per_batch", "sizes"), [(1, [1, 1]), (2, [2]), (8, [2])])
def test_the_manifest_holds_the_tile_dates_in_batches_of_the_configured_size(
    bucket: Bucket,
    scene_factory: Callable[..., WrittenScene],
    tmp_path: Path,
    per_batch: int,
    sizes: list[int],
) -> None:
    """One manifest row is one child workflow of the Distributed Map."""
    items = _items(scene_factory, tmp_path)
    event = PlanEvent(scan_id="b", items=items, start="2020-01-01", end="2030-01-01")
    result = plan(event, _settings(scene_factory, tiles_per_batch=per_batch), bucket)
    rows = bucket.get_json(result.manifest.key)
    assert [len(r["tasks"]) for r in rows] == sizes
    assert result.tile_dates == len(manifest_tasks(rows)) == 2


def test_items_with_bands_outside_the_allowed_sources_are_refused_at_planning(
    bucket: Bucket, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    items = _items(scene_factory, tmp_path)
    items[1]["assets"]["red"]["href"] = "http://169.254.169.254/latest/meta-data/B04.tif"
    event = PlanEvent(scan_id="s2", items=items, start="2020-01-01", end="2030-01-01")
    result = plan(event, _settings(scene_factory), bucket)
    assert result.tile_dates == 1 and result.refused_count == 1
    (refusal,) = result.refused
    assert refusal["item_id"] == items[1]["id"]
    assert "band red at 'http://169.254.169.254/" in refusal["error"]
    assert "is not from an allowed source" in refusal["error"]
    tasks = manifest_tasks(bucket.get_json(result.manifest.key))
    assert [t.item_id for t in tasks] == [items[0]["id"]]


def test_a_scan_above_the_tile_cap_is_refused_before_anything_is_written(
    bucket: Bucket, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    event = PlanEvent(
        scan_id="big", items=_items(scene_factory, tmp_path), start="2020-01-01", end="2030-01-01"
    )
    with pytest.raises(ScanTooLargeError, match="2 tile-dates; this deployment allows at most 1"):
        plan(event, _settings(scene_factory, max_tiles=1), bucket)
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"bbox": [0, 0, 1, 1], "start": "2024-03-01", "end": "2024-01-01"}, "is before start"),
        ({"start": "2024-01-01", "end": "2024-02-01"}, "give exactly one of bbox"),
        (
            {"bbox": [0, 0, 1, 1], "items": [], "start": "2024-01-01", "end": "2024-02-01"},
            "give exactly one of bbox",
        ),
        ({"bbox": [0, 0, 1, 1], "start": "2024-01-01", "end": "2024-02-01", "x": 1}, "x"),
        ({"bbox": [0, 0, 1, 1], "start": "last week", "end": "2024-02-01"}, "start"),
        ({"bbox": [0, 0, 1, 1], "end": "2024-02-01"}, "or lookback_days"),
        ({"bbox": [0, 0, 1, 1], "lookback_days": 0}, "lookback_days"),
    ],
)
def test_bad_plan_events_name_the_problem(event: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PlanEvent.model_validate(event)


def test_a_scheduled_scan_looks_back_from_its_day() -> None:
    event = PlanEvent.model_validate({"aoi_key": "aois/africa.geojson", "lookback_days": 7})
    assert event.dates(date(2026, 3, 10)) == (date(2026, 3, 3), date(2026, 3, 10))


def test_missing_bucket_setting_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASM_WATCH_RESULTS_BUCKET", raising=False)
    with pytest.raises(ConfigurationError, match=r"^ASM_WATCH_RESULTS_BUCKET: Field required"):
        Settings.from_environment()


@pytest.mark.parametrize("raw", ["0", "-3", "eight", ""])
def test_a_batch_size_that_is_not_a_positive_integer_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("ASM_WATCH_RESULTS_BUCKET", BUCKET)
    monkeypatch.setenv("ASM_WATCH_TILES_PER_BATCH", raw)
    with pytest.raises(ConfigurationError, match=f"^ASM_WATCH_TILES_PER_BATCH: .*got {raw!r}"):
        PlanSettings.from_environment()


def test_each_function_reads_its_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASM_WATCH_RESULTS_BUCKET", BUCKET)
    monkeypatch.setenv("ASM_WATCH_ASSET_SOURCES", "s3://a/, https://b.example/")
    assert PlanSettings.from_environment().asset_sources == ("s3://a/", "https://b.example/")
    with pytest.raises(ConfigurationError, match=r"^ASM_WATCH_STATE_MACHINE_ARN: Field required"):
        ApiSettings.from_environment()
    monkeypatch.setenv("ASM_WATCH_STATE_MACHINE_ARN", "arn:aws:states:eu-west-1:1:stateMachine:x")
    assert ApiSettings.from_environment().athena_workgroup == "asm-watch"
