"""The site tables of a results folder, built per group of tiles and only where something changed.

``sites``, ``site_observations`` and ``site_context`` are rebuilt from the detections and
tile_runs of the tiles whose runs changed since the last build (a digest per tile, kept with the
tracking settings' hash in the sites file's metadata); the other tiles' rows are kept. How sites
are followed over dates is :mod:`asm_core.monitoring.tracking`; their rows and states,
:mod:`asm_core.monitoring.site_rows` and :mod:`asm_core.monitoring.site_states`.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from asm_core.detection.objects.observed import clear_share_lookup, footprint_ndvi_lookup
from asm_core.monitoring.context import ContextLayer, keep_layers, kept_layers
from asm_core.monitoring.site_rows import observations, site_rows, with_context
from asm_core.monitoring.tracking import track
from asm_core.planning.site_groups import (
    SITE_TABLES,
    group_file,
    groups_stored,
    legacy_file,
    site_group,
)
from asm_core.results.rows import SiteObservationRow, SiteRow, TileRunRow, read_tile_runs
from asm_core.results.schema import (
    DETECTIONS,
    SITE_OBSERVATIONS,
    SITES,
    covering_bbox,
)
from asm_core.results.store import read_table, rows_table, write_atomic
from asm_core.rules import TrackingSettings, load_rules


@dataclass(frozen=True)
class SiteUpdate:
    """What :func:`build_site_tables` did."""

    sites: int
    states: dict[str, int]
    tiles_tracked: int  # tiles whose sites were worked out again
    tiles_kept: int  # tiles with nothing new since the last build, kept as they were
    news: frozenset[str] = frozenset()  # items newer than their tile's last tracked look
    context: tuple[ContextLayer, ...] = ()  # the layers the sites are related to


#: Parquet metadata of a group's sites file: the tracking settings and, per tile, a digest of
#: the tile-runs it saw and the date of the latest one.
TRACKING_METADATA = b"asm:tracking"


def _tile_digests(runs: Sequence[TileRunRow]) -> dict[str, str]:
    """A digest per tile of the tile-runs the tracking used (item, status and rule set)."""
    per_tile: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        if run.get("mgrs_tile"):
            per_tile[str(run["mgrs_tile"])].append(
                f"{run['item_id']}|{run.get('status')}|{run.get('ruleset_hash')}"
            )
    return {
        tile: hashlib.sha1("\n".join(sorted(keys)).encode(), usedforsecurity=False).hexdigest()
        for tile, keys in sorted(per_tile.items())
    }


@dataclass
class _PreviousBuild:
    """What the last build of one site group recorded: per tile, the digest of the tile-runs
    it saw and the date of the latest; the group's site and observation rows."""

    tiles: dict[str, dict[str, str]] = field(default_factory=dict)
    sites: list[SiteRow] = field(default_factory=list)
    observed: list[SiteObservationRow] = field(default_factory=list)


#: what a build keeps of its sites: the row bboxes are made again from the footprints (files
#: written before sites had them have none)
_KEPT_SITE_COLUMNS = pa.schema([f for f in SITES if f.name != "bbox"])


def _read_build(
    sites_file: Path, observations_file: Path, settings_hash: str
) -> _PreviousBuild | None:
    """A build's files, if both exist and it used the same settings (None otherwise: its tiles
    are tracked again)."""
    if not (sites_file.is_file() and observations_file.is_file()):
        return None
    metadata = pq.read_schema(sites_file).metadata or {}
    recorded = json.loads(metadata.get(TRACKING_METADATA, b"{}"))
    if recorded.get("settings") != settings_hash:
        return None
    return _PreviousBuild(
        dict(recorded.get("tiles", {})),
        [
            cast(SiteRow, r | {"bbox": covering_bbox(shapely.from_wkb(r["geometry"]).bounds)})
            for r in pq.read_table(sites_file, columns=_KEPT_SITE_COLUMNS.names)
            .cast(_KEPT_SITE_COLUMNS)
            .to_pylist()
        ],
        cast(
            list[SiteObservationRow],
            pq.read_table(observations_file).cast(SITE_OBSERVATIONS).to_pylist(),
        ),
    )


def _previous_build(
    results: Path, group: str, settings_hash: str, legacy: _PreviousBuild | None
) -> _PreviousBuild:
    """The group's last build; before its first, its share of a one-file (legacy) build."""
    if group_file(results, "sites", group).is_file():
        found = _read_build(
            group_file(results, "sites", group),
            group_file(results, "site_observations", group),
            settings_hash,
        )
        return found or _PreviousBuild()
    if legacy is None:
        return _PreviousBuild()
    mine = {t: v for t, v in legacy.tiles.items() if site_group(t) == group}
    return _PreviousBuild(
        mine,
        [r for r in legacy.sites if r["mgrs_tile"] in mine],
        [r for r in legacy.observed if r["mgrs_tile"] in mine],
    )


@dataclass
class _GroupBuild:
    """One group's share of a :class:`SiteUpdate`."""

    states: list[str]
    tracked: int
    kept: int
    news: set[str]


def build_site_tables(
    results: Path,
    settings: TrackingSettings | None = None,
    context: Sequence[ContextLayer] | None = None,
    rebuild: bool = False,
) -> SiteUpdate:
    """Bring ``sites``, ``site_observations`` and ``site_context`` up to date with a results
    folder's detections and tile_runs, with the context layers' columns on the sites: the
    layers given, which the folder keeps (``context_layers/``), or without any, those it kept
    last time (an update without ``--context`` does not wipe the context).

    One file per table and site group (:mod:`asm_core.planning.site_groups`), each group built
    apart. Incremental by tile: only tiles with tile-runs the last build did not see (a new date, a
    re-run, a different rule set) are tracked again, from their whole history, so the result
    is the same as tracking everything from scratch (``rebuild``), which happens anyway when the
    tracking settings changed. Deterministic: the same results give the same ids. A folder of
    an older release (one file per table) is split into groups, then its files are removed.
    """
    settings = settings or load_rules().tracking
    if context is None:
        context = kept_layers(results)
    else:
        keep_layers(results, list(context))
    settings_hash = settings.content_hash
    runs = read_tile_runs(results)
    legacy = (
        None
        if rebuild
        else _read_build(
            legacy_file(results, "sites"), legacy_file(results, "site_observations"), settings_hash
        )
    )
    by_group: dict[str, list[TileRunRow]] = defaultdict(list)
    for run in runs:
        tile = run.get("mgrs_tile")
        if tile:
            by_group[site_group(tile)].append(run)
    for group in groups_stored(results) | {site_group(t) for t in (legacy.tiles if legacy else {})}:
        by_group.setdefault(group, [])
    detections = read_table(results, "detections") if by_group else DETECTIONS.empty_table()
    built = [
        _build_group(
            results,
            group,
            by_group[group],
            detections,
            settings,
            settings_hash,
            context,
            _PreviousBuild() if rebuild else _previous_build(results, group, settings_hash, legacy),
        )
        for group in sorted(by_group)
    ]
    for table in SITE_TABLES:  # split into groups above: the one-file tables go (sites last)
        legacy_file(results, table).unlink(missing_ok=True)
    return _site_update(built, context)


def _site_update(built: list[_GroupBuild], context: Sequence[ContextLayer]) -> SiteUpdate:
    states: dict[str, int] = defaultdict(int)
    for part in built:
        for state in part.states:
            states[state] += 1
    return SiteUpdate(
        sum(len(part.states) for part in built),
        dict(sorted(states.items())),
        sum(part.tracked for part in built),
        sum(part.kept for part in built),
        frozenset(item for part in built for item in part.news),
        tuple(context),
    )


def _build_group(
    results: Path,
    group: str,
    runs: list[TileRunRow],
    detections_table: pa.Table,
    settings: TrackingSettings,
    settings_hash: str,
    context: Sequence[ContextLayer],
    previous: _PreviousBuild,
) -> _GroupBuild:
    """Track one site group's stale tiles again and write its three files."""
    known = previous.tiles
    digests = _tile_digests(runs)
    stale = {t for t, digest in digests.items() if known.get(t, {}).get("digest") != digest}
    news = {
        str(r["item_id"])
        for r in runs
        if r["mgrs_tile"] in stale
        and r["acquired"] is not None
        and r["acquired"].isoformat() > known.get(str(r["mgrs_tile"]), {}).get("last", "")
    }
    kept_sites = [r for r in previous.sites if r["mgrs_tile"] not in stale]
    kept_observed = [r for r in previous.observed if r["mgrs_tile"] not in stale]
    detections = (
        detections_table.filter(pc.field("mgrs_tile").isin(sorted(stale)))
        if stale
        else DETECTIONS.empty_table()
    ).to_pylist()
    stale_runs = [r for r in runs if r["mgrs_tile"] in stale]
    clear_share = clear_share_lookup(stale_runs)
    tracked = track(detections, settings, {str(r["item_id"]): r for r in stale_runs})
    fresh = observations(
        tracked, stale_runs, clear_share, settings, footprint_ndvi_lookup(stale_runs)
    )
    rows = site_rows(tracked, fresh)
    observed = sorted(
        fresh + kept_observed, key=lambda r: (r["mgrs_tile"], r["site_id"], r["acquired"])
    )
    rows = sorted(rows + kept_sites, key=lambda r: (r["mgrs_tile"], r["first_seen"], r["site_id"]))
    table, related = with_context(rows, context)
    last: dict[str, str] = {}
    for run in runs:
        if run["mgrs_tile"] and run["acquired"] is not None:
            tile, day = str(run["mgrs_tile"]), run["acquired"].isoformat()
            last[tile] = max(last.get(tile, day), day)
    tiles = {**known, **{t: {"digest": d, "last": last.get(t, "")} for t, d in digests.items()}}
    recorded = json.dumps({"settings": settings_hash, "tiles": tiles}, sort_keys=True)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), TRACKING_METADATA: recorded.encode()}
    )
    tables = {
        "site_observations": rows_table(observed, SITE_OBSERVATIONS, "site_observations"),
        # the context of every site, as related to the layers given this time
        "site_context": related,
        "sites": table,
    }
    for name in SITE_TABLES:  # the sites file, with the markers, last (see SITE_TABLES)
        write_atomic(tables[name], group_file(results, name, group))
    return _GroupBuild([r["state"] for r in rows], len(stale), len(digests) - len(stale), news)
