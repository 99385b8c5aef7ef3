"""Per-pixel work of a scene, streamed strip by strip: DN → valid mask and bit-packed rule layers.

A strip of rows of every band is read (20 m bands at their own resolution, bands decoded by
GDAL in parallel threads), classified by the fused kernel in
:mod:`asm_core.detection.pixels.pixel_kernel`, and dropped: no band of a full tile is ever held
whole. Layers are kept bit-packed (15 MB per layer for a 10980² tile) and unpacked on demand, whole
or by window.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from asm_core.detection.objects.observed import NdviGridBuilder
from asm_core.detection.pixels.heap import release_free_heap
from asm_core.detection.pixels.packed_mask import PackedMask
from asm_core.detection.pixels.pixel_kernel import classify_strip
from asm_core.detection.pixels.pixel_samples import PixelSamples
from asm_core.detection.pixels.rule_table import RuleTable, rule_table
from asm_core.rules import MaskSettings, PixelRule
from asm_core.sources.reader import BandFiles, expand_window
from asm_core.sources.sentinel2 import REFLECTANCE_BANDS, BandAsset
from asm_core.spectral.indices import F32, compute_indices
from asm_core.spectral.reflectance import to_reflectance

#: Rows per strip: a multiple of the 20 m factor and of the 1024-row COG block.
STRIP_ROWS = 1024
READ_THREADS = 2


@dataclass
class ScenePixels:
    """Reflectance and indices of an item's open band files, for any window of the grid."""

    files: BandFiles
    assets: dict[str, BandAsset]
    dn_offset: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.files.shape

    @property
    def reflectance_bands(self) -> frozenset[str]:
        return frozenset(n for n in REFLECTANCE_BANDS if n in self.files.names)

    def reflectance(self, name: str, r0: int, r1: int, c0: int, c1: int) -> F32:
        dn = self.files.read(name, r0, r1, c0, c1)
        fine = expand_window(dn, self.files.factors[name], r0, c0, r1 - r0, c1 - c0)
        return to_reflectance(
            fine.astype(np.uint16, copy=False), self.assets[name].scale, self.dn_offset
        )

    def window(
        self, indices: tuple[str, ...], r0: int, r1: int, c0: int, c1: int
    ) -> dict[str, F32]:
        """Band reflectances and the requested indices over one window."""
        bands = {n: self.reflectance(n, r0, r1, c0, c1) for n in sorted(self.reflectance_bands)}
        out = dict(bands)
        out.update(compute_indices(indices, bands))
        return out


@dataclass
class SceneLayers:
    """Bit-packed full-grid layers of one scene."""

    valid: PackedMask
    layers: dict[str, PackedMask]
    rescued_pond_pixels: int
    #: seconds spent decoding strips and running the kernel on them
    seconds: dict[str, float] = field(default_factory=dict)
    #: DN of candidate pixels kept for object statistics (None: read back from the files)
    samples: PixelSamples | None = None


def compute_layers(
    pixels: ScenePixels,
    rules: list[PixelRule],
    mask: MaskSettings,
    samples: PixelSamples | None = None,
    sample_layers: tuple[str, ...] = (),
    strip_rows: int = STRIP_ROWS,
    ndvi_grid: NdviGridBuilder | None = None,
) -> SceneLayers:
    """Evaluate the runnable pixel rules over the whole scene, strip by strip.

    With ``samples``, the DN of pixels in ``sample_layers`` (and near them) are kept there;
    with ``ndvi_grid``, the clear pixels' NDVI is added to it cell by cell.
    """
    table: RuleTable = rule_table(rules, mask)
    sampled = [table.layers.index(n) + 1 for n in sample_layers if n in table.layers]
    files = pixels.files
    height, width = files.shape
    planes = np.zeros((table.planes, height, -(-width // 8)), dtype=np.uint8)
    scales = {n: pixels.assets[n].scale for n in files.names}
    strips = [(r0, min(height, r0 + strip_rows)) for r0 in range(0, height, strip_rows)]
    rescued, waiting, computing = 0, 0.0, 0.0
    # Bands of a strip are decoded in parallel threads, then the (parallel) kernel runs.
    # Overlapping the next strip's decoding with the kernel saves ~0.4 s a tile but holds two
    # strips of DN (+104 MB): memory is the scarcer resource on Lambda.
    with ThreadPoolExecutor(READ_THREADS) as pool:
        for r0, r1 in strips:
            lap = time.perf_counter()
            reads = {n: pool.submit(files.read, n, r0, r1, reuse=True) for n in files.names}
            dn = {n: f.result() for n, f in reads.items()}
            started = time.perf_counter()
            rescued += classify_strip(
                dn, files.factors, scales, pixels.dn_offset, table, planes[:, r0:r1], width, r0
            )
            if samples is not None and sampled:
                bits = np.bitwise_or.reduce(planes[sampled, r0:r1], axis=0)
                bands = {n: a for n, a in dn.items() if n in REFLECTANCE_BANDS}
                samples.keep_strip(PackedMask(bits, width).unpack(), r0, bands, files.factors)
            if ndvi_grid is not None and files.factors.get("red") == files.factors.get("nir") == 1:
                valid = PackedMask(planes[0, r0:r1], width)
                ndvi_grid.add_strip(r0, dn["red"], dn["nir"], valid, pixels.dn_offset)
            del dn
            release_free_heap()  # decoded strips live in the reader threads' arenas
            waiting += started - lap
            computing += time.perf_counter() - started
    files.release_buffers()
    if samples is not None:
        samples.finish()
    return SceneLayers(
        valid=PackedMask(planes[0], width),
        layers={name: PackedMask(planes[i + 1], width) for i, name in enumerate(table.layers)},
        rescued_pond_pixels=rescued,
        seconds={"read": round(waiting, 3), "compute": round(computing, 3)},
        samples=samples,
    )
