"""The desert landscape: artisanal gold mining where there is no vegetation to contrast with
(Egypt's Eastern Desert around its formal mines, the Red Sea hills, Sudan's desert gold belt).

Varnished gravel pavement over hills and plains, shaded by relief, with patches of
hydrothermally altered ground; pale sandy wadis with acacias draining across it, a dune field,
dark basalt and pale granite outcrops, tracks, a town and centre-pivot farms: the desert's
look-alikes. A formal mine (a benched open pit, its waste dumps and a tailings facility with its
decant pond) is truth of kind ``formal_mine``: never ASM.

ASM sites of 1-14 ha, of four kinds found there: shaft fields (spoil heaps of 1-2 px around
shafts, paths between them), diggings along a wadi, trenches following veins over altered ground,
and processing yards of grey fines with small tanks. Each is ground disturbed at 10-30 m on
a background that is just as bare: no vegetation contrast, rarely a pond.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from asm_core.evaluation.synthetic.confounders import add_roads, add_town
from asm_core.evaluation.synthetic.landscape import (
    SCL_BARE,
    SCL_VEGETATION,
    SCL_WATER,
    Feature,
    Landscape,
)
from asm_core.evaluation.synthetic.shapes import (
    Mask,
    irregular_blob,
    meander,
    near_polyline,
    rotated_rectangle,
    smooth_field,
)
from asm_core.evaluation.synthetic.spectra import spectrum

#: ASM site sizes here (ha), after the issue's held-out scenes: 1-14 ha
SITE_HECTARES = (1.0, 14.0)
SITE_KINDS = ("shaft_field", "wadi_diggings", "vein_trenches", "processing_yard")


def _blend(a: str, b: str, share: np.ndarray) -> np.ndarray:
    s = np.clip(share, 0, 1)[..., None]
    return np.asarray((1 - s) * spectrum(a) + s * spectrum(b), dtype=np.float32)


def _background(land: Landscape) -> np.ndarray:
    """Pavement shaded by relief, with altered ground in patches; returns the altered share."""
    shape, rng = (land.size, land.size), land.rng
    altered = np.clip((smooth_field(rng, shape, land.size / 14) - 1.0) * 1.5, 0, 1)
    shade = (
        1 + 0.10 * smooth_field(rng, shape, land.size / 10) + 0.035 * smooth_field(rng, shape, 2)
    )
    land.reflectance[:] = _blend("desert_pavement", "altered_ground", altered) * shade[..., None]
    land.scl[:] = SCL_BARE
    return np.asarray(altered, dtype=np.float32)


def _wadis(land: Landscape) -> list[Mask]:
    """Two to four sandy wadis (60-200 m wide) with scattered acacias; their masks."""
    masks = []
    for _ in range(int(land.rng.integers(2, 5))):
        line = meander(land.rng, (land.size,) * 2, land.rng.uniform(0.1, 0.9) * land.size, 30)
        if land.rng.random() < 0.5:
            line = line[:, ::-1].copy()  # north-south as often as west-east
        rows, cols, wadi = near_polyline(land.water.shape, line, land.rng.uniform(3, 10))
        wadi &= ~land.taken[rows, cols]
        shares = 0.15 * (smooth_field(land.rng, wadi.shape, 2) > 1.6)
        land.paint(rows, cols, wadi, _blend("wadi_sand", "acacia", shares), SCL_BARE)
        land.features.append(Feature("wadi", rows, cols, wadi.copy()))
        full = np.zeros((land.size, land.size), dtype=bool)
        full[rows, cols] = wadi
        masks.append(full)
    return masks


def _dunes(land: Landscape) -> None:
    """A field of linear dunes: bright quartz sand, brightness rippling at 200-400 m."""
    local = irregular_blob(land.rng, land.rng.uniform(4000, 12000), 1.6, 0.3)
    spot = land._free_spot(local, margin=5)
    if spot is None:
        return
    rows, cols, mask = spot
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    angle, wavelength = land.rng.uniform(0, math.pi), land.rng.uniform(20, 40)
    ripple = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / wavelength)
    cube = spectrum("dune_sand") * (1 + 0.08 * ripple)[..., None]
    land.paint(rows, cols, mask, cube.astype(np.float32), SCL_BARE)
    land.features.append(Feature("dune", rows, cols, mask.copy()))


def _outcrops(land: Landscape) -> None:
    """Dark basalt and pale granite hills, each with its shaded side."""
    for cover in ("basalt", "basalt", "granite", "granite"):
        local = irregular_blob(
            land.rng, land.rng.uniform(300, 2500), land.rng.uniform(1, 2.5), 0.35
        )
        spot = land._free_spot(local, margin=4)
        if spot is None:
            continue
        rows, cols, mask = spot
        slope = ndimage.sobel(ndimage.gaussian_filter(mask.astype(np.float32), 2), axis=1)
        shade = np.clip(1 - 2.5 * slope, 0.55, 1.15)
        cube = spectrum(cover) * shade[..., None]
        land.paint(rows, cols, mask, cube.astype(np.float32), SCL_BARE)
        land.features.append(Feature("outcrop", rows, cols, mask.copy(), {"cover": cover}))


def _pivots(land: Landscape) -> None:
    """Centre-pivot farms: green circles 400-600 m across, some with a fallow sector."""
    for _ in range(int(land.rng.integers(2, 5))):
        radius = land.rng.uniform(20, 30)
        half = math.ceil(radius) + 1
        yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
        circle = np.hypot(yy, xx) <= radius
        spot = land._free_spot(circle, margin=3)
        if spot is None:
            continue
        rows, cols, mask = spot
        sector = (np.arctan2(yy, xx)[: mask.shape[0], : mask.shape[1]] % (2 * math.pi)) < (
            land.rng.uniform(0, 2.5)
        )
        land.paint(rows, cols, mask & ~sector, spectrum("crop"), SCL_VEGETATION)
        land.paint(rows, cols, mask & sector, spectrum("field_soil"), SCL_BARE)
        land.features.append(Feature("pivot", rows, cols, mask.copy()))


def _formal_mine(land: Landscape) -> None:
    """A benched open pit 500-800 m across with waste dumps, and a tailings facility: a flat
    rectangular impoundment of pale fines with its decant pond."""
    radius = land.rng.uniform(25, 40)
    half = math.ceil(radius * 1.6) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    distance = np.hypot(yy / 1.2, xx)
    pit = distance <= radius
    dumps = (distance > radius + 3) & (distance <= radius * 1.55) & (np.arctan2(yy, xx) > 0.8)
    local = pit | dumps
    spot = land._free_spot(local, margin=8)
    if spot is None:
        return
    rows, cols, mask = spot
    ring = (distance[: mask.shape[0], : mask.shape[1]] // 3).astype(int) % 2 == 1  # benches
    inside = mask & pit[: mask.shape[0], : mask.shape[1]]
    land.paint(rows, cols, inside & ~ring, np.float32(1.15) * spectrum("fresh_spoil"), SCL_BARE)
    land.paint(rows, cols, inside & ring, spectrum("bench_shadow"), SCL_BARE)
    waste = mask & ~pit[: mask.shape[0], : mask.shape[1]]
    land.paint(rows, cols, waste, spectrum("fresh_spoil"), SCL_BARE)
    land.features.append(Feature("formal_mine", rows, cols, mask.copy()))
    facility = rotated_rectangle(land.rng, land.rng.uniform(50, 80), land.rng.uniform(35, 55), 20)
    spot = land._free_spot(facility, margin=6)
    if spot is None:
        return
    rows, cols, mask = spot
    pond = ndimage.binary_erosion(mask, iterations=max(3, mask.shape[0] // 4))
    land.paint(rows, cols, mask & ~pond, spectrum("tailings_fines"), SCL_BARE)
    land.paint(rows, cols, pond, spectrum("turquoise_pond"), SCL_WATER)
    land.features.append(Feature("tailings_facility", rows, cols, mask.copy()))


def _spots(land: Landscape, mask: Mask, per_ha: float, size: tuple[int, int]) -> Mask:
    """Spots of ``size`` px a side (drawn between the two) scattered over a site."""
    out = np.zeros_like(mask)
    where = np.argwhere(mask)
    for _ in range(int(per_ha * mask.sum() / 100.0)):
        r, c = where[land.rng.integers(len(where))]
        h, w = (int(v) for v in land.rng.integers(size[0], size[1] + 1, size=2))
        out[r : r + h, c : c + w] = True
    return out & mask


def _paint_site(land: Landscape, kind: str, rows: slice, cols: slice, mask: Mask) -> None:
    """Disturb the ground of one site: grey spoil over part of it, then the kind's marks."""
    here = land.reflectance[rows, cols].copy()
    churned = np.clip(0.25 + 0.15 * smooth_field(land.rng, mask.shape, 2), 0, 0.5)
    worked = (1 - churned[..., None]) * here + churned[..., None] * spectrum("fresh_spoil")
    land.paint(rows, cols, mask, worked.astype(np.float32), SCL_BARE)
    if kind in ("shaft_field", "wadi_diggings"):
        heaps = _spots(land, mask, 15 if kind == "shaft_field" else 10, (1, 2))
        spoil = "quartz_spoil" if kind == "shaft_field" else "grey_fines"
        land.paint(rows, cols, heaps, spectrum(spoil), SCL_BARE)
        shafts = _spots(land, mask & ~heaps, 10, (1, 1))
        land.paint(rows, cols, shafts, spectrum("pit_floor"), SCL_BARE)
    elif kind == "vein_trenches":
        yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
        angle, spacing = land.rng.uniform(0, math.pi), land.rng.integers(4, 7)
        across = xx * math.cos(angle) + yy * math.sin(angle)
        trench = mask & (np.round(across) % spacing == 0)
        berm = mask & (np.round(across) % spacing == 1)
        land.paint(rows, cols, berm, spectrum("quartz_spoil"), SCL_BARE)
        land.paint(rows, cols, trench, spectrum("bench_shadow"), SCL_BARE)
    else:  # a processing yard: grey fines with small tanks
        land.paint(rows, cols, mask, spectrum("grey_fines"), SCL_BARE)
        tanks = _spots(land, ndimage.binary_erosion(mask, iterations=2), 3, (2, 3))
        land.paint(rows, cols, tanks, spectrum("mining_pond"), SCL_WATER)


def _asm_site(land: Landscape, kind: str, wadis: list[Mask], altered: np.ndarray) -> bool:
    low, high = (math.log(h) for h in SITE_HECTARES)
    hectares = math.exp(land.rng.uniform(low, high))
    elongation = 3.0 if kind == "wadi_diggings" else land.rng.uniform(1, 2.2)
    local = irregular_blob(land.rng, hectares * 100, elongation, 0.3)
    if kind == "processing_yard":
        local = rotated_rectangle(
            land.rng, math.sqrt(hectares * 100) * 1.2, math.sqrt(hectares * 100) / 1.2, 45
        )
    near = None
    if kind == "wadi_diggings" and wadis:
        edge = ndimage.binary_dilation(wadis[0], iterations=max(local.shape) // 2 + 2) & ~wadis[0]
        near = edge
    elif kind == "vein_trenches":
        near = altered > 0.5
    spot = land._free_spot(local, margin=12, near=near)
    if spot is None:
        return False
    rows, cols, mask = spot
    _paint_site(land, kind, rows, cols, mask)
    land.mark_site(rows, cols, mask, near_river=False)
    land.features[-1].props["site_kind"] = kind
    return True


def draw_desert(land: Landscape, density: float, sites: int) -> None:
    """The desert landscape with ``sites`` ASM sites (see the module docstring)."""
    altered = _background(land)
    wadis = _wadis(land)
    _formal_mine(land)
    _dunes(land)
    _outcrops(land)
    add_roads(land, max(1, round(2 * density)))
    add_town(land)
    _pivots(land)
    for k in range(sites):
        _asm_site(land, SITE_KINDS[k % len(SITE_KINDS)], wadis, altered)
    for road in (f for f in land.features if f.kind == "road"):  # desert tracks are pale
        land.paint(road.rows, road.cols, road.mask, spectrum("wadi_sand"), SCL_BARE)
