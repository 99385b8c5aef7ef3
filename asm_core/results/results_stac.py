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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pystac

import asm_core
from asm_core.results.class_mask import CLASS_CODES
from asm_core.results.compaction import COMPACTED
from asm_core.results.result_paths import file_name
from asm_core.results.schema import DETECTIONS
from asm_core.results.store import write_text_atomic
from asm_core.sources.stac import SceneItem

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


def _relative(target: Path, start: Path) -> str:
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


def results_item(
    results: Path,
    item: SceneItem,
    run: RunFacts,
    files: Mapping[str, Path],
    mask_grid: Mapping[str, Any] | None,
) -> dict[str, Any]:
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
    bbox = list(pystac.utils.geometry_to_bbox(geometry)) if geometry else None
    properties = {
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
    stac = pystac.Item(
        id=item.item_id,
        geometry=geometry,
        bbox=bbox,
        datetime=item.acquired,
        properties=properties,
        stac_extensions=list(EXTENSIONS),
        collection=COLLECTION_ID,
    )
    for key, path in files.items():
        extra: dict[str, Any] = {}
        if key == "detections":
            extra["table:row_count"] = run.detections
        if key == "mask" and mask_grid is not None:
            extra.update(mask_grid)
        kind = ASSET_KINDS[key]
        stac.add_asset(
            key,
            pystac.Asset(
                href=_relative(path, here),
                title=kind["title"],
                description=kind.get("description"),
                media_type=kind["type"],
                roles=kind["roles"],
                extra_fields=extra,
            ),
        )
    if item.self_href:
        stac.add_link(pystac.Link("derived_from", item.self_href, pystac.MediaType.GEOJSON))
    for rel, target in (
        ("collection", COLLECTION_FILE),
        ("parent", COLLECTION_FILE),
        ("root", CATALOG_FILE),
    ):
        stac.add_link(pystac.Link(rel, f"../{target}", pystac.MediaType.JSON))
    out: dict[str, Any] = stac.to_dict(include_self_link=False, transform_hrefs=False)
    return out


def write_results_item(results: Path, stac_item: Mapping[str, Any]) -> None:
    write_text_atomic(item_file(results, str(stac_item["id"])), json.dumps(stac_item, indent=1))


def withdraw_results_item(results: Path, item_id: str) -> None:
    item_file(results, item_id).unlink(missing_ok=True)


def _columns() -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in DETECTIONS]


def _item_link(item_id: str) -> str:
    return f"./items/{file_name(item_id, '.json')}"


def results_collection(
    items: Sequence[Mapping[str, Any]], existing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The collection of these items (anything with a STAC item's ``id``, ``bbox`` and
    ``properties.datetime``: a results item, or the Sentinel-2 item it came from): their
    extent, item_assets, table:columns and a link to each, relative to ``stac/``. With
    ``existing``, its items and extent are kept and these added (on AWS each scan adds its
    own without reading the others)."""
    boxes = [list(i["bbox"]) for i in items if i.get("bbox")]
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


def _follow_compaction(results: Path, stac_item: dict[str, Any]) -> bool:
    """Point an item's detections at its partition's merged file once its own file has been
    merged into it (:mod:`asm_core.results.compaction`); True if the item changed."""
    asset = stac_item["assets"].get("detections")
    here = item_file(results, str(stac_item["id"])).parent
    if asset is None or (here / asset["href"]).exists():
        return False
    merged = (here / asset["href"]).parent / COMPACTED
    if not merged.exists():
        return False
    asset["href"] = _relative(merged, here)
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
        if _follow_compaction(results, stac_item):
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
