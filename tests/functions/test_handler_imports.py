"""Cold starts: each handler imports only what it uses. Plan and the API plan scans and answer
requests without the raster stack (numba, OpenCV, scipy, rasterio: 2.5 CPU-s and ~150 MB of
imports measured); /detect imports it on its first request."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

RASTER_STACK = ("numba", "cv2", "scipy", "rasterio")


def _loaded(module: str) -> list[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def _modules_after_import(module: str) -> set[str]:
    return {name.split(".")[0] for name in _loaded(module)}


@pytest.mark.parametrize(
    "handler", ["functions.plan.app", "functions.api.app", "functions.api.aws_services"]
)
def test_planning_and_the_api_load_no_raster_stack(handler: str) -> None:
    loaded = _modules_after_import(handler)
    assert not loaded & set(RASTER_STACK), sorted(loaded & set(RASTER_STACK))


def test_the_tile_job_does_load_it() -> None:  # the check above can see the stack when it is there
    assert set(RASTER_STACK) <= _modules_after_import("functions.detect_tile.app")


@pytest.mark.parametrize("handler", ["functions.api.app", "functions.detect_tile.app"])
def test_handlers_that_run_kernels_load_the_images_compiled_ones(handler: str) -> None:
    assert "functions.numba_cache" in _loaded(handler)  # copies them where numba may read them
