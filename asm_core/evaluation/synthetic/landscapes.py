"""Landscapes beyond the default West African forest: where ASM happens and what it hides among.

- ``amazon``: closed forest cut by a river with pale quartz sandbars; alluvial-gold sites of pale
  tailings (quartz sand, kaolinite fines, grey alluvium) with many turquoise and brown pit ponds,
  strung along the river.
- ``savanna``: dry-season savanna, mostly bare reddish ground with green patches; sites of fresh
  red and grey spoil, pitted with shafts and a few ponds.
- ``farmland``: dry-season smallholder farmland, a mosaic of adjacent fields of mixed colours
  (red, brown and pale soils, green crops, flooded paddies), villages, fish ponds, a river.
- ``desert``: hyper-arid desert gold fields (:mod:`asm_core.evaluation.synthetic.desert`).

Every site is pitted at 10-30 m (pits and ponds among spoil), as real workings are. The default
``forest`` landscape is drawn by :mod:`asm_core.evaluation.synthetic.scene` alone and is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from asm_core.evaluation.synthetic.confounders import (
    add_aquaculture,
    add_patch,
    add_roads,
    add_town,
)
from asm_core.evaluation.synthetic.desert import draw_desert
from asm_core.evaluation.synthetic.landscape import (
    SCL_BARE,
    SCL_VEGETATION,
    SCL_WATER,
    Feature,
    Landscape,
)
from asm_core.evaluation.synthetic.shapes import Mask, smooth_field
from asm_core.evaluation.synthetic.spectra import spectrum

LANDSCAPES = ("forest", "amazon", "savanna", "farmland", "desert")


def _mixture(land: Landscape, shape: tuple[int, int], covers: tuple[str, ...]) -> np.ndarray:
    """Per-pixel mixture of covers, shares varying smoothly at 20-50 m."""
    shares = np.stack([np.exp(1.2 * smooth_field(land.rng, shape, 2.5)) for _ in covers])
    shares /= shares.sum(axis=0)
    return np.asarray(
        sum(shares[k][..., None] * spectrum(c) for k, c in enumerate(covers)), dtype=np.float32
    )


def _pits(land: Landscape, site: Mask, per_ha: float) -> Mask:
    """Pits and shafts of 1-3 px scattered over a site."""
    pits = np.zeros_like(site)
    spots = np.argwhere(ndimage.binary_erosion(site))
    count = int(per_ha * site.sum() / 100.0)
    for _ in range(min(count, len(spots))):
        r, c = spots[land.rng.integers(len(spots))]
        h, w = (int(v) for v in land.rng.integers(1, 4, size=2))
        pits[r : r + h, c : c + w] = True
    pits &= site
    return pits


def _site(
    land: Landscape,
    near_river: bool,
    spoil: tuple[str, ...],
    ponds: tuple[str, ...],
    pond_scale: float,
    pits_per_ha: float,
) -> bool:
    placed = land.place_site(near_river)
    if placed is None:
        return False
    rows, cols, mask = placed
    land.paint(rows, cols, mask, _mixture(land, mask.shape, spoil), SCL_BARE)
    pits = _pits(land, mask, pits_per_ha)
    land.paint(rows, cols, pits, spectrum("pit_floor"), SCL_BARE)
    for _ in range(max(1, round(pond_scale))):
        pond = land.pond_mask(mask)
        colour = ponds[int(land.rng.integers(len(ponds)))]
        land.paint(rows, cols, pond, spectrum(colour), SCL_WATER)
    land.mark_site(rows, cols, mask, near_river)
    return True


def _background(land: Landscape, covers: tuple[str, str], green_share: float) -> None:
    shape = (land.size, land.size)
    green = 1 / (1 + np.exp(-2.0 * (smooth_field(land.rng, shape, land.size / 12) - 0.0)))
    green = np.clip(green * 2 * green_share, 0, 1)
    texture = 1 + 0.05 * smooth_field(land.rng, shape, 3)
    cube = (1 - green[..., None]) * spectrum(covers[0]) + green[..., None] * spectrum(covers[1])
    land.reflectance[:] = (cube * texture[..., None]).astype(np.float32)
    land.scl[:] = np.where(green > 0.5, SCL_VEGETATION, SCL_BARE)


def _sandbar_colour(land: Landscape, colour: str) -> None:
    """Repaint the river's sandbars in another sand (quartz in the Amazon)."""
    for f in land.features:
        if f.kind == "sandbar":
            land.paint(f.rows, f.cols, f.mask, spectrum(colour), SCL_BARE)


def _farm_mosaic(land: Landscape) -> None:
    """Adjacent fields of mixed covers over the whole scene, 150-450 m a side, 10 m paths."""
    covers = ("red_field_soil", "field_soil", "pale_field_soil", "crop", "paddy", "savanna")
    odds = np.array([0.25, 0.2, 0.15, 0.15, 0.1, 0.15])
    r = 0
    while r < land.size:
        height = int(land.rng.integers(15, 45))
        c = 0
        while c < land.size:
            width = int(land.rng.integers(15, 45))
            rows = slice(r, min(land.size, r + height - 1))
            cols = slice(c, min(land.size, c + width - 1))
            mask = ~land.water[rows, cols] & ~land.taken[rows, cols]
            kind = str(land.rng.choice(covers, p=odds))
            texture = 1 + 0.03 * smooth_field(land.rng, mask.shape, 4)
            cube = (spectrum(kind) * texture[..., None]).astype(np.float32)
            scl = SCL_VEGETATION if kind in ("crop", "savanna") else SCL_BARE
            land.paint(rows, cols, mask, cube, SCL_WATER if kind == "paddy" else scl)
            if kind != "savanna":
                land.features.append(Feature("field", rows, cols, mask.copy(), {"cover": kind}))
            c += width
        r += height


def _amazon(land: Landscape, density: float, sites: int) -> None:
    land.reflectance[:] = (
        spectrum("forest") * (1 + 0.05 * smooth_field(land.rng, (land.size,) * 2, 3))[..., None]
    ).astype(np.float32)
    land.add_river(amplitude=land.rng.uniform(0.06, 0.14) * land.size)
    _sandbar_colour(land, "quartz_sand")
    add_town(land)
    add_patch(land, "burn", "burnt", land.rng.uniform(600, 3000), SCL_VEGETATION)
    for k in range(sites):
        _site(
            land,
            near_river=k % 3 != 2,
            spoil=("quartz_sand", "kaolinite_tailings", "grey_alluvium"),
            ponds=("turquoise_pond", "mining_pond"),
            pond_scale=3,
            pits_per_ha=6,
        )


def _savanna(land: Landscape, density: float, sites: int) -> None:
    _background(land, ("dry_savanna", "savanna"), green_share=0.25)
    land.add_river(amplitude=land.rng.uniform(0.04, 0.1) * land.size)
    add_roads(land, max(1, round(2 * density)))
    add_town(land)
    add_patch(land, "burn", "burnt", land.rng.uniform(600, 3000), SCL_VEGETATION)
    add_patch(land, "quarry", "granite", land.rng.uniform(800, 2500), SCL_BARE)
    for k in range(sites):
        _site(
            land,
            near_river=k % 2 == 0,
            spoil=("laterite", "grey_alluvium", "iron_stained_sand"),
            ponds=("mining_pond",),
            pond_scale=1,
            pits_per_ha=8,
        )


def _farmland(land: Landscape, density: float, sites: int) -> None:
    _background(land, ("field_soil", "crop"), green_share=0.3)
    land.add_river(amplitude=land.rng.uniform(0.06, 0.14) * land.size)
    add_town(land)
    add_aquaculture(land)
    for k in range(sites):
        _site(
            land,
            near_river=k % 2 == 0,
            spoil=("laterite", "grey_alluvium"),
            ponds=("mining_pond", "turquoise_pond"),
            pond_scale=2,
            pits_per_ha=6,
        )
    _farm_mosaic(land)


DRAW: dict[str, Callable[[Landscape, float, int], None]] = {
    "amazon": _amazon,
    "savanna": _savanna,
    "farmland": _farmland,
    "desert": draw_desert,
}


def draw_landscape(land: Landscape, name: str, density: float, sites: int) -> None:
    """Draw a named landscape (not ``forest``) with ``sites`` ASM sites into ``land``; every
    truth feature says which landscape it is in."""
    DRAW[name](land, density, sites)
    for f in land.features:
        f.props["landscape"] = name
