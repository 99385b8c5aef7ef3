"""The scan's last step merges each partition it wrote to in S3: one file per table, the same
rows, the STAC items following, and safe beside another scan merging or rewriting the same
partition; readers of a tile-date's files find its rows once its own are gone."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

import asm_watch_functions.compact_results.app as compact_app
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.planning.site_groups import site_group
from asm_core.results.result_paths import item_partition, result_keys
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import SceneItem, load_item
from asm_watch_functions.compact_results.app import compact_partition_in_bucket
from asm_watch_functions.errors import PartitionBusyError
from asm_watch_functions.events import PartitionWork, SiteGroupWork, TileTask
from asm_watch_functions.finalize.monitoring import history_key, update_group
from asm_watch_functions.item_files import download_item_file
from asm_watch_functions.settings import Settings
from asm_watch_functions.storage import Bucket
from tests.conftest import edit_item, items_sharing_a_partition

BUCKET = "asm-watch-compact-test"
SETTINGS = Settings(results_bucket=BUCKET)


@pytest.fixture
def bucket(fake_aws: None) -> Iterator[Bucket]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield Bucket(BUCKET)


@pytest.fixture
def detected(
    bucket: Bucket, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> tuple[list[SceneItem], Path]:
    """Two tile-dates of one partition detected and uploaded as the per-tile functions do."""
    items, root = items_sharing_a_partition(scene_factory, tmp_path), tmp_path / "results"
    for item in items:
        assert run_item(item, load_rules(), root).detections > 0
    bucket.upload_tree(root, "results")
    return items, root


def _rows(bucket: Bucket, key: str, table: str, tmp: Path) -> list[dict[str, Any]]:
    folder = tmp / "fetched"  # (the partition's path gives its dt and utm_zone columns)
    assert bucket.download(key, folder / Path(key).relative_to("results"))
    return _sorted(read_table(folder, table).to_pylist())


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: json.dumps(r, default=str))


def _work(item: SceneItem) -> PartitionWork:
    return PartitionWork(scan_id="scan", partition=item_partition(item))


def test_a_partition_is_merged_in_the_bucket_and_its_items_still_found(
    bucket: Bucket, detected: tuple[list[SceneItem], Path], tmp_path: Path
) -> None:
    items, root = detected
    done = compact_partition_in_bucket(bucket, SETTINGS, _work(items[0]))
    assert done == {"partition": item_partition(items[0]), "files_merged": 4, "files_kept": []}
    for table in ("tile_runs", "detections"):
        (key,) = bucket.keys(f"results/{table}/")
        assert key == f"results/{table}/{item_partition(items[0])}/compacted.parquet"
        assert _rows(bucket, key, table, tmp_path) == _sorted(read_table(root, table).to_pylist())
    for item in items:
        stac_key = f"results/{result_keys(item)['stac_item']}"
        href = json.loads(bucket.client.get_object(Bucket=BUCKET, Key=stac_key)["Body"].read())[
            "assets"
        ]["detections"]["href"]
        assert posixpath.normpath(posixpath.join(posixpath.dirname(stac_key), href)) == (
            f"results/detections/{item_partition(item)}/compacted.parquet"
        )
        # a reader that asks for the item's own files gets its rows from the merged ones
        for table in ("tile_runs", "detections"):
            local = tmp_path / "reader" / table / f"{item.item_id}.parquet"
            key = f"results/{result_keys(item)[table]}"
            assert download_item_file(bucket, key, local, table, item.item_id)
            rows = pq.read_table(local).to_pylist()
            assert rows and {r["item_id"] for r in rows} == {item.item_id}
    # merged already: nothing to do, nothing rewritten
    etag = bucket.objects("results/detections/")
    assert compact_partition_in_bucket(bucket, SETTINGS, _work(items[0]))["files_merged"] == 0
    assert bucket.objects("results/detections/") == etag
    absent = tmp_path / "absent.parquet"
    assert not download_item_file(
        bucket, "results/tile_runs/dt=2020-01-01/utm_zone=30/x.parquet", absent, "tile_runs", "x"
    )


def test_a_merge_that_loses_the_race_deletes_nothing_and_is_retried(
    bucket: Bucket, detected: tuple[list[SceneItem], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    items, _ = detected
    before = bucket.objects("results/")
    merged_key = f"results/tile_runs/{item_partition(items[0])}/compacted.parquet"
    real_compact = compact_app.compact

    def another_scan_merges_first(root: Path, partitions: Any) -> int:
        bucket.client.put_object(Bucket=BUCKET, Key=merged_key, Body=b"another scan's merge")
        return real_compact(root, partitions)

    monkeypatch.setattr(compact_app, "compact", another_scan_merges_first)
    with pytest.raises(PartitionBusyError, match="changed while this scan merged it"):
        compact_partition_in_bucket(bucket, SETTINGS, _work(items[0]))
    after = bucket.objects("results/")
    assert {k: after[k] for k in before} == before  # every item file is still there


def test_an_item_rewritten_during_the_merge_is_kept_for_the_next_merge(
    bucket: Bucket, detected: tuple[list[SceneItem], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    items, root = detected
    first, second = (f"results/{result_keys(i)['tile_runs']}" for i in items)
    real_compact = compact_app.compact

    def a_re_run_writes_meanwhile(results: Path, partitions: Any) -> int:
        # a re-run of the first tile-date replaces its row (another file's bytes, another ETag)
        bucket.client.upload_file(str(root / Path(second).relative_to("results")), BUCKET, first)
        return real_compact(results, partitions)

    monkeypatch.setattr(compact_app, "compact", a_re_run_writes_meanwhile)
    done = compact_partition_in_bucket(bucket, SETTINGS, _work(items[0]))
    assert done["files_kept"] == [first] and done["files_merged"] == 3
    assert bucket.exists(first)  # newer than the merged rows: the next merge takes it


def test_a_group_s_first_update_finds_its_tiles_in_merged_partitions(
    bucket: Bucket, scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    """A group with no history yet (its earlier update failed, say) whose tiles' partitions
    were merged: the scan's tile-date and an earlier one of its tile come from the merged
    files, each once."""
    scene = scene_factory(seed=41, size=256, sites=2, baseline="05.10")

    def week_before(data: dict[str, Any]) -> None:
        data["properties"]["datetime"] = "2024-02-04T10:42:31Z"
        data["id"] = data["id"].replace("_0_L2A", "_9_L2A")

    now = load_item(str(edit_item(scene.item_path, tmp_path / "now", lambda d: None)))
    before = load_item(str(edit_item(scene.item_path, tmp_path / "before", week_before)))
    root = tmp_path / "results"
    for item in (now, before):
        run_item(item, load_rules(), root)
    bucket.upload_tree(root, "results")
    for item in (now, before):
        compact_partition_in_bucket(bucket, SETTINGS, _work(item))
    group = site_group(str(now.mgrs_tile))
    task = TileTask(
        scan_id="later",
        item_id=now.item_id,
        mgrs_tile=str(now.mgrs_tile),
        day=now.acquired.date(),
        item={},
        keys={t: f"results/{k}" for t, k in result_keys(now).items()},
    )
    work = SiteGroupWork(scan_id="later", group=group, tasks=[task])
    assert update_group(bucket, SETTINGS, work, load_rules().tracking, 900)["tiles_tracked"] == 1
    history = tmp_path / "history.parquet"
    for table in ("tile_runs", "detections"):
        assert bucket.download(history_key(SETTINGS, group, table), history)
        rows = pq.read_table(history).to_pylist()
        key = "item_id" if table == "tile_runs" else "detection_id"
        assert len({r[key] for r in rows}) == len(rows)  # none twice
        assert {r["item_id"] for r in rows} == {now.item_id, before.item_id}
