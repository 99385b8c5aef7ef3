"""What installing the project puts on a user's path: the core and the Lambda handlers under
names of their own, never a top-level package called ``functions`` that would collide in
someone's environment."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_install_adds_no_top_level_package_named_functions(tmp_path: Path) -> None:
    # top_level.txt is written by setuptools from pyproject's packages, for a wheel and for
    # the editable install alike (building a wheel here would need a newer setuptools than
    # the venv's, fetched from PyPI, which no test may reach)
    top = importlib.metadata.distribution("asm-watch").read_text("top_level.txt") or ""
    assert set(top.split()) == {"asm_core", "asm_watch_functions"}
    # from a folder outside the repository, the handlers import under their own name only
    probe = (
        "import importlib.util, asm_watch_functions.api.app as api; "
        "print(api.__file__); print(importlib.util.find_spec('functions'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    where, functions = done.stdout.split()
    assert Path(where).is_relative_to(ROOT / "functions" / "asm_watch_functions")
    assert functions == "None"
