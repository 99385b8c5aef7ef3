"""Command-line tools the tests run, found the way CI can find them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def venv_tool(name: str) -> str:
    """A tool installed with the test dependencies: beside this Python first (the venv's
    ``bin``, which a plain ``.venv/bin/python -m pytest`` does not put on PATH), then on PATH.
    Missing, the test skips, which CI turns into a failure (tests/conftest.py)."""
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed")
    return exe
