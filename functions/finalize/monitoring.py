"""The Finalize step's site update: the scan's tiles tracked again from their whole history in S3,
with the bucket's context layers, and the alerts of the new looks.

Incremental by tile, as locally (:func:`asm_core.monitor.update_monitoring`): only the tiles
this scan touched are downloaded (their detections and tile_runs of every date, found by the
tile in the file names) with the current sites files; the other tiles' rows are kept as they
are. Each alert's before/after evidence chip is cut from the looks' public COGs and stored under
the scan beside ``alerts.geojson`` (``chips/``), and the alert message links it. The whole
update, from the first download to the last upload, holds the site tables' lock
(:mod:`functions.finalize.site_lock`), so two scans finalizing at once take turns.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from asm_core.context import ContextError, ContextLayer, load_context
from asm_core.evidence_chips import CHIPS_FOLDER
from asm_core.gdal_settings import read_options
from asm_core.monitor import MonitorUpdate, update_monitoring
from asm_core.report_html import write_report
from asm_core.rules import TrackingSettings
from functions.finalize.site_lock import site_tables_lock
from functions.settings import Settings
from functions.storage import Bucket

logger = Logger(service="asm-watch-finalize", child=True)
#: uploaded in this order: the sites file carries the "tiles already tracked" markers, so it
#: goes last (a crash before it leaves old markers, and the next scan tracks the tiles again)
SITE_TABLES = ("site_observations", "site_context", "sites")
#: How long the chip links in an alert message work: SigV4's longest (a link signed with the
#: function's role credentials stops working when they expire, often sooner; the s3:// key in
#: alerts.geojson does not).
CHIP_LINK_SECONDS = 7 * 24 * 3600


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


def _upload_chips(
    bucket: Bucket, folder: Path, scan_prefix: str, alerts: list[dict[str, Any]]
) -> None:
    """Store the chips under the scan (beside alerts.geojson, which names them relative to
    itself) and give each alert a presigned link for the message."""
    if not folder.is_dir():
        return
    for chip in sorted(folder.glob("*.jpg")):
        bucket.client.upload_file(
            str(chip),
            bucket.name,
            f"{scan_prefix}/{CHIPS_FOLDER}/{chip.name}",
            ExtraArgs={"ContentType": "image/jpeg"},
        )
    for alert in alerts:
        props = alert["properties"]
        if props.get("chip"):
            props["chip_url"] = bucket.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket.name, "Key": f"{scan_prefix}/{props['chip']}"},
                ExpiresIn=CHIP_LINK_SECONDS,
            )


def update_sites(
    bucket: Bucket,
    settings: Settings,
    tiles: Iterable[str],
    tracking: TrackingSettings,
    scan_id: str,
    hold_seconds: float,
) -> dict[str, Any]:
    """Bring the scan's tiles' sites up to date in S3 and store the alerts next to the scan's
    summary; returns what the summary and the alert message need.

    Args:
        hold_seconds: how long this update may hold the site tables' lock at most (the time
            left before the function times out).
    """
    lock = f"{settings.locks_prefix}/{settings.results_prefix}/site-tables.json"
    with site_tables_lock(bucket, lock, scan_id, hold_seconds):
        return _update_sites(bucket, settings, tiles, tracking, scan_id)


def _update_sites(
    bucket: Bucket,
    settings: Settings,
    tiles: Iterable[str],
    tracking: TrackingSettings,
    scan_id: str,
) -> dict[str, Any]:
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
        done: MonitorUpdate = update_monitoring(
            work / "results", tracking, layers, gdal_options=read_options(unsigned_s3=True)
        )
        for table in SITE_TABLES:
            local = work / "results" / table / f"{table}.parquet"
            bucket.client.upload_file(str(local), bucket.name, f"{root}/{table}/{table}.parquet")
        scan_prefix = f"{settings.scans_prefix}/{scan_id}"
        _upload_chips(bucket, work / "results" / CHIPS_FOLDER, scan_prefix, done.alerts)
        alerts_key = f"{scan_prefix}/alerts.geojson"
        bucket.client.upload_file(str(done.alerts_path), bucket.name, alerts_key)
        # the report of the scan's tiles (their whole history and sites); no quicklooks here;
        # its chip links point beside it, where the chips are stored
        report = write_report(work / "results", work / "report.html", chips_href=CHIPS_FOLDER)
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
