"""Cold starts: each handler imports only what it uses. Plan and the API plan scans and answer
requests without the raster stack (numba, OpenCV, scipy, rasterio: 2.5 CPU-s and ~150 MB of
imports measured); /detect imports it on its first request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    "handler",
    [
        "asm_watch_functions.plan.app",
        "asm_watch_functions.api.app",
        "asm_watch_functions.api.aws_services",
        "asm_watch_functions.compact_results.app",
    ],
)
def test_planning_and_the_api_load_no_raster_stack(handler: str) -> None:
    loaded = _modules_after_import(handler)
    assert not loaded & set(RASTER_STACK), sorted(loaded & set(RASTER_STACK))


def test_the_tile_job_does_load_it() -> None:  # the check above can see the stack when it is there
    assert set(RASTER_STACK) <= _modules_after_import("asm_watch_functions.detect_tile.app")


@pytest.mark.parametrize(
    "handler", ["asm_watch_functions.api.app", "asm_watch_functions.detect_tile.app"]
)
def test_handlers_that_run_kernels_load_the_images_compiled_ones(handler: str) -> None:
    assert "asm_watch_functions.numba_cache" in _loaded(
        handler
    )  # copies them where numba may read them


#: packages the image leaves out (infra/Dockerfile): the command line's query engine
CLI_ONLY = ("duckdb", "sqlglot")

_WITHOUT_CLI_PACKAGES = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # any import of it now fails
from pathlib import Path
import asm_watch_functions.api.app, asm_watch_functions.api.aws_services
import asm_watch_functions.plan.app
import asm_watch_functions.detect_tile.app, asm_watch_functions.finalize.app
import asm_watch_functions.compact_results.app, asm_watch_functions.track_sites.app
from asm_core.monitoring.monitor import update_monitoring
from asm_core.report.report_html import write_report
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item
from asm_core.evaluation.synthetic import SceneSpec, write_scene
from asm_core.jobs.tile_job import run_item

work = Path(sys.argv[1])
rules = load_rules()
scene = write_scene(SceneSpec(seed=41, size=256, sites=2, baseline="05.10"), work / "scene")
run = run_item(load_item(str(scene.item_path)), rules, work / "results")
assert run.status == "ok", run
update_monitoring(work / "results", rules.tracking)
write_report(work / "results", work / "report.html")
print("ok")
"""


def test_the_functions_work_without_the_packages_the_image_leaves_out(tmp_path: Path) -> None:
    """What the functions do - import, detect a tile, track its sites, write the report - runs
    with DuckDB and sqlglot unimportable, as in the image."""
    script = _WITHOUT_CLI_PACKAGES.format(blocked=CLI_ONLY)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
    dockerfile = (Path(__file__).resolve().parents[2] / "infra" / "Dockerfile").read_text()
    for name in CLI_ONLY:
        assert f"${{LAMBDA_TASK_ROOT}}/{name} " in dockerfile, name
