"""The results' STAC collection and root catalog: the collection lists every tile-date's item
(following compaction, an item whose detections were merged points at the merged file), with
item_assets, the detections' table:columns, providers and the extent; the catalog is the root.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pystac

from asm_core.results.compaction import COMPACTED
from asm_core.results.result_paths import file_name
from asm_core.results.results_stac import (
    ASSET_KINDS,
    ATTRIBUTION,
    CATALOG_FILE,
    COLLECTION_FILE,
    COLLECTION_ID,
    EXTENSIONS,
    STAC_FOLDER,
    item_file,
    relative_href,
    write_results_item,
)
from asm_core.results.schema import DETECTIONS
from asm_core.results.store import write_text_atomic
from asm_core.sources.stac import StacItemDict


def _columns() -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in DETECTIONS]


def _item_link(item_id: str) -> str:
    return f"./items/{file_name(item_id, '.json')}"


def results_collection(
    items: Sequence[StacItemDict], existing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The collection of these items (anything with a STAC item's ``id``, ``bbox`` and
    ``properties.datetime``: a results item, or the Sentinel-2 item it came from): their
    extent, item_assets, table:columns and a link to each, relative to ``stac/``. With
    ``existing``, its items and extent are kept and these added (on AWS each scan adds its
    own without reading the others)."""
    boxes = [list(box) for i in items if (box := i.get("bbox"))]
    times = [pystac.utils.str_to_datetime(i["properties"]["datetime"]) for i in items]
    links = {_item_link(str(i["id"])) for i in items}
    if existing is not None:
        old = existing["extent"]
        if existing.get("links") and any(link["rel"] == "item" for link in existing["links"]):
            boxes += [list(b) for b in old["spatial"]["bbox"][:1]]
        times += [pystac.utils.str_to_datetime(t) for t in old["temporal"]["interval"][0] if t]
        links |= {link["href"] for link in existing.get("links", []) if link["rel"] == "item"}
    corners = list(zip(*boxes, strict=True)) if boxes else []
    spatial = (
        [[min(corners[0]), min(corners[1]), max(corners[2]), max(corners[3])]]
        if boxes
        else [[-180.0, -90.0, 180.0, 90.0]]
    )
    times.sort()
    interval: list[datetime | None] = [times[0], times[-1]] if times else [None, None]
    collection = pystac.Collection(
        id=COLLECTION_ID,
        title="ASM Watch detections",
        description=(
            "Artisanal and small-scale mining detected in Sentinel-2 L2A scenes: one item per "
            f"tile-date with its detections, class mask and run record. {ATTRIBUTION}"
        ),
        extent=pystac.Extent(pystac.SpatialExtent(spatial), pystac.TemporalExtent([interval])),
        license="other",
        stac_extensions=list(EXTENSIONS),
        extra_fields={
            "item_assets": {
                key: {k: v for k, v in kind.items() if k != "type"} | {"type": kind["type"]}
                for key, kind in ASSET_KINDS.items()
            },
            "table:columns": _columns(),
            "table:primary_geometry": "geometry",
        },
        providers=[
            pystac.Provider("ASM Watch", roles=[pystac.ProviderRole.PROCESSOR]),
            pystac.Provider(
                "European Space Agency (Copernicus Sentinel-2)",
                roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR],
                url="https://sentinels.copernicus.eu/",
            ),
        ],
    )
    for rel in ("root", "parent"):
        collection.add_link(pystac.Link(rel, f"./{CATALOG_FILE}", pystac.MediaType.JSON))
    for href in sorted(links):
        collection.add_link(pystac.Link("item", href, pystac.MediaType.GEOJSON))
    out: dict[str, Any] = collection.to_dict(include_self_link=False, transform_hrefs=False)
    return out


def follow_compaction(results: Path, stac_item: StacItemDict) -> bool:
    """Point an item's detections at its partition's merged file once its own file has been
    merged into it (:mod:`asm_core.results.compaction`); True if the item changed."""
    asset = stac_item["assets"].get("detections")
    here = item_file(results, str(stac_item["id"])).parent
    if asset is None or (here / asset["href"]).exists():
        return False
    merged = (here / asset["href"]).parent / COMPACTED
    if not merged.exists():
        return False
    asset["href"] = relative_href(merged, here)
    asset["description"] = (
        "the partition's merged detections: this item's are the rows with item_id "
        f"{stac_item['id']!r}"
    )
    asset.pop("table:row_count", None)
    return True


def write_results_collection(results: Path) -> Path | None:
    """Write ``stac/collection.json`` over every item kept under ``results`` and the root
    ``stac/catalog.json`` (its path; None when there is no item yet), after pointing items
    whose detections were merged at the merged file."""
    folder = results / STAC_FOLDER
    items = []
    for path in sorted((folder / "items").glob("*.json")):
        stac_item = json.loads(path.read_text())
        if follow_compaction(results, stac_item):
            write_results_item(results, stac_item)
        items.append(stac_item)
    if not items:
        return None
    write_text_atomic(folder / COLLECTION_FILE, json.dumps(results_collection(items), indent=1))
    path = folder / CATALOG_FILE
    write_text_atomic(path, json.dumps(results_catalog(), indent=1))
    return path


def results_catalog() -> dict[str, Any]:
    """The root of the static catalogue: the collection as its one child."""
    catalog = pystac.Catalog(
        id="asm-watch",
        title="ASM Watch results",
        description=f"Artisanal and small-scale mining found by ASM Watch. {ATTRIBUTION}",
    )
    catalog.add_link(pystac.Link("root", f"./{CATALOG_FILE}", pystac.MediaType.JSON))
    catalog.add_link(pystac.Link("child", f"./{COLLECTION_FILE}", pystac.MediaType.JSON))
    out: dict[str, Any] = catalog.to_dict(include_self_link=False, transform_hrefs=False)
    return out
