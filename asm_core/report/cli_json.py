"""``--json`` on the commands that do work: one JSON object on stdout for scripts and
notebooks, the human summary moved to stderr (without the flag, the summary alone on stdout)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object on stdout (the human summary goes to stderr).",
)


def say(text: str, as_json: bool) -> None:
    """Human text: on stdout, or on stderr when stdout carries the JSON."""
    click.echo(text, err=as_json)


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


def emit(summary: Mapping[str, Any], as_json: bool) -> None:
    """The command's summary as one JSON object on stdout (with ``--json`` only)."""
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True, default=_plain))
