"""Project-wide checks: the core stays pure, typed and lint-clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.venv_tools import venv_tool

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "asm_core"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_aws_sdk_and_reads_no_environment() -> None:
    for path in CORE.rglob("*.py"):
        assert not {"boto3", "botocore"} & _imports(path), path
        text = path.read_text(encoding="utf-8")
        assert "os.environ" not in text and "getenv(" not in text, path


def test_core_imports_no_lambda_handler() -> None:
    """The handlers depend on the core, never the reverse (``asm serve`` reaches the core's
    command line through an entry point): the import graph has one direction."""
    for path in CORE.rglob("*.py"):
        assert not {"asm_watch_functions", "functions"} & _imports(path), path
    # and the command line loads the handlers only for the command they add
    probe = (
        "import contextlib, io, sys; from asm_core.cli import main\n"
        "for args in (['demo', '--help'], ['serve', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        main(args)\n"
        "    print(args[0], 'Usage' in out.getvalue(), 'asm_watch_functions' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["demo", "True", "False", "serve", "True", "True"]


def _tool(name: str) -> list[str]:
    return [venv_tool(name)]


def test_ruff_is_clean() -> None:
    done = subprocess.run(
        [*_tool("ruff"), "check", "asm_core", "functions", "scripts", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean() -> None:
    done = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bandit_finds_nothing_in_the_shipped_code() -> None:
    """Each finding is fixed or marked ``# nosec <id>`` beside a comment that says why."""
    done = subprocess.run(
        [*_tool("bandit"), "-q", "-r", "asm_core", "functions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
