"""Where the site tables live: one file per table and *site group*, so that groups are tracked
apart (the scan's Finalize fans out one piece per group).

Tracking never compares sites of two tiles (:func:`asm_core.monitoring.tracking.track` matches a
site with its own tile's sites only), so tiles can be tracked in any grouping. A site group is
one 100 km column of an MGRS grid zone: the tile id without its row letter (``36NXF`` →
``36NX``). Its ~10 tiles stay together from scan to scan, whatever area a scan covers, so a
group's files are read and rewritten whole by one piece of work at a time; Africa has ~400
groups.

Tile ids that are not MGRS (other collections) are their own group.
"""

from __future__ import annotations

import re
from pathlib import Path

from asm_core.errors import ResultsError

#: written in this order: the sites file carries the "tiles already tracked" markers, so it goes
#: last (a crash before it leaves old markers, and the next update tracks the tiles again)
SITE_TABLES = ("site_observations", "site_context", "sites")

_MGRS_TILE = re.compile(r"^(\d{2}[C-HJ-NP-X][A-HJ-NP-Z])[A-HJ-NP-V]$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def site_group(mgrs_tile: str) -> str:
    """The site group of a tile: its grid zone and 100 km column (``36NXF`` → ``36NX``)."""
    found = _MGRS_TILE.match(mgrs_tile)
    if found:
        return found.group(1)
    if _SAFE_NAME.match(mgrs_tile):
        return mgrs_tile
    raise ResultsError(
        f"tile id {mgrs_tile!r} cannot name a site group: expected an MGRS tile such as 36NXF "
        "or a name of letters, digits, '_' and '-' (at most 40)"
    )


def group_file(results: Path, table: str, group: str) -> Path:
    """The file of one site table and group (``sites/sites_36NX.parquet``)."""
    return results / table / f"{table}_{group}.parquet"


def group_key(prefix: str, table: str, group: str) -> str:
    """The same file as an object key under ``prefix`` (the bucket's results prefix)."""
    return f"{prefix}/{table}/{table}_{group}.parquet"


def legacy_file(results: Path, table: str) -> Path:
    """The one file per table that releases before site groups wrote (``sites/sites.parquet``);
    the next site update splits it into groups and removes it."""
    return results / table / f"{table}.parquet"


def groups_stored(results: Path) -> set[str]:
    """The groups that have a sites file in a results folder."""
    prefix = "sites_"
    return {
        p.stem[len(prefix) :]
        for p in (results / "sites").glob(f"{prefix}*.parquet")
        if not p.name.startswith(".")
    }
