"""Clouds with soft edges and their shadows, haze, and sensor noise.

Sen2Cor flags cloud and shadow cores; the soft cloud edges stay unflagged, as they do in real
L2A scenes, and are one of the look-alikes the detector must not take for bare soil. Some turbid
mining ponds are deliberately labelled cloud, as Sen2Cor is known to do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from asm_core.evaluation.synthetic.landscape import Feature, Landscape
from asm_core.evaluation.synthetic.shapes import Mask, irregular_blob, smooth_field, stamp
from asm_core.evaluation.synthetic.spectra import NOISE_SIGMA, spectrum

SCL_SHADOW, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH = 3, 8, 9
#: How far a cloud's soft edge and shadow reach beyond its core (blur and sun offset), px.
SHADOW_REACH_PX = 45


def add_clouds(
    land: Landscape,
    count: int,
    placed: Sequence[tuple[int, int, float]] = (),
    keep_clear: Mask | None = None,
) -> Mask:
    """Cumulus clouds (soft alpha edges) and their shadows, offset by the sun angle.

    ``count`` clouds go anywhere, or, given ``keep_clear``, where neither they nor their shadow
    touch those pixels (a few tries each, then the cloud is left out); ``placed`` clouds of
    (row, col, area in pixels) go exactly there, e.g. to hide a site on one date.
    """
    shape = land.reflectance.shape[:2]
    alpha = np.zeros(shape, dtype=np.float32)
    near_clear = (
        None
        if keep_clear is None
        else ndimage.distance_transform_edt(~keep_clear) <= SHADOW_REACH_PX
    )
    for _ in range(count):
        for _try in range(20):
            blob = irregular_blob(
                land.rng, land.rng.uniform(800, 6000), land.rng.uniform(1, 1.6), 0.35
            )
            r = int(land.rng.integers(0, shape[0]))
            c = int(land.rng.integers(0, shape[1]))
            rows, cols, clipped = stamp(shape, blob, (r, c))
            if near_clear is None or not np.any(near_clear[rows, cols] & clipped):
                alpha[rows, cols] = np.maximum(alpha[rows, cols], clipped.astype(np.float32))
                break
    for r, c, area in placed:
        blob = irregular_blob(land.rng, area, 1.0, 0.1)
        rows, cols, clipped = stamp(shape, blob, (r, c))
        alpha[rows, cols] = np.maximum(alpha[rows, cols], clipped.astype(np.float32))
    if not alpha.any():
        return np.zeros(shape, dtype=bool)
    alpha = np.clip(ndimage.gaussian_filter(alpha, 2.5) * 1.15, 0, 1).astype(np.float32)
    shift = (int(land.rng.integers(15, 30)), int(land.rng.integers(-25, 25)))
    shadow = np.roll(alpha, shift, axis=(0, 1)) * (1 - alpha)
    land.reflectance *= (1 - 0.7 * shadow)[..., None]
    land.reflectance[:] = (1 - alpha[..., None]) * land.reflectance + alpha[..., None] * spectrum(
        "cloud"
    )
    land.scl[shadow > 0.45] = SCL_SHADOW
    land.scl[alpha > 0.45] = SCL_CLOUD_MEDIUM
    land.scl[alpha > 0.8] = SCL_CLOUD_HIGH
    core = alpha > 0.02
    rs, cs = np.nonzero(core)
    rows, cols = slice(rs.min(), rs.max() + 1), slice(cs.min(), cs.max() + 1)
    land.features.append(Feature("cloud", rows, cols, core[rows, cols].copy()))
    return np.asarray((alpha > 0.45) | (shadow > 0.45), dtype=bool)


def mislabel_ponds_as_cloud(land: Landscape, share: float) -> int:
    """Label some mining ponds cloud in the SCL, as Sen2Cor does with bright turbid water."""
    pond = np.all(np.isclose(land.reflectance, spectrum("mining_pond"), atol=1e-6), axis=-1)
    labels, count = ndimage.label(pond)
    chosen = [k for k in range(1, count + 1) if land.rng.random() < share]
    if chosen:
        land.scl[np.isin(labels, chosen)] = SCL_CLOUD_HIGH
    return len(chosen)


def add_haze(land: Landscape) -> None:
    """A smooth veil of haze over part of the scene (strongest in blue)."""
    shape = land.reflectance.shape[:2]
    veil = np.clip(smooth_field(land.rng, shape, land.size / 5) - 0.3, 0, None)
    veil = (veil / max(float(veil.max()), 1e-6)).astype(np.float32)
    land.reflectance += veil[..., None] * spectrum("haze")


def add_noise(land: Landscape) -> None:
    """Sensor noise: white per band plus a faint correlated (striping-like) component."""
    shape = land.reflectance.shape[:2]
    for b in range(land.reflectance.shape[2]):
        white = land.rng.standard_normal(shape).astype(np.float32) * NOISE_SIGMA[b]
        column = np.tile(
            land.rng.standard_normal(size=(shape[1],)).astype(np.float32), (shape[0], 1)
        )
        land.reflectance[..., b] += white + 0.3 * NOISE_SIGMA[b] * column


def block_mean(band: npt.NDArray[np.float32], factor: int) -> npt.NDArray[np.float32]:
    """Aggregate a 10 m band to 20 m as the MSI does (mean of 2×2)."""
    h, w = band.shape
    trimmed = band[: h - h % factor, : w - w % factor]
    return np.asarray(
        trimmed.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3)),
        dtype=np.float32,
    )
