"""Detection accuracy on a synthetic evaluation set the tests never use.

Generates N scenes with planted sites and look-alikes plus M look-alike-only scenes (seeds from
9200 and 9700, which no test uses), runs `asm detect` and `asm evaluate` on each set, and prints
the scores next to the bars of issue 2. The last line is one JSON object.

    python tests/bench/accuracy.py            # 10 + 5 scenes of 2048² px (a few minutes)
    python tests/bench/accuracy.py --scenes 3 --lookalike-scenes 2 --size 1024   # quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from asm_command import run_asm

from asm_core.evaluate import evaluate

BARS = {"recall": 0.90, "precision": 0.90, "pixel_iou": 0.70, "false_sites_per_100km2": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=10)
    parser.add_argument("--lookalike-scenes", type=int, default=5)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--work", type=Path, default=Path(".cache/bench-accuracy"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    started = time.perf_counter()
    figures = {}
    for name, seed, count, lookalikes in (
        ("mixed", 9200, args.scenes, False),
        ("lookalikes", 9700, args.lookalike_scenes, True),
    ):
        scenes, results = args.work / f"{name}-scenes", args.work / f"{name}-results"
        extra = ["--lookalikes-only"] if lookalikes else []
        run_asm(
            "synth",
            "--out",
            str(scenes),
            "--seed",
            str(seed),
            "--count",
            str(count),
            "--size",
            str(args.size),
            *extra,
        )
        items = sorted(str(p) for p in scenes.glob("*/*_L2A.json"))
        run_asm("detect", *items, "--out", str(results))
        figures[name] = evaluate(scenes / "truth.geojson", results).as_dict()
    mixed, clean = figures["mixed"], figures["lookalikes"]
    summary = {
        "scenes": args.scenes,
        "lookalike_scenes": args.lookalike_scenes,
        "size_px": args.size,
        "recall": mixed["recall"],
        "precision": mixed["precision"],
        "f1": mixed["f1"],
        "pixel_iou": mixed["pixel_iou"],
        "labelled_sites_in_scope": mixed["truth_sites_in_scope"],
        "out_of_scope": mixed["out_of_scope"],
        "false_sites_per_100km2_lookalikes_only": clean["false_sites_per_100km2"],
        "lookalike_area_km2": clean["area_km2"],
        "turbid": mixed["turbid"],
        "confusion": mixed["confusion"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    checks = {
        "recall": summary["recall"] >= BARS["recall"],
        "precision": summary["precision"] >= BARS["precision"],
        "pixel_iou": (summary["pixel_iou"] or 0) >= BARS["pixel_iou"],
        "false_sites_per_100km2": summary["false_sites_per_100km2_lookalikes_only"]
        <= BARS["false_sites_per_100km2"],
    }
    for key, ok in checks.items():
        print(f"{key:<28} bar {BARS[key]:<6} {'meets' if ok else 'MISSES'}", file=sys.stderr)
    summary["bars_met"] = all(checks.values())
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
