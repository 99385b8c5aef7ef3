"""Cost estimates: each AWS line from the model's figures, worked by hand here."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, shape

from asm_core.planning.cost import AFRICA_PARTITIONS, MEASURED_CPU_SECONDS, CostModel, estimate
from tests.conftest import STAC_DATA

BANDS = {"blue", "green", "red", "nir", "swir16", "swir22", "scl"}
FULL_BYTES = 4 * 108e6 + 2 * 27e6 + 3e6


def _item() -> dict[str, Any]:
    return dict(json.loads((STAC_DATA / "S2A_39QTA_20230628_0_L2A.json").read_text()))


def test_a_full_tile_costs_its_cpu_at_the_function_s_share_of_a_vcpu_plus_its_read() -> None:
    model = CostModel(cpu_seconds_per_tile=30.0, lambda_memory_mb=1024, job_parallelism=1.1)
    est = estimate([_item()], 1, 0, None, BANDS, model)
    assert est.bytes_to_read == pytest.approx(FULL_BYTES)
    seconds = 30.0 / (1024 / 1769) + FULL_BYTES / 80e6  # 0.58 vCPU, then the read
    assert est.lambda_seconds_per_tile == pytest.approx(seconds, abs=0.05)
    assert est.lambda_gb_seconds == pytest.approx(seconds, abs=0.05)  # 1 GB
    assert est.lambda_usd == pytest.approx(seconds * 0.0000166667, rel=1e-3)
    # above one vCPU the job gains only what its threads overlap
    big = estimate(
        [_item()], 1, 0, None, BANDS, CostModel(cpu_seconds_per_tile=30.0, lambda_memory_mb=4096)
    )
    assert big.lambda_seconds_per_tile == pytest.approx(30.0 / 1.0 + FULL_BYTES / 80e6, abs=0.05)
    assert big.lambda_usd > 2 * est.lambda_usd


def test_the_aoi_share_of_a_tile_scales_bytes_and_cpu() -> None:
    item = _item()
    minx, miny, maxx, maxy = shape(item["geometry"]).bounds
    quarter = box(minx, miny, (minx + maxx) / 2, (miny + maxy) / 2)
    full = estimate([item], 1, 0, None, BANDS)
    part = estimate([item], 1, 0, quarter, BANDS)
    assert 0.2 < part.bytes_to_read / full.bytes_to_read < 0.3
    assert part.cpu_seconds / full.cpu_seconds == pytest.approx(
        part.bytes_to_read / full.bytes_to_read,
        rel=0.01,  # CPU-s rounded to 0.1
    )


@pytest.mark.parametrize("per_batch", [1, 8, 40])
def test_step_functions_bill_a_transition_per_child_and_express_time_per_batch(
    per_batch: int,
) -> None:
    items = [_item()] * 3450
    model = CostModel(tiles_per_batch=per_batch)
    est = estimate(items, 3450, 0, None, BANDS, model, partitions=80)
    children = math.ceil(3450 / per_batch)
    groups = math.ceil(3450 / 7.54)  # Africa's tiles per site group
    assert est.child_workflows == children and est.site_groups == groups
    # a transition per detection child, two per site group's child, one per partition merged,
    # the parent's seven
    transitions = children + 2 * groups + 80 + 7
    assert est.transitions == transitions
    assert est.transitions_usd == pytest.approx(transitions * 0.025 / 1000)
    child_gb_s = est.lambda_seconds_per_tile * 64 / 1024
    assert est.express_gb_seconds == pytest.approx(children * child_gb_s, rel=1e-3)
    assert est.express_usd == pytest.approx(
        children * 1e-6 + children * child_gb_s * 0.00001667, rel=1e-3
    )
    assert est.lambda_requests_usd == pytest.approx(3450 * 0.2e-6)
    # PUTs (public GETs are free): detections, tile_runs, class mask and STAC item per
    # tile-date, eight per site group; the merges' requests (below) besides
    merges = (4 * 80 + 3450) * 0.005 / 1000 + (2 * 3450 + 2 * 80 + 3450) * 0.0004 / 1000
    assert est.s3_usd == pytest.approx((3450 * 4 + groups * 8) * 0.005 / 1000 + merges)


def test_each_partition_written_is_merged_by_one_function_after_the_scan() -> None:
    model = CostModel(
        compact_memory_mb=1024,
        compact_cpu_seconds_fixed=2.0,
        compact_cpu_seconds_per_file=0.01,
        s3_request_seconds=0.02,
    )
    est = estimate([_item()] * 100, 100, 0, None, BANDS, model, partitions=4)
    # 200 files (two tables), each read and deleted; two merged files a partition, each read
    # and written; 100 STAC items, each read and written
    seconds = (4 * 2.0 + 200 * 0.01) / (1024 / 1769) + (400 + 16 + 200) * 0.02
    assert est.partitions == 4
    assert est.compact_gb_seconds == pytest.approx(seconds, abs=0.05)  # 1 GB
    assert est.compact_usd == pytest.approx(
        seconds * 0.0000166667 + 4 * 0.2e-6 + 4 * 1e-6 + seconds * 64 / 1024 * 0.00001667,
        rel=1e-3,
    )
    # not told: the items' own dates and zones (here one item, copied)
    assert estimate([_item()] * 100, 100, 0, None, BANDS, model).partitions == 1


def test_the_site_update_tracks_every_tile_through_its_history_once_per_pass() -> None:
    model = CostModel(
        track_cpu_seconds_fixed=2.0,
        track_cpu_seconds_per_tile_date=0.05,
        track_memory_mb=1024,
        history_weeks=52,
    )
    est = estimate([_item()] * 20, 20, 0, None, BANDS, model, site_groups=3)
    cpu = 3 * 2.0 + 20 * 52 * 0.05
    gb_s = cpu / (1024 / 1769) * 1.0  # 0.58 vCPU, 1 GB
    assert est.track_gb_seconds == pytest.approx(gb_s, abs=0.05)
    assert est.track_usd == pytest.approx(gb_s * 0.0000166667 + 3 * 0.2e-6, rel=1e-3)
    longer = estimate(
        [_item()] * 20,
        20,
        0,
        None,
        BANDS,
        CostModel(**{**model.__dict__, "history_weeks": 104}),
        site_groups=3,
    )
    # the whole history, every pass: twice the history, twice the per-tile-date part
    assert longer.track_gb_seconds == pytest.approx(
        (6.0 + 20 * 104 * 0.05) / (1024 / 1769), abs=0.05
    )


def test_arm64_bills_a_fifth_less_for_the_same_seconds() -> None:
    x86 = estimate([_item()], 1, 0, None, BANDS, CostModel(lambda_architecture="x86_64"))
    arm = estimate([_item()], 1, 0, None, BANDS, CostModel(lambda_architecture="arm64"))
    assert arm.lambda_usd / x86.lambda_usd == pytest.approx(0.8, rel=1e-3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lambda_architecture": "riscv"}, "'riscv' is not one of x86_64, arm64"),
        ({"tiles_per_batch": 0}, "tiles per batch must be at least 1, not 0"),
    ],
)
def test_a_model_that_cannot_be_priced_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CostModel(**changes)


def test_an_empty_plan_costs_nothing() -> None:
    est = estimate([], 0, 0, None, BANDS)
    assert (est.aws_usd, est.transitions, est.child_workflows) == (0.0, 0, 0)


def test_the_readme_s_africa_table_is_the_model_s() -> None:
    """The README's table is this model's answer for 3,450 full tiles, so they cannot drift."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("| line | real-farmland tile |") :]
    table = table[: table.index("\n\n")]
    for column, figure in enumerate(("real_farmland", "synthetic"), start=1):
        model = CostModel(cpu_seconds_per_tile=MEASURED_CPU_SECONDS[figure])
        est = estimate([_item()] * 3450, 3450, 0, None, BANDS, model, partitions=AFRICA_PARTITIONS)
        cells = {
            row.split("|")[1].strip(): row.split("|")[column + 1].strip()
            for row in table.splitlines()[2:]
        }
        assert (
            cells["Lambda seconds per tile (CPU + 6.1 s reading)"]
            == f"{est.lambda_seconds_per_tile}"
        )
        assert cells["Lambda, 2 GB"] == f"{est.lambda_gb_seconds:,.0f} GB-s: ${est.lambda_usd:.2f}"
        assert cells["**one pass over Africa**"] == f"**≈ ${est.aws_usd:.1f}**"
