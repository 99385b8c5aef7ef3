"""Merge one results partition's small files after a scan (the scan's last map: one function
per date and UTM zone the scan wrote to). The per-tile-date tile_runs and detections files of
the partition become one ``compacted.parquet`` per table, as ``asm scan`` merges them on one
machine (:mod:`asm_core.results.compaction`: the newest rows of an item win, detections follow
their tile_runs), and the STAC items of the merged tile-dates point at the merged file. Athena
then opens one file per table and partition instead of one per tile-date
(``tests/bench/athena_layout.py``).

Safe beside other scans:
- the merged file is written conditionally, on the ETag of the merged file this merge read (or
  on there being none), so two merges of one partition cannot drop each other's rows: the
  loser raises :class:`PartitionBusyError` and the state machine merges again;
- an item file is deleted only if it is still the version that was merged (S3's conditional
  delete): an item rewritten meanwhile (a re-run) stays, and wins over its merged rows at the
  next merge;
- the merged files are uploaded before any item file is deleted, so a reader sees an item's rows
  twice for a moment, never not at all, and finds them in the merged file once its own file is
  gone (:mod:`asm_watch_functions.item_files`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from asm_core.results.compaction import COMPACTED, PER_TILE_DATE, compact
from asm_core.results.results_catalogue import follow_compaction
from asm_core.results.results_stac import STAC_FOLDER, item_file, write_results_item
from asm_watch_functions.errors import PartitionBusyError
from asm_watch_functions.events import PartitionWork
from asm_watch_functions.settings import COMPACT_RESULTS_SERVICE, METRICS_NAMESPACE, Settings
from asm_watch_functions.storage import Bucket

logger = Logger(service=COMPACT_RESULTS_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=COMPACT_RESULTS_SERVICE)
tracer = Tracer(service=COMPACT_RESULTS_SERVICE)


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def compact_partition_in_bucket(
    bucket: Bucket, settings: Settings, work: PartitionWork
) -> dict[str, Any]:
    """Merge the partition's item files of both tables (see the module docstring); returns how
    many files it merged, and the keys of those it left because they changed meanwhile."""
    scratch = Path(tempfile.mkdtemp(prefix="asm-compact-"))
    root, prefix = scratch / "results", settings.results_prefix
    try:
        merged_etag: dict[str, str | None] = {}
        fetched: dict[str, str] = {}  # item file key → the ETag of the version merged
        before: dict[str, str | None] = {}
        for table in PER_TILE_DATE:
            folder, at = root / table / work.partition, f"{prefix}/{table}/{work.partition}"
            merged_etag[table] = bucket.download_with_etag(f"{at}/{COMPACTED}", folder / COMPACTED)
            before[table] = _digest(folder / COMPACTED)
            for key in bucket.keys(f"{at}/"):
                name = key.rsplit("/", 1)[-1]
                if name != COMPACTED and name.endswith(".parquet"):
                    etag = bucket.download_with_etag(key, folder / name)
                    if etag is not None:  # (gone since the listing: merged by another scan)
                        fetched[key] = etag
        compact(root, [Path(work.partition)])
        for table in PER_TILE_DATE:  # tile_runs first: detections follow their runs
            merged = root / table / work.partition / COMPACTED
            if _digest(merged) in (None, before[table]):
                continue
            etag = merged_etag[table]
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            key = f"{prefix}/{table}/{work.partition}/{COMPACTED}"
            if not bucket.upload_if(merged, key, **condition):
                raise PartitionBusyError(
                    f"{key} changed while this scan merged it (another scan merged the same "
                    "partition): merge again"
                )
        kept = [key for key, etag in fetched.items() if not bucket.delete_if_unchanged(key, etag)]
        merged_items = sorted(
            Path(key).stem
            for key in fetched
            if key not in kept and key.startswith(f"{prefix}/detections/")
        )
        _follow_merges(bucket, root, prefix, merged_items)
        return {
            "partition": work.partition,
            "files_merged": len(fetched) - len(kept),
            "files_kept": kept,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _follow_merges(bucket: Bucket, root: Path, prefix: str, names: list[str]) -> None:
    """Point the STAC items of these item files (named as their items) at the merged file."""
    for name in names:
        local = root / STAC_FOLDER / "items" / f"{name}.json"
        key = f"{prefix}/{local.relative_to(root).as_posix()}"
        if not bucket.download(key, local):
            continue  # results of a release before the STAC items
        stac_item = json.loads(local.read_text())
        if item_file(root, str(stac_item["id"])) == local and follow_compaction(root, stac_item):
            write_results_item(root, stac_item)
            bucket.client.upload_file(str(local), bucket.name, key)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_environment()
    result = compact_partition_in_bucket(
        Bucket(settings.results_bucket), settings, PartitionWork.model_validate(event)
    )
    metrics.add_metric(name="FilesMerged", unit=MetricUnit.Count, value=result["files_merged"])
    logger.info("partition merged", extra=result)
    return result
