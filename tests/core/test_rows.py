"""The rows read back are typed, and every key a row type names is a column of its schema, as
nullable as there (a misspelt or stale key fails here). A new column need not be listed until
code reads it (mypy then asks for it); the computed index statistics are read by name."""

from __future__ import annotations

from typing import get_type_hints

import pyarrow as pa
import pytest

from asm_core.results.rows import DetectionRow, SiteObservationRow, SiteRow, TileRunRow
from asm_core.results.schema import (
    DETECTIONS,
    PARTITION_COLUMNS,
    SITE_OBSERVATIONS,
    SITES,
    TILE_RUNS,
)
from asm_core.spectral.indices import ROW_INDICES

PARTITIONS = {name for name, _ in PARTITION_COLUMNS}
INDEX_STATISTICS = {f"{n}_mean" for n in ROW_INDICES} | {
    f"{n}_{p}" for n in ("ndvi", "bsi") for p in ("p10", "p90")
}


@pytest.mark.parametrize(
    ("row", "schema", "computed"),
    [
        (TileRunRow, TILE_RUNS, set()),
        (DetectionRow, DETECTIONS, INDEX_STATISTICS),
        (SiteRow, SITES, set()),
        (SiteObservationRow, SITE_OBSERVATIONS, set()),
    ],
)
def test_a_row_type_names_its_schema_columns(
    row: type, schema: pa.Schema, computed: set[str]
) -> None:
    keys = set(get_type_hints(row)) - PARTITIONS
    assert keys <= set(schema.names) - computed
    assert len(keys) > len(schema.names) // 2  # the row type is the table's, not another's
    nullable = {f.name for f in schema if f.nullable}
    for name, hint in get_type_hints(row).items():
        if name in PARTITIONS:
            continue
        assert ("None" in str(hint)) == (name in nullable), name
