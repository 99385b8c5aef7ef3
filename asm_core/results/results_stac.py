"""STAC out: the results as a static STAC catalogue, browsable like the inputs (STAC Browser,
QGIS's STAC source, pystac-client).

One Item per tile-date (``stac/items/<item>.json``) with its detections (GeoParquet), its class
mask (COG), its tile_runs row and quicklook as assets, a ``derived_from`` link to the Sentinel-2
item it was made from and the processing record (software version, rule set and its hash,
baseline looks); one Collection (``stac/collection.json``) with ``item_assets`` and the
detections' ``table:columns``. Asset and catalogue links are relative, so the same tree works
on disk and under the results prefix of the bucket.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import pystac

import asm_core
from asm_core.results.result_paths import file_name
from asm_core.results.schema import CLASS_CODES
from asm_core.results.store import write_text_atomic
from asm_core.sources.stac import SceneItem, StacItemDict

STAC_FOLDER = "stac"
COLLECTION_FILE = "collection.json"
CATALOG_FILE = "catalog.json"
COLLECTION_ID = "asm-watch-detections"
EXTENSIONS = (
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/table/v1.2.0/schema.json",
)
PARQUET = "application/vnd.apache.parquet"
#: what each asset of an item is (the collection's item_assets say the same)
ASSET_KINDS: dict[str, dict[str, Any]] = {
    "detections": {
        "title": "Detections (GeoParquet 1.1, EPSG:4326)",
        "type": PARQUET,
        "roles": ["data"],
    },
    "mask": {
        "title": "Class mask (COG, uint8)",
        "description": "; ".join(f"{code}: {name}" for name, code in CLASS_CODES.items()),
        "type": str(pystac.MediaType.COG),
        "roles": ["data"],
    },
    "tile_run": {
        "title": "The run: status, timings, rules skipped, baseline looks (Parquet)",
        "type": PARQUET,
        "roles": ["metadata"],
    },
    "quicklook": {
        "title": "True colour with detections outlined",
        "type": str(pystac.MediaType.PNG),
        "roles": ["overview", "visual"],
    },
}
ATTRIBUTION = "Contains modified Copernicus Sentinel data processed by ASM Watch."


def item_file(results: Path, item_id: str) -> Path:
    """Where a tile-date's STAC item is kept."""
    return results / STAC_FOLDER / "items" / file_name(item_id, ".json")


def relative_href(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


class RunFacts(Protocol):
    """What an item says of its run (the job's tile_runs record has these, and more)."""

    @property
    def status(self) -> str: ...
    @property
    def detections(self) -> int: ...
    @property
    def sites(self) -> int: ...
    @property
    def ruleset_version(self) -> str: ...
    @property
    def ruleset_hash(self) -> str: ...
    @property
    def valid_fraction(self) -> float | None: ...
    @property
    def baseline_looks(self) -> list[str] | None: ...


def _lineage(item: SceneItem, run: RunFacts) -> str:
    looks = list(run.baseline_looks or [])
    return (
        f"ASM Watch rule set {run.ruleset_version} ({run.ruleset_hash[:12]}) on "
        f"Sentinel-2 L2A item {item.item_id}"
        + (f", baseline looks {', '.join(looks)}" if looks else ", no baseline looks")
    )


def _properties(item: SceneItem, run: RunFacts) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "processing:software": {"asm-watch": asm_core.__version__},
        "processing:datetime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "processing:lineage": _lineage(item, run),
        "asm:status": run.status,
        "asm:detections": run.detections,
        "asm:sites": run.sites,
        "asm:ruleset_version": run.ruleset_version,
        "asm:ruleset_hash": run.ruleset_hash,
        "asm:baseline_looks": list(run.baseline_looks or []),
        "asm:valid_fraction": run.valid_fraction,
    }
    if item.mgrs_tile:
        properties["asm:mgrs_tile"] = item.mgrs_tile
    return properties


def _asset(key: str, href: str, extra: dict[str, Any]) -> pystac.Asset:
    kind = ASSET_KINDS[key]
    return pystac.Asset(
        href=href,
        title=kind["title"],
        description=kind.get("description"),
        media_type=kind["type"],
        roles=kind["roles"],
        extra_fields=extra,
    )


def results_item(
    results: Path,
    item: SceneItem,
    run: RunFacts,
    files: Mapping[str, Path],
    mask_grid: Mapping[str, Any] | None,
) -> StacItemDict:
    """The STAC item of one tile-date's results.

    Args:
        results: the results root (hrefs are made relative to the item's file under it).
        item: the Sentinel-2 item the results were made from.
        run: its tile_runs record.
        files: the files written, by asset key (``detections``, ``mask``, ``tile_run``,
            ``quicklook``), under ``results``.
        mask_grid: the mask's ``proj:code``, ``proj:shape`` and ``proj:transform``.
    """
    here = item_file(results, item.item_id).parent
    geometry = dict(item.geometry) if item.geometry else None
    stac = pystac.Item(
        id=item.item_id,
        geometry=geometry,
        bbox=list(pystac.utils.geometry_to_bbox(geometry)) if geometry else None,
        datetime=item.acquired,
        properties=_properties(item, run),
        stac_extensions=list(EXTENSIONS),
        collection=COLLECTION_ID,
    )
    for key, path in files.items():
        extra: dict[str, Any] = {}
        if key == "detections":
            extra["table:row_count"] = run.detections
        if key == "mask" and mask_grid is not None:
            extra.update(mask_grid)
        stac.add_asset(key, _asset(key, relative_href(path, here), extra))
    if item.self_href:
        stac.add_link(pystac.Link("derived_from", item.self_href, pystac.MediaType.GEOJSON))
    for rel, target in (
        ("collection", COLLECTION_FILE),
        ("parent", COLLECTION_FILE),
        ("root", CATALOG_FILE),
    ):
        stac.add_link(pystac.Link(rel, f"../{target}", pystac.MediaType.JSON))
    return cast(StacItemDict, stac.to_dict(include_self_link=False, transform_hrefs=False))


def write_results_item(results: Path, stac_item: StacItemDict) -> None:
    write_text_atomic(item_file(results, str(stac_item["id"])), json.dumps(stac_item, indent=1))


def withdraw_results_item(results: Path, item_id: str) -> None:
    item_file(results, item_id).unlink(missing_ok=True)
