"""A scene's own statistics, and the pixel rules made relative to them.

Bare ground is not news where the landscape is open: a savanna in the dry season, harvested
farmland or a desert is mostly unvegetated. There a fixed "NDVI below 0.3" marks the whole scene,
and a dig disappears into one landscape-sized object. So some rule conditions carry a quantile
bound (``lt_quantile``/``gt_quantile``) over the scene's own open land (the ``open_land`` layer's
pixels): where open land covers at least ``scene.relative_open_share`` of the scene, the
condition's bound tightens to that quantile, so bare ground means the barest part of this
scene's open land. Where open land is rare (a forest), the fixed bounds stand.

The statistics come from a sample read at COG overview level before the strip pass (a quarter of
a million pixels cost a few hundred kB of reads), with the same float32 index formulas as the
kernel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from asm_core.rules import Condition, PixelRule, RuleSet
from asm_core.sources.reader import BandFiles
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS, BandAsset
from asm_core.spectral.indices import INDEX_BANDS, compute_indices
from asm_core.spectral.reflectance import to_reflectance

Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SceneStatistics:
    """What the sample of a scene says: how much of it is open land, and the quantiles the
    rules ask for (``"ndvi<0.15"`` → value) over that open land."""

    open_share: float
    quantiles: dict[str, float] = field(default_factory=dict)
    sampled_pixels: int = 0


def quantile_key(index: str, side: str, q: float) -> str:
    return f"{index}{side}{q:g}"


def _relative(rules: list[PixelRule]) -> list[tuple[str, str, float]]:
    wanted = []
    for rule in rules:
        for c in rule.all:
            for side, q in (("<", c.lt_quantile), (">", c.gt_quantile)):
                if q is not None:
                    wanted.append((c.operand, side, q))
    return wanted


def _passes(rule: PixelRule, values: Mapping[str, npt.NDArray[np.float32]]) -> Bool:
    hit = np.ones(next(iter(values.values())).shape, dtype=bool)
    for c in rule.all:
        x = values[c.operand]
        if c.gt is not None:
            hit &= x > np.float32(c.gt)
        if c.lt is not None:
            hit &= x < np.float32(c.lt)
    return hit


def scene_statistics(
    files: BandFiles,
    assets: Mapping[str, BandAsset],
    dn_offset: int,
    runnable: list[PixelRule],
    sample_pixels: int,
) -> SceneStatistics:
    """Sample the scene from its overviews: the open-land share (valid pixels meeting an
    ``open_land`` rule) and every quantile a runnable rule's condition asks for."""
    height, width = files.shape
    step = max(1, math.isqrt(height * width // max(1, sample_pixels)))
    bands = {n: files.read_decimated(n, step) for n in REFLECTANCE_BANDS if n in files.names}
    if not bands:
        return SceneStatistics(0.0)
    valid = np.logical_and.reduce([dn != 0 for dn in bands.values()])
    reflectance = {n: to_reflectance(dn, assets[n].scale, dn_offset) for n, dn in bands.items()}
    names = tuple(i for i, need in INDEX_BANDS.items() if set(need) <= set(reflectance))
    values = {**reflectance, **compute_indices(names, reflectance)}
    open_rules = [r for r in runnable if r.layer == "open_land"]
    open_land = np.zeros(valid.shape, dtype=bool)
    for rule in open_rules:
        open_land |= _passes(rule, values)
    open_land &= valid
    count = int(valid.sum())
    out: dict[str, float] = {}
    for operand, side, q in _relative(runnable):
        sample = values[operand][open_land]
        sample = sample[np.isfinite(sample)]
        if sample.size:
            out[quantile_key(operand, side, q)] = round(float(np.quantile(sample, q)), 5)
    return SceneStatistics(
        open_share=round(float(open_land.sum()) / count, 4) if count else 0.0,
        quantiles=out,
        sampled_pixels=count,
    )


def _resolve(c: Condition, stats: SceneStatistics) -> Condition:
    lt, gt = c.lt, c.gt
    if c.lt_quantile is not None and lt is not None:
        value = stats.quantiles.get(quantile_key(c.operand, "<", c.lt_quantile))
        lt = min(lt, value) if value is not None else lt
    if c.gt_quantile is not None and gt is not None:
        value = stats.quantiles.get(quantile_key(c.operand, ">", c.gt_quantile))
        gt = max(gt, value) if value is not None else gt
    if gt is not None and lt is not None and gt >= lt:
        lt = gt  # the scene leaves nothing between the bounds: the condition marks no pixel
    return c.model_copy(update={"lt": lt, "gt": gt, "lt_quantile": None, "gt_quantile": None})


def scene_rules(
    rules: RuleSet, runnable: list[PixelRule], stats: SceneStatistics
) -> tuple[list[PixelRule], dict[str, float]]:
    """The runnable rules with their quantile bounds fixed for this scene (only where open
    land is common), and the bounds that changed (``"rule.index<"`` → value) for tile_runs."""
    if stats.open_share < rules.scene.relative_open_share:
        fixed = [r.model_copy(update={"all": tuple(_strip(c) for c in r.all)}) for r in runnable]
        return fixed, {}
    out, changed = [], {}
    for rule in runnable:
        conditions = []
        for c in rule.all:
            resolved = _resolve(c, stats)
            if resolved.lt != c.lt:
                changed[f"{rule.name}.{c.operand}<"] = float(resolved.lt or 0.0)
            if resolved.gt != c.gt:
                changed[f"{rule.name}.{c.operand}>"] = float(resolved.gt or 0.0)
            conditions.append(resolved)
        out.append(rule.model_copy(update={"all": tuple(conditions)}))
    return out, changed


def _strip(c: Condition) -> Condition:
    return c.model_copy(update={"lt_quantile": None, "gt_quantile": None})
