"""Evaluation against labelled polygons and points."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import mapping, shape

from asm_core.errors import TruthError
from asm_core.evaluation.evaluate import evaluate, load_truth
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


@pytest.fixture(scope="module")
def results(small_scene: WrittenScene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    run_item(load_item(str(small_scene.item_path)), load_rules(), out)
    return out


def _write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _sites(scene: WrittenScene) -> list[dict[str, Any]]:
    return [f for f in scene.truth if f["properties"]["kind"] == "mining_site"]


def test_detections_scored_against_themselves_are_perfect(results: Path, tmp_path: Path) -> None:
    rows = read_table(results, "detections").to_pylist()
    by_site: dict[str, list[shapely.Geometry]] = {}
    for r in rows:
        if r["site_id"]:
            by_site.setdefault(r["site_id"], []).append(shapely.from_wkb(r["geometry"]))
    features = [
        {
            "type": "Feature",
            "properties": {"kind": "mining_site"},
            "geometry": mapping(shapely.union_all(g)),
        }
        for g in by_site.values()
    ]
    scores = evaluate(_write(tmp_path / "t.geojson", features), results)
    assert (scores.precision, scores.recall, scores.pixel_iou) == (1.0, 1.0, 1.0)
    assert scores.false_sites == 0


def test_points_as_field_visits(small_scene: WrittenScene, results: Path, tmp_path: Path) -> None:
    """NGO field visits are points: matched within a tolerance, no pixel IoU."""
    points = [
        {
            "type": "Feature",
            "properties": {"name": f["properties"]["id"]},
            "geometry": mapping(shape(f["geometry"]).representative_point()),
        }
        for f in _sites(small_scene)
        if f["properties"]["area_m2"] >= 5000
    ]
    far = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Point", "coordinates": [-2.0, 8.5]},
    }
    scores = evaluate(_write(tmp_path / "p.geojson", [*points, far]), results)
    assert scores.pixel_iou is None
    assert scores.truth_sites_in_scope == len(points) + 1
    assert scores.found_sites == len(points)
    assert scores.recall == pytest.approx(len(points) / (len(points) + 1), abs=1e-4)


def test_look_alikes_show_in_the_confusion_table(small_scene: WrittenScene, results: Path) -> None:
    scores = evaluate(small_scene.item_path.parent / "truth.geojson", results)
    assert set(scores.confusion) <= {"mining_scar", "pond", "turbid_water"}
    assert scores.confusion["mining_scar"].get("mining_site", 0) >= 1
    assert scores.turbid["truth_reaches"] >= 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "expected a FeatureCollection"),
        ('{"type": "FeatureCollection", "features": [{"geometry": null}]}', "no usable geometry"),
        ("{", "not readable GeoJSON"),
    ],
)
def test_bad_truth_files(results: Path, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.geojson"
    path.write_text(content)
    with pytest.raises(TruthError, match=message):
        evaluate(path, results)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ([], "has no features: there is nothing to score against"),
        (
            [
                {
                    "type": "Feature",
                    "properties": {"kind": "sandbar"},
                    "geometry": {"type": "Point", "coordinates": [3, 4]},
                },
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "Point", "coordinates": [1, 2]},
                },
            ],
            "feature 1 has no 'kind' while others have one; label it mining_site",
        ),
        (
            [
                {
                    "type": "Feature",
                    "properties": {"kind": "mining_site"},
                    "geometry": {"type": "Point", "coordinates": [float("nan"), 2]},
                }
            ],
            "feature 0 has empty or non-finite (NaN) coordinates",
        ),
    ],
)
def test_truth_that_cannot_score_anything_is_refused(
    tmp_path: Path, features: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "truth.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.raises(TruthError, match=re.escape(message)):
        load_truth(path)
