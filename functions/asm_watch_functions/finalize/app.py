"""Close a scan: gather what each site group's update stored (its tile_runs summary, monitoring
summary and alerts), write the scan's summary, alerts and report to S3, and tell the alert
topic what is news, what was found and what failed.

The site update itself fans out one function per site group
(:mod:`asm_watch_functions.track_sites.app`), so this step reads one small object per group,
however long the history. A group whose update left nothing (it failed past every retry) is
gathered here from its tile_runs rows, recording a failure for any tile-date without one
(:mod:`asm_watch_functions.finalize.tile_runs`), and named in the summary, so every planned
tile ends as results or a recorded failure.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any, cast

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from asm_core.jobs.scan_summary import ScanSummary
from asm_core.monitoring.alerts import (
    AlertFeature,
    alert_collection,
    alert_text,
    country_summary,
)
from asm_core.results.schema import STATUSES, RunStatus
from asm_core.sources.stac import StacItemDict
from asm_watch_functions.events import FinalizeEvent, SiteGroupWork
from asm_watch_functions.finalize.catalogue import add_to_catalogue
from asm_watch_functions.finalize.tile_runs import MISSING, gather_runs, runs_summary
from asm_watch_functions.settings import FINALIZE_SERVICE, METRICS_NAMESPACE, FinalizeSettings
from asm_watch_functions.storage import Bucket

logger = Logger(service=FINALIZE_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=FINALIZE_SERVICE)
tracer = Tracer(service=FINALIZE_SERVICE)

__all__ = ["MISSING", "finalize", "handler"]

#: how long the scan page's links to the groups' reports work: SigV4's longest
REPORT_LINK_SECONDS = 7 * 24 * 3600
#: monitoring figures that add up over groups
_COUNTS = ("sites", "tiles_tracked", "evidence_chips", "new_sites_bare_before")


def _group_outcome(bucket: Bucket, key: str) -> dict[str, Any] | None:
    try:
        return dict(bucket.get_json(key))
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise


def _merged_runs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "statuses": {s: sum(p["statuses"][s] for p in parts) for s in STATUSES},
        "detections": sum(p["detections"] for p in parts),
        "sites": sum(p["sites"] for p in parts),
        "valid_area_km2": round(sum(p["valid_area_km2"] for p in parts), 2),
        "failures": [f for p in parts for f in p["failures"]],
    }


def _merged_monitoring(
    outcomes: dict[str, dict[str, Any]], unfinished: list[str], alerts: list[AlertFeature]
) -> dict[str, Any]:
    done = {g: o["monitoring"] for g, o in outcomes.items() if "error" not in o["monitoring"]}
    states: Counter[str] = Counter()
    for m in done.values():
        states.update(m["site_states"])
    return {
        **{n: sum(int(m[n]) for m in done.values()) for n in _COUNTS},
        "alerts": len(alerts),
        "site_states": dict(sorted(states.items())),
        "alerts_by_country": country_summary(alerts),
        "context_layers": sorted({n for m in done.values() for n in m["context_layers"]}),
        "context_errors": sorted({e for m in done.values() for e in m["context_errors"]}),
        "groups": len(outcomes) + len(unfinished),
        "reports": {g: m["report"] for g, m in sorted(done.items())},
        "groups_failed": [
            {"group": g, "error": o["monitoring"]["error"]}
            for g, o in sorted(outcomes.items())
            if "error" in o["monitoring"]
        ]
        + [{"group": g, "error": "the group's site update did not finish"} for g in unfinished],
    }


def _write_report(
    bucket: Bucket,
    settings: FinalizeSettings,
    scan_id: str,
    reports: dict[str, str],
    monitoring: dict[str, Any],
) -> str | None:
    """The scan's ``report.html``: the one group's report, or a page linking each group's
    (pre-signed links, as the page itself is handed out pre-signed)."""
    if not reports:
        return None
    key = f"{settings.scans_prefix}/{scan_id}/report.html"
    keys = {g: settings.group_report_key(scan_id, g) for g in reports}
    if len(keys) == 1:
        (only,) = keys.values()
        bucket.client.copy_object(
            Bucket=bucket.name, Key=key, CopySource={"Bucket": bucket.name, "Key": only}
        )
        return f"s3://{bucket.name}/{key}"
    rows = "".join(
        f'<li><a href="{html.escape(url)}">{html.escape(g)}</a></li>'
        for g, url in (
            (
                g,
                bucket.client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": bucket.name, "Key": k},
                    ExpiresIn=REPORT_LINK_SECONDS,
                ),
            )
            for g, k in sorted(keys.items())
        )
    )
    page = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>ASM Watch scan report</title>'
        f"<h1>ASM Watch: {len(keys)} site groups</h1><p>{monitoring['sites']} sites, "
        f"{monitoring['alerts']} alerts. One report per site group (links last 7 days):</p>"
        f"<ul>{rows}</ul></html>"
    )
    bucket.client.put_object(
        Bucket=bucket.name, Key=key, Body=page.encode(), ContentType="text/html; charset=utf-8"
    )
    return f"s3://{bucket.name}/{key}"


def finalize(event: FinalizeEvent, settings: FinalizeSettings, bucket: Bucket) -> dict[str, Any]:
    """Close the scan (see the module docstring)."""
    scan = event.scan
    groups = [SiteGroupWork.model_validate(r) for r in bucket.get_json(scan.site_groups.key)]
    outcomes: dict[str, dict[str, Any]] = {}
    unfinished: list[SiteGroupWork] = []
    for group in groups:
        found = _group_outcome(bucket, settings.group_outcome_key(scan.scan_id, group.group))
        if found is None:
            unfinished.append(group)
        else:
            outcomes[group.group] = found
    parts = [o["runs"] for o in outcomes.values()]
    if unfinished:
        tasks = [t for g in unfinished for t in g.tasks]
        parts.append(runs_summary(gather_runs(tasks, settings, bucket)))
    runs = _merged_runs(parts)
    # the group updates' outcomes are our own JSON: their alerts are alert features
    alerts: list[AlertFeature] = [a for g in sorted(outcomes) for a in outcomes[g]["alerts"]]
    scan_prefix = f"{settings.scans_prefix}/{scan.scan_id}"
    monitoring = _merged_monitoring(outcomes, [g.group for g in unfinished], alerts)
    alerts_key = f"{scan_prefix}/alerts.geojson"
    bucket.put_json(alerts_key, alert_collection(alerts))
    monitoring["alerts_file"] = f"s3://{bucket.name}/{alerts_key}"
    monitoring["report"] = _write_report(
        bucket, settings, scan.scan_id, monitoring["reports"], monitoring
    )
    failed = {f["item_id"] for f in runs["failures"]}
    # the manifest carries the items as the plan had them
    finished = [
        cast(StacItemDict, t.item) for g in groups for t in g.tasks if t.item_id not in failed
    ]
    catalogue = add_to_catalogue(bucket, settings, finished)
    summary = ScanSummary(
        scan_id=scan.scan_id,
        planned=scan.tile_dates,
        statuses=runs["statuses"],
        detections=runs["detections"],
        sites=runs["sites"],
        valid_area_km2=runs["valid_area_km2"],
        failures=runs["failures"],
        duplicates_replaced=scan.duplicates_replaced,
        refused_count=scan.refused_count,
        refused=scan.refused,
        summary=f"s3://{bucket.name}/{scan_prefix}/summary.json",
        monitoring=monitoring,
        stac_collection=f"s3://{bucket.name}/{catalogue}",
    ).as_json()
    bucket.put_json(f"{scan_prefix}/summary.json", summary)
    if settings.alert_topic_arn:
        _alert(settings.alert_topic_arn, summary, alerts)
    return summary


def _alert(topic_arn: str, summary: dict[str, Any], alerts: list[AlertFeature]) -> None:
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
    settings = FinalizeSettings.from_environment()
    summary = finalize(
        FinalizeEvent.model_validate(event), settings, Bucket(settings.results_bucket)
    )
    metrics.add_metric(name="ScanDetections", unit=MetricUnit.Count, value=summary["detections"])
    metrics.add_metric(
        name="ScanFailedTiles", unit=MetricUnit.Count, value=summary["statuses"][RunStatus.FAILED]
    )
    logger.info("scan finalized", extra={k: v for k, v in summary.items() if k != "failures"})
    return summary
