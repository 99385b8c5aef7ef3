"""After each scan (or on demand): bring the sites up to date and say what is news.

:func:`update_monitoring` runs the incremental site tracking (:mod:`asm_core.monitoring.sites`),
then collects the alerts of the looks it had not seen before (:mod:`asm_core.monitoring.alerts`,
:mod:`asm_core.monitoring.turbidity`) into ``alerts.geojson`` at the top of the results
folder, each with its before/after evidence chip in ``chips/`` beside it
(:mod:`asm_core.monitoring.evidence_chips`).

Two updates of one folder at once (``asm sites`` beside a scan, two scans of ``asm serve``)
would each write tables without the other's tiles, so they take turns on a lock file.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from asm_core.detection.objects.observed import clear_share_lookup
from asm_core.monitoring.alerts import (
    ALERTS_FILE,
    AlertFeature,
    bare_before,
    country_summary,
    site_alerts,
    write_alerts,
)
from asm_core.monitoring.context import ContextLayer
from asm_core.monitoring.evidence_chips import CHIPS_FOLDER, attach_chips
from asm_core.monitoring.sites import SiteUpdate, build_site_tables
from asm_core.monitoring.turbidity import TurbidityVerdict, turbidity_alerts
from asm_core.results.store import read_table
from asm_core.rules import TrackingSettings

RIVERS = "rivers"
#: the lock file that makes site updates of one results folder take turns
SITE_UPDATE_LOCK = ".site-update.lock"


@dataclass(frozen=True)
class MonitorUpdate:
    """The site update, the alerts written, and how the turbid reaches were judged."""

    sites: SiteUpdate
    alerts: list[AlertFeature]
    turbidity: TurbidityVerdict
    alerts_path: Path
    bare_before: int = 0  # new sites not alerted: the baseline shows them bare already
    chips: int = 0  # evidence chips written (beside the alerts, in chips/)

    def summary(self) -> dict[str, Any]:
        """What a scan summary says of the update (JSON-ready)."""
        return {
            "sites": self.sites.sites,
            "site_states": self.sites.states,
            "tiles_tracked": self.sites.tiles_tracked,
            "alerts": len(self.alerts),
            "alerts_by_country": country_summary(self.alerts),
            "alerts_file": str(self.alerts_path),
            "evidence_chips": self.chips,
            "new_sites_bare_before": self.bare_before,
        }


@contextmanager
def site_update_lock(results: Path) -> Iterator[None]:
    """Wait for, then hold, the folder's site update lock: an advisory lock (flock) that the
    system releases when its holder exits, so a killed update leaves no stale lock behind."""
    results.mkdir(parents=True, exist_ok=True)
    with (results / SITE_UPDATE_LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_monitoring(
    results: Path,
    settings: TrackingSettings,
    context: Sequence[ContextLayer] | None = None,
    rebuild: bool = False,
    gdal_options: Mapping[str, str | bool | int] | None = None,
) -> MonitorUpdate:
    """Update ``sites``/``site_observations`` and write the alerts of the new looks with their
    evidence chips (the looks' bands read with ``gdal_options``); one update of a folder at a
    time."""
    with site_update_lock(results):
        return _update_monitoring(results, settings, context, rebuild, gdal_options)


def _update_monitoring(
    results: Path,
    settings: TrackingSettings,
    context: Sequence[ContextLayer] | None,
    rebuild: bool,
    gdal_options: Mapping[str, str | bool | int] | None,
) -> MonitorUpdate:
    update = build_site_tables(results, settings, context, rebuild=rebuild)
    sites = read_table(results, "sites").to_pylist()
    observed = read_table(results, "site_observations").to_pylist()
    runs = read_table(results, "tile_runs").to_pylist()
    detections = read_table(results, "detections")
    news = sorted(update.news)
    fresh = detections.filter(pc.field("item_id").isin(news)).to_pylist() if news else []
    tiles = sorted({str(r["mgrs_tile"]) for r in runs if r["item_id"] in update.news})
    turbid = (
        detections.filter(
            (pc.field("class") == "turbid_water") & pc.field("mgrs_tile").isin(tiles)
        ).to_pylist()
        if tiles
        else []
    )
    rivers = next((layer for layer in update.context if layer.name == RIVERS), None)
    clear_share = clear_share_lookup(runs)
    verdict = turbidity_alerts(turbid, runs, update.news, sites, clear_share, settings, rivers)
    bare_ndvi = settings.bare_baseline_ndvi
    alerts = site_alerts(sites, observed, fresh, update.news, settings) + verdict.alerts
    by_id = {site["site_id"]: site for site in sites}
    already_bare = sum(
        1
        for row in observed
        if row["item_id"] in update.news
        and row["state"] == "new"
        and bare_before(by_id[row["site_id"]], bare_ndvi)
    )
    chips = attach_chips(
        alerts,
        runs,
        results / CHIPS_FOLDER,
        clear_share,
        settings.min_clear_share,
        gdal_options,
    )
    path = results / ALERTS_FILE
    write_alerts(path, alerts)
    return MonitorUpdate(update, alerts, verdict, path, already_bare, chips)
