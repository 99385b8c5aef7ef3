"""Detection for notebooks: one call from a STAC item (a ``pystac.Item``, its JSON, a file or a
URL) to a GeoDataFrame of detections, through the same tile job as ``asm detect`` and the
Lambdas (:func:`asm_core.jobs.tile_job.run_item`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asm_core.errors import AsmError, DetectionFailedError
from asm_core.results.export import read_results
from asm_core.results.results_catalogue import write_results_collection
from asm_core.results.schema import RunStatus
from asm_core.rules import RuleSet, load_rules
from asm_core.sources.aoi import bbox_geometry, check_bbox, check_overlap, window_bounds
from asm_core.sources.gdal_settings import read_options
from asm_core.sources.stac import SceneItem, load_item, scene_item_from_dict

if TYPE_CHECKING:
    import geopandas as gpd

#: what names a scene: a pystac.Item, a STAC item's JSON as a dict, or where to read it
ItemLike = Any


def scene_item(item: ItemLike) -> SceneItem:
    """A scene from a ``pystac.Item`` (or anything with ``to_dict``), a STAC item dict, a
    :class:`SceneItem`, or the path or http(s) URL of its JSON."""
    if isinstance(item, SceneItem):
        return item
    if isinstance(item, str | os.PathLike):
        return load_item(str(item))
    if hasattr(item, "to_dict"):  # a pystac.Item: its hrefs as they are, relative to its self
        return scene_item_from_dict(item.to_dict(transform_hrefs=False), "<pystac.Item>")
    if isinstance(item, Mapping):
        return scene_item_from_dict(item, "<dict>")
    raise AsmError(
        f"item of type {type(item).__name__} is not a pystac.Item, a STAC item dict, a "
        "SceneItem or the path or URL of an item's JSON"
    )


def detect(
    item: ItemLike,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    rules: RuleSet | str | os.PathLike[str] | None = None,
    baseline: Sequence[ItemLike] = (),
    out: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """Detect ASM in one Sentinel-2 L2A scene.

    Args:
        item: the scene (see :func:`scene_item`).
        bbox: only this area, (west, south, east, north) in degrees.
        rules: a rule set, or the path of its YAML (the shipped one by default).
        baseline: same-season looks a year before, for the vegetation-loss cue.
        out: a results folder to keep the detections and the tile_runs row in (the same
            layout as ``asm detect``); by default they are written to a temporary folder.

    Returns:
        One row per detection (EPSG:4326), with the run's status, timings and baseline use in
        ``attrs["tile_run"]``.

    Raises:
        DetectionFailedError: the scene could not be processed (why, in one line).
        AsmError: a bad item, bbox or rule set.
    """
    from asm_core.jobs.tile_job import run_item  # the detection stack, loaded when first needed

    scene = scene_item(item)
    chosen = (
        rules if isinstance(rules, RuleSet) else load_rules(None if rules is None else Path(rules))
    )
    window = None
    if bbox is not None:
        box = check_bbox(bbox)
        check_overlap(box, scene)
        window = window_bounds(bbox_geometry(box), scene.geometry)
    looks = [scene_item(look) for look in baseline]
    with tempfile.TemporaryDirectory(prefix="asm-detect-") as scratch:
        folder = Path(out) if out is not None else Path(scratch)
        run = run_item(scene, chosen, folder, read_options(), aoi=window, baseline=looks)
        if out is not None:
            write_results_collection(folder)
        if run.status == RunStatus.FAILED:
            raise DetectionFailedError(f"item {scene.item_id}: {run.error}")
        found = read_results(folder, "detections")
        found = found[found["item_id"] == scene.item_id].reset_index(drop=True)
    found.attrs["tile_run"] = run
    return found
