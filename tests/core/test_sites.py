"""Sites over time: stable ids, and states that never read a cloudy date as change."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyarrow as pa
import pytest
import shapely

from asm_core.cli import main
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.context import ContextLayer
from asm_core.monitoring.site_rows import observations, site_rows, with_context
from asm_core.monitoring.sites import build_site_tables
from asm_core.monitoring.tracking import track
from asm_core.results.schema import SITE_OBSERVATIONS
from asm_core.results.sql import bind, read_query_file, run_query
from asm_core.results.store import read_table, result_files, write_atomic
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item

QUERIES = Path(__file__).resolve().parents[2] / "infra" / "athena" / "queries"
DAY0 = datetime(2024, 1, 5, 10, 42, tzinfo=UTC)
DAYS = [DAY0 + timedelta(days=5 * i) for i in range(6)]
CLOUDY = DAYS[2]


def _square(lon: float, lat: float, side_m: float) -> shapely.Polygon:
    d = side_m / 111_320
    return shapely.box(lon, lat, lon + d, lat + d)


def _detection(
    day: datetime, site: str, geom: shapely.Polygon, ndvi: float = 0.1
) -> dict[str, Any]:
    area = (geom.bounds[2] - geom.bounds[0]) * (geom.bounds[3] - geom.bounds[1]) * 111_320**2
    return {
        "item_id": f"S2A_30NWK_{day:%Y%m%d}_0_L2A",
        "site_id": site,
        "class": "mining_scar",
        "mgrs_tile": "30NWK",
        "acquired": day,
        "area_m2": area,
        "ndvi_mean": ndvi,
        "geometry": shapely.to_wkb(geom),
    }


def _history() -> list[dict[str, Any]]:
    a, far, shrinking = (-1.80, 6.00), (-1.70, 6.10), (-1.75, 6.05)
    return [
        _detection(DAYS[0], "a1", _square(*a, 100)),
        _detection(DAYS[1], "a2", _square(*a, 130)),  # A grows (+69 %)
        # DAYS[2] is cloudy over everything; DAYS[3] and DAYS[4] clear and A is not there
        _detection(DAYS[5], "a6", _square(a[0] + 0.0002, a[1], 110)),  # A is back
        _detection(DAYS[1], "b2", _square(*far, 120)),  # B appears on the second date
        _detection(DAYS[0], "c1", _square(*shrinking, 150), ndvi=0.10),
        _detection(DAYS[1], "c2", _square(*shrinking, 90), ndvi=0.35),  # C shrinks and greens
        _detection(DAYS[1], "c2", _square(shrinking[0] + 0.005, shrinking[1], 1000))
        | {"class": "turbid_water", "site_id": None},  # not a site member
    ]


RUNS = [
    {"item_id": f"S2A_30NWK_{d:%Y%m%d}_0_L2A", "mgrs_tile": "30NWK", "acquired": d, "status": "ok"}
    for d in DAYS
]


def _clear(run: dict[str, Any], footprint: shapely.Geometry) -> float:
    return 0.0 if run["acquired"] == CLOUDY else 1.0


def _states(rows: list[dict[str, Any]], site: str) -> list[str]:
    return [r["state"] for r in rows if r["site_id"] == site]


def test_states_follow_detections_and_clouds_are_unobserved() -> None:
    settings = load_rules().tracking
    sites = track(_history(), settings)
    assert len(sites) == 3
    by_first = {s.footprint.centroid.x.__round__(2): s for s in sites}
    a, b, c = by_first[-1.8], by_first[-1.7], by_first[-1.75]
    rows = observations(sites, RUNS, _clear, settings)
    assert _states(rows, a.site_id) == [
        "new",
        "expanding",
        "unobserved",
        "persistent",
        "inactive",
        "reactivated",
    ]
    assert _states(rows, b.site_id) == ["new", "unobserved", "persistent", "inactive", "inactive"]
    assert _states(rows, c.site_id)[:2] == ["new", "revegetating"]
    cloudy = [r for r in rows if r["acquired"] == CLOUDY]
    assert cloudy and all(not r["observed_clear"] for r in cloudy)


def test_ids_are_the_same_whatever_the_order_of_the_detections() -> None:
    settings = load_rules().tracking
    first = sorted(s.site_id for s in track(_history(), settings))
    shuffled = _history()
    random.Random(4).shuffle(shuffled)
    assert sorted(s.site_id for s in track(shuffled, settings)) == first
    assert len(set(first)) == 3


def test_a_site_within_the_tolerance_is_the_same_site() -> None:
    near = [
        _detection(DAYS[0], "x", _square(-1.8, 6.0, 100)),
        _detection(DAYS[1], "y", _square(-1.8 + 140 / 111_320, 6.0, 100)),  # 40 m gap
    ]
    assert len(track(near, load_rules().tracking.model_copy(update={"match_distance_m": 60}))) == 1
    assert len(track(near, load_rules().tracking.model_copy(update={"match_distance_m": 20}))) == 2


def test_sites_from_a_two_date_scan_are_rebuilt_identically_and_queryable(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    rules = load_rules()
    for seed in (3, 38):  # the same tile, 35 days apart
        scene = scene_factory(seed=seed, size=512, sites=3, baseline="05.10")
        run_item(load_item(str(scene.item_path)), rules, tmp_path)
    update = build_site_tables(tmp_path)
    assert update.sites > 0 and sum(update.states.values()) == update.sites
    assert (update.tiles_tracked, update.tiles_kept) == (1, 0)
    (sites_file,) = result_files(tmp_path, "sites")  # the tile's site group's
    first = sites_file.read_bytes()
    observed = read_table(tmp_path, "site_observations")
    again = build_site_tables(tmp_path)
    assert (again.tiles_tracked, again.tiles_kept) == (0, 1)  # nothing new: kept as it was
    assert sites_file.read_bytes() == first  # same ids, same rows
    build_site_tables(tmp_path, rebuild=True)
    assert sites_file.read_bytes() == first
    rows = observed.to_pylist()
    site_ids = {r["site_id"] for r in read_table(tmp_path, "sites").to_pylist()}
    assert {r["site_id"] for r in rows} == site_ids
    second_day = max(r["acquired"] for r in rows)
    assert any(r["acquired"] == second_day and not r["detected"] for r in rows) or all(
        r["detected"] for r in rows
    )
    answer = run_query("SELECT state, count(*) AS n FROM sites GROUP BY state", tmp_path)
    assert dict(answer.rows) == update.states


@pytest.mark.parametrize("crash_at", ["site_observations", "sites"])
def test_a_crash_between_the_site_files_is_repaired_by_the_next_update(
    scene_factory: Callable[..., WrittenScene],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    crash_at: str,
) -> None:
    """The sites file carries the "tiles already tracked" markers and is written last: a
    crash before it leaves the old markers, so the next update tracks the tile again."""
    import asm_core.monitoring.sites as sites_module

    rules = load_rules()
    scenes = [scene_factory(seed=s, size=512, sites=3, baseline="05.10") for s in (3, 38)]
    run_item(load_item(str(scenes[0].item_path)), rules, tmp_path)
    build_site_tables(tmp_path)
    run_item(load_item(str(scenes[1].item_path)), rules, tmp_path)
    real = sites_module.write_atomic

    def crash(table: pa.Table, path: Path) -> None:
        if path.parent.name == crash_at:
            raise OSError("the machine stopped here")
        real(table, path)

    monkeypatch.setattr(sites_module, "write_atomic", crash)
    with pytest.raises(OSError, match="stopped here"):
        build_site_tables(tmp_path)
    monkeypatch.setattr(sites_module, "write_atomic", real)
    build_site_tables(tmp_path)
    whole = tmp_path / "whole"
    for scene in scenes:
        run_item(load_item(str(scene.item_path)), rules, whole)
    build_site_tables(whole)
    for table in ("sites", "site_observations"):
        assert read_table(tmp_path, table).to_pylist() == read_table(whole, table).to_pylist()


def test_context_layers_add_inside_distance_and_flags(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scene = scene_factory(seed=3, size=512, sites=3, baseline="05.10")
    run_item(load_item(str(scene.item_path)), load_rules(), tmp_path / "results")
    west, south, east, north = json.loads(scene.item_path.read_text())["bbox"]
    middle = (west + east) / 2
    tenements = gpd.GeoDataFrame(
        {"licence_id": ["PL-W"], "status": ["application"]},
        geometry=[shapely.box(west, south, middle, north)],
        crs=4326,
    ).to_crs(32630)
    tenements.to_file(tmp_path / "licences.gpkg")
    parks = gpd.GeoDataFrame(
        {"WDPAID": [555]}, geometry=[shapely.box(middle, south, east, north)], crs=4326
    )
    parks.to_file(tmp_path / "parks.geojson")
    assert (
        main(
            [
                "sites",
                "--results",
                str(tmp_path / "results"),
                "--context",
                f"tenements={tmp_path / 'licences.gpkg'}",
                "--context",
                f"protected_areas={tmp_path / 'parks.geojson'}",
            ]
        )
        == 0
    )
    rows = read_table(tmp_path / "results", "sites").to_pylist()
    assert rows
    for row in rows:
        west_side = row["lon"] < middle
        assert row["inside_tenements"] == ("PL-W" if west_side else row["inside_tenements"])
        assert row["possibly_informal"] == (row["inside_tenements"] is None)
        assert row["high_priority"] == (row["inside_protected_areas"] == "555")
        assert (row["distance_to_tenements_m"] == 0) == (row["inside_tenements"] is not None)
        assert row["tenements_status"] == ("application" if row["inside_tenements"] else None)
    context = read_table(tmp_path / "results", "site_context")
    assert context.num_rows == 2 * len(rows)  # one per site and layer
    licensed = [r for r in context.to_pylist() if r["layer"] == "tenements" and r["feature_id"]]
    assert all(r["feature_status"] == "application" for r in licensed)
    assert main(["sites", "--results", str(tmp_path / "results"), "--context", "Bad Name=x"]) == 2
    # an update without --context keeps the context (the folder kept the layers); a new
    # --context set replaces it
    (tmp_path / "licences.gpkg").unlink()  # the folder's own copy is what counts
    assert main(["sites", "--results", str(tmp_path / "results"), "--rebuild"]) == 0
    again = read_table(tmp_path / "results", "sites").to_pylist()
    assert again == rows
    kept = read_table(tmp_path / "results", "site_context")
    assert kept.to_pylist() == context.to_pylist()
    parks_only = ["--context", f"protected_areas={tmp_path / 'parks.geojson'}"]
    assert main(["sites", "--results", str(tmp_path / "results"), *parks_only]) == 0
    replaced = read_table(tmp_path / "results", "sites")
    assert "inside_tenements" not in replaced.column_names
    assert "inside_protected_areas" in replaced.column_names


#: A licence over site A (and nothing else), a reserve over site C.
HISTORY_LAYERS = [
    ContextLayer(
        "tenements",
        gpd.GeoDataFrame(
            {"feature_id": ["PL-A"]}, geometry=[shapely.box(-1.801, 5.999, -1.797, 6.003)], crs=4326
        ),
    ),
    ContextLayer(
        "protected_areas",
        gpd.GeoDataFrame(
            {"feature_id": ["WDPA-C"]},
            geometry=[shapely.box(-1.7505, 6.0495, -1.7480, 6.0520)],
            crs=4326,
        ),
    ),
]


def _write_history_tables(root: Path) -> None:
    settings = load_rules().tracking
    tracked = track(_history(), settings)
    observed = observations(tracked, RUNS, _clear, settings)
    sites, context = with_context(site_rows(tracked, observed), HISTORY_LAYERS)
    write_atomic(sites, root / "sites" / "sites.parquet")
    write_atomic(context, root / "site_context" / "site_context.parquet")
    write_atomic(
        pa.Table.from_pylist(observed, schema=SITE_OBSERVATIONS),
        root / "site_observations" / "site_observations.parquet",
    )


def _catalogue(name: str, root: Path, **params: str) -> list[dict[str, Any]]:
    query = read_query_file(QUERIES / f"{name}.sql")
    answer = run_query(query.sql, root, bind(query, params))
    return [dict(zip(answer.columns, row, strict=True)) for row in answer.rows]


def test_site_queries_answer_from_the_tracked_history(tmp_path: Path) -> None:
    _write_history_tables(tmp_path)
    (reactivated,) = _catalogue("reactivated_sites", tmp_path)
    assert reactivated["reactivated_on"] == DAYS[5]
    new = _catalogue("new_sites_by_country_quarter", tmp_path)
    assert sum(r["new_sites"] for r in new) == 3 and {r["quarter"] for r in new} == {"2024-Q1"}
    growing = _catalogue("fastest_growing_sites", tmp_path, min_detections="2")
    # A: 1 ha on the first date, 1.21 ha on its latest (the last date), 25 days apart
    assert [round(r["latest_area_ha"] / r["first_area_ha"], 1) for r in growing][:1] == [1.2]
    assert growing[0]["days"] == 25
    assert len(growing) == 2  # A (grew) and C (shrank); B was detected once
    (protected,) = _catalogue("sites_in_protected_areas", tmp_path)
    assert protected["protected_area"] == "WDPA-C"
    assert protected["max_area_ha"] == pytest.approx(2.25, rel=0.05)  # C: 150 m square at first
    informal = _catalogue("sites_outside_tenements", tmp_path)
    assert len(informal) == 2  # B and C; A lies in PL-A
    assert informal[0]["nearest_tenement_m"] > informal[1]["nearest_tenement_m"] > 0
    assert _catalogue("sites_outside_tenements", tmp_path, min_distance_m="14000") == informal[:1]


def test_sites_of_one_tile_never_match_another_tile_s() -> None:
    """A history of two tiles at the same place tracks as each tile's history alone (sites are
    compared with their own tile's sites only, through a per-tile index)."""
    settings = load_rules().tracking
    other = [
        d
        | {
            "item_id": d["item_id"].replace("30NWK", "30NWL"),
            "mgrs_tile": "30NWL",
            "site_id": None if d["site_id"] is None else f"x{d['site_id']}",
        }
        for d in _history()
    ]

    def tracks(rows: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        return sorted((s.site_id, s.mgrs_tile, len(s.seen)) for s in track(rows, settings))

    both = tracks(_history() + other)
    assert both == sorted(tracks(_history()) + tracks(other))
    assert {tile for _, tile, _ in both} == {"30NWK", "30NWL"}
