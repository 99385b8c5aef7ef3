"""One update of a site group at a time: the group's lock in S3 (moto honours If-None-Match and
If-Match on PutObject and DeleteObject, as S3 does)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from asm_core.rules import load_rules
from asm_watch_functions.errors import SiteTablesBusyError
from asm_watch_functions.events import SiteGroupWork
from asm_watch_functions.finalize.monitoring import update_group
from asm_watch_functions.finalize.site_lock import site_tables_lock
from asm_watch_functions.settings import Settings
from asm_watch_functions.storage import Bucket

BUCKET = "asm-watch-lock-test"
LOCK = "locks/results/site-groups/20LQ.json"


@pytest.fixture
def bucket(fake_aws: None) -> Iterator[Bucket]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield Bucket(BUCKET)


def test_a_held_lock_turns_the_second_finalize_away_and_is_released_after(bucket: Bucket) -> None:
    with site_tables_lock(bucket, LOCK, "scan-a", 900, clock=lambda: 1000.0):
        assert bucket.get_json(LOCK) == {"holder": "scan-a", "lapses_at": 1900.0}
        with (
            pytest.raises(SiteTablesBusyError, match="'scan-a'") as busy,
            site_tables_lock(bucket, LOCK, "scan-b", 900, clock=lambda: 1500.0),
        ):
            pytest.fail("two holders at once")
        assert "\n" not in str(busy.value) and LOCK in str(busy.value)
    assert not bucket.exists(LOCK)
    with site_tables_lock(bucket, LOCK, "scan-b", 900, clock=lambda: 1500.0):
        assert bucket.get_json(LOCK)["holder"] == "scan-b"


def test_the_lock_is_released_when_the_update_fails(bucket: Bucket) -> None:
    with pytest.raises(RuntimeError, match="boom"), site_tables_lock(bucket, LOCK, "scan-a", 900):
        raise RuntimeError("boom")
    assert not bucket.exists(LOCK)


def test_a_lapsed_lock_is_taken_over_and_its_old_holder_cannot_release_the_new_one(
    bucket: Bucket,
) -> None:
    old = site_tables_lock(bucket, LOCK, "crashed", 900, clock=lambda: 1000.0)
    old.__enter__()  # its Lambda timed out while holding it
    with site_tables_lock(bucket, LOCK, "scan-b", 900, clock=lambda: 2000.0):
        old.__exit__(None, None, None)  # the late holder's release leaves the new lock alone
        assert bucket.get_json(LOCK)["holder"] == "scan-b"
    assert not bucket.exists(LOCK)


def test_a_group_update_refuses_to_start_while_another_scan_holds_the_group(
    bucket: Bucket,
) -> None:
    bucket.put_json("results/sites/sites_20LQ.parquet", {"stand-in": "of another scan's tables"})
    before = {k: bucket.client.head_object(Bucket=BUCKET, Key=k)["ETag"] for k in bucket.keys("")}
    settings = Settings(results_bucket=BUCKET)
    with site_tables_lock(bucket, LOCK, "scan-a", 900):
        with pytest.raises(SiteTablesBusyError):
            work = SiteGroupWork(scan_id="scan-b", group="20LQ", tasks=[])
            update_group(bucket, settings, work, load_rules().tracking, 900)
        after = {
            k: bucket.client.head_object(Bucket=BUCKET, Key=k)["ETag"]
            for k in bucket.keys("")
            if k != LOCK
        }
    assert after == before
