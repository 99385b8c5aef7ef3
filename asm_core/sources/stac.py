"""STAC items: load them (file or URL) and turn them into what the detector needs.

Relative asset hrefs are resolved against the item's own location, as the STAC spec says.
Network access goes through an injectable ``fetch_text`` so the core stays free of I/O policy.
"""

from __future__ import annotations

import json
import posixpath
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from asm_core.errors import ItemError
from asm_core.sources.sentinel2 import (
    BandAsset,
    mgrs_tile,
    processing_baseline,
    resolve_band_assets,
)
from asm_core.sources.user_files import read_text_file

FetchText = Callable[[str], str]


def fetch_url_text(url: str, timeout_s: float = 30.0) -> str:
    """Default fetcher for http(s) item URLs (no file: or other schemes)."""
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise ItemError(f"item URL {url[:200]!r} is not http(s); give a URL or a local file")
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # nosec B310
        return str(response.read().decode("utf-8"))


class StacItemDict(TypedDict, total=False):
    """A STAC item as JSON: the members this project reads or writes (others pass through)."""

    type: str
    stac_version: str
    stac_extensions: list[str]
    id: str
    collection: str
    geometry: dict[str, Any] | None
    bbox: list[float] | None
    properties: dict[str, Any]
    assets: dict[str, dict[str, Any]]
    links: list[dict[str, Any]]


@dataclass(frozen=True)
class SceneItem:
    """The parts of a Sentinel-2 L2A STAC item the detector uses."""

    item_id: str
    acquired: datetime
    mgrs_tile: str | None
    baseline: tuple[int, int] | None
    boa_offset_flag: bool | None
    epsg: int | None
    bands: dict[str, BandAsset]
    geometry: Mapping[str, Any] | None
    source: str
    #: the item's own URL (its ``self`` link), where results derived from it point back to
    self_href: str | None = None

    @property
    def baseline_text(self) -> str | None:
        return None if self.baseline is None else f"{self.baseline[0]:02d}.{self.baseline[1]:02d}"


def _href_resolver(base: str) -> Callable[[str], str]:
    parsed = urllib.parse.urlparse(base)
    is_url = parsed.scheme in ("http", "https", "s3")

    def resolve(href: str) -> str:
        if urllib.parse.urlparse(href).scheme in ("http", "https", "s3", "file"):
            return href.removeprefix("file://")
        if Path(href).is_absolute() and not is_url:
            return href
        if is_url:
            if parsed.scheme == "s3":
                root = f"s3://{parsed.netloc}"
                return root + posixpath.normpath(
                    posixpath.join(posixpath.dirname(parsed.path), href)
                )
            return urllib.parse.urljoin(base, href)
        return str((Path(base).parent / href).resolve())

    return resolve


def _parse_datetime(properties: Mapping[str, Any], item_id: str) -> datetime:
    value = properties.get("datetime") or properties.get("start_datetime")
    if not isinstance(value, str):
        raise ItemError(f"item {item_id!r} has no datetime; expected an ISO 8601 'datetime'")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise ItemError(f"item {item_id!r}: datetime {value!r} is not ISO 8601") from e
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _epsg(properties: Mapping[str, Any], item_id: str) -> int | None:
    if properties.get("proj:epsg") is not None:
        value: Any = properties["proj:epsg"]
    elif isinstance(properties.get("proj:code"), str):
        authority, _, value = str(properties["proj:code"]).partition(":")
        if authority.upper() != "EPSG":
            return None
    else:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise ItemError(f"item {item_id!r}: proj:epsg {value!r} is not an EPSG code") from e


#: An item id becomes file names and S3 keys: letters, digits and ``._-``, not a path.
ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_item(data: Mapping[str, Any], source: str) -> str:
    """The item's id, once the parts the detector reads have the types it expects: one-line
    errors naming the field, its value and what is accepted."""
    if data.get("type") != "Feature" or not isinstance(data.get("assets"), Mapping):
        raise ItemError(
            f"{source}: not a STAC item (expected type 'Feature' with 'assets'), "
            f"got type {_shown(data.get('type'))}"
        )
    item_id = data.get("id")
    if not item_id:
        raise ItemError(f"{source}: STAC item has no 'id'")
    if not isinstance(item_id, str) or not ITEM_ID.match(item_id):
        raise ItemError(
            f"{source}: item id {_shown(item_id)} is not accepted; use 1-200 letters, digits, "
            "'.', '_' or '-' (it names files)"
        )
    expected: dict[str, type | tuple[type, ...]] = {
        "properties": Mapping,
        "geometry": (Mapping, type(None)),
        "links": list,
    }
    for field_name, kind in expected.items():
        if field_name in data and not isinstance(data[field_name], kind):
            accepted = {"properties": "an object", "geometry": "a GeoJSON object or null"}
            raise ItemError(
                f"item {item_id!r}: '{field_name}' is {_shown(data[field_name])}; expected "
                f"{accepted.get(field_name, 'a list')}"
            )
    for key, asset in data["assets"].items():
        if not isinstance(asset, Mapping) or not isinstance(asset.get("href", ""), str):
            raise ItemError(
                f"item {item_id!r}: asset {key!r} is {_shown(asset)}; expected an object with "
                "a string 'href'"
            )
    for link in data.get("links") or []:
        if not isinstance(link, Mapping):
            raise ItemError(f"item {item_id!r}: link {_shown(link)} is not an object")
    return item_id


def scene_item_from_dict(data: Mapping[str, Any], source: str) -> SceneItem:
    """Build a :class:`SceneItem` from a STAC item dict found at ``source``."""
    item_id = _check_item(data, source)
    properties = data.get("properties") or {}
    self_href = next(
        (str(link["href"]) for link in data.get("links", []) if link.get("rel") == "self"), None
    )
    # A local file is its own location even when its self link points at the catalogue.
    base = source if not source.startswith("<") else (self_href or str(Path.cwd() / "item.json"))
    bands = resolve_band_assets(data["assets"], _href_resolver(base))
    flag = properties.get("earthsearch:boa_offset_applied")
    return SceneItem(
        item_id=item_id,
        acquired=_parse_datetime(properties, item_id),
        mgrs_tile=mgrs_tile(properties, item_id),
        baseline=processing_baseline(properties, item_id),
        boa_offset_flag=bool(flag) if flag is not None else None,
        epsg=_epsg(properties, item_id),
        bands=bands,
        geometry=data.get("geometry"),
        source=source,
        self_href=self_href or (source if not source.startswith("<") else None),
    )


#: Where the bands of items a caller hands over may be read from, unless configured otherwise:
#: Earth Search's public COGs. Anything else (a local file, a host inside the network) would
#: let a caller make the service read it.
PUBLIC_COG_SOURCES = ("https://sentinel-cogs.s3.us-west-2.amazonaws.com/", "s3://sentinel-cogs/")


def _normalised(href: str) -> str:
    """An href with ``.`` and ``..`` worked out of its path (a prefix check sees where it goes)."""
    parsed = urllib.parse.urlparse(href)
    if parsed.scheme in ("http", "https", "s3"):
        path = posixpath.normpath(parsed.path or "/")
        path += "/" if parsed.path.endswith("/") and not path.endswith("/") else ""
        return urllib.parse.urlunparse(parsed._replace(path=path))
    path = posixpath.normpath(href)
    return path + "/" if href.endswith("/") and not path.endswith("/") else path


def source_error(scene: SceneItem, allowed: Sequence[str]) -> str | None:
    """Why an item's bands may not be read (one is outside every ``allowed`` prefix, URLs or
    folders), or None."""
    prefixes = [_normalised(p) for p in allowed]
    for name, band in sorted(scene.bands.items()):
        if ".." in band.href.replace("\\", "/").split("/"):  # GDAL's /vsis3/ would climb out
            return (
                f"item {scene.item_id!r}: band {name} at {band.href[:100]!r} has '..' in its "
                "path; give the band's own location"
            )
        if not any(_normalised(band.href).startswith(p) for p in prefixes):
            return (
                f"item {scene.item_id!r}: band {name} at {band.href[:100]!r} is not from an "
                f"allowed source; allowed: {', '.join(allowed) or 'none'}"
            )
    return None


def check_item_sources(items: Sequence[Mapping[str, Any]], allowed: Sequence[str]) -> None:
    """Refuse items whose bands are not under one of the ``allowed`` prefixes.

    Raises:
        ItemError: naming the item, the band, its href and the allowed sources.
    """
    for data in items:
        error = source_error(scene_item_from_dict(data, "<request>"), allowed)
        if error is not None:
            raise ItemError(error)


def readable_sources(asset_sources: Sequence[str], stac_url: str) -> tuple[str, ...]:
    """Where a service may read bands from: the configured sources and the catalogue's own
    host (``scheme://host[:port]/`` of ``stac_url``)."""
    parsed = urllib.parse.urlparse(stac_url)
    return (*asset_sources, f"{parsed.scheme}://{parsed.netloc}/")


def load_item(location: str, fetch_text: FetchText = fetch_url_text) -> SceneItem:
    """Load a STAC item from a local JSON file or an http(s) URL.

    Raises:
        ItemError: the file is missing, unreadable, not JSON, or not a STAC item.
    """
    scheme = urllib.parse.urlparse(location).scheme
    if scheme in ("http", "https"):
        try:
            text, source = fetch_text(location), location
        except (OSError, ValueError) as e:
            raise ItemError(f"item {location!r} cannot be read: {e}") from e
    elif "://" in location:
        raise ItemError(f"item {location[:200]!r} is not an http(s) URL or a local file")
    else:
        path = Path(location)
        text, source = read_text_file(path, "item", ItemError), str(path.resolve())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ItemError(f"item {location!r} is not valid JSON: {e.msg} at line {e.lineno}") from e
    if not isinstance(data, dict):
        raise ItemError(f"item {location!r}: expected a JSON object, got {type(data).__name__}")
    return scene_item_from_dict(data, source)
