"""A class mask per tile-date: one byte per pixel of the grid the detections were made on
(none, mining scar, pond, turbid water, cloud or no data), as a Cloud-Optimized GeoTIFF with a
colour table and internal overviews, for GIS users and Earth Engine to overlay and composite.

The mask shows what was reported: the detections' polygons burnt in strip by strip (a full
tile is never held), over the pixels the detector could not see.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import rasterio
import rasterio.features
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from asm_core.detection.pixels.packed_mask import Bool, PackedMask, mask_rows
from asm_core.results.schema import CLASS_CODES
from asm_core.results.store import write_replacing

if TYPE_CHECKING:
    from asm_core.detection.objects.detector import Detection

#: the colour table: colour-blind-safe (a GeoTIFF palette has no alpha: "none" is black)
COLOURS = {
    0: (0, 0, 0, 255),
    1: (213, 94, 0, 255),
    2: (0, 114, 178, 255),
    3: (230, 159, 0, 255),
    4: (190, 190, 190, 255),
}
#: classes drawn in this order, so a pond inside a scar shows as a pond
_DRAW_ORDER = ("turbid_water", "mining_scar", "pond")
#: rows burnt and written at once
STRIP_ROWS = 512
#: the COG's block side: overviews are built down to one block, so a 512 px scene has one
COG_BLOCK = 256


def burn_strip(
    r0: int,
    r1: int,
    width: int,
    transform: Affine,
    shapes: list[tuple[shapely.Geometry, int]],
    tree: shapely.STRtree,
    valid: Bool | PackedMask,
) -> np.ndarray:
    """Rows ``r0:r1`` of the mask: the polygons that reach them burnt in, the rest of the
    pixels that could not be seen marked no data."""
    window = Window(0, r0, width, r1 - r0)
    strip_transform = window_transform(window, transform)
    reach = tree.query(shapely.box(*window_bounds(window, transform)))
    out = np.zeros((r1 - r0, width), dtype=np.uint8)
    if len(reach):
        out = rasterio.features.rasterize(
            [shapes[int(i)] for i in sorted(reach)],
            out_shape=out.shape,
            transform=strip_transform,
            fill=0,
            dtype="uint8",
        )
    out[(out == 0) & ~mask_rows(valid, r0, r1)] = CLASS_CODES["no_data"]
    return out


def write_class_mask(
    path: Path,
    detections: Sequence[Detection],
    valid: Bool | PackedMask,
    transform: Affine,
    crs: CRS,
) -> None:
    """Write the class mask of one tile-date to ``path`` (a COG; replaced whole, never left
    half-written). ``valid`` is the grid's mask of pixels the detector could see."""
    height, width = valid.shape
    ordered = sorted(detections, key=lambda d: _DRAW_ORDER.index(d.cls))
    shapes = [(d.geometry, CLASS_CODES[d.cls]) for d in ordered]
    tree = shapely.STRtree([g for g, _ in shapes])
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
        "tiled": True,
        "blockxsize": STRIP_ROWS,
        "blockysize": STRIP_ROWS,
        "compress": "deflate",
    }

    def write(target: str) -> None:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".mask-") as work:
            plain = Path(work) / "mask.tif"
            with rasterio.open(plain, "w", **profile) as dst:
                for r0 in range(0, height, STRIP_ROWS):
                    r1 = min(height, r0 + STRIP_ROWS)
                    strip = burn_strip(r0, r1, width, transform, shapes, tree, valid)
                    dst.write(strip, 1, window=Window(0, r0, width, r1 - r0))
                dst.write_colormap(1, COLOURS)
                dst.update_tags(1, **{f"class_{code}": name for name, code in CLASS_CODES.items()})
            # GDAL's COG driver lays out the blocks and builds the overviews: by nearest
            # pixel, which keeps classes whole (never an average of two); the most common
            # class ("mode") would look smoother but took 3.6 CPU-s a full tile, nearest 1.1
            rasterio.shutil.copy(
                plain,
                target,
                driver="COG",
                COMPRESS="DEFLATE",
                BLOCKSIZE=COG_BLOCK,
                OVERVIEW_RESAMPLING=Resampling.nearest.name.upper(),
            )

    write_replacing(path, write)
