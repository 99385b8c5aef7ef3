"""A tile-date's result file from S3, wherever its rows are now: its own file, or - once a scan's
last step has merged its partition (:mod:`asm_watch_functions.compact_results`, which may be
another scan's, merging the same date and zone) - its rows in the partition's merged file.

The merge uploads the merged file before it deletes any item file, so an item file that is gone
has its rows in the merged file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from asm_core.results.compaction import COMPACTED, merged_rows
from asm_watch_functions.storage import Bucket


def download_item_file(bucket: Bucket, key: str, local: Path, table: str, item_id: str) -> bool:
    """Fetch an item's file of ``table`` (its S3 ``key``) to ``local``, or write its rows from
    the partition's merged file there; False if neither holds the item (for detections: if
    neither file exists)."""
    if bucket.download(key, local):
        return True
    with tempfile.TemporaryDirectory(prefix="asm-merged-") as tmp:
        merged = Path(tmp) / COMPACTED
        if not bucket.download(f"{key.rsplit('/', 1)[0]}/{COMPACTED}", merged):
            return False
        rows = merged_rows(merged, table, lambda i: i == item_id, local)
    # a tile-date has one tile_runs row; its detections may be none
    return rows is not None and (rows > 0 or table == "detections")
