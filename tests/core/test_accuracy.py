"""Accuracy regression on a small synthetic set (the bars themselves: tests/bench/accuracy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asm_core.evaluation.evaluate import evaluate
from asm_core.evaluation.synthetic import generate_set
from asm_core.jobs.tile_job import run_item
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


def _score(
    root: Path, seeds: list[int], lookalikes: bool, landscape: str = "forest", size: int = 1536
) -> dict:
    scenes = generate_set(root / "scenes", seeds, size, lookalikes, landscape)
    rules = load_rules()
    for scene in scenes:
        assert run_item(load_item(str(scene.item_path)), rules, root / "results").status == "ok"
    return evaluate(root / "scenes" / "truth.geojson", root / "results").as_dict()


@pytest.mark.slow
def test_sites_found_and_look_alikes_rejected(tmp_path: Path) -> None:
    mixed = _score(tmp_path / "mixed", [41, 42, 43], lookalikes=False)
    assert mixed["truth_sites_in_scope"] >= 8
    assert mixed["recall"] >= 0.85
    assert mixed["precision"] >= 0.9
    assert mixed["pixel_iou"] >= 0.7
    clean = _score(tmp_path / "clean", [44, 45], lookalikes=True)
    assert clean["false_sites_per_100km2"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("landscape", "seeds"),
    [("amazon", [61, 62, 63]), ("savanna", [63, 64, 65]), ("farmland", [66, 67, 68, 69, 70])],
)
def test_every_landscape_is_found_and_its_look_alikes_rejected(
    tmp_path: Path, landscape: str, seeds: list[int]
) -> None:
    # SYNTHETIC: mechanics in each landscape (pale tailings, open savanna, field mosaics), not
    # accuracy on real imagery (tests/core/test_real_imagery.py, tests/bench/real.py); small
    # scenes hold few sites, so the floor is loose (tests/bench/accuracy.py has the figures)
    mixed = _score(tmp_path / "mixed", seeds, lookalikes=False, landscape=landscape, size=1024)
    assert mixed["truth_sites_in_scope"] >= 4
    assert mixed["recall"] >= 0.5
    assert mixed["precision"] >= 0.8
    clean = _score(tmp_path / "clean", seeds[:1], lookalikes=True, landscape=landscape, size=1024)
    assert clean["false_sites_per_100km2"] <= 2.0
