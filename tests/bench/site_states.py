"""Site-state accuracy over time on synthetic series the tests never use.

Generates N two-year series of one tile (seeds from 9300, which no test uses; 12 looks 60 days
apart, seven site stories among them gradual regrowth, seasons with pits flooded in the rains,
clouds hiding sites), runs `asm detect` (each look with its same-season baseline from the
others), `asm sites` and `asm evaluate-sites` on each, and prints the summed confusion matrix
of states next to the bars of issues 6 and 13: state agreement, no cloud errors, unchanged
sites tracked expanding or contracting on at most 2 % of their site-dates, no false
reactivation. The last line is one JSON object.

    python tests/bench/site_states.py              # 8 series of 768² px (several minutes)
    python tests/bench/site_states.py --series 2   # quick look
    python tests/bench/site_states.py --first-seed 9400   # eight other series
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path

from asm_command import run_asm

from asm_core.evaluation.state_evaluation import StateEvaluation, confusion_table, evaluate_states

BARS = {
    "accuracy": 0.97,
    "cloud_errors": 0,
    "false_size_change_rate": 0.02,
    "false_reactivated": 0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=9300, help="no test uses 9300-9499")
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--work", type=Path, default=Path(".cache/bench-site-states"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    started = time.perf_counter()
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    totals = Counter[str]()
    cloud_errors: list[dict[str, str]] = []
    for seed in range(args.first_seed, args.first_seed + args.series):
        scenes, results = args.work / f"{seed}" / "scenes", args.work / f"{seed}" / "results"
        run_asm("synth", "--out", str(scenes), "--seed", str(seed), "--dates", "12",
             "--revisit-days", "60", "--size", str(args.size))  # fmt: skip
        items = sorted(str(p) for p in scenes.glob("S2*/S2*.json"))
        run_asm("detect", *items, "--out", str(results))
        run_asm(
            "sites",
            "--results",
            str(results),
            "--context",
            f"rivers={scenes / 'context' / 'rivers.geojson'}",
        )
        result = evaluate_states(scenes, results)
        for truth, row in result.confusion.items():
            confusion[truth].update(row)
        totals.update(
            site_dates=result.site_dates,
            correct=result.correct,
            planted_sites=result.planted_sites,
            false_sites=result.false_sites,
            split_sites=result.split_sites,
        )
        cloud_errors += result.cloud_errors
    summed = StateEvaluation(
        site_dates=totals["site_dates"],
        correct=totals["correct"],
        confusion={t: dict(r) for t, r in confusion.items()},
        cloud_errors=cloud_errors,
        false_sites=totals["false_sites"],
        split_sites=totals["split_sites"],
        planted_sites=totals["planted_sites"],
    )
    last = args.first_seed + args.series - 1
    seeds = f"seeds {args.first_seed}-{last}"
    print(f"\n{args.series} series ({seeds}) of {args.size}² px, 12 looks each\n")
    print(confusion_table(summed))
    figures = summed.as_dict() | {
        "seeds": seeds,
        "seconds": round(time.perf_counter() - started, 1),
    }
    figures["bars"] = {
        "accuracy": summed.accuracy >= BARS["accuracy"],
        "cloud_errors": len(cloud_errors) <= BARS["cloud_errors"],
        "false_size_change_rate": summed.false_size_change_rate <= BARS["false_size_change_rate"],
        "false_reactivated": summed.false_reactivated <= BARS["false_reactivated"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
