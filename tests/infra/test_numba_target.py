"""The numba kernels compiled into the image are loaded, not recompiled, wherever the image runs:
the Dockerfile pins the CPU target numba keys its cache on. Proved here by compiling under the
pinned target in one process and counting cache hits and misses in the next; a different
feature set (another host, had the target not been pinned) misses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "Dockerfile"
#: every kernel compiled with cache=True
CACHED = (
    "asm_core.detection.pixels.packed_mask:_unpack_rows",
    "asm_core.detection.pixels.pixel_samples:_gather",
    "asm_core.detection.pixels.pixel_kernel:_classify",
    "asm_core.detection.objects.components:_label_stats",
    "asm_core.detection.objects.observed:_accumulate_ndvi",
)
RUN_AND_COUNT = f"""
import importlib, json
from asm_core.detection.pixels.warm_up import compile_kernels
compile_kernels()
stats = {{}}
for name in {list(CACHED)!r}:
    module, attribute = name.split(":")
    kernel = getattr(importlib.import_module(module), attribute)
    stats[name] = [kernel.stats.cache_hits and sum(kernel.stats.cache_hits.values()),
                   kernel.stats.cache_misses and sum(kernel.stats.cache_misses.values())]
print(json.dumps(stats))
"""


def _pinned_target() -> dict[str, str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = dict(re.findall(r"\b(NUMBA_CPU_(?:NAME|FEATURES))=(\S+)", text))
    assert set(found) == {"NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"}, found
    return found


def _run(cache: Path, target: dict[str, str]) -> dict[str, list[int]]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), **target}
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_COUNT], env=env, capture_output=True, text=True, check=True
    )
    stats: dict[str, list[int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return stats


@pytest.mark.slow
def test_kernels_compiled_under_the_pinned_target_are_loaded_not_recompiled(
    tmp_path: Path,
) -> None:
    target = _pinned_target()
    _run(tmp_path / "cache", target)  # the image build
    hits = _run(tmp_path / "cache", target)  # a cold start on Lambda
    assert all(h and not m for h, m in hits.values()), hits
    other = {**target, "NUMBA_CPU_FEATURES": target["NUMBA_CPU_FEATURES"].replace("+avx2,", "")}
    elsewhere = _run(tmp_path / "cache", other)  # what an unpinned target on another host does
    assert all(m for _, m in elsewhere.values()), elsewhere
