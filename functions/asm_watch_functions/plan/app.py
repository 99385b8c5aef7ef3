"""Plan a scan: search the catalogue for the AOI and dates, write the manifest to S3.

The manifest is the Distributed Map's ItemReader input: a JSON array of batches of tile-dates,
one child workflow each (``ASM_WATCH_TILES_PER_BATCH``). The plan batches rather than the Map's
``ItemBatcher`` so that the batching is the one moto's interpreter runs in the tests (its ASL
grammar has no ItemBatcher). Beside it, the same tile-dates by site group
(``site_groups.json``): the input of the map that updates the sites, one group per function.
And the results partitions (date and UTM zone) the tile-dates write to (``partitions.json``),
whose small files the last map merges. Scans above the configured tile cap are refused before
anything is written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from asm_core.results.result_paths import item_partition, result_keys
from asm_watch_functions.errors import ScanTooLargeError
from asm_watch_functions.events import (
    PlanEvent,
    PlanResult,
    S3Location,
    TileTask,
    batched,
    by_partition,
    by_site_group,
)
from asm_watch_functions.scan_plans import plan_event
from asm_watch_functions.settings import METRICS_NAMESPACE, PLAN_SERVICE, PlanSettings
from asm_watch_functions.storage import Bucket

logger = Logger(service=PLAN_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=PLAN_SERVICE)
tracer = Tracer(service=PLAN_SERVICE)


def plan(event: PlanEvent, settings: PlanSettings, bucket: Bucket) -> PlanResult:
    scan_id = event.scan_id or uuid.uuid4().hex[:16]
    planned = plan_event(
        event,
        datetime.now(UTC).date(),
        settings.stac_url,
        settings.collection,
        settings.item_sources,
        read_stored=lambda key: (bucket.get_json(key), f"s3://{bucket.name}/{key}"),
    )
    if len(planned.tile_dates) > settings.max_tiles:
        raise ScanTooLargeError(
            f"the scan has {len(planned.tile_dates)} tile-dates; this deployment allows at most "
            f"{settings.max_tiles} (ASM_WATCH_MAX_TILES): narrow the AOI or the dates"
        )
    tasks = []
    for tile in planned.tile_dates:
        tasks.append(
            TileTask(
                scan_id=scan_id,
                item_id=tile.item_id,
                mgrs_tile=tile.mgrs_tile,
                day=tile.day,
                item=tile.item,
                keys={
                    t: f"{settings.results_prefix}/{k}" for t, k in result_keys(tile.scene).items()
                },
                ruleset=event.ruleset,
                baseline=list(tile.baseline),
            )
        )
    manifest = S3Location(
        bucket=bucket.name, key=f"{settings.manifests_prefix}/{scan_id}/manifest.json"
    )
    rows = [
        b.model_dump(mode="json", exclude_none=True)
        for b in batched(tasks, settings.tiles_per_batch)
    ]
    bucket.put_json(manifest.key, rows)
    groups = S3Location(
        bucket=bucket.name, key=f"{settings.manifests_prefix}/{scan_id}/site_groups.json"
    )
    group_rows = by_site_group(tasks) if tasks else []
    bucket.put_json(groups.key, [g.model_dump(mode="json", exclude_none=True) for g in group_rows])
    partitions = S3Location(
        bucket=bucket.name, key=f"{settings.manifests_prefix}/{scan_id}/partitions.json"
    )
    partition_rows = by_partition(scan_id, {item_partition(t.scene) for t in planned.tile_dates})
    bucket.put_json(partitions.key, [p.model_dump(mode="json") for p in partition_rows])
    return PlanResult(
        scan_id=scan_id,
        manifest=manifest,
        site_groups=groups,
        partitions=partitions,
        groups=len(group_rows),
        tile_dates=len(tasks),
        tiles=len(planned.tiles),
        searched=planned.searched,
        duplicates_replaced=len(planned.duplicates),
        # the state machine's payload is capped (256 KiB): the first reasons and the count
        refused=[{"item_id": i, "error": why} for i, why in planned.refused[:50]],
        refused_count=len(planned.refused),
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = PlanSettings.from_environment()
    request = PlanEvent.model_validate({"ruleset": settings.rule_set, **event})
    result = plan(request, settings, Bucket(settings.results_bucket))
    metrics.add_metric(name="TileDatesPlanned", unit=MetricUnit.Count, value=result.tile_dates)
    logger.info("planned", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")
