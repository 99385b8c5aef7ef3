"""One site group's update in S3 (the scan's site update fans out one function per group):
its sites tracked again from its whole history, with the bucket's context layers, and the
alerts of the new looks.

Each group keeps its history beside its site tables: its tiles' tile_runs and detections of
every date merged into one file per table (``site_history/<group>/``, merged as
:mod:`asm_core.results.compaction` merges a partition: the newest rows of an item win). An update
downloads those two files, the scan's own files of the group's tile-dates and the group's site
tables (:mod:`asm_core.planning.site_groups`) - a fixed number of objects however long the history
- so no piece of the update grows with the continent, and the history needs no listing of the
bucket. A group without a history yet (its first update, or results of a release before site
groups) finds its tiles' files by name once.

The history is uploaded before the site tables, and the sites file (with the "tiles already
tracked" markers) last: the markers are never ahead of the history they were built from. Each
alert's before/after evidence chip is cut from the looks' public COGs and stored under the scan
(``chips/``), and the alert links it. The whole update holds the group's lock
(:mod:`asm_watch_functions.finalize.site_lock`), so two scans updating one group take turns.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from asm_core.errors import ContextError
from asm_core.monitoring.alerts import AlertFeature
from asm_core.monitoring.context import ContextLayer, load_context
from asm_core.monitoring.evidence_chips import CHIPS_FOLDER
from asm_core.monitoring.monitor import MonitorUpdate, update_monitoring
from asm_core.planning.site_groups import SITE_TABLES, group_file, group_key, site_group
from asm_core.report.report_html import write_report
from asm_core.results.compaction import COMPACTED, compact, merged_rows
from asm_core.results.compaction import PER_TILE_DATE as COMPACTED_TABLES
from asm_core.results.result_paths import file_name
from asm_core.rules import TrackingSettings
from asm_core.sources.gdal_settings import read_options
from asm_watch_functions.events import SiteGroupWork
from asm_watch_functions.finalize.site_lock import site_tables_lock
from asm_watch_functions.item_files import download_item_file
from asm_watch_functions.settings import TRACK_SITES_SERVICE, Settings
from asm_watch_functions.storage import Bucket

logger = Logger(service=TRACK_SITES_SERVICE, child=True)  # runs in the track-sites function
#: where each group keeps its merged history, under the results prefix
HISTORY_FOLDER = "site_history"
#: the tile in an item file's name (Earth Search's item ids: S2B_36NXF_20240105_0_L2A)
_TILE_IN_NAME = re.compile(r"_(\d{2}[C-HJ-NP-X][A-HJ-NP-Z]{2})_")
#: How long the chip links in an alert message work: SigV4's longest (a link signed with the
#: function's role credentials stops working when they expire, often sooner; the s3:// key in
#: alerts.geojson does not).
CHIP_LINK_SECONDS = 7 * 24 * 3600


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
    bucket: Bucket, folder: Path, scan_prefix: str, alerts: list[AlertFeature]
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


def update_group(
    bucket: Bucket,
    settings: Settings,
    work: SiteGroupWork,
    tracking: TrackingSettings,
    hold_seconds: float,
) -> dict[str, Any]:
    """Bring one site group's tables up to date in S3 with the scan's tile-dates in it; returns
    the group's monitoring summary, with its alerts under ``"_alerts"``.

    Args:
        hold_seconds: how long this update may hold the group's lock at most (the time left
            before the function times out).
    """
    lock = f"{settings.locks_prefix}/{settings.results_prefix}/site-groups/{work.group}.json"
    with site_tables_lock(bucket, lock, work.scan_id, hold_seconds):
        return _update_group(bucket, settings, work, tracking)


def history_key(settings: Settings, group: str, table: str) -> str:
    """The merged history of one group and table (outside the Athena tables' folders)."""
    return f"{settings.results_prefix}/{HISTORY_FOLDER}/{group}/{table}.parquet"


def _fetch_group_files(
    bucket: Bucket, root: str, table: str, work: SiteGroupWork, folder: Path
) -> None:
    """Every row of a group's tiles in one table (under the results prefix ``root``), fetched
    into ``folder``: their item files, found by name (item ids, hence file names, carry the
    MGRS tile: ``S2B_36NXF_20240105_0_L2A``), and their rows in the merged files of their UTM
    zone's partitions that no item file there replaces (nor the scan's own tile-dates, fetched
    next). A listing of the whole table, done once per group, before it has a history."""
    group, scanned = work.group, {t.item_id for t in work.tasks}
    partitions: dict[str, list[str]] = {}
    for key in bucket.keys(f"{root}/{table}/"):
        partition, _, name = key.rpartition("/")
        partitions.setdefault(partition, []).append(name)
    for n, (partition, names) in enumerate(sorted(partitions.items())):
        own = {name for name in names if name != COMPACTED}
        for name in sorted(own):
            if (tile := _tile_in_name(name)) and site_group(tile) == group:
                bucket.download(f"{partition}/{name}", folder / name)
        if COMPACTED in names and partition.endswith(f"/utm_zone={int(group[:2])}"):

            def wanted(item_id: str, own: set[str] = own) -> bool:
                tile = _tile_in_name(f"_{item_id}_")
                mine = bool(tile and site_group(tile) == group) and item_id not in scanned
                return mine and file_name(item_id) not in own

            with tempfile.TemporaryDirectory(prefix="asm-merged-") as tmp:
                merged = Path(tmp) / COMPACTED
                bucket.download(f"{partition}/{COMPACTED}", merged)
                merged_rows(merged, table, wanted, folder / f"merged_{n}.parquet")


def _tile_in_name(name: str) -> str | None:
    found = _TILE_IN_NAME.search(name)
    return found.group(1) if found else None


def _update_group(
    bucket: Bucket, settings: Settings, work: SiteGroupWork, tracking: TrackingSettings
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="asm-sites-"))
    results, root, group = folder / "results", settings.results_prefix, work.group
    try:
        history = {t: results / t / group for t in COMPACTED_TABLES}
        if not bucket.download(
            history_key(settings, group, "tile_runs"), history["tile_runs"] / COMPACTED
        ):
            for table in COMPACTED_TABLES:
                _fetch_group_files(bucket, root, table, work, history[table])
        else:
            bucket.download(
                history_key(settings, group, "detections"), history["detections"] / COMPACTED
            )
        for task in work.tasks:  # newer than the history: their rows replace an item's old ones
            for table in COMPACTED_TABLES:
                key = task.keys[table]
                download_item_file(
                    bucket, key, history[table] / Path(key).name, table, task.item_id
                )
        compact(results, [Path(group)])
        for table in SITE_TABLES:
            bucket.download(group_key(root, table, group), group_file(results, table, group))
        layers, context_errors = _context_layers(bucket, settings.context_prefix, folder)
        done: MonitorUpdate = update_monitoring(
            results, tracking, layers, gdal_options=read_options(unsigned_s3=True)
        )
        for table in COMPACTED_TABLES:  # the history first (see the module docstring)
            merged = history[table] / COMPACTED
            if merged.exists():
                bucket.client.upload_file(
                    str(merged), bucket.name, history_key(settings, group, table)
                )
        for table in SITE_TABLES:
            local = group_file(results, table, group)
            bucket.client.upload_file(str(local), bucket.name, group_key(root, table, group))
        scan_prefix = f"{settings.scans_prefix}/{work.scan_id}"
        _upload_chips(bucket, results / CHIPS_FOLDER, scan_prefix, done.alerts)
        # the report of the group (its tiles' whole history and sites); no quicklooks here;
        # its chip links point where the chips are stored, beside the reports' folder
        report = write_report(results, folder / "report.html", chips_href=f"../{CHIPS_FOLDER}")
        report_key = settings.group_report_key(work.scan_id, group)
        bucket.client.upload_file(
            str(report.path),
            bucket.name,
            report_key,
            ExtraArgs={"ContentType": "text/html; charset=utf-8"},
        )
        logger.info(
            "sites updated",
            extra={"group": group, "alerts": len(done.alerts), "layers": len(layers)},
        )
        summary = done.summary()
        del summary["alerts_file"]  # a local path; the scan's alerts file gathers the groups'
        return summary | {
            "report": f"s3://{bucket.name}/{report_key}",
            "context_layers": sorted(layer.name for layer in layers),
            "context_errors": context_errors,
            "_alerts": done.alerts,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
