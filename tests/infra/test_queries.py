"""Every catalogue query runs as is (its declared defaults) over a synthetic multi-date scan, and
its answer is checked against an independent computation from the Parquet rows and against the
scenes' truth: counts, areas, countries, coverage and failures."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import shapely
import sqlglot
from shapely.geometry import shape
from sqlglot import exp

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.countries import countries_at
from asm_core.results.sql import PARTITIONED, bind, read_query_file, run_query
from asm_core.results.store import result_files
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item
from tests.conftest import edit_item

QUERIES = Path(__file__).resolve().parents[2] / "infra" / "athena" / "queries"
# seeds 3 and 38 are the same tile (30NWK) 35 days apart; 11 is another tile
SEEDS = (3, 38, 11)


@pytest.fixture(scope="module")
def scan(
    scene_factory: Callable[..., WrittenScene], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("query-results")
    scenes = [scene_factory(seed=s, size=512, sites=3, baseline="05.10") for s in SEEDS]
    rules = load_rules()
    for scene in scenes:
        run_item(load_item(str(scene.item_path)), rules, out)
    broken = edit_item(
        scene_factory(seed=19, size=256).item_path,
        tmp_path_factory.mktemp("broken"),
        lambda d: d["assets"]["red"].update(href="/nonexistent/B04.tif"),
    )
    run_item(load_item(str(broken)), rules, out)
    detections = [r for f in result_files(out, "detections") for r in pq.read_table(f).to_pylist()]
    runs = [r for f in result_files(out, "tile_runs") for r in pq.read_table(f).to_pylist()]
    return {"out": out, "scenes": scenes, "detections": detections, "runs": runs}


def _run(name: str, out: Path, **params: str) -> list[dict[str, Any]]:
    query = read_query_file(QUERIES / f"{name}.sql")
    answer = run_query(query.sql, out, bind(query, params))
    return [dict(zip(answer.columns, row, strict=True)) for row in answer.rows]


def test_every_query_declares_what_it_answers_and_runs_with_its_defaults(
    scan: dict[str, Any],
) -> None:
    files = sorted(QUERIES.glob("*.sql"))
    assert len(files) >= 7
    for path in files:
        query = read_query_file(path)
        assert len(query.title) > 20, path.name
        assert query.sql.count("?") == len(query.parameters), path.name
        run_query(query.sql, scan["out"], bind(query, {}))


def test_hotspots_sum_scar_areas_by_country_and_month(scan: dict[str, Any]) -> None:
    rows = _run("hotspots_by_country_month", scan["out"])
    expected: dict[tuple[str, str], float] = defaultdict(float)
    for d in scan["detections"]:
        if d["class"] == "mining_scar" and d["confidence"] >= 0.5:
            expected[(d["country_iso3"] or "none", f"{d['acquired']:%Y-%m}")] += d["area_m2"]
    assert {(r["country_iso3"], r["month"]): r["scar_area_ha"] for r in rows} == {
        k: round(v / 1e4, 2) for k, v in expected.items()
    }
    truth_countries = {
        c for s in SEEDS for c in countries_at(*_truth_centroids(s, scan)) if c is not None
    }
    assert {r["country_iso3"] for r in rows} <= truth_countries


def _truth_centroids(seed: int, scan: dict[str, Any]) -> tuple[list[float], list[float]]:
    scene = scan["scenes"][SEEDS.index(seed)]
    truth = json.loads((scene.item_path.parent / "truth.geojson").read_text())["features"]
    points = [
        shape(f["geometry"]).centroid for f in truth if f["properties"]["kind"] == "mining_site"
    ]
    return [p.x for p in points], [p.y for p in points]


def test_largest_site_is_a_planted_site_of_about_its_size(scan: dict[str, Any]) -> None:
    rows = _run("largest_sites", scan["out"], top="1")
    assert len(rows) == 1
    top = shapely.Point(rows[0]["lon"], rows[0]["lat"])
    planted = [
        f
        for scene in scan["scenes"]
        for f in json.loads((scene.item_path.parent / "truth.geojson").read_text())["features"]
        if f["properties"]["kind"] == "mining_site"
    ]
    (site,) = [f for f in planted if shape(f["geometry"]).buffer(0.001).contains(top)]
    assert rows[0]["area_ha"] == pytest.approx(site["properties"]["area_m2"] / 1e4, rel=0.3)
    assert rows[0]["area_ha"] == max(r["area_ha"] for r in _run("largest_sites", scan["out"]))


def test_new_detections_are_scars_not_seen_near_on_the_previous_date(scan: dict[str, Any]) -> None:
    rows = _run("new_detections_since_previous_scan", scan["out"])
    scars = [d for d in scan["detections"] if d["class"] == "mining_scar"]
    by_date: dict[str, list[Any]] = defaultdict(list)
    for d in scars:
        by_date[d["mgrs_tile"]].append(d)
    expected = set()
    for tile, found in by_date.items():
        days = sorted({d["acquired"] for d in found}, reverse=True)
        ok_days = sorted(
            {r["acquired"] for r in scan["runs"] if r["mgrs_tile"] == tile and r["status"] == "ok"},
            reverse=True,
        )
        if len(ok_days) < 2 or not days or days[0] != ok_days[0]:
            continue
        before = [d for d in found if d["acquired"] == ok_days[1]]
        for d in (d for d in found if d["acquired"] == ok_days[0]):
            near = any(
                abs(p["lat"] - d["lat"]) * 111320 <= 100
                and abs(p["lon"] - d["lon"]) * 111320 * math.cos(math.radians(d["lat"])) <= 100
                for p in before
            )
            if not near:
                expected.add(d["detection_id"])
    assert {r["detection_id"] for r in rows} == expected
    assert expected  # the later date of tile 30NWK brings scars the earlier did not have


def test_area_trend_per_tile_has_every_clear_tile_date(scan: dict[str, Any]) -> None:
    rows = _run("area_trend_by_tile", scan["out"])
    ok = [r for r in scan["runs"] if r["status"] == "ok"]
    assert len(rows) == len(ok) == len(SEEDS)
    assert len({r["mgrs_tile"] for r in rows}) == 2  # seeds 3 and 38 share a tile
    total = sum(r["scar_area_ha"] for r in rows)
    expected = sum(
        d["area_m2"]
        for d in scan["detections"]
        if d["class"] == "mining_scar" and d["confidence"] >= 0.5
    )
    assert total == pytest.approx(expected / 1e4)


def test_area_trend_per_country_matches_the_rows(scan: dict[str, Any]) -> None:
    rows = _run("area_trend_by_country", scan["out"])
    assert sum(r["scar_area_ha"] for r in rows) == pytest.approx(
        sum(r["scar_area_ha"] for r in _run("hotspots_by_country_month", scan["out"])), abs=0.05
    )


def test_turbid_reaches_are_the_turbid_detections(scan: dict[str, Any]) -> None:
    rows = _run("turbid_water_reaches", scan["out"], min_area_ha="0")
    turbid = [d for d in scan["detections"] if d["class"] == "turbid_water"]
    assert {r["detection_id"] for r in rows} == {d["detection_id"] for d in turbid}
    assert rows == sorted(rows, key=lambda r: -r["area_ha"])
    big = _run("turbid_water_reaches", scan["out"], min_area_ha="5")
    assert len(big) == sum(1 for d in turbid if d["area_m2"] >= 5e4)


def test_coverage_counts_every_tile_date_and_names_the_failure(scan: dict[str, Any]) -> None:
    rows = {r["status"]: r for r in _run("scan_coverage_and_failures", scan["out"])}
    assert rows["ok"]["tile_dates"] == len(SEEDS)
    assert rows["failed"]["tile_dates"] == 1
    assert "B04.tif" in rows["failed"]["errors"]
    planted_km2 = sum(512 * 512 * 100 / 1e6 for _ in SEEDS)
    assert rows["ok"]["valid_area_km2"] <= planted_km2 + 0.01
    assert rows["ok"]["detections"] == len(scan["detections"])
    geometry_ok = all(shapely.from_wkb(d["geometry"]).is_valid for d in scan["detections"])
    assert geometry_ok


def _unpruned(sql: str) -> list[str]:
    """References to a partitioned table whose own SELECT does not filter it by ``dt`` (Athena's
    partition projection would then list every date since 2015 in every zone)."""
    tree = sqlglot.parse_one(sql.replace("?", "'x'"), read="athena")
    missing = []
    for table in tree.find_all(exp.Table):
        if table.name not in PARTITIONED:
            continue
        select = table.find_ancestor(exp.Select)
        where = select.args.get("where") if select else None
        conditions = [where] + [j.args.get("on") for j in (select.args.get("joins") or [])]
        alias = table.alias_or_name
        if not any(
            column.name == "dt" and column.table in ("", alias)
            for condition in conditions
            if condition is not None
            for column in condition.find_all(exp.Column)
        ):
            missing.append(alias)
    return missing


@pytest.mark.parametrize("path", sorted(QUERIES.glob("*.sql")), ids=lambda p: p.stem)
def test_every_query_prunes_the_partitioned_tables_by_date(path: Path) -> None:
    assert not _unpruned(read_query_file(path).sql)


def test_the_prune_check_sees_a_query_that_reads_every_date() -> None:
    sql = (
        "SELECT count(*) FROM detections d JOIN tile_runs r ON d.item_id = r.item_id "
        "WHERE d.dt BETWEEN '2024-01-01' AND '2024-12-31'"
    )
    assert _unpruned(sql) == ["r"]


def test_a_date_window_narrows_every_query_on_detections(scan: dict[str, Any]) -> None:
    first = min(str(r["acquired"])[:10] for r in scan["runs"])
    out = scan["out"]
    window = {"first_day": "2099-01-01", "last_day": "2099-12-31"}  # no look in it
    for name in ("area_trend_by_country", "largest_sites", "turbid_water_reaches"):
        assert _run(name, out), name
        assert not _run(name, out, **window), name
    assert _run("scan_coverage_and_failures", out, first_day=first)
