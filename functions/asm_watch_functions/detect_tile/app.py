"""One manifest row → the per-tile job → Parquet in S3 → a small summary for the state machine.

Two modes: a task (run the job), or a task carrying ``error`` (the state machine's Catch after
the retries ran out: record it as a ``failed`` tile_runs row, so no planned tile goes missing).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

import asm_watch_functions.numba_cache  # noqa: F401 - before any kernel runs
from asm_core.detection.objects.known_sites import known_site_footprints
from asm_core.jobs.tile_job import TileRun, record_failure, run_item
from asm_core.planning.site_groups import group_file, group_key, site_group
from asm_core.results.result_paths import result_keys
from asm_core.results.schema import RunStatus
from asm_core.rules import shipped_rules
from asm_core.sources.gdal_settings import read_options
from asm_core.sources.stac import scene_item_from_dict
from asm_watch_functions.errors import TaskFailedError
from asm_watch_functions.events import TileResult, TileTask
from asm_watch_functions.settings import DETECT_TILE_SERVICE, METRICS_NAMESPACE, Settings
from asm_watch_functions.storage import Bucket

logger = Logger(service=DETECT_TILE_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=DETECT_TILE_SERVICE)
tracer = Tracer(service=DETECT_TILE_SERVICE)


def _known_sites(bucket: Bucket, settings: Settings, tile: str | None) -> list[Any]:
    """Footprints of the sites already tracked on the tile (hysteresis); none when the sites
    table is absent or cannot be read - the tile is detected all the same."""
    if tile is None:
        return []
    folder = Path(tempfile.mkdtemp(prefix="asm-known-"))
    group = site_group(tile)  # the tile's group's sites file only
    key = group_key(settings.results_prefix, "sites", group)
    try:
        if not bucket.download(key, group_file(folder, "sites", group)):
            return []
        return known_site_footprints(folder, tile)
    except ClientError as e:  # e.g. 403 before the first Finalize wrote the table
        logger.warning("known sites not read", extra={"key": key, "error": str(e)})
        return []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def detect_tile(task: TileTask, settings: Settings, bucket: Bucket) -> TileResult:
    rules = shipped_rules(task.ruleset)
    scene = scene_item_from_dict(task.item, task.item_id)
    work = Path(tempfile.mkdtemp(prefix="asm-"))  # Lambda's /tmp; emptied below
    try:
        if task.error is not None:
            cause = task.error.get("Cause") or task.error.get("Error") or "unknown error"
            run: TileRun = record_failure(scene, rules, work, TaskFailedError(str(cause)))
        else:
            looks = [scene_item_from_dict(b, "<manifest>") for b in task.baseline]
            run = run_item(
                scene,
                rules,
                work,
                read_options(unsigned_s3=True),
                baseline=looks,
                known_sites=_known_sites(bucket, settings, scene.mgrs_tile),
            )
        if run.status == RunStatus.FAILED:  # an earlier run's detections would contradict the row
            keys = result_keys(scene)
            for folder in ("detections", "masks", "stac_item"):
                key = f"{settings.results_prefix}/{keys[folder]}"
                bucket.client.delete_object(Bucket=bucket.name, Key=key)
        bucket.upload_tree(work, settings.results_prefix)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TileResult(
        item_id=run.item_id,
        status=run.status,
        detections=run.detections,
        sites=run.sites,
        seconds=run.seconds,
        error=run.error,
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_environment()
    result = detect_tile(TileTask.model_validate(event), settings, Bucket(settings.results_bucket))
    metrics.add_metric(name=f"Tiles_{result.status}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Detections", unit=MetricUnit.Count, value=result.detections)
    logger.info("tile done", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")
