"""Write infra/athena/queries/*.sql into template.yaml as AWS::Athena::NamedQuery resources.

CloudFormation cannot read files, so the template carries each query's text; this script keeps
them equal to the files (tests/infra/test_template.py fails when they drift):

    python scripts/sync_named_queries.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asm_core.results.sql import read_query_file  # noqa: E402

BEGIN, END = "  # BEGIN named queries (scripts/sync_named_queries.py)\n", "  # END named queries\n"


def resource_name(stem: str) -> str:
    return "Query" + "".join(part.title() for part in stem.split("_"))


def render() -> str:
    blocks = []
    for path in sorted((ROOT / "infra" / "athena" / "queries").glob("*.sql")):
        query = read_query_file(path)
        body = "\n".join(
            "        " + line if line else "" for line in query.sql.rstrip().splitlines()
        )
        description = query.title.replace('"', "'")[:1024]
        blocks.append(
            f"  {resource_name(path.stem)}:\n"
            "    Type: AWS::Athena::NamedQuery\n"
            "    Properties:\n"
            f"      Name: {path.stem}\n"
            f'      Description: "{description}"\n'
            "      Database: !Ref GlueDatabase\n"
            "      WorkGroup: !Ref AthenaWorkGroup\n"
            "      QueryString: |\n"
            f"{body}\n"
        )
    return BEGIN + "\n".join(blocks) + END


def main() -> None:
    template = ROOT / "template.yaml"
    text = template.read_text()
    if BEGIN in text:
        text = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: render(), text, flags=re.S
        )
    else:
        text = text.replace("\nOutputs:\n", "\n" + render() + "\nOutputs:\n")
    template.write_text(text)


if __name__ == "__main__":
    main()
