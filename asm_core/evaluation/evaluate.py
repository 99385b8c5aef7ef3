"""Score detections against labelled sites: the polygons or points NGOs and researchers hold.

Object level: a labelled site is found when a detected site (scars and ponds sharing a
``site_id``) overlaps it, or lies within ``point_tolerance_m`` of a labelled point. Pixel level:
IoU of the union of labelled site polygons with the union of detected site polygons, measured in
square metres in UTM. Labelled sites below the minimum mapping unit or mostly under cloud cannot
be seen by design: they are reported apart and left out of recall, and detecting them is no error.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import shapely
from shapely.geometry import shape

from asm_core.detection.objects.vectorize import WGS84, reproject, utm_epsg_for
from asm_core.errors import TruthError
from asm_core.results.rows import DetectionRow, read_detections, read_tile_runs
from asm_core.sources.user_files import read_geojson

SITE_KINDS = {"mining_site", "asm", "asm_site", "mining", "site"}
SITE_CLASSES = {"mining_scar", "pond"}


@dataclass
class Evaluation:
    """Scores of one evaluation run."""

    truth_sites: int
    truth_sites_in_scope: int
    out_of_scope: dict[str, int]
    detected_sites: int
    true_positive_sites: int
    found_sites: int
    precision: float
    recall: float
    f1: float
    pixel_iou: float | None
    area_km2: float
    false_sites: int
    false_sites_per_100km2: float
    turbid: dict[str, float | int]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TruthFeature(TypedDict):
    """A labelled feature of a truth file: what it is, where, and on which item if one."""

    geometry: shapely.Geometry
    kind: str
    item_id: str | None
    props: dict[str, Any]


def load_truth(path: Path) -> list[TruthFeature]:
    """Read a GeoJSON FeatureCollection of labelled features (EPSG:4326)."""
    data = read_geojson(path, "truth", TruthError)
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise TruthError(f"truth file {str(path)!r}: expected a FeatureCollection with 'features'")
    if not features:
        raise TruthError(
            f"truth file {str(path)!r} has no features: there is nothing to score against"
        )
    # a file of plain locations (field visits) is all sites; once any feature says what it
    # is, every one must (a forgotten label would silently count as a site)
    labelled = any(
        isinstance(f, dict)
        and isinstance(f.get("properties"), dict)
        and (f["properties"].get("kind") or f["properties"].get("class"))
        for f in features
    )
    out: list[TruthFeature] = []
    for i, f in enumerate(features):
        try:
            geom = shape(f["geometry"])
            finite = bool(np.isfinite(shapely.get_coordinates(geom)).all()) and not geom.is_empty
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise TruthError(f"truth file {str(path)!r}: feature {i} has no usable geometry") from e
        if not finite:
            raise TruthError(
                f"truth file {str(path)!r}: feature {i} has empty or non-finite (NaN) coordinates"
            )
        props = f.get("properties") or {}
        if labelled and not (props.get("kind") or props.get("class")):
            raise TruthError(
                f"truth file {str(path)!r}: feature {i} has no 'kind' while others have one; "
                "label it mining_site or what it is (e.g. sandbar, field, turbid_reach)"
            )
        kind = str(props.get("kind") or props.get("class") or "mining_site").lower()
        out.append(
            {
                "geometry": geom,
                "kind": "mining_site" if kind in SITE_KINDS else kind,
                "item_id": props.get("item_id"),
                "props": props,
            }
        )
    return out


def _metric(geom: shapely.Geometry, epsg: int) -> shapely.Geometry:
    """In UTM metres, repaired: round trips through degrees can leave slivers invalid."""
    return shapely.make_valid(reproject(geom, WGS84, f"EPSG:{epsg}"))


def _in_scope(t: TruthFeature, min_area_m2: float, max_cloud: float) -> str | None:
    props = t["props"]
    if float(props.get("nodata_fraction", 0.0) or 0.0) > max_cloud:
        return "outside_swath"
    if float(props.get("cloud_fraction", 0.0) or 0.0) > max_cloud:
        return "under_cloud"
    if t["geometry"].geom_type in ("Polygon", "MultiPolygon"):
        area = float(props.get("area_m2") or 0.0)
        if area and area < min_area_m2:
            return "below_mmu"
    return None


def _detected_sites(detections: list[DetectionRow]) -> dict[tuple[str, str], shapely.Geometry]:
    """Each detected site's outline, by (item, site id)."""
    site_parts: dict[tuple[str, str], list[shapely.Geometry]] = defaultdict(list)
    for d in detections:
        if d["class"] in SITE_CLASSES and d["site_id"]:
            site_parts[(d["item_id"], d["site_id"])].append(shapely.from_wkb(d["geometry"]))
    return {k: shapely.union_all(v) for k, v in site_parts.items()}


def _utm_of(g: shapely.Geometry) -> int:
    c = g.centroid
    return utm_epsg_for(c.x, c.y)


def _matches(
    sites: dict[tuple[str, str], shapely.Geometry],
    point_tolerance_m: float,
    t: TruthFeature,
    key: tuple[str, str],
) -> bool:
    """Whether a truth site is the detected site ``key``: overlapping it, or for a point
    within the tolerance, on the same item (or any, for a truth site without one)."""
    if t["item_id"] is not None and t["item_id"] != key[0]:
        return False
    geom, site = t["geometry"], sites[key]
    if geom.geom_type == "Point":
        epsg = _utm_of(geom)
        return bool(_metric(geom, epsg).distance(_metric(site, epsg)) <= point_tolerance_m)
    return bool(geom.intersects(site))


def evaluate(
    truth_path: Path,
    results_dir: Path,
    min_area_m2: float = 5000.0,
    point_tolerance_m: float = 100.0,
    max_cloud_fraction: float = 0.5,
) -> Evaluation:
    """Score the detections under ``results_dir`` against the truth file."""
    truth = load_truth(truth_path)
    detections = read_detections(results_dir)
    runs = read_tile_runs(results_dir)
    items = {r["item_id"] for r in runs}
    if not runs:
        raise TruthError(f"results folder {str(results_dir)!r} holds no tile_runs to evaluate")
    truth = [t for t in truth if t["item_id"] is None or t["item_id"] in items]
    area_km2 = sum(float(r.get("valid_area_km2") or 0.0) for r in runs)

    sites = _detected_sites(detections)
    truth_sites = [t for t in truth if t["kind"] == "mining_site"]
    scope = Counter(
        reason for t in truth_sites if (reason := _in_scope(t, min_area_m2, max_cloud_fraction))
    )
    in_scope = [t for t in truth_sites if _in_scope(t, min_area_m2, max_cloud_fraction) is None]
    matches = partial(_matches, sites, point_tolerance_m)
    found = sum(1 for t in in_scope if any(matches(t, k) for k in sites))
    true_sites = [k for k in sites if any(matches(t, k) for t in truth_sites)]
    false_sites = len(sites) - len(true_sites)
    precision = len(true_sites) / len(sites) if sites else 1.0
    recall = found / len(in_scope) if in_scope else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Evaluation(
        truth_sites=len(truth_sites),
        truth_sites_in_scope=len(in_scope),
        out_of_scope=dict(sorted(scope.items())),
        detected_sites=len(sites),
        true_positive_sites=len(true_sites),
        found_sites=found,
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        pixel_iou=_pixel_iou(in_scope, sites, _utm_of),
        area_km2=round(area_km2, 2),
        false_sites=false_sites,
        false_sites_per_100km2=round(100.0 * false_sites / area_km2, 3) if area_km2 else 0.0,
        turbid=_turbid_scores(truth, detections),
        confusion=_confusion(truth, detections),
    )


def _pixel_iou(
    in_scope: list[TruthFeature], sites: dict[tuple[str, str], shapely.Geometry], epsg_of: Any
) -> float | None:
    """Area IoU of labelled vs detected site polygons, summed over items (UTM square metres)."""
    polygons = [t for t in in_scope if t["geometry"].geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        return None
    labelled_by_item = any(t["item_id"] is not None for t in polygons)
    truth_groups: dict[str | None, list[shapely.Geometry]] = defaultdict(list)
    for t in polygons:
        truth_groups[t["item_id"] if labelled_by_item else None].append(t["geometry"])
    found_groups: dict[str | None, list[shapely.Geometry]] = defaultdict(list)
    for (item_id, _), geom in sites.items():
        found_groups[item_id if labelled_by_item else None].append(geom)
    inter = union = 0.0
    for item in set(truth_groups) | set(found_groups):
        t_union = shapely.union_all(truth_groups.get(item, []))
        d_union = shapely.union_all(found_groups.get(item, []))
        epsg = epsg_of(t_union if not t_union.is_empty else d_union)
        t_metric, d_metric = _metric(t_union, epsg), _metric(d_union, epsg)
        inter += t_metric.intersection(d_metric).area
        union += t_metric.union(d_metric).area
    return round(inter / union, 4) if union else None


def _turbid_scores(
    truth: list[TruthFeature], detections: list[DetectionRow]
) -> dict[str, float | int]:
    reaches = [t["geometry"] for t in truth if t["kind"] == "turbid_reach"]
    found = [shapely.from_wkb(d["geometry"]) for d in detections if d["class"] == "turbid_water"]
    hit_truth = sum(1 for r in reaches if any(r.intersects(f) for f in found))
    hit_det = sum(1 for f in found if any(f.intersects(r) for r in reaches))
    return {
        "truth_reaches": len(reaches),
        "detected_reaches": len(found),
        "recall": round(hit_truth / len(reaches), 4) if reaches else 1.0,
        "precision": round(hit_det / len(found), 4) if found else 1.0,
    }


def _confusion(
    truth: list[TruthFeature], detections: list[DetectionRow]
) -> dict[str, dict[str, int]]:
    """For each detected class, which labelled kind each detection overlaps most."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    tree = shapely.STRtree([t["geometry"] for t in truth]) if truth else None
    for d in detections:
        geom = shapely.from_wkb(d["geometry"])
        best, best_area = "none", 0.0
        if tree is not None:
            for i in tree.query(geom):
                t = truth[int(i)]
                if t["item_id"] not in (None, d["item_id"]):
                    continue
                overlap = geom.intersection(t["geometry"]).area
                if overlap > best_area:
                    best, best_area = t["kind"], overlap
        table[d["class"]][best] += 1
    return {cls: dict(sorted(c.items())) for cls, c in sorted(table.items())}
