"""Score tracked site states against a synthetic series' truth (``asm synth --dates N``).

Each tracked site is matched to the planted site whose largest extent it overlaps most; a
planted site followed under several ids is a split (its earliest id is the one scored, a later
id's rows count where the earliest has none). Every truth row (site × date from the site's
first clear sighting on) is one site-date: right if the tracked state equals the truth state,
``missing`` if no tracked site has a row for it.

A site-date called ``new`` or ``inactive`` wrongly counts as caused by clouds when the truth
says the site was hidden on that date or on a date since its last clear look: the failure the
issue forbids outright.

The two alert errors are counted apart: a **false size change** is a site-date tracked
``expanding`` or ``contracting`` whose size did not change (share of such site-dates), and a
**false reactivation** a ``reactivated`` the truth does not have.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

from asm_core.errors import StateEvaluationError
from asm_core.results.rows import SiteRow, read_site_observations, read_sites

MISSING = "missing"
SIZE_CHANGES = ("expanding", "contracting")
STATE_ORDER = (
    "new",
    "persistent",
    "expanding",
    "contracting",
    "revegetating",
    "inactive",
    "reactivated",
    "unobserved",
    MISSING,
)


@dataclass
class StateEvaluation:
    """How well the tracked states match the truth."""

    site_dates: int
    correct: int
    confusion: dict[str, dict[str, int]]  # truth state -> tracked state -> count
    cloud_errors: list[dict[str, str]] = field(default_factory=list)
    false_sites: int = 0  # tracked sites over no planted site
    split_sites: int = 0  # planted sites followed under more than one id
    planted_sites: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.site_dates if self.site_dates else 0.0

    @property
    def steady_site_dates(self) -> int:
        """Site-dates whose size did not change (truth neither expanding nor contracting)."""
        return sum(sum(r.values()) for t, r in self.confusion.items() if t not in SIZE_CHANGES)

    @property
    def false_size_changes(self) -> int:
        return sum(
            n
            for t, row in self.confusion.items()
            if t not in SIZE_CHANGES
            for s, n in row.items()
            if s in SIZE_CHANGES
        )

    @property
    def false_size_change_rate(self) -> float:
        steady = self.steady_site_dates
        return self.false_size_changes / steady if steady else 0.0

    @property
    def false_reactivated(self) -> int:
        return sum(r.get("reactivated", 0) for t, r in self.confusion.items() if t != "reactivated")

    def as_dict(self) -> dict[str, Any]:
        return {
            "site_dates": self.site_dates,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "steady_site_dates": self.steady_site_dates,
            "false_size_changes": self.false_size_changes,
            "false_size_change_rate": round(self.false_size_change_rate, 4),
            "false_reactivated": self.false_reactivated,
            "planted_sites": self.planted_sites,
            "false_sites": self.false_sites,
            "split_sites": self.split_sites,
            "cloud_errors": self.cloud_errors,
            "confusion": self.confusion,
        }


def _read_truth(truth_dir: Path) -> tuple[dict[str, shapely.Geometry], list[dict[str, str]]]:
    sites_file, states_file = truth_dir / "truth_sites.geojson", truth_dir / "site_states.csv"
    for needed in (sites_file, states_file):
        if not needed.is_file():
            raise StateEvaluationError(
                f"{str(needed)!r} not found: --truth must be a folder written by "
                "'asm synth --dates N'"
            )
    features = json.loads(sites_file.read_text(encoding="utf-8"))["features"]
    extents = {f["properties"]["site"]: shape(f["geometry"]) for f in features}
    with states_file.open(encoding="utf-8", newline="") as f:
        states = list(csv.DictReader(f))
    return extents, states


def _match(
    extents: dict[str, shapely.Geometry], tracked: list[SiteRow]
) -> tuple[dict[str, list[str]], int]:
    """Planted site -> its tracked site ids, earliest first; and the count of unmatched ids."""
    matched: dict[str, list[tuple[Any, str]]] = defaultdict(list)
    unmatched = 0
    for site in tracked:
        footprint = shapely.from_wkb(site["geometry"])
        overlaps = {k: footprint.intersection(e).area for k, e in extents.items()}
        best = max(overlaps, key=lambda k: overlaps[k], default=None)
        if best is None or overlaps[best] <= 0:
            unmatched += 1
            continue
        matched[best].append((site["first_seen"], site["site_id"]))
    return {k: [sid for _, sid in sorted(v)] for k, v in matched.items()}, unmatched


def evaluate_states(truth_dir: Path, results: Path) -> StateEvaluation:
    """Score ``results``' sites and site_observations against the series in ``truth_dir``."""
    extents, truth_rows = _read_truth(truth_dir)
    if not (results / "sites").is_dir():
        raise StateEvaluationError(
            f"results folder {str(results)!r} has no sites/: run 'asm sites --results' first"
        )
    tracked = read_sites(results)
    observed: dict[tuple[str, str], str] = {}
    for look in read_site_observations(results):
        observed[(look["site_id"], look["item_id"])] = look["state"]
    ids, false_sites = _match(extents, tracked)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    cloud_errors, correct = [], 0
    hidden_last_look: dict[str, bool] = defaultdict(bool)
    for row in truth_rows:
        site, item_id, truth = row["site"], row["item_id"], row["state"]
        candidates = [observed.get((sid, item_id)) for sid in ids.get(site, [])]
        predicted = next((s for s in candidates if s is not None), MISSING)
        confusion[truth][predicted] += 1
        correct += predicted == truth
        cloudy = truth == "unobserved" or hidden_last_look[site]
        if predicted in ("new", "inactive") and predicted != truth and cloudy:
            cloud_errors.append(
                {"site": site, "item_id": item_id, "truth": truth, "tracked": predicted}
            )
        later_new = any(s == "new" for s in candidates[1:]) and truth != "new"
        if later_new and cloudy:
            cloud_errors.append(
                {"site": site, "item_id": item_id, "truth": truth, "tracked": "new (second id)"}
            )
        hidden_last_look[site] = truth == "unobserved"
    order = {s: i for i, s in enumerate(STATE_ORDER)}
    return StateEvaluation(
        site_dates=len(truth_rows),
        correct=correct,
        confusion={
            t: dict(sorted(confusion[t].items(), key=lambda kv: order.get(kv[0], 99)))
            for t in sorted(confusion, key=lambda s: order.get(s, 99))
        },
        cloud_errors=cloud_errors,
        false_sites=false_sites,
        split_sites=sum(1 for v in ids.values() if len(v) > 1),
        planted_sites=len(extents),
    )


def confusion_table(result: StateEvaluation) -> str:
    """The confusion matrix of states as text (rows: truth, columns: tracked)."""
    columns = [s for s in STATE_ORDER if any(s in row for row in result.confusion.values())]
    width = max(len(s) for s in STATE_ORDER) + 1
    lines = ["truth \\ tracked".ljust(width) + "".join(c[:11].rjust(12) for c in columns)]
    order = {state: i for i, state in enumerate(STATE_ORDER)}
    for truth in sorted(result.confusion, key=lambda t: order.get(t, len(order))):
        row = result.confusion[truth]
        lines.append(truth.ljust(width) + "".join(str(row.get(c, 0)).rjust(12) for c in columns))
    lines.append(
        f"site-dates {result.site_dates}, right {result.correct} ({result.accuracy:.1%}); "
        f"planted sites {result.planted_sites}, false sites {result.false_sites}, "
        f"split sites {result.split_sites}, cloud errors {len(result.cloud_errors)}",
    )
    lines.append(
        f"unchanged site-dates tracked expanding or contracting: {result.false_size_changes}"
        f" of {result.steady_site_dates} ({result.false_size_change_rate:.1%}); "
        f"false reactivated: {result.false_reactivated}"
    )
    return "\n".join(lines)
