"""The tile job's rows are typed records checked against the schema: a column missing or
misspelt fails loudly instead of writing a column of nulls."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from asm_core.jobs.records import DetectionRecord, TileRunRecord
from asm_core.results.schema import DETECTIONS, TILE_RUNS
from asm_core.results.store import detections_table, tile_run_table


def _record() -> TileRunRecord:
    return TileRunRecord(
        item_id="S2A_TEST",
        mgrs_tile="30NUP",
        acquired=datetime(2024, 1, 5, tzinfo=UTC),
        processing_baseline="05.10",
        ruleset_version="v1",
        ruleset_hash="0" * 64,
        source="item.json",
    )


def test_the_tile_run_record_is_the_schema_in_its_order() -> None:
    assert [f.name for f in fields(TileRunRecord)] == TILE_RUNS.names


def test_the_detection_record_names_every_column_but_the_index_statistics() -> None:
    named = {"class" if f.name == "cls" else f.name for f in fields(DetectionRecord)}
    statistics = set(DETECTIONS.names) - named
    assert named - {"index_stats"} <= set(DETECTIONS.names)
    assert statistics and all(name.endswith(("_mean", "_p10", "_p90")) for name in statistics)


def test_a_record_becomes_a_one_row_table() -> None:
    table = tile_run_table(_record().as_row())
    assert table.num_rows == 1 and table.column("status").to_pylist() == ["failed"]


def test_a_misspelt_column_fails_loudly() -> None:
    row = _record().as_row()
    row["valid_fracton"] = row.pop("valid_fraction")
    with pytest.raises(
        ValueError, match=r"missing \['valid_fraction'\], unknown \['valid_fracton'\]"
    ):
        tile_run_table(row)


def test_a_detection_row_without_a_column_fails_loudly() -> None:
    with pytest.raises(ValueError, match="a detections row does not match its schema"):
        detections_table([{"detection_id": "d1"}], None)


def test_setting_a_column_that_does_not_exist_fails() -> None:
    record = _record()
    with pytest.raises(KeyError, match="ferric_iron_medain"):
        record.update({"ferric_iron_medain": 1.0})
    record.update({"ferric_iron_median": 1.0})
    assert record.ferric_iron_median == 1.0


def test_a_failure_keeps_the_first_line_of_the_error() -> None:
    record = _record()
    record.fail(OSError("the band store said no\nand more"))
    assert (record.status, record.error, record.error_type) == (
        "failed",
        "the band store said no",
        "OSError",
    )
