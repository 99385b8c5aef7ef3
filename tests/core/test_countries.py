"""Country attribution from the bundled Natural Earth boundaries: null at sea, never a guess."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
from pyproj import Transformer

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.countries import countries_at
from asm_core.results.store import result_files
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


def test_known_places_and_the_sea() -> None:
    places = {
        (-0.19, 5.60): "GHA",  # Accra
        (-1.63, 6.69): "GHA",  # Kumasi, ASM country
        (15.31, -4.32): "COD",  # Kinshasa
        (3.38, 6.52): "NGA",  # Lagos
        (-5.02, 7.69): "CIV",  # Bouaké
        (45.0, 10.0): "SOM",  # Somaliland counts as Somalia (ISO)
        (0.0, 0.0): None,  # Gulf of Guinea
        (-30.0, 0.0): None,  # mid-Atlantic
    }
    lons, lats = zip(*places, strict=True)
    assert countries_at(list(lons), list(lats)) == list(places.values())
    assert countries_at([], []) == []


def _rows(out: Path) -> list[dict[str, object]]:
    return [r for f in result_files(out, "detections") for r in pq.read_table(f).to_pylist()]


def test_detections_carry_the_country_of_their_centroid_and_none_at_sea(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    on_land = scene_factory(seed=91, size=384, sites=2, baseline="05.10")
    run_item(load_item(str(on_land.item_path)), load_rules(), tmp_path / "land")
    rows = _rows(tmp_path / "land")
    assert rows
    expected = countries_at([r["lon"] for r in rows], [r["lat"] for r in rows])  # type: ignore[misc]
    assert [r["country_iso3"] for r in rows] == expected
    assert set(expected) <= {"GHA", "CIV"}  # the synthetic scenes lie on their border
    x, y = Transformer.from_crs(4326, 32631, always_xy=True).transform(1.5, 2.0)
    at_sea = scene_factory(seed=92, size=384, sites=2, epsg=32631, origin=(x, y))
    run_item(load_item(str(at_sea.item_path)), load_rules(), tmp_path / "sea")
    sea_rows = _rows(tmp_path / "sea")
    assert sea_rows and {r["country_iso3"] for r in sea_rows} == {None}
