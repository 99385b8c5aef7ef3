"""Mutation testing of the modules that decide results: do the tests notice a deliberate bug?

cosmic-ray (from PyPI) makes every mutant of each listed module (an operator swapped, a
comparison turned, a constant changed, a line removed …) and runs that module's own tests
against it; a mutant the tests pass *survived*. This prints, per module, the mutants, how many
were killed, the score and the survivors (file, line, operator) with the reason a survivor is
equivalent where one is known (:data:`EQUIVALENT`), then one JSON line.

It works on a copy of the repository (cosmic-ray edits files in place), imported ahead of the
installed package through PYTHONPATH, so the working tree is never touched. Not part of the
default test run: a module takes minutes.

    python tests/bench/mutation.py                       # every module below
    python tests/bench/mutation.py --module reflectance  # the modules whose name contains it
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: module → the tests that are its own (the issue's list: rules/kernel, reflectance,
#: look-alikes, confidence, sites, observed, results paths, sql, API errors)
MODULES: dict[str, tuple[str, ...]] = {
    "asm_core/detection/pixels/rule_table.py": ("tests/core/test_pixel_kernel.py",),
    "asm_core/rules/pixel_rules.py": ("tests/core/test_rules.py",),
    "asm_core/spectral/reflectance.py": ("tests/core/test_reflectance.py",),
    "asm_core/detection/objects/lookalikes.py": ("tests/core/test_lookalikes.py",),
    "asm_core/detection/objects/confidence.py": (
        "tests/core/test_confidence.py",
        "tests/core/test_disturbance.py",
    ),
    "asm_core/monitoring/site_states.py": ("tests/core/test_site_state_machine.py",),
    "asm_core/detection/objects/observed.py": ("tests/core/test_observed.py",),
    "asm_core/results/result_paths.py": ("tests/core/test_result_paths.py",),
    "asm_core/results/sql.py": ("tests/core/test_sql.py",),
    "functions/asm_watch_functions/api/app.py": ("tests/functions/test_api.py",),
}
#: survivors that cannot be killed because the mutant behaves as the original, by (module,
#: operator, the mutated line's code stripped: it survives edits elsewhere in the module): why
EQUIVALENT: dict[tuple[str, str, str], str] = {
    (
        "asm_core/rules/pixel_rules.py",
        "core/ReplaceComparisonOperator_Eq_Is",
        "if (self.index is None) == (self.band is None):",
    ): "both sides are bools, and True and False are singletons: `is` compares as `==` does",
    **{
        (
            "asm_core/detection/objects/confidence.py",
            f"core/ReplaceComparisonOperator_Lt_{to}",
            "if len(plain) < len(scores) and _mean(plain, weights) > value:",
        ): "without a bonus-only cue the plain scores are the scores: their mean is the value, "
        "so the branch cannot be taken whatever the lengths' comparison says"
        for to in ("NotEq", "LtE", "IsNot")
    },
    **{
        ("asm_core/monitoring/site_states.py", operator, code): "the states are string "
        "literals of this module, which CPython interns: `is` compares them as `==` does"
        for operator, code in (
            ("Eq_Is", 'partly_missed = size == "contracting" and greened is False'),
            ("Eq_Is", 'rebound = size == "expanding" and self._regained_bare_ground(look)'),
            ("Eq_Is", 'if self.state == "inactive":'),
            ("Eq_Is", 'elif size == "expanding" and not rebound:'),
            ("Eq_Is", 'elif size == "contracting":'),
            ("NotEq_IsNot", 'if state != "revegetating":'),
            ("Eq_Is", 'return "inactive" if self.state == "inactive" else "persistent"'),
            ("Eq_Is", 'elif self.state == "inactive":'),
        )
        for operator in [f"core/ReplaceComparisonOperator_{operator}"]
    },
    **{
        ("asm_core/monitoring/site_states.py", operator, code): why
        for operator, code, why in (
            (
                "core/ReplaceComparisonOperator_Is_Eq",
                'partly_missed = size == "contracting" and greened is False',
                "greened is True, False or None, and only False equals False",
            ),
            (
                "core/ReplaceComparisonOperator_NotEq_IsNot",
                "if direction != self.held_direction:",
                "directions are -1, 0 and 1, small ints CPython keeps one of each",
            ),
            (
                "core/ReplaceComparisonOperator_GtE_Eq",
                "if self.misses >= s.inactive_after_clear_looks:",
                "misses grow by one from 0, so they meet the limit before passing it, and "
                "a site once inactive stays so until detected (which resets them)",
            ),
            (
                "core/ReplaceComparisonOperator_GtE_Is",
                "if self.misses >= s.inactive_after_clear_looks:",
                "as >= to ==: small ints are one object each in CPython",
            ),
            (
                "core/NumberReplacer",
                "extent_m2: float = 0.0  # worked extent, when detected",
                "a look that was not detected has no extent, and no state reads it",
            ),
            (
                "core/NumberReplacer",
                "perimeter_m: float = 0.0  # of the worked extent",
                "a look that was not detected has no perimeter, and no state reads it",
            ),
            (
                "core/NumberReplacer",
                "held_direction: int = 0",
                "nothing is held before the first direction is set, and releasing an empty "
                "hold changes nothing",
            ),
            (
                "core/ReplaceTrueWithFalse",
                "self._level(look, reset=True)",
                "the first look's levels are empty: resetting them changes nothing",
            ),
        )
    },
    **{
        ("functions/asm_watch_functions/api/app.py", operator, code): why
        for operator, code, why in (
            (
                "core/NumberReplacer",
                "MAX_PAGE_BYTES = 5_000_000",
                "a byte either way of a cap that keeps pages well under Lambda's 6 MB",
            ),
            (
                "core/NumberReplacer",
                'if _require_api_key[0] and not identity.get("apiKeyId"):',
                "the list holds one flag: index -1 is index 0 (an index of 1 fails every "
                "keyed request, which the tests see)",
            ),
            (
                "core/ReplaceComparisonOperator_GtE_Eq",
                "if status >= HTTPStatus.INTERNAL_SERVER_ERROR:",
                "502 and 503 are answered above; the only other status of 500 or more the "
                "table maps to is 500",
            ),
            (
                "core/ReplaceComparisonOperator_Lt_NotEq",
                "if len(features) < len(rows) or len(rows) == query.limit:",
                "a page never holds more features than the rows it was made from",
            ),
        )
    },
    (
        "asm_core/detection/objects/observed.py",
        "core/NumberReplacer",
        "name: zlib.compress(codes.tobytes(), 6),",
    ): "the compression level changes the bytes stored, never the grid read back",
    (
        "asm_core/detection/objects/confidence.py",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        "return sum(w[name] * scores[name] for name in w) / total if total > 0 else 0.0",
    ): "weights are at least 0 (the rule model), so a total that is not 0 is above it",
}
#: seconds a mutant's tests may take before it counts as killed (an infinite loop)
TIMEOUT_S = 300.0


def _config(module: str, tests: tuple[str, ...], copy: Path) -> str:
    command = " ".join(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    )
    return (
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {TIMEOUT_S}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )


def _run_module(module: str, tests: tuple[str, ...], copy: Path) -> dict[str, object]:
    work = copy / ".mutation"
    work.mkdir(exist_ok=True)
    name = Path(module).stem
    config, session = work / f"{name}.toml", work / f"{name}.sqlite"
    config.write_text(_config(module, tests, copy))
    env = os.environ | {"PYTHONPATH": f"{copy}{os.pathsep}{copy / 'functions'}"}
    cosmic = [sys.executable, "-m", "cosmic_ray.cli"]
    subprocess.run([*cosmic, "init", str(config), str(session)], cwd=copy, env=env, check=True)
    started = time.perf_counter()
    subprocess.run(
        [*cosmic, "exec", str(config), str(session)],
        cwd=copy,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return _score(module, session, time.perf_counter() - started)


def _annotation_only_lines(module: str) -> set[int]:
    """Lines whose ``|`` operators are all in annotations: under ``from __future__ import
    annotations`` those are never evaluated, so swapping them changes nothing."""
    tree = ast.parse((ROOT / module).read_text())
    annotations = [
        node.annotation
        for node in ast.walk(tree)
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None
    ] + [
        node.returns
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.returns
    ]
    inside = {
        sub.lineno
        for annotation in annotations
        for sub in ast.walk(annotation)
        if isinstance(sub, ast.BinOp)
    }
    outside = {
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)
    } - inside
    return inside - outside


def _equivalent(module: str, line: int, operator: str, annotation_lines: set[int]) -> str | None:
    code = (ROOT / module).read_text().splitlines()[line - 1].strip()
    if (module, operator, code) in EQUIVALENT:
        return EQUIVALENT[(module, operator, code)]
    if operator.startswith("core/ReplaceBinaryOperator_BitOr_") and line in annotation_lines:
        return "a | in a type annotation, never evaluated"
    return None


def _score(module: str, session: Path, seconds: float) -> dict[str, object]:
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT m.operator_name, m.start_pos_row, r.test_outcome "
            "FROM mutation_specs m JOIN work_results r ON m.job_id = r.job_id"
        ).fetchall()
    # outcomes are stored by name (SURVIVED, KILLED, INCOMPETENT: a mutant that cannot run)
    outcomes = [(op, line, str(outcome).lower()) for op, line, outcome in rows]
    rows = [r for r in outcomes if r[2] != "incompetent"]
    survivors = [(line, op) for op, line, outcome in rows if outcome == "survived"]
    annotation_lines = _annotation_only_lines(module)
    explained = {
        (line, op): why
        for line, op in survivors
        if (why := _equivalent(module, line, op, annotation_lines)) is not None
    }
    killed = len(rows) - len(survivors)
    scored = len(rows) - len(explained)
    return {
        "module": module,
        "mutants": len(rows),
        "killed": killed,
        "equivalent": len(explained),
        "score": round(killed / scored, 3) if scored else None,
        "seconds": round(seconds, 1),
        "survivors": [
            {"line": line, "operator": op, "equivalent": explained.get((line, op))}
            for line, op in sorted(survivors)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="", help="run the modules whose path contains this")
    args = parser.parse_args()
    chosen = {m: t for m, t in MODULES.items() if args.module in m}
    if not chosen:
        raise SystemExit(f"no module matches {args.module!r}; modules: {', '.join(MODULES)}")
    if shutil.which("git") is None:
        raise SystemExit("git is needed to copy the repository")
    results = []
    with tempfile.TemporaryDirectory(prefix="asm-mutation-") as tmp:
        copy = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(copy)], check=True)
        shared = ROOT.parent / "shared"
        if shared.is_dir():  # the real-imagery tests look for ../shared beside the clone
            (copy.parent / "shared").symlink_to(shared)
        for module, tests in chosen.items():
            result = _run_module(module, tests, copy)
            results.append(result)
            print(
                f"{module}: {result['killed']}/{result['mutants']} killed, "
                f"{result['equivalent']} equivalent, score {result['score']} "
                f"({result['seconds']} s)"
            )
            reasons = Counter(
                s["equivalent"]
                for s in result["survivors"]  # type: ignore[attr-defined]
                if s["equivalent"]
            )
            for why, count in sorted(reasons.items()):
                print(f"  equivalent: {count} × {why}")
            for survivor in result["survivors"]:  # type: ignore[attr-defined]
                if not survivor["equivalent"]:
                    print(f"  survived: line {survivor['line']} {survivor['operator']}")
    total = sum(int(r["mutants"]) for r in results)  # type: ignore[call-overload]
    killed = sum(int(r["killed"]) for r in results)  # type: ignore[call-overload]
    equivalent = sum(int(r["equivalent"]) for r in results)  # type: ignore[call-overload]
    summary = {
        "modules": {str(r["module"]): r["score"] for r in results},
        "mutants": total,
        "killed": killed,
        "equivalent": equivalent,
        "score": round(killed / (total - equivalent), 3) if total - equivalent else None,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
