"""Quicklook PNGs: true colour with detections outlined, for a reviewer to judge at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from PIL import Image, ImageDraw

from asm_core.spectral.reflectance import to_reflectance

if TYPE_CHECKING:
    from asm_core.detection.objects.detector import Detection
    from asm_core.detection.pixels.layers import ScenePixels

MAX_SIDE = 1024
#: Reflectance mapped to full brightness; 0.25 suits tropical scenes without saturating soil.
WHITE_REFLECTANCE = 0.25
CLASS_COLOURS = {
    "mining_scar": (255, 40, 40),
    "pond": (0, 220, 255),
    "turbid_water": (255, 200, 0),
}


def _true_colour(pixels: ScenePixels, step: int) -> np.ndarray:
    height, width = pixels.shape
    shape = (max(1, height // step), max(1, width // step))
    channels = []
    for name in ("red", "green", "blue"):
        if name not in pixels.files.names:
            channels.append(np.zeros(shape, np.float32))
            continue
        dn = pixels.files.read_decimated(name, step)
        channels.append(to_reflectance(dn, pixels.assets[name].scale, pixels.dn_offset))
    return display_rgb(np.stack(channels, axis=-1), WHITE_REFLECTANCE)


def display_rgb(rgb: np.ndarray, white: float) -> np.ndarray:
    """Reflectance (rows x cols x 3) as 8-bit colour: ``white`` shown as full brightness,
    with a 1.6 gamma that opens up the dark tropical land."""
    scaled = np.clip(np.nan_to_num(rgb, nan=0.0) / white, 0, 1) ** (1 / 1.6)
    return np.asarray(scaled * 255, dtype=np.uint8)


def write_quicklook(pixels: ScenePixels, detections: Sequence[Detection], path: Path) -> Path:
    """Write a PNG of the scene (at most 1024 px a side) with each detection outlined."""
    height, width = pixels.shape
    step = max(1, int(np.ceil(max(height, width) / MAX_SIDE)))
    image = Image.fromarray(_true_colour(pixels, step), mode="RGB")
    draw = ImageDraw.Draw(image)
    inverse = ~pixels.files.transform
    for d in detections:
        colour = CLASS_COLOURS.get(d.cls, (255, 0, 255))
        for polygon in getattr(d.geometry, "geoms", [d.geometry]):
            ring = np.asarray(shapely.get_coordinates(polygon.exterior))
            cols, rows = inverse @ (ring[:, 0], ring[:, 1])
            points = list(
                zip(
                    (np.asarray(cols) / step).tolist(),
                    (np.asarray(rows) / step).tolist(),
                    strict=True,
                )
            )
            if len(points) >= 2:
                draw.line([*points, points[0]], fill=colour, width=2 if step == 1 else 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=False)
    return path
