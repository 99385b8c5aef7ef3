"""Update one site group's sites after a scan (one invocation per group, the second map of the
scan's state machine): gather the group's tile_runs rows (recording a failure for any tile-date
that left none), track the group's sites again with the new looks, and store what the Finalize
step gathers (``scans/<scan>/groups/<group>.json``: the rows' summary, the group's monitoring
summary and its alerts).

A site update that fails is recorded in that file, not raised: the scan's results stand and the
update can be re-run. Only a busy group (another scan holds its lock) is raised, for the state
machine to retry.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import asm_watch_functions.numba_cache  # noqa: F401 - before any kernel runs
from asm_core.rules import shipped_rules
from asm_watch_functions.errors import SiteTablesBusyError
from asm_watch_functions.events import SiteGroupWork
from asm_watch_functions.finalize.monitoring import update_group
from asm_watch_functions.finalize.tile_runs import gather_runs, runs_summary
from asm_watch_functions.settings import METRICS_NAMESPACE, TRACK_SITES_SERVICE, Settings
from asm_watch_functions.storage import Bucket

logger = Logger(service=TRACK_SITES_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=TRACK_SITES_SERVICE)
tracer = Tracer(service=TRACK_SITES_SERVICE)

#: the lock outlives the function's timeout by this much (clocks of Lambda hosts differ a little)
LOCK_MARGIN_SECONDS = 60.0


def track_group(
    work: SiteGroupWork, settings: Settings, bucket: Bucket, seconds_left: float = 900.0
) -> dict[str, Any]:
    """Update one group (see the module docstring); returns what the state machine keeps: the
    group, its statuses and its alert count."""
    runs = gather_runs(work.tasks, settings, bucket)
    outcome: dict[str, Any] = {"group": work.group, "runs": runs_summary(runs), "alerts": []}
    try:
        tracking = shipped_rules(work.tasks[0].ruleset).tracking
        monitoring = update_group(
            bucket, settings, work, tracking, seconds_left + LOCK_MARGIN_SECONDS
        )
        outcome["alerts"] = monitoring.pop("_alerts")
        outcome["monitoring"] = monitoring
    except SiteTablesBusyError:  # another scan is updating the group: the state machine retries
        raise
    except Exception as e:  # the scan's results stand; the site update can be re-run
        logger.exception("site update failed", extra={"group": work.group})
        outcome["monitoring"] = {"error": f"{type(e).__name__}: {e}"}
    bucket.put_json(settings.group_outcome_key(work.scan_id, work.group), outcome)
    return {
        "group": work.group,
        "statuses": outcome["runs"]["statuses"],
        "alerts": len(outcome["alerts"]),
    }


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_environment()
    result = track_group(
        SiteGroupWork.model_validate(event),
        settings,
        Bucket(settings.results_bucket),
        context.get_remaining_time_in_millis() / 1000,
    )
    metrics.add_metric(name="GroupAlerts", unit=MetricUnit.Count, value=result["alerts"])
    logger.info("site group updated", extra=result)
    return result
