"""Site tables stored per site group: which group a tile belongs to, one file per table and
group, groups tracked apart, and a folder of an older release (one file per table) split into
groups without tracking anything again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from asm_core.errors import ResultsError
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.sites import TRACKING_METADATA, build_site_tables
from asm_core.planning.site_groups import SITE_TABLES, group_file, legacy_file, site_group
from asm_core.results.store import read_table, result_files, write_atomic
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


@pytest.mark.parametrize(
    ("tile", "group"),
    [("36NXF", "36NX"), ("30NWK", "30NW"), ("01CAV", "01CA"), ("demo-tile", "demo-tile")],
)
def test_a_tile_belongs_to_its_grid_zone_column(tile: str, group: str) -> None:
    assert site_group(tile) == group


@pytest.mark.parametrize("tile", ["../x", "a/b", "", "36 NXF"])
def test_a_tile_id_that_cannot_name_a_file_is_refused(tile: str) -> None:
    with pytest.raises(ResultsError, match=r"cannot name a site group.*expected an MGRS tile"):
        site_group(tile)


def _rows(results: Path, table: str) -> list[dict[str, object]]:
    return sorted(read_table(results, table).to_pylist(), key=lambda r: json.dumps(r, default=str))


def test_groups_are_built_apart_and_a_one_file_folder_is_split_without_tracking_again(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    rules = load_rules()
    # seeds 3 and 10: tiles 30NWK and 30NWL (one group); 11: 30NXL (another)
    for seed in (3, 10, 11):
        scene = scene_factory(seed=seed, size=512, sites=3, baseline="05.10")
        run_item(load_item(str(scene.item_path)), rules, tmp_path)
    first = build_site_tables(tmp_path, rules.tracking)
    assert (first.tiles_tracked, len(first.news)) == (3, 3)
    assert [p.name for p in result_files(tmp_path, "sites")] == [
        "sites_30NW.parquet",
        "sites_30NX.parquet",
    ]
    west = pq.read_table(group_file(tmp_path, "sites", "30NW")).to_pylist()
    assert {r["mgrs_tile"] for r in west} == {"30NWK", "30NWL"} and first.sites > len(west)
    grouped = {t: _rows(tmp_path, t) for t in SITE_TABLES}

    # the same folder as an older release left it: one file per table, markers of every tile
    markers: dict[str, object] = {}
    for table in SITE_TABLES:
        files = result_files(tmp_path, table)
        for f in files:
            recorded = json.loads((pq.read_schema(f).metadata or {}).get(TRACKING_METADATA, b"{}"))
            markers |= {"settings": recorded.get("settings")} if recorded else {}
            markers.setdefault("tiles", {})
            if recorded:
                markers["tiles"] |= recorded["tiles"]  # type: ignore[operator]
        whole = pa.concat_tables([pq.read_table(f) for f in files])
        for f in files:
            f.unlink()
        if table == "sites":
            whole = whole.replace_schema_metadata({TRACKING_METADATA: json.dumps(markers).encode()})
        write_atomic(whole, legacy_file(tmp_path, table))

    split = build_site_tables(tmp_path, rules.tracking)
    assert (split.tiles_tracked, split.tiles_kept, split.news) == (0, 3, frozenset())
    assert not any(legacy_file(tmp_path, t).exists() for t in SITE_TABLES)
    assert {t: _rows(tmp_path, t) for t in SITE_TABLES} == grouped
    assert len(result_files(tmp_path, "sites")) == 2


def test_site_files_with_different_context_columns_read_as_one_table(tmp_path: Path) -> None:
    schema = pa.schema([("site_id", pa.string()), ("mgrs_tile", pa.string())])
    plain = pa.table({"site_id": ["a"], "mgrs_tile": ["30NWK"]}, schema=schema)
    related = plain.append_column("inside_tenements", pa.array(["PL-1"]))
    write_atomic(plain, group_file(tmp_path, "sites", "30NW"))
    write_atomic(
        related.set_column(0, "site_id", pa.array(["b"])), group_file(tmp_path, "sites", "30NX")
    )
    rows = read_table(tmp_path, "sites").to_pylist()
    assert [(r["site_id"], r["inside_tenements"]) for r in rows] == [("a", None), ("b", "PL-1")]
