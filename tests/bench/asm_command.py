"""The `asm` command run in-process by the benchmark scripts (their folder is on sys.path when
run as `python tests/bench/<name>.py`)."""

from __future__ import annotations

from asm_core.cli import main as asm


def run_asm(*args: str) -> None:
    """Run one `asm` command; a non-zero exit ends the benchmark with the command line."""
    code = asm(list(args))
    if code != 0:
        raise SystemExit(f"asm {' '.join(args)} exited {code}")
