"""Compile every numba kernel once by running the per-tile job on a tiny synthetic scene.

Used when a container image is built (so that no Lambda compiles at a cold start) and by the
tile benchmark before it measures (the first compilation takes ~10 s and is not per-tile cost).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from asm_core.evaluation.synthetic import SceneSpec, write_scene
from asm_core.jobs.tile_job import run_item
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item


def compile_kernels(work: Path | None = None) -> str:
    """Run one 256² scene end to end; returns its status (``ok``)."""
    with tempfile.TemporaryDirectory(prefix="asm-warm-up-") as tmp:
        root = work or Path(tmp)
        scene = write_scene(SceneSpec(seed=3, size=256), root / "scene")
        return run_item(load_item(str(scene.item_path)), load_rules(), root / "results").status


if __name__ == "__main__":
    print(compile_kernels())
