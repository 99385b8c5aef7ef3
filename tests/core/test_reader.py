"""Reading bands: 20 m bands stay native, bad files and CRS mismatches fail clearly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import RasterioError

from asm_core.errors import (
    BandError,
    BandSourceUnavailableError,
    CrsError,
    RasterReadError,
    UpstreamError,
)
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.sources.band_stack import read_bands
from asm_core.sources.reader import expand_window, open_bands
from asm_core.sources.remote_reads import RetryPolicy
from asm_core.sources.stac import load_item
from tests.conftest import edit_item


def test_twenty_metre_bands_are_kept_at_native_resolution(small_scene: WrittenScene) -> None:
    item = load_item(str(small_scene.item_path))
    stack = read_bands(item.bands, ["red", "swir16", "scl"], item.epsg)
    assert stack.shape == (768, 768)
    assert stack.arrays["swir16"].shape == (384, 384)
    assert stack.factors == {"red": 1, "swir16": 2, "scl": 2}


def test_any_window_of_a_coarse_band_expands_to_the_full_upsample(
    small_scene: WrittenScene,
) -> None:
    item = load_item(str(small_scene.item_path))
    whole = read_bands(item.bands, ["swir16"], item.epsg).arrays["swir16"]
    full = np.repeat(np.repeat(whole, 2, axis=0), 2, axis=1)
    with open_bands(item.bands, ["red", "swir16"], item.epsg) as files:
        for r0, r1, c0, c1 in [(0, 768, 0, 768), (1, 4, 3, 8), (3, 8, 0, 13), (767, 768, 1, 2)]:
            part = files.read("swir16", r0, r1, c0, c1)
            np.testing.assert_array_equal(
                expand_window(part, 2, r0, c0, r1 - r0, c1 - c0), full[r0:r1, c0:c1]
            )


def test_truncated_cog_is_a_read_error(small_scene: WrittenScene, tmp_path: Path) -> None:
    item = load_item(str(small_scene.item_path))
    broken = tmp_path / "B04.tif"
    data = Path(item.bands["red"].href).read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    path = edit_item(
        small_scene.item_path,
        tmp_path / "item",
        lambda d: d["assets"]["red"].update(href=str(broken)),
    )
    bad = load_item(str(path))
    with pytest.raises(RasterReadError, match=r"B04\.tif"):
        read_bands(bad.bands, ["red"], bad.epsg)


def test_missing_band_file_is_a_read_error(small_scene: WrittenScene, tmp_path: Path) -> None:
    path = edit_item(
        small_scene.item_path,
        tmp_path,
        lambda d: d["assets"]["nir"].update(href=str(tmp_path / "nope.tif")),
    )
    item = load_item(str(path))
    with pytest.raises(RasterReadError, match=r"nope\.tif"):
        read_bands(item.bands, ["nir"], item.epsg)


def test_item_crs_disagreeing_with_the_file_is_named(
    small_scene: WrittenScene, tmp_path: Path
) -> None:
    path = edit_item(
        small_scene.item_path, tmp_path, lambda d: d["properties"].update({"proj:epsg": 32631})
    )
    item = load_item(str(path))
    with pytest.raises(CrsError, match="EPSG:32630 but the item says proj:epsg 32631"):
        read_bands(item.bands, ["red"], item.epsg)


def test_file_without_crs_is_a_crs_error(small_scene: WrittenScene, tmp_path: Path) -> None:
    item = load_item(str(small_scene.item_path))
    plain = tmp_path / "nocrs.tif"
    with rasterio.open(item.bands["red"].href) as src:
        profile = src.profile | {"driver": "GTiff", "crs": None}
        with rasterio.open(plain, "w", **profile) as dst:
            dst.write(src.read())
    path = edit_item(
        small_scene.item_path, tmp_path / "i", lambda d: d["assets"]["red"].update(href=str(plain))
    )
    bad = load_item(str(path))
    with pytest.raises(CrsError, match="has no CRS"):
        read_bands(bad.bands, ["red"], bad.epsg)


def test_bands_with_different_footprints_are_refused(
    small_scene: WrittenScene, scene_factory, tmp_path: Path
) -> None:
    other = scene_factory(seed=12, size=256)
    other_red = json.loads(other.item_path.read_text())["assets"]["red"]["href"]
    other_red = str((other.item_path.parent / other_red).resolve())
    path = edit_item(
        small_scene.item_path, tmp_path, lambda d: d["assets"]["red"].update(href=other_red)
    )
    item = load_item(str(path))
    with pytest.raises(BandError, match="must share one footprint"):
        read_bands(item.bands, ["red", "green"], item.epsg)


def _failing(message: str) -> Callable[[], None]:
    def read() -> None:
        raise RasterioError(message)

    return read


def test_a_store_that_keeps_failing_is_upstream_and_a_bad_file_is_not() -> None:
    """Transient remote errors are retried; past the last try they are the store's fault
    (UpstreamError: the API answers 503), while a file that is not a raster is the input's."""
    retry = RetryPolicy(attempts=3, backoff_s=0.0)
    calls = []

    def flaky() -> None:
        calls.append(1)
        raise RasterioError("HTTP response code: 503")

    with pytest.raises(BandSourceUnavailableError, match="after 3 attempts") as caught:
        retry.run("s3://bucket/B04.tif", "read", flaky)
    assert len(calls) == 3 and isinstance(caught.value, UpstreamError)
    with pytest.raises(RasterReadError) as bad:
        retry.run("s3://bucket/B04.tif", "read", _failing("TIFFReadDirectory: corrupt IFD"))
    assert not isinstance(bad.value, UpstreamError)
    # a local file is never retried, whatever the message
    with pytest.raises(RasterReadError) as local:
        retry.run("/data/B04.tif", "read", _failing("timed out"))
    assert not isinstance(local.value, UpstreamError)
