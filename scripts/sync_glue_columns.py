"""Write the results schemas' columns into template.yaml's Glue tables.

CloudFormation cannot import Python, so each Glue table lists its columns; this script makes
them those of asm_core/results/schema.py (tests/infra/test_template.py fails when they drift).
After adding a column to a schema:

    python scripts/sync_glue_columns.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asm_core.results.schema import (  # noqa: E402
    DETECTIONS,
    SITE_CONTEXT,
    SITE_OBSERVATIONS,
    SITES,
    TILE_RUNS,
    glue_columns,
)

TABLES = {
    "detections": DETECTIONS,
    "tile_runs": TILE_RUNS,
    "sites": SITES,
    "site_observations": SITE_OBSERVATIONS,
    "site_context": SITE_CONTEXT,
}
#: a Glue table's name, then (further on) its column list
TABLE = re.compile(
    r"(\n\s+TableInput:\n\s+Name: (?P<name>\w+)\n.*?\n(?P<indent>\s+)Columns:\n)"
    r"(?P<columns>(?:\s+- \{Name: [^\n]+\}\n)+)",
    re.S,
)


def _scalar(hive_type: str) -> str:
    """A Hive type as a YAML flow scalar: quoted when it holds <, > or commas."""
    return hive_type if hive_type.isidentifier() else f'"{hive_type}"'


def main() -> None:
    template = ROOT / "template.yaml"
    text = template.read_text()
    found = set()

    def columns(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            return match[0]
        found.add(name)
        indent = match["indent"] + "    "
        lines = [
            f"{indent}- {{Name: {c['Name']}, Type: {_scalar(c['Type'])}}}\n"
            for c in glue_columns(TABLES[name])
        ]
        return match[1] + "".join(lines)

    text = TABLE.sub(columns, text)
    missing = sorted(set(TABLES) - found)
    if missing:
        raise SystemExit(f"template.yaml has no Glue table for {missing}")
    template.write_text(text)


if __name__ == "__main__":
    main()
