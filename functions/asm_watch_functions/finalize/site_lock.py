"""One Finalize at a time updates the site tables: a lock object taken with S3 conditional writes.

The site tables are rewritten whole from downloaded copies, so two Finalizes at once (two scans
ending together, an execution redriven beside a new one) would each upload tables without the
other's tiles. The lock is an object created only where none exists (``If-None-Match: *``); it
names its holder and when it lapses (when the holder's Lambda times out, so a crashed holder
blocks nobody for longer than that). A lapsed lock is taken over only if it is still the same
object (``If-Match`` on its ETag), so two waiters cannot both take it, and it is released by
deleting it only if it is still ours. A Finalize that finds it held raises
:class:`SiteTablesBusyError`, which the state machine retries with a pause.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from asm_watch_functions.errors import SiteTablesBusyError
from asm_watch_functions.storage import LOST_RACE, Bucket, error_code


def _put(bucket: Bucket, key: str, body: dict[str, Any], **condition: str) -> str | None:
    """Write the lock if the condition holds; its ETag, or None if another writer won."""
    return bucket.put_json_if(key, body, **condition)


def _take(bucket: Bucket, key: str, body: dict[str, Any], now: float) -> str:
    """Create the lock, or take over a lapsed one; raise if it is held."""
    etag = _put(bucket, key, body, IfNoneMatch="*")
    if etag is not None:
        return etag
    try:
        held = bucket.client.get_object(Bucket=bucket.name, Key=key)
    except ClientError as e:
        if error_code(e) in ("NoSuchKey", "404"):  # released since: try once more
            etag = _put(bucket, key, body, IfNoneMatch="*")
            if etag is not None:
                return etag
            raise SiteTablesBusyError(f"s3://{bucket.name}/{key} was taken meanwhile") from e
        raise
    holder = json.loads(held["Body"].read())
    if float(holder.get("lapses_at", 0)) > now:
        raise SiteTablesBusyError(
            f"site tables held by scan {holder.get('holder')!r} until "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(holder['lapses_at']))} "
            f"(s3://{bucket.name}/{key})"
        )
    etag = _put(bucket, key, body, IfMatch=held["ETag"])
    if etag is None:
        raise SiteTablesBusyError(f"a lapsed lock s3://{bucket.name}/{key} was taken by another")
    return etag


@contextmanager
def site_tables_lock(
    bucket: Bucket,
    key: str,
    holder: str,
    hold_seconds: float,
    clock: Callable[[], float] = time.time,
) -> Iterator[None]:
    """Hold the site tables for ``holder`` (a scan id) for at most ``hold_seconds``."""
    now = clock()
    etag = _take(bucket, key, {"holder": holder, "lapses_at": now + hold_seconds}, now)
    try:
        yield
    finally:
        try:
            bucket.client.delete_object(Bucket=bucket.name, Key=key, IfMatch=etag)
        except ClientError as e:  # taken over after lapsing: it is no longer ours to delete
            if error_code(e) not in (*LOST_RACE, "NoSuchKey", "404"):
                raise
