"""Random shapes and smooth fields for synthetic landscapes."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage

Mask = npt.NDArray[np.bool_]


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], scale_px: float
) -> npt.NDArray[np.float32]:
    """Spatially correlated noise with correlation length ``scale_px``, about N(0, 1).

    Generated coarse and upsampled with cubic splines: cost does not grow with the scale.
    """
    step = max(1.0, scale_px)
    coarse_shape = (math.ceil(shape[0] / step) + 4, math.ceil(shape[1] / step) + 4)
    coarse = rng.standard_normal(coarse_shape).astype(np.float32)
    zoomed = ndimage.zoom(coarse, step, order=3, prefilter=False)
    off = int(step)
    field = zoomed[off : off + shape[0], off : off + shape[1]]
    if field.shape != shape:  # zoom rounding on tiny shapes
        field = np.resize(field, shape)
    std = float(field.std()) or 1.0
    return np.asarray((field - field.mean()) / std, dtype=np.float32)


def irregular_blob(
    rng: np.random.Generator, area_px: float, elongation: float, roughness: float
) -> Mask:
    """A blob of about ``area_px`` pixels: a rotated ellipse with a noisy edge."""
    b = math.sqrt(area_px / (math.pi * elongation))
    a = b * elongation
    half = math.ceil(a * 1.6) + 3
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    xr = xx * math.cos(angle) + yy * math.sin(angle)
    yr = -xx * math.sin(angle) + yy * math.cos(angle)
    distance = np.sqrt((xr / a) ** 2 + (yr / b) ** 2)
    noise = smooth_field(rng, distance.shape, max(2.0, b / 2.5))
    blob = distance + roughness * noise < 1.0
    labels, count = ndimage.label(blob)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        blob = labels == int(sizes.argmax())
    return np.asarray(ndimage.binary_fill_holes(blob), dtype=bool)


def rotated_rectangle(
    rng: np.random.Generator, width_px: float, height_px: float, max_angle_deg: float
) -> Mask:
    """A filled rectangle rotated by up to ``max_angle_deg``."""
    half = math.ceil(math.hypot(width_px, height_px) / 2) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    angle = math.radians(rng.uniform(-max_angle_deg, max_angle_deg))
    xr = xx * math.cos(angle) + yy * math.sin(angle)
    yr = -xx * math.sin(angle) + yy * math.cos(angle)
    return np.asarray((np.abs(xr) <= width_px / 2) & (np.abs(yr) <= height_px / 2))


def polyline_mask(shape: tuple[int, int], points: npt.NDArray[np.float64]) -> Mask:
    """Pixels touched by a densely sampled polyline (rows, cols in float)."""
    out = np.zeros(shape, dtype=bool)
    rows = np.round(points[:, 0]).astype(int)
    cols = np.round(points[:, 1]).astype(int)
    ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    out[rows[ok], cols[ok]] = True
    return out


def meander(
    rng: np.random.Generator, shape: tuple[int, int], row0: float, amplitude: float
) -> npt.NDArray[np.float64]:
    """A west-to-east meandering centreline, sampled every 0.25 px of column."""
    cols = np.arange(-5, shape[1] + 5, 0.25)
    wavelength = rng.uniform(0.25, 0.6) * shape[1]
    phase = rng.uniform(0, 2 * math.pi)
    walk = np.cumsum(rng.standard_normal(cols.size)) * 0.08
    walk = ndimage.gaussian_filter1d(walk, 200)
    rows = row0 + amplitude * np.sin(2 * math.pi * cols / wavelength + phase) + walk
    return np.column_stack([rows, cols])


def stamp(
    canvas: Mask | tuple[int, ...], local: Mask, centre: tuple[int, int]
) -> tuple[slice, slice, Mask]:
    """Where a local mask lands on a canvas (or canvas shape) around ``centre``, clipped to it."""
    shape = canvas if isinstance(canvas, tuple) else canvas.shape
    h, w = local.shape
    r0, c0 = centre[0] - h // 2, centre[1] - w // 2
    rr0, cc0 = max(0, r0), max(0, c0)
    rr1, cc1 = min(shape[0], r0 + h), min(shape[1], c0 + w)
    clipped = local[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
    return slice(rr0, rr1), slice(cc0, cc1), clipped


def polyline_distance(
    shape: tuple[int, int], points: npt.NDArray[np.float64], reach: float
) -> tuple[slice, slice, npt.NDArray[np.float64]]:
    """Distance (px) to a polyline over its bounding box grown by ``reach``."""
    pad = math.ceil(reach) + 2
    r0 = max(0, int(points[:, 0].min()) - pad)
    r1 = min(shape[0], int(points[:, 0].max()) + pad + 1)
    c0 = max(0, int(points[:, 1].min()) - pad)
    c1 = min(shape[1], int(points[:, 1].max()) + pad + 1)
    if r1 <= r0 or c1 <= c0:
        return slice(0, 0), slice(0, 0), np.full((0, 0), np.inf)
    local = polyline_mask((r1 - r0, c1 - c0), points - np.array([r0, c0]))
    if not local.any():
        return slice(r0, r1), slice(c0, c1), np.full(local.shape, np.inf)
    return slice(r0, r1), slice(c0, c1), np.asarray(ndimage.distance_transform_edt(~local))


def near_polyline(
    shape: tuple[int, int], points: npt.NDArray[np.float64], radius: float
) -> tuple[slice, slice, Mask]:
    """Pixels within ``radius`` of a polyline, computed on the polyline's bounding box only."""
    rows, cols, distance = polyline_distance(shape, points, radius)
    return rows, cols, np.asarray(distance <= radius)
