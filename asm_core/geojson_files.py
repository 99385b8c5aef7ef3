"""Reading user-supplied GeoJSON files with errors that name the file and what went wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asm_core.errors import AsmError


def read_geojson(path: Path, label: str, error: type[AsmError]) -> Any:
    """Parsed JSON of a GeoJSON file; ``error`` (e.g. AoiError) names ``label`` and the path."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise error(f"{label} file {str(path)!r} does not exist") from e
    except (OSError, json.JSONDecodeError) as e:
        raise error(f"{label} file {str(path)!r} is not readable GeoJSON: {e}") from e
