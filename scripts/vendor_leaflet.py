"""Vendor Leaflet from the npm registry into asm_core/data/leaflet/ for self-contained reports.

The HTML report (`asm report`) must open from disk with no network, so the map library is
inlined from files shipped in the package. This script takes them from the npm `leaflet`
package (`npm pack`, the registry's own client), inlines the CSS's images as data URIs (the
report must load nothing), and writes leaflet.js, leaflet.css and the licence.

    python scripts/vendor_leaflet.py            # leaflet 1.9.4
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

DEST = Path(__file__).resolve().parents[1] / "asm_core" / "data" / "leaflet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="1.9.4")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leaflet-"))
    try:
        subprocess.run(["npm", "pack", f"leaflet@{args.version}", "--silent"], cwd=work, check=True)
        (tarball,) = work.glob("leaflet-*.tgz")
        with tarfile.open(tarball) as tar:
            tar.extractall(work, filter="data")
        dist = work / "package" / "dist"

        def inline(match: re.Match[str]) -> str:
            data = base64.b64encode((dist / match.group(1)).read_bytes()).decode()
            return f"url(data:image/png;base64,{data})"

        css = re.sub(r"url\((images/[\w-]+\.png)\)", inline, (dist / "leaflet.css").read_text())
        DEST.mkdir(parents=True, exist_ok=True)
        (DEST / "leaflet.css").write_text(css)
        shutil.copy(dist / "leaflet.js", DEST / "leaflet.js")
        shutil.copy(work / "package" / "LICENSE", DEST / "LICENSE")
        (DEST / "VERSION").write_text(f"leaflet {args.version} (npm)\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
