"""Sites already tracked in a results folder, for hysteresis in detection.

A site that was found before is re-detected with less evidence than a new one needs
(``confidence.known_site_signs`` and ``objects.known_site_min_confidence``): a working seen on
a dry look with fewer ponds, or half under a cloud, stays a site rather than flickering between
inactive and reactivated. The footprints come from the ``sites`` table
(:mod:`asm_core.monitoring.sites`), by MGRS tile.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import shapely

from asm_core.results.store import read_table, result_files


def known_site_footprints(results: Path, mgrs_tile: str | None) -> list[shapely.Geometry]:
    """Footprints (lon/lat) of the sites tracked on one MGRS tile; none without a sites table
    or a tile id."""
    if mgrs_tile is None or not results.is_dir() or not result_files(results, "sites"):
        return []
    sites = read_table(results, "sites")
    mine = sites.filter(pc.equal(sites["mgrs_tile"], mgrs_tile))
    return [shapely.from_wkb(g) for g in mine["geometry"].to_pylist()]
