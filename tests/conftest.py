"""Shared fixtures: synthetic scenes are generated once per session into a temporary folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asm_core.synthetic import SceneSpec, write_scene
from asm_core.synthetic.scene import WrittenScene

DATA = Path(__file__).parent / "data"
STAC_DATA = DATA / "stac"


@pytest.fixture(scope="session")
def scene_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., WrittenScene]:
    """Make (and cache) a synthetic scene for a spec: ``scene_factory(seed=3, size=512)``."""
    root = tmp_path_factory.mktemp("scenes")
    cache: dict[str, WrittenScene] = {}

    def make(**spec: Any) -> WrittenScene:
        key = json.dumps(spec, sort_keys=True)
        if key not in cache:
            cache[key] = write_scene(SceneSpec(**spec), root / f"s{len(cache)}")
        return cache[key]

    return make


@pytest.fixture(scope="session")
def small_scene(scene_factory: Callable[..., WrittenScene]) -> WrittenScene:
    """A 768² scene with three planted sites, a river and every look-alike."""
    return scene_factory(seed=11, size=768, sites=3, clouds=1, baseline="05.10")


def edit_item(src: Path, dst_dir: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Copy a STAC item with absolute hrefs into ``dst_dir`` after applying ``edit``."""
    data = json.loads(src.read_text())
    for asset in data["assets"].values():
        href = asset["href"]
        if not href.startswith(("/", "http", "s3")):
            asset["href"] = str((src.parent / href).resolve())
    edit(data)
    dst_dir.mkdir(parents=True, exist_ok=True)
    out = dst_dir / src.name
    out.write_text(json.dumps(data))
    return out
