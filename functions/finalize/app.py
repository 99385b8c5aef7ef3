"""Close a scan: gather every planned tile-date's tile_runs row, bring the scan's tiles' sites
up to date (with the alerts of the new looks), write the scan summary to S3, and tell the alert
topic what is news, what was found and what failed.

A planned tile-date without a tile_runs row (its task vanished past every retry and catch) gets
a ``failed`` row here, so every planned tile ends as results or a recorded failure.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import functions.numba_cache  # noqa: F401 - before any kernel runs
from asm_core.alerts import alert_text
from asm_core.results import read_table
from asm_core.rules import shipped_rules
from asm_core.stac import scene_item_from_dict
from asm_core.tile_job import record_failure
from functions.events import FinalizeEvent, manifest_tasks
from functions.finalize.monitoring import update_sites
from functions.finalize.site_lock import SiteTablesBusyError
from functions.settings import METRICS_NAMESPACE, Settings
from functions.storage import Bucket

logger = Logger(service="asm-watch-finalize")
metrics = Metrics(namespace=METRICS_NAMESPACE, service="asm-watch-finalize")
tracer = Tracer(service="asm-watch-finalize")

MISSING = "no tile_runs row was written for this tile-date (the task vanished)"


#: the lock outlives the function's timeout by this much (clocks of Lambda hosts differ a little)
LOCK_MARGIN_SECONDS = 60.0


def finalize(
    event: FinalizeEvent, settings: Settings, bucket: Bucket, seconds_left: float = 900.0
) -> dict[str, Any]:
    """Close the scan (see the module docstring); ``seconds_left`` before the function times
    out bounds how long it may hold the site tables' lock."""
    scan = event.scan
    tasks = manifest_tasks(bucket.get_json(scan.manifest.key))
    work = Path(tempfile.mkdtemp(prefix="asm-finalize-"))
    try:
        missing = []
        for task in tasks:
            key = task.keys["tile_runs"]
            local = work / Path(key).relative_to(settings.results_prefix)
            if not bucket.download(key, local):
                missing.append(task)
        if missing:
            recorded = work / "recorded"
            for task in missing:
                scene = scene_item_from_dict(task.item, task.item_id)
                rules = shipped_rules(task.ruleset)
                record_failure(scene, rules, recorded, RuntimeError(MISSING))
                # a failed row with detections beside it would contradict itself
                bucket.client.delete_object(Bucket=bucket.name, Key=task.keys["detections"])
            bucket.upload_tree(recorded, settings.results_prefix)
            shutil.copytree(recorded, work, dirs_exist_ok=True)
            shutil.rmtree(recorded)
        runs = read_table(work, "tile_runs").to_pylist()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    statuses = Counter(str(r["status"]) for r in runs)
    summary = {
        "scan_id": scan.scan_id,
        "planned": scan.tile_dates,
        "statuses": {s: statuses.get(s, 0) for s in ("ok", "no_data", "failed")},
        "detections": sum(int(r["detections"] or 0) for r in runs),
        "sites": sum(int(r["sites"] or 0) for r in runs),
        "valid_area_km2": round(sum(float(r["valid_area_km2"] or 0) for r in runs), 2),
        "duplicates_replaced": scan.duplicates_replaced,
        "refused": scan.refused,
        "refused_count": scan.refused_count,
        "failures": [
            {"item_id": r["item_id"], "error": r["error"]} for r in runs if r["status"] == "failed"
        ],
        "summary": f"s3://{bucket.name}/{settings.scans_prefix}/{scan.scan_id}/summary.json",
    }
    alerts: list[dict[str, Any]] = []
    try:
        tracking = shipped_rules(tasks[0].ruleset if tasks else settings.rule_set).tracking
        tiles = {t.mgrs_tile for t in tasks}
        hold = seconds_left + LOCK_MARGIN_SECONDS
        monitoring = update_sites(bucket, settings, tiles, tracking, scan.scan_id, hold)
        alerts = monitoring.pop("_alerts")
        summary["monitoring"] = monitoring
    except SiteTablesBusyError:  # another scan is updating them: the state machine retries
        raise
    except Exception as e:  # the scan's results stand; the site update can be re-run
        logger.exception("site update failed")
        summary["monitoring"] = {"error": f"{type(e).__name__}: {e}"}
    bucket.put_json(f"{settings.scans_prefix}/{scan.scan_id}/summary.json", summary)
    if settings.alert_topic_arn:
        _alert(settings.alert_topic_arn, summary, alerts)
    return summary


def _alert(topic_arn: str, summary: dict[str, Any], alerts: list[dict[str, Any]]) -> None:
    s = summary["statuses"]
    subject = (
        f"ASM Watch scan {summary['scan_id']}: {len(alerts)} alerts, "
        f"{summary['detections']} detections, {s['failed']} failed of {summary['planned']}"
    )[:100]
    message = (
        alert_text(alerts) + "\n\nScan summary:\n" + json.dumps(summary, indent=2, default=str)
    )
    boto3.client("sns").publish(TopicArn=topic_arn, Subject=subject, Message=message)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_environment()
    summary = finalize(
        FinalizeEvent.model_validate(event),
        settings,
        Bucket(settings.results_bucket),
        context.get_remaining_time_in_millis() / 1000,
    )
    metrics.add_metric(name="ScanDetections", unit=MetricUnit.Count, value=summary["detections"])
    metrics.add_metric(
        name="ScanFailedTiles", unit=MetricUnit.Count, value=summary["statuses"]["failed"]
    )
    logger.info("scan finalized", extra={k: v for k, v in summary.items() if k != "failures"})
    return summary
