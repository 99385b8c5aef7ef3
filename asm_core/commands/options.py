"""Options several commands share."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

results_option = click.option(
    "--results", "results", required=True, type=click.Path(path_type=Path)
)
scores_as_json = click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")


def finite(value: float, name: str) -> float:
    """click's ranges let NaN through (every comparison with it is false)."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of metres", param_hint=name)
    return value


def day_option(flag: str, dest: str, help_text: str) -> Callable[[F], F]:
    """An optional YYYY-MM-DD day (a ``datetime`` at midnight, or None)."""
    return click.option(flag, dest, type=click.DateTime(["%Y-%m-%d"]), default=None, help=help_text)
