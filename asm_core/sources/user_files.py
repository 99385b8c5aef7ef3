"""Reading files a user hands over (rule sets, queries, items, GeoJSON) with one-line errors
that name the file and what is wrong with it: missing, a folder, not UTF-8, not JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asm_core.errors import AsmError


def read_text_file(path: Path, label: str, error: type[AsmError]) -> str:
    """The UTF-8 text of a file; ``error`` (e.g. RuleSetError) names ``label`` and the path."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise error(f"{label} file {str(path)!r} does not exist") from e
    except IsADirectoryError as e:
        raise error(f"{label} {str(path)!r} is a folder; expected a file") from e
    except UnicodeDecodeError as e:
        raise error(
            f"{label} file {str(path)!r} is not UTF-8 text: byte 0x{e.object[e.start]:02x} at "
            f"position {e.start}; save it as UTF-8"
        ) from e
    except OSError as e:
        raise error(f"{label} file {str(path)!r} cannot be read: {e.strerror}") from e


def read_geojson(path: Path, label: str, error: type[AsmError]) -> Any:
    """Parsed JSON of a GeoJSON file; ``error`` (e.g. AoiError) names ``label`` and the path."""
    text = read_text_file(path, label, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(
            f"{label} file {str(path)!r} is not readable GeoJSON: {e.msg} at line {e.lineno}"
        ) from e
