"""Sentinel-2 L2A facts: band names, asset resolution, processing baseline, MGRS tile.

Catalogues disagree on asset keys (Earth Search: ``blue``, ``swir16``; Planetary Computer and CDSE:
``B02``, ``B11``), so bands are resolved by their ``eo:bands`` common name first and by key second.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asm_core.errors import ItemError

#: Bands the detector can use, by common name, with their native resolution in metres.
BAND_RESOLUTION_M: dict[str, int] = {
    "blue": 10,
    "green": 10,
    "red": 10,
    "nir": 10,
    "swir16": 20,
    "swir22": 20,
    "scl": 20,
}
REFLECTANCE_BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")

#: Sentinel-2 band ids and the common name each carries (ESA naming, as CDSE and PC use).
BAND_ID_TO_COMMON: dict[str, str] = {
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B08": "nir",
    "B11": "swir16",
    "B12": "swir22",
    "SCL": "scl",
}
COMMON_TO_BAND_ID = {v: k for k, v in BAND_ID_TO_COMMON.items()}

#: Processing baseline from which L2A digital numbers carry BOA_ADD_OFFSET = -1000.
OFFSET_BASELINE = (4, 0)
BOA_ADD_OFFSET_DN = 1000
DEFAULT_SCALE = 1e-4

_BASELINE_IN_NAME = re.compile(r"_N(\d{2})(\d{2})(?:_|\.|$)")
_MGRS_IN_ID = re.compile(r"(?:^|_)T?(\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2})(?:_|$)")


@dataclass(frozen=True)
class BandAsset:
    """One band of an item: where it is and how its numbers become reflectance."""

    name: str
    href: str
    scale: float
    offset: float
    nodata: float | None


def _is_cog_like(asset: Mapping[str, Any]) -> bool:
    media = str(asset.get("type", ""))
    href = str(asset.get("href", ""))
    return "tiff" in media.lower() or href.lower().endswith((".tif", ".tiff"))


def _common_name_of(key: str, asset: Mapping[str, Any]) -> str | None:
    bands = asset.get("eo:bands") or asset.get("bands") or []
    if isinstance(bands, list) and len(bands) == 1 and isinstance(bands[0], Mapping):
        common = bands[0].get("common_name") or bands[0].get("eo:common_name")
        if common in BAND_RESOLUTION_M:
            return str(common)
        band_id = bands[0].get("name")
        if isinstance(band_id, str) and band_id.upper() in BAND_ID_TO_COMMON:
            return BAND_ID_TO_COMMON[band_id.upper()]
    lowered = key.lower()
    if lowered in BAND_RESOLUTION_M:
        return lowered
    if key.upper() in BAND_ID_TO_COMMON:
        return BAND_ID_TO_COMMON[key.upper()]
    return None


def _raster_band(asset: Mapping[str, Any]) -> Mapping[str, Any]:
    bands = asset.get("raster:bands") or asset.get("bands") or []
    if isinstance(bands, list) and bands and isinstance(bands[0], Mapping):
        return bands[0]
    return {}


def resolve_band_assets(
    assets: Mapping[str, Mapping[str, Any]], resolve_href: Any
) -> dict[str, BandAsset]:
    """Map common band names to assets, preferring COGs over JPEG 2000 twins.

    Args:
        assets: the item's ``assets`` object.
        resolve_href: callable turning an asset href into an absolute location.

    Returns:
        ``{"red": BandAsset(...), ...}`` for every band found; missing bands are simply absent.
    """
    chosen: dict[str, tuple[int, BandAsset]] = {}
    for key, asset in assets.items():
        # Earth Search's secondary "-jp2" keys and roles such as overview/visual are skipped
        # unless nothing better exists; a 1-band asset with a known common name is a band.
        name = _common_name_of(key, asset)
        if name is None or "href" not in asset:
            continue
        raster = _raster_band(asset)
        default_scale = 1.0 if name == "scl" else DEFAULT_SCALE
        band = BandAsset(
            name=name,
            href=resolve_href(str(asset["href"])),
            scale=float(raster.get("scale", default_scale)),
            offset=float(raster.get("offset", 0.0)),
            nodata=float(raster["nodata"]) if raster.get("nodata") is not None else 0.0,
        )
        rank = (0 if _is_cog_like(asset) else 2) + (0 if "jp2" not in key.lower() else 1)
        if name not in chosen or rank < chosen[name][0]:
            chosen[name] = (rank, band)
    return {name: band for name, (_, band) in sorted(chosen.items())}


def processing_baseline(properties: Mapping[str, Any], item_id: str) -> tuple[int, int] | None:
    """Processing baseline as (major, minor), from properties or the product name.

    Earth Search v1 writes ``s2:processing_baseline``; Sinergise writes
    ``sentinel2:processing_baseline``; Earth Search v0 only has it inside the product id (N0214).
    """
    for key in ("s2:processing_baseline", "sentinel2:processing_baseline", "processing:version"):
        value = properties.get(key)
        if value is not None:
            match = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\s*", str(value))
            if not match:
                raise ItemError(
                    f"item {item_id!r}: {key} is {value!r}; expected a baseline like '05.10'"
                )
            return int(match.group(1)), int(match.group(2))
    for key in ("s2:product_uri", "sentinel:product_id", "s2:granule_id"):
        value = properties.get(key)
        if isinstance(value, str) and (match := _BASELINE_IN_NAME.search(value)):
            return int(match.group(1)), int(match.group(2))
    if match := _BASELINE_IN_NAME.search(item_id):
        return int(match.group(1)), int(match.group(2))
    return None


def mgrs_tile(properties: Mapping[str, Any], item_id: str) -> str | None:
    """MGRS tile id (e.g. ``30NVL``) from whichever convention the catalogue uses."""
    zone = properties.get("mgrs:utm_zone") or properties.get("sentinel:utm_zone")
    band = properties.get("mgrs:latitude_band") or properties.get("sentinel:latitude_band")
    square = properties.get("mgrs:grid_square") or properties.get("sentinel:grid_square")
    if zone and band and square:
        try:
            return f"{int(zone):02d}{band}{square}"
        except (TypeError, ValueError) as e:
            raise ItemError(
                f"item {item_id!r}: UTM zone {zone!r} is not a number 1-60 (mgrs:utm_zone)"
            ) from e
    for key in ("s2:mgrs_tile", "grid:code"):
        value = properties.get(key)
        if isinstance(value, str) and value:
            return value.removeprefix("MGRS-")
    if match := _MGRS_IN_ID.search(item_id):
        tile = match.group(1)
        return tile.zfill(5)
    return None
