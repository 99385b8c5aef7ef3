"""Detection on the real Sentinel-2 development set (../shared/realdata/s2), per scene and per
landscape: mining found, false sites and false sites per 100 km², look-alikes flagged.

Labels are ours (tests/data/real_labels.yaml says how they were made); the data stay in ../shared.
The last line is one JSON object.

    python tests/bench/real.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asm_core.jobs.tile_job import run_item
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item
from tests.real_scenes import ABSENT, available, real_scenes, score_scene, summarise

#: The issue's bars (issue 12), for the figures this set can measure.
BARS = {"false_sites_per_100km2": 2.0, "lookalike_share_flagged": 0.15}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(".cache/bench-real"))
    parser.add_argument("--rules", type=Path, default=None)
    args = parser.parse_args()
    if not available():
        print(f"skipped: {ABSENT}")
        print(json.dumps({"skipped": ABSENT}))
        return
    shutil.rmtree(args.work, ignore_errors=True)
    started = time.perf_counter()
    scenes = real_scenes(args.work / "items")
    results = args.work / "results"
    rules = load_rules(args.rules)
    for scene in scenes:
        run = run_item(load_item(str(scene.item_path)), rules, results)
        if run.status != "ok":
            print(f"{scene.name}: {run.status}: {run.error}")
    scores = [score_scene(s, results) for s in scenes]
    print(
        f"{'scene':<14}{'landscape':<20}{'km²':>6}{'sites':>6}{'false':>6}{'ha':>8}"
        f"{'turbid':>7}{'look-alikes':>12}  found  suppressed"
    )
    for s in scores:
        found = "-" if s.found is None else ("yes" if s.found else "NO")
        print(
            f"{s.name:<14}{s.landscape:<20}{s.area_km2:>6.1f}{s.sites:>6}{s.false_sites:>6}"
            f"{s.site_area_ha:>8.1f}{s.turbid_reaches:>7}"
            f"{f'{s.lookalikes_flagged}/{s.lookalikes}':>12}  {found:<6} {s.suppressed}"
        )
    by_landscape = defaultdict(list)
    for s in scores:
        by_landscape[s.landscape].append(s)
    print()
    landscapes = {name: summarise(group) for name, group in sorted(by_landscape.items())}
    for name, fig in landscapes.items():
        print(
            f"{name:<20} false sites {fig['false_sites']} "
            f"({fig['false_sites_per_100km2']} per 100 km²), mining found "
            f"{fig['mining_found']}/{fig['mining_scenes']}, look-alikes flagged "
            f"{fig['lookalikes_flagged']}/{fig['lookalikes']}"
        )
    overall = summarise(scores)
    checks = {
        "false_sites_per_100km2": (overall["false_sites_per_100km2"] or 0)
        <= BARS["false_sites_per_100km2"],
        "lookalike_share_flagged": (overall["lookalike_share_flagged"] or 0)
        <= BARS["lookalike_share_flagged"],
    }
    print(f"\noverall: {overall}\nbars: {checks}")
    print(
        json.dumps(
            {
                **overall,
                "landscapes": landscapes,
                "bars_met": checks,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
