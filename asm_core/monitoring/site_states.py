"""The state of one tracked site on each look at its tile, from what that look showed.

A look is judged only if enough of the site's footprint was clear (``min_clear_share``);
otherwise it is ``unobserved``. On a clear look:

* **detected**: the worked extent (scars, pits and the ponds in them, one hole-filled extent:
  :mod:`asm_core.monitoring.sites`) is compared with the site's *level*, the median extent of its
  clear looks since its size last changed. It is ``expanding`` or ``contracting`` when the change
  passes ``growth_ratio`` *and* the area's own uncertainty: the boundary of each look may sit
  ``edge_uncertainty_m`` in or out all round (mixed pixels, co-registration), and the part of
  the footprint hidden by cloud may hold the difference. A change past the ratio but within
  that margin counts only when ``size_confirm_looks`` clear looks in a row show it. And a
  size change counts only where the ground changed: the ground a shrinking extent lost must
  have greened (ground still as bare was partly missed: a pit flooded into the river, spoil
  taken for a sandbar), and the ground a growing extent gained must be new to the site or have
  been green on the last clear look (ground detected before and bare all along is the
  detection coming back, not digging); otherwise the site is ``persistent``. Scars, or the
  typical land of the extent (on the NDVI grid), greener than when the site was worked make
  it ``revegetating`` (smaller and greener, or as large and greener: slow regrowth); after
  ``inactive`` it is ``reactivated``; otherwise ``persistent``.
* **not detected**: the NDVI of the whole footprint on that look (the tile-run's NDVI grid,
  :mod:`asm_core.detection.objects.observed`) against its NDVI when last worked says why: still as
  bare → ``persistent`` (the detector missed it; a site is not called inactive for that); greener by
  ``revegetation_ndvi_rise`` → ``revegetating``; greener by ``regrown_ndvi_rise`` (grown over)
  → ``inactive``. Looks without an NDVI grid fall back to counting misses
  (``inactive_after_clear_looks`` in a row → ``inactive``).

"When worked" is the median over the looks since the site last changed that were not
revegetating, so regrowth too slow to show from one look to the next still adds up.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import shapely
from pyproj import Geod

from asm_core.rules import TrackingSettings

#: NDVI of the typical land under a footprint (lon/lat) on one look: the median of the grid
#: cells wholly inside it (None: no such cell was clear; a sliver along an edge is mostly its
#: surroundings).
GroundNdvi = Callable[[shapely.Geometry], float | None]
_GEOD = Geod(ellps="WGS84")

#: States after which the size level starts again from the look's own extent.
_LEVEL_RESETS = ("new", "expanding", "contracting", "revegetating", "reactivated")
#: States after which the ground is judged against this look's greenness (ground dug anew).
_WORKED_RESETS = ("new", "expanding", "contracting", "reactivated")


@dataclass(frozen=True)
class SiteLook:
    """What one look showed of a site."""

    clear_share: float
    detected: bool
    extent_m2: float = 0.0  # worked extent, when detected
    perimeter_m: float = 0.0  # of the worked extent
    scar_ndvi: float | None = None  # of the detected scars
    extent_ndvi: float | None = None  # of the typical land in the worked extent
    footprint_ndvi: float | None = None  # of the whole footprint known so far
    footprint: shapely.Geometry | None = None  # the worked extent (lon/lat), when detected
    ground_ndvi: GroundNdvi | None = None  # this look's NDVI of any footprint


@dataclass
class SiteStates:
    """The state machine of one site over its looks, in date order (see the module text)."""

    settings: TrackingSettings
    state: str = ""
    levels: list[tuple[float, float]] = field(default_factory=list)  # (extent, perimeter)
    worked_scars: list[float] = field(default_factory=list)  # scar NDVI on worked looks
    worked_extents: list[float] = field(default_factory=list)  # extent NDVI on them
    worked_footprints: list[float] = field(default_factory=list)  # footprint NDVI on them
    #: clear looks in a row past the ratio but within the margin, one way (+1 up, -1 down):
    #: kept out of the level until they are confirmed as a change or turn out to be noise
    held: list[tuple[float, float]] = field(default_factory=list)
    held_direction: int = 0
    misses: int = 0
    level_footprint: shapely.Geometry | None = None  # of the latest look the level holds
    known: shapely.Geometry | None = None  # every extent detected so far
    last_clear: GroundNdvi | None = None  # the NDVI of the last clear look

    def step(self, look: SiteLook) -> str:
        """The state of the site on this look (call from its first detection on)."""
        s = self.settings
        if not self.state:
            if not look.detected:
                raise ValueError("a site's first look must be the one it was detected on")
            self.state = "new"
            self._worked(look)
            self._level(look, reset=True)
            self._saw(look)
            return "new"
        if look.clear_share < s.min_clear_share:
            if look.detected:
                self.misses = 0  # seen, if not well enough to judge its size
            return "unobserved"
        state = self._detected(look) if look.detected else self._missed(look)
        self._saw(look)
        return state

    def _saw(self, look: SiteLook) -> None:
        """Remember what a clear look (or the first) showed, for the next looks."""
        self.last_clear = look.ground_ndvi
        if look.footprint is not None:
            self.known = (
                look.footprint if self.known is None else shapely.union(self.known, look.footprint)
            )

    def _level(self, look: SiteLook, reset: bool = False) -> None:
        if reset:
            self.levels, self.held = [], []
        self.levels.append((look.extent_m2, look.perimeter_m))
        self.level_footprint = look.footprint or self.level_footprint

    def _detected(self, look: SiteLook) -> str:
        rise = self.settings.revegetation_ndvi_rise
        self.misses = 0
        # the detected scars greener, or the typical land of the extent (the scars are its
        # barest pixels: spoil greening all over drops out of them first)
        here_greener = _risen(look.scar_ndvi, _median(self.worked_scars), rise) or _risen(
            look.extent_ndvi, _median(self.worked_extents), rise
        )
        size, holding = self._size_change(look)
        # a size change counts only where the ground changed: ground lost must have greened,
        # ground gained must be new or have been green on the last clear look
        greened = self._lost_ground_greened(look)
        if greened is None and look.footprint_ndvi is not None and self.worked_footprints:
            # without the geometries: the whole footprint's ground
            greened = _risen(look.footprint_ndvi, _median(self.worked_footprints), rise)
        partly_missed = size == "contracting" and greened is False
        rebound = size == "expanding" and self._regained_bare_ground(look)
        if self.state == "inactive":
            state = "reactivated"
        elif size == "expanding" and not rebound:
            state = size
        elif partly_missed or rebound:
            state = "persistent"  # the ground is as it was: the detection is what changed
        elif size == "contracting":
            state = "revegetating" if here_greener else "contracting"
        elif here_greener:
            state = "revegetating"
        else:
            state = "persistent"
        if state in _WORKED_RESETS:
            self.worked_scars, self.worked_extents, self.worked_footprints = [], [], []
        if state in _LEVEL_RESETS or rebound:
            self._level(look, reset=True)
        elif not (partly_missed or holding):
            self._level(look)
        if state != "revegetating":
            self._worked(look)
        self.state = state
        return state

    def _lost_ground_greened(self, look: SiteLook) -> bool | None:
        """Whether the ground the level had and this look has not is greener than worked
        ground (None: not known)."""
        worked = _median(self.worked_extents)
        if None in (look.footprint, look.ground_ndvi, self.level_footprint, worked):
            return None
        lost = shapely.difference(self.level_footprint, look.footprint)
        now = look.ground_ndvi(lost) if not lost.is_empty else None  # type: ignore[misc]
        return None if now is None else _risen(now, worked, self.settings.revegetation_ndvi_rise)

    def _regained_bare_ground(self, look: SiteLook) -> bool:
        """Whether the growth is ground detected before, left out of the level since, and bare
        on the last clear look (a detection coming back, not digging): without it, the extent
        would not have grown past the ratio."""
        worked = _median(self.worked_extents)
        if None in (look.footprint, self.known, self.level_footprint, self.last_clear, worked):
            return False
        regained = shapely.difference(
            shapely.intersection(look.footprint, self.known), self.level_footprint
        )
        if regained.is_empty:
            return False
        before = self.last_clear(regained)  # type: ignore[misc]
        if before is None or _risen(before, worked, self.settings.revegetation_ndvi_rise):
            return False
        level = statistics.median(a for a, _ in self.levels)
        return look.extent_m2 - _area_m2(regained) <= level * self.settings.growth_ratio

    def _size_change(self, look: SiteLook) -> tuple[str | None, bool]:
        """``expanding``/``contracting`` if the extent moved past the ratio and the margin
        (or past the ratio on enough clear looks in a row), else None; and whether the look
        is held out of the level for now."""
        s = self.settings
        level = statistics.median(a for a, _ in self.levels)
        perimeter = statistics.median(p for _, p in self.levels)
        margin = s.edge_uncertainty_m * (perimeter + look.perimeter_m)
        margin += (1.0 - look.clear_share) * max(level, look.extent_m2)
        if look.extent_m2 > level * s.growth_ratio:
            direction = 1
        elif look.extent_m2 * s.growth_ratio < level:
            direction = -1
        else:
            self._release_held()
            return None, False
        if direction != self.held_direction:
            self._release_held()
        self.held.append((look.extent_m2, look.perimeter_m))
        self.held_direction = direction
        if abs(look.extent_m2 - level) > margin or len(self.held) >= s.size_confirm_looks:
            self.held, self.held_direction = [], 0
            return ("expanding" if direction > 0 else "contracting"), False
        return None, True

    def _release_held(self) -> None:
        """Held looks that no look confirmed were noise: they join the level."""
        self.levels += self.held
        self.held, self.held_direction = [], 0

    def _missed(self, look: SiteLook) -> str:
        s = self.settings
        self._release_held()
        worked = _median(self.worked_footprints)
        if look.footprint_ndvi is None or worked is None:
            self.misses += 1
            if self.misses >= s.inactive_after_clear_looks:
                self.state = "inactive"
            return "inactive" if self.state == "inactive" else "persistent"
        if _risen(look.footprint_ndvi, worked, s.regrown_ndvi_rise):
            self.state = "inactive"
        elif self.state == "inactive":
            pass  # grown over once: stays inactive until it is dug again
        elif _risen(look.footprint_ndvi, worked, s.revegetation_ndvi_rise):
            self.state = "revegetating"
        else:
            self.state = "persistent"  # ground as bare as when worked: missed, not gone
        return self.state

    def _worked(self, look: SiteLook) -> None:
        if look.scar_ndvi is not None:
            self.worked_scars.append(look.scar_ndvi)
        if look.extent_ndvi is not None:
            self.worked_extents.append(look.extent_ndvi)
        if look.footprint_ndvi is not None:
            self.worked_footprints.append(look.footprint_ndvi)


def _area_m2(lonlat: shapely.Geometry) -> float:
    return abs(_GEOD.geometry_area_perimeter(lonlat)[0])


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _risen(now: float | None, before: float | None, by: float) -> bool:
    return now is not None and before is not None and now - before >= by
