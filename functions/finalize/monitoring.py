"""The Finalize step's site update: the scan's tiles tracked again from their whole history in
S3, with the bucket's context layers, and the alerts of the new looks.

Incremental by tile, as locally (:func:`asm_core.monitor.update_monitoring`): only the tiles
this scan touched are downloaded (their detections and tile_runs of every date, found by the
tile in the file names) with the current sites files; the other tiles' rows are kept as they
are. Two scans finalizing at the same moment could overwrite each other's site update; the
schedule runs one scan at a time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from asm_core.context import ContextError, ContextLayer, load_context
from asm_core.monitor import MonitorUpdate, update_monitoring
from asm_core.report_html import write_report
from asm_core.rules import TrackingSettings
from functions.settings import Settings
from functions.storage import Bucket

logger = Logger(service="asm-watch-finalize", child=True)
SITE_TABLES = ("sites", "site_observations", "site_context")


def _tile_keys(bucket: Bucket, prefix: str, tiles: set[str]) -> list[str]:
    """Result files of these tiles (item ids, hence file names, carry the MGRS tile)."""
    return [k for k in bucket.keys(prefix) if any(f"_{t}_" in k.rsplit("/", 1)[-1] for t in tiles)]


def _context_layers(
    bucket: Bucket, prefix: str, work: Path
) -> tuple[list[ContextLayer], list[str]]:
    """The bucket's context layers (one file each, named after the layer), and the errors of
    any that cannot be used: a bad layer is reported, it does not stop the site update."""
    layers, errors = [], []
    for key in bucket.keys(f"{prefix}/"):
        name = Path(key).stem
        local = work / "context" / Path(key).name
        bucket.download(key, local)
        try:
            layers.append(load_context(name, local))
        except ContextError as e:  # named by its S3 key, not the temporary copy
            errors.append(str(e).replace(str(local), f"s3://{bucket.name}/{key}"))
    return layers, errors


def update_sites(
    bucket: Bucket,
    settings: Settings,
    tiles: Iterable[str],
    tracking: TrackingSettings,
    scan_id: str,
) -> dict[str, Any]:
    """Bring the scan's tiles' sites up to date in S3 and store the alerts next to the scan's
    summary; returns what the summary and the alert message need."""
    work = Path(tempfile.mkdtemp(prefix="asm-sites-"))
    root = settings.results_prefix
    try:
        touched = set(tiles)
        for table in ("detections", "tile_runs"):
            for key in _tile_keys(bucket, f"{root}/{table}/", touched):
                bucket.download(key, work / "results" / Path(key).relative_to(root))
        for table in SITE_TABLES:
            key = f"{root}/{table}/{table}.parquet"
            bucket.download(key, work / "results" / table / f"{table}.parquet")
        layers, context_errors = _context_layers(bucket, settings.context_prefix, work)
        done: MonitorUpdate = update_monitoring(work / "results", tracking, layers)
        for table in SITE_TABLES:
            local = work / "results" / table / f"{table}.parquet"
            bucket.client.upload_file(str(local), bucket.name, f"{root}/{table}/{table}.parquet")
        alerts_key = f"{settings.scans_prefix}/{scan_id}/alerts.geojson"
        bucket.client.upload_file(str(done.alerts_path), bucket.name, alerts_key)
        # the report of the scan's tiles (their whole history and sites); no quicklooks here
        report = write_report(work / "results", work / "report.html")
        report_key = f"{settings.scans_prefix}/{scan_id}/report.html"
        bucket.client.upload_file(
            str(report.path),
            bucket.name,
            report_key,
            ExtraArgs={"ContentType": "text/html; charset=utf-8"},
        )
        logger.info(
            "sites updated",
            extra={"tiles": len(touched), "alerts": len(done.alerts), "layers": len(layers)},
        )
        return done.summary() | {
            "alerts_file": f"s3://{bucket.name}/{alerts_key}",
            "report": f"s3://{bucket.name}/{report_key}",
            "context_layers": sorted(layer.name for layer in layers),
            "context_errors": context_errors,
            "_alerts": done.alerts,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
