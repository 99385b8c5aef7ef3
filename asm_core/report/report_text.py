"""Plain-text tables for the terminal: detection summaries and evaluation scores."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from asm_core.evaluation.evaluate import Evaluation
from asm_core.jobs.tile_job import TileRun
from asm_core.monitoring.alerts import alert_text
from asm_core.monitoring.evidence_chips import CHIPS_FOLDER
from asm_core.planning.cost import CostModel, Estimate
from asm_core.planning.plan import Plan

if TYPE_CHECKING:
    from asm_core.monitoring.monitor import MonitorUpdate
    from asm_core.results.sql import QueryResult

CLASSES = ("mining_scar", "pond", "turbid_water")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def detect_table(runs: Sequence[TileRun], seconds: float) -> str:
    """Per-scene detections by class, total area and time, with a totals row."""
    header = ["scene", "status", "sites", *CLASSES, "area_ha", "seconds"]
    rows = [
        [
            r.item_id,
            r.status,
            str(r.sites),
            *(str(r.classes.get(c, 0)) for c in CLASSES),
            f"{r.area_m2 / 1e4:.1f}",
            f"{r.seconds:.1f}",
        ]
        for r in runs
    ]
    rows.append(
        [
            "total",
            f"{sum(r.status == 'ok' for r in runs)}/{len(runs)} ok",
            str(sum(r.sites for r in runs)),
            *(str(sum(r.classes.get(c, 0) for r in runs)) for c in CLASSES),
            f"{sum(r.area_m2 for r in runs) / 1e4:.1f}",
            f"{seconds:.1f}",
        ]
    )
    return table(header, rows)


def evaluation_table(e: Evaluation) -> str:
    """Object-level and pixel scores, out-of-scope counts and the per-class confusion."""
    iou = "n/a" if e.pixel_iou is None else f"{e.pixel_iou:.3f}"
    scope = ", ".join(f"{k}: {v}" for k, v in e.out_of_scope.items()) or "none"
    summary = table(
        ["measure", "value"],
        [
            ["labelled sites (in scope)", f"{e.truth_sites} ({e.truth_sites_in_scope})"],
            ["out of scope", scope],
            ["detected sites", str(e.detected_sites)],
            ["precision", f"{e.precision:.3f}"],
            ["recall", f"{e.recall:.3f}"],
            ["F1", f"{e.f1:.3f}"],
            ["pixel IoU", iou],
            [
                "false sites / 100 km²",
                f"{e.false_sites_per_100km2:.2f} ({e.false_sites} in {e.area_km2:.0f} km²)",
            ],
            [
                "turbid reaches recall / precision",
                f"{e.turbid['recall']:.2f} / {e.turbid['precision']:.2f}",
            ],
        ],
    )
    kinds = sorted({k for row in e.confusion.values() for k in row})
    confusion = (
        table(
            ["detected \\ labelled", *kinds],
            [[cls, *(str(row.get(k, 0)) for k in kinds)] for cls, row in e.confusion.items()],
        )
        if e.confusion
        else "(none)"
    )
    return (
        f"{summary}\n\nconfusion (detections by the labelled kind they overlap most):\n{confusion}"
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def format_result(result: QueryResult, fmt: str) -> str:
    """A query's answer as an aligned table, CSV or JSON (a list of objects)."""
    if fmt == "json":
        return json.dumps(
            [dict(zip(result.columns, row, strict=True)) for row in result.rows],
            default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
            indent=1,
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(result.columns)
        writer.writerows([[_cell(v) for v in row] for row in result.rows])
        return out.getvalue().rstrip("\n")
    rows = [[_cell(v) for v in row] for row in result.rows]
    return table(result.columns, rows) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''})"


def monitoring_text(done: MonitorUpdate, limit: int = 20) -> str:
    """What a monitoring update did: sites by state, tiles re-tracked, turbidity verdicts, and
    the alerts (per country, then one line each)."""
    update, t = done.sites, done.turbidity
    lines = [
        f"{update.sites} sites: " + ", ".join(f"{n} {s}" for s, n in update.states.items()),
        f"tiles tracked again: {update.tiles_tracked}, unchanged: {update.tiles_kept}",
        f"turbid reaches on new looks: {t.reaches} ({t.no_baseline} without a same-season "
        f"baseline, {t.as_last_year} as turbid as a year before, {t.turbid_upstream} turbid "
        "or unseen upstream)",
        f"{len(done.alerts)} alerts: {done.alerts_path}"
        + (
            f" ({done.bare_before} new sites bare a year before too: not news)"
            if done.bare_before
            else ""
        ),
        f"evidence chips: {done.chips} in {done.alerts_path.parent / CHIPS_FOLDER}",
    ]
    if done.alerts:
        lines.append(alert_text(done.alerts, limit=limit))
    return "\n".join(lines)


def plan_text(plan: Plan, est: Estimate, model: CostModel) -> str:
    """The dry-run report: what will be read and what it will cost."""
    gb = est.bytes_to_read / 1e9
    rows = [
        ["items found (after cloud filter)", f"{plan.searched - plan.dropped_for_cloud}"],
        ["cloud filter", f"{plan.cloud_filter}, {plan.dropped_for_cloud} items dropped"],
        ["duplicate tile-dates (newest kept)", str(len(plan.duplicates))],
        ["items refused (JSON the detector cannot use)", str(len(plan.refused))],
        ["MGRS tiles", str(est.tiles)],
        ["tile-dates to process", str(est.tile_dates)],
        ["bytes to read", f"{gb:.2f} GB"],
        [
            f"estimated CPU-seconds ({model.cpu_seconds_per_tile:g} a full tile)",
            f"{est.cpu_seconds:,.0f}",
        ],
        ["local time", f"{est.local_seconds / 60:,.1f} min on {model.local_workers} workers"],
        [
            f"Lambda ({model.lambda_architecture}, {model.lambda_memory_mb} MB, "
            f"~{est.lambda_seconds_per_tile:,.0f} s a tile)",
            f"{est.lambda_gb_seconds:,.0f} GB-s, ${est.lambda_usd:,.4f}",
        ],
        ["Lambda requests", f"{est.tile_dates:,}, ${est.lambda_requests_usd:,.4f}"],
        [
            "Step Functions transitions",
            f"{est.transitions:,} ({est.child_workflows:,} child workflows), "
            f"${est.transitions_usd:,.4f}",
        ],
        [
            "EXPRESS child workflows",
            f"{est.express_gb_seconds:,.0f} GB-s, ${est.express_usd:,.4f}",
        ],
        [
            f"site update ({est.site_groups:,} site groups, {model.track_memory_mb} MB, "
            f"{model.history_weeks} weeks of history)",
            f"{est.track_gb_seconds:,.0f} GB-s, ${est.track_usd:,.4f}",
        ],
        [
            f"merging the results partitions ({est.partitions:,}, {model.compact_memory_mb} MB)",
            f"{est.compact_gb_seconds:,.0f} GB-s, ${est.compact_usd:,.4f}",
        ],
        ["S3 requests for results and site tables", f"${est.s3_usd:,.4f}"],
        ["AWS total (estimate)", f"${est.aws_usd:,.4f}"],
    ]
    lines = [table(["plan", "value"], rows)]
    for kept, dropped in plan.duplicates[:20]:
        lines.append(f"  duplicate: kept {kept}, skipped {dropped}")
    if len(plan.duplicates) > 20:
        lines.append(f"  … and {len(plan.duplicates) - 20} more duplicates")
    lines += [f"  refused: {why}" for _, why in plan.refused[:20]]
    if len(plan.refused) > 20:
        lines.append(f"  … and {len(plan.refused) - 20} more refused")
    return "\n".join(lines)
