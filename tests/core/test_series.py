"""The multi-date synthetic series: stories, seasons, clouds that hide sites, truth states."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from shapely.geometry import shape

from asm_core.detection.objects.vectorize import reproject
from asm_core.errors import SyntheticSceneError
from asm_core.evaluation.synthetic.series import WrittenSeries, write_series
from asm_core.evaluation.synthetic.site_stories import STORIES, SeriesSpec

SEED = 4242  # used by no other test


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WrittenSeries]:
    out = tmp_path_factory.mktemp("series")
    return out, write_series(SeriesSpec(seed=SEED, dates=9, size=512), out)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SeriesSpec(seed=1, dates=2), "dates 2 is out of range; use 4..60"),
        (SeriesSpec(seed=1, size=128), "size 128 px is out of range; use 256..4096"),
        (SeriesSpec(seed=1, sites=0), "sites 0 is out of range; use 1..40"),
        (SeriesSpec(seed=1, hide_chance=1.0), "hide_chance 1.0 must be in [0, 1)"),
        (SeriesSpec(seed=1, revisit_days=0), "revisit_days 0 must be at least 1"),
    ],
)
def test_bad_specs_are_refused_with_the_value_and_the_range(
    spec: SeriesSpec, message: str, tmp_path: Path
) -> None:
    with pytest.raises(SyntheticSceneError, match=message.replace("[", r"\[").replace(")", r"\)")):
        write_series(spec, tmp_path)
    assert not any(tmp_path.iterdir())


def test_one_tile_on_every_date_with_a_truth_row_per_site_and_date(
    series: tuple[Path, WrittenSeries],
) -> None:
    out, written = series
    items = [json.loads(p.read_text()) for p in written.item_paths]
    assert len(items) == 9
    assert len({i["properties"]["mgrs:grid_square"] for i in items}) == 1
    assert len({tuple(i["assets"]["red"]["proj:transform"]) for i in items}) == 1
    days = [i["properties"]["datetime"] for i in items]
    assert days == sorted(days) and len(set(days)) == 9
    with (out / "site_states.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows == [{k: str(v) for k, v in r.items()} for r in written.states]
    stories = {f["properties"]["story"] for f in written.sites}
    assert stories == set(STORIES)  # seven sites, one of each story
    by_site = defaultdict(list)
    for row in rows:
        by_site[row["site"]].append(row)
    assert all(site_rows[0]["state"] == "new" for site_rows in by_site.values())
    story = {f["properties"]["site"]: f["properties"]["story"] for f in written.sites}
    turn_state = {"grows": "expanding", "shrinks": "contracting", "revegetates": "revegetating"}
    for site, site_rows in by_site.items():
        states = [r["state"] for r in site_rows]
        if story[site] == "steady":
            assert set(states) <= {"new", "persistent", "unobserved"}
        if story[site] == "pauses":
            assert states.index("reactivated") > states.index("inactive")
        if story[site] == "regrows":  # greener look by look, then grown over for good
            seen = [s for s in states if s != "unobserved"]
            first = seen.index("inactive")
            assert "revegetating" in seen[:first] and set(seen[first:]) == {"inactive"}
        if story[site] in turn_state:  # the look where the area changed says so, unless hidden
            areas = [float(r["area_m2"]) for r in site_rows]
            turn = next(i for i, a in enumerate(areas) if a != areas[0])
            assert states[turn] in (turn_state[story[site]], "unobserved")


def test_a_hidden_site_is_under_flagged_cloud_and_its_truth_is_unobserved(
    series: tuple[Path, WrittenSeries],
) -> None:
    out, written = series
    hidden = [r for r in written.states if r["state"] == "unobserved"]
    assert hidden, "the seed hides at least one site on one date"
    for row in hidden:
        assert row["clear_share"] < 0.8
        with rasterio.open(out / row["item_id"] / "SCL.tif") as src:
            scl = src.read(1)
        assert np.isin(scl, (3, 8, 9)).any()
    clear = [r for r in written.states if r["state"] != "unobserved"]
    assert all(r["clear_share"] >= 0.8 for r in clear)


def test_the_monsoon_floods_the_river_banks(series: tuple[Path, WrittenSeries]) -> None:
    _, written = series

    def water_share(item_path: Path) -> float:
        with rasterio.open(item_path.parent / "SCL.tif") as src:
            return float((src.read(1) == 6).mean())

    months = {p: int(p.parent.name.split("_")[2][4:6]) for p in written.item_paths}
    wet = [water_share(p) for p, m in months.items() if 5 <= m <= 10]
    dry = [water_share(p) for p, m in months.items() if m < 5 or m > 10]
    assert wet and dry
    assert min(wet) > max(dry)


def test_pits_flood_in_the_rains_and_the_worked_area_stays(
    series: tuple[Path, WrittenSeries],
) -> None:
    out, written = series
    steady = next(
        f["properties"]["site"] for f in written.sites if f["properties"]["story"] == "steady"
    )
    rows = [r for r in written.states if r["site"] == steady]
    assert len({r["area_m2"] for r in rows}) == 1  # flooded or not, the same worked ground
    site = next(shape(f["geometry"]) for f in written.sites if f["properties"]["site"] == steady)

    def water_in_site(item_id: str) -> float:
        with rasterio.open(out / item_id / "SCL.tif") as src:
            inside = rasterize([reproject(site, "EPSG:4326", src.crs)], src.shape,
                               transform=src.transform).astype(bool)  # fmt: skip
            return float((src.read(1)[inside] == 6).mean())

    wet = [water_in_site(r["item_id"]) for r in rows if 5 <= int(r["acquired"][5:7]) <= 10]
    dry = [water_in_site(r["item_id"]) for r in rows if not 5 <= int(r["acquired"][5:7]) <= 10]
    assert wet and dry and min(wet) > max(dry) + 0.1


def test_the_same_seed_writes_the_same_series(tmp_path: Path) -> None:
    spec = SeriesSpec(seed=SEED + 1, dates=4, size=256, sites=2)
    a = write_series(spec, tmp_path / "a")
    b = write_series(spec, tmp_path / "b")
    assert a.states == b.states
    for pa_, pb in zip(a.item_paths, b.item_paths, strict=True):
        assert (pa_.parent / "B04.tif").read_bytes() == (pb.parent / "B04.tif").read_bytes()
