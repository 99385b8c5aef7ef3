"""Same-season baseline: what the ground looked like a year before, to tell new scars from
ground that was always bare.

For an item, the baseline looks are the items of the same MGRS tile acquired within
``baseline_days`` of the same date a year earlier (the same season: a savanna in the dry
season is judged against the dry season). Each is opened on the item's CRS, and only the windows
around the candidate sites a decision needs are read (asm_core/detection/objects/detector.py asks
for a site whose fate the vegetation-loss sign could change, and for every site kept), at 20 m from
the COG overviews: red and NIR, masked by the look's SCL (cloud, shadow, no data) where it has one
and by its nodata alone where it has none (annual composites and most published datasets ship no
SCL). The per-pixel median NDVI over the looks is the baseline composite under the site: a large
drop from then to now is the ``vegetation_loss`` sign; a site that was already bare then is not
news when first seen (:mod:`asm_core.monitoring.alerts`) - the commonest false alarm is permanently
bare ground (crusts, outcrops, old workings) found for the first time.

Reading parts rather than whole tiles keeps the cost of the extra looks proportional to the
candidates: a full tile of three looks read whole cost 13.7 CPU-s and 880 MB with stackstac.
A block of 5 km asked for a second time is read whole, once (a tile with candidates
everywhere, as real farmland is, asked for 54,000 small windows); the composite is the median
of the looks.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, WindowError
from rasterio.windows import Window, from_bounds

from asm_core.errors import AsmError
from asm_core.planning.baseline_looks import NDVI_BANDS
from asm_core.sources.remote_reads import RetryPolicy, gdal_path
from asm_core.sources.stac import SceneItem
from asm_core.spectral.reflectance import decide_boa_offset

#: the side of the blocks the looks are read in (with ``blocks``; 256 baseline
#: pixels: 5.1 km at 20 m), and how many composites of blocks are kept (256 kB each)
BASELINE_BLOCK = 256
BASELINE_BLOCKS_KEPT = 128


@dataclass
class _Look:
    item_id: str
    bands: dict[str, rasterio.DatasetReader]  # red, nir and, when the look has it, scl
    dn_offset: int
    scale: dict[str, float]


@dataclass
class BaselineNdvi:
    """The baseline looks, open for windowed reads on the item's grid (``transform``), read at
    ``factor`` fine pixels per baseline pixel."""

    transform: Affine
    factor: int
    opened: list[_Look]
    #: scene classes that are not ground seen clearly (the rule set's invalid SCL classes)
    masked_scl: tuple[int, ...]
    #: looks given or searched but not used, each with its reason
    skipped: list[str] = field(default_factory=list)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: read the looks in blocks (see :meth:`composite`), not window by window
    blocks: bool = False
    _blocks: dict[tuple[int, int], npt.NDArray[np.float32]] = field(
        default_factory=dict, init=False, repr=False
    )
    _asked: dict[tuple[int, int], int] = field(default_factory=dict, init=False, repr=False)

    @property
    def looks(self) -> list[str]:
        """Item ids of the looks in the composite."""
        return [look.item_id for look in self.opened]

    def composite(self, rows: slice, cols: slice) -> tuple[npt.NDArray[np.float32], int, int]:
        """Median NDVI of the looks over a fine-grid crop, on the baseline grid (NaN where no
        look saw the ground), and the baseline-grid row and column the composite starts at."""
        f = self.factor
        r0, c0 = rows.start // f, cols.start // f
        r1, c1 = -(-rows.stop // f), -(-cols.stop // f)
        if not self.blocks:
            return self._composite(r0, r1, c0, c1), r0, c0
        # The looks are read in square blocks of the baseline grid, each once (from the second
        # time it is asked for), and each site's composite is cut from them: window by window,
        # a real farmland tile's ~6,000 judged sites cost 54,000 small reads (20 of its 81
        # CPU-s). A block's pixels are the windows' own: the same grid, the same overview,
        # offsets on whole baseline pixels.
        size = BASELINE_BLOCK
        touched = [
            (br, bc)
            for br in range(r0 // size, (r1 - 1) // size + 1)
            for bc in range(c0 // size, (c1 - 1) // size + 1)
        ]
        for key in touched:
            self._asked[key] = self._asked.get(key, 0) + 1
        if all(self._asked[key] == 1 and key not in self._blocks for key in touched):
            # a block asked for once is read as the window alone: a tile with few sites reads
            # no more than they need (whole blocks cost the synthetic tile 3 of its 26 CPU-s)
            return self._composite(r0, r1, c0, c1), r0, c0
        out = np.empty((r1 - r0, c1 - c0), dtype=np.float32)
        for br, bc in touched:
            block = self._block(br, bc)
            top, left = max(r0, br * size), max(c0, bc * size)
            bottom, right = min(r1, (br + 1) * size), min(c1, (bc + 1) * size)
            out[top - r0 : bottom - r0, left - c0 : right - c0] = block[
                top - br * size : bottom - br * size, left - bc * size : right - bc * size
            ]
        return out, r0, c0

    def _block(self, br: int, bc: int) -> npt.NDArray[np.float32]:
        """The composite of one block of the baseline grid (kept, the latest few hundred)."""
        found = self._blocks.pop((br, bc), None)
        if found is None:
            size = BASELINE_BLOCK
            found = self._composite(br * size, (br + 1) * size, bc * size, (bc + 1) * size)
            if len(self._blocks) >= BASELINE_BLOCKS_KEPT:
                self._blocks.pop(next(iter(self._blocks)))
        self._blocks[(br, bc)] = found  # the newest last
        return found

    def _composite(self, r0: int, r1: int, c0: int, c1: int) -> npt.NDArray[np.float32]:
        """The median NDVI of the looks over baseline-grid rows r0:r1 and columns c0:c1."""
        f = self.factor
        left, top = self.transform @ (c0 * f, r0 * f)
        right, bottom = self.transform @ (c1 * f, r1 * f)
        bounds = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
        shape = (r1 - r0, c1 - c0)
        ndvi = []
        for look in list(self.opened):
            try:
                ndvi.append(self._look_ndvi(look, bounds, shape))
            except (RasterioError, AsmError) as e:  # the look is dropped, not the tile
                self.opened.remove(look)
                self.skipped.append(f"{look.item_id}: unreadable ({str(e).splitlines()[0]})")
        if not ndvi:
            return np.full(shape, np.nan, dtype=np.float32)
        return median_of_looks(np.stack(ndvi))

    def _look_ndvi(
        self, look: _Look, bounds: tuple[float, float, float, float], shape: tuple[int, int]
    ) -> npt.NDArray[np.float32]:
        def read(name: str) -> npt.NDArray[np.float32]:
            return self.retry.run(
                look.bands[name].name,
                "read",
                lambda: _read_clipped(look.bands[name], bounds, shape),
            )

        red, nir = read("red"), read("nir")
        clear = (red > 0) & (nir > 0)
        if "scl" in look.bands:
            clear &= ~np.isin(read("scl"), self.masked_scl)
        red = (red - look.dn_offset) * look.scale["red"]
        nir = (nir - look.dn_offset) * look.scale["nir"]
        with np.errstate(all="ignore"):
            return np.where(clear, (nir - red) / (nir + red), np.nan).astype(np.float32)

    def mean_under(
        self, rows: slice, cols: slice, mask: npt.NDArray[np.bool_]
    ) -> tuple[float, int]:
        """Sum of the composite's NDVI under a fine-grid crop mask, and how many pixels had
        one (the caller weights and divides)."""
        composite, r0, c0 = self.composite(rows, cols)
        r, c = np.nonzero(mask)
        rr = (rows.start + r) // self.factor - r0
        cc = (cols.start + c) // self.factor - c0
        values = composite[rr, cc]
        known = values[np.isfinite(values)]
        return float(known.sum()), int(known.size)


def median_of_looks(stack: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Per pixel, the median of the finite values of a few looks (NaN where none): bit for bit
    ``np.nanmedian(stack, axis=0)``, three times as fast for a handful of looks (a sort along
    the looks puts NaN last; the middle one, or the mean of the middle two, of the finite)."""
    ordered = np.sort(stack, axis=0)
    finite = np.isfinite(stack).sum(axis=0)
    last = stack.shape[0] - 1
    low = np.take_along_axis(ordered, np.maximum((finite - 1) // 2, 0)[None], 0)[0]
    high = np.take_along_axis(ordered, np.minimum(finite // 2, last)[None], 0)[0]
    median: npt.NDArray[np.float32] = np.where(
        finite % 2 == 1, high, (low + high) / np.float32(2)
    ).astype(np.float32)
    median[finite == 0] = np.nan
    return median


def _read_clipped(
    src: rasterio.DatasetReader, bounds: tuple[float, float, float, float], shape: tuple[int, int]
) -> npt.NDArray[np.float32]:
    """``bounds`` of a band at ``shape`` pixels (from the overview that suffices), 0 outside
    the file. Reads the part inside the file and pads: rasterio's boundless reads go through a
    VRT per call, which measured 8 ms a read and no block-cache reuse."""
    out = np.zeros(shape, dtype=np.float32)
    window = from_bounds(*bounds, transform=src.transform)
    step_y, step_x = window.height / shape[0], window.width / shape[1]
    try:
        inside = window.intersection(Window(0, 0, src.width, src.height))
    except WindowError:
        return out
    r0 = round((inside.row_off - window.row_off) / step_y)
    c0 = round((inside.col_off - window.col_off) / step_x)
    h = min(shape[0] - r0, round(inside.height / step_y))
    w = min(shape[1] - c0, round(inside.width / step_x))
    if h > 0 and w > 0:
        out[r0 : r0 + h, c0 : c0 + w] = src.read(
            1, window=inside, out_shape=(h, w), resampling=Resampling.nearest
        )
    return out


def _why_not(look: SceneItem, epsg: int) -> str | None:
    missing = [b for b in NDVI_BANDS if b not in look.bands]
    if missing:
        return f"no {' or '.join(missing)} band"
    if look.epsg != epsg:
        return f"in EPSG:{look.epsg}, the item in EPSG:{epsg}"
    return None


def _open(href: str, stack: ExitStack, retry: RetryPolicy) -> rasterio.DatasetReader:
    dataset: rasterio.DatasetReader = retry.run(
        href, "opened", lambda: rasterio.open(gdal_path(href))
    )
    return stack.enter_context(dataset)


def open_baseline(
    looks: Sequence[SceneItem],
    epsg: int,
    transform: Affine,
    stack: ExitStack,
    resolution_m: float,
    masked_scl: tuple[int, ...],
    retry: RetryPolicy | None = None,
    blocks: bool = False,
) -> BaselineNdvi:
    """Open the usable ``looks`` (red and NIR, in the item's CRS ``epsg``; SCL when they have
    it) for windowed reads on the item's grid ``transform`` at ``resolution_m``, SCL classes
    ``masked_scl`` masked; the others are listed in ``skipped`` with their reason, as is a look
    that cannot be opened. Datasets close with ``stack``. With ``blocks`` the looks are read
    in blocks (:meth:`BaselineNdvi.composite`)."""
    retry = retry or RetryPolicy()
    factor = max(1, round(resolution_m / abs(transform.a)))
    opened, skipped = [], []
    for look in looks:
        reason = _why_not(look, epsg)
        if reason is not None:
            skipped.append(f"{look.item_id}: {reason}")
            continue
        names = [*NDVI_BANDS, *(["scl"] if "scl" in look.bands else [])]
        try:
            bands = {n: _open(look.bands[n].href, stack, retry) for n in names}
        except (RasterioError, AsmError) as e:
            skipped.append(f"{look.item_id}: unreadable ({str(e).splitlines()[0]})")
            continue
        offset = decide_boa_offset(look.baseline, look.boa_offset_flag, look.bands, "inconclusive")
        scale = {n: look.bands[n].scale for n in NDVI_BANDS}
        opened.append(_Look(look.item_id, bands, offset.dn_offset, scale))
    return BaselineNdvi(transform, factor, opened, masked_scl, skipped, retry, blocks)
