"""Context layers: what a detection or site lies inside, and how far it is from each layer.

Users bring their own layers (mining tenements and licences, protected areas, settlements,
rivers, indigenous lands) as GeoParquet, GeoPackage, GeoJSON or Shapefile in any CRS. For every
geometry we report the id of the layer feature it overlaps most (or None) and the distance in
metres to the nearest feature (0 when inside), measured in the UTM zone of each geometry.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from asm_core.detection.objects.vectorize import utm_epsg_for
from asm_core.errors import ContextError
from asm_core.results.store import write_replacing

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ID_COLUMNS = ("id", "feature_id", "fid", "ID", "FID", "WDPAID", "licence_id", "license_id")
#: A licence's standing (granted, application, expired…) or a project's phase, when given.
STATUS_COLUMNS = ("status", "phase", "STATUS", "PHASE", "licence_status", "license_status")


@dataclass(frozen=True)
class ContextLayer:
    """A named layer in EPSG:4326 with one string id per feature."""

    name: str
    features: gpd.GeoDataFrame

    @property
    def ids(self) -> list[str]:
        return [str(v) for v in self.features["feature_id"]]

    @property
    def statuses(self) -> list[str | None]:
        """Each feature's status or phase (None where the layer has none)."""
        if "feature_status" not in self.features.columns:
            return [None] * len(self.features)
        return [None if v is None else str(v) for v in self.features["feature_status"]]


def parse_context_option(text: str) -> tuple[str, Path]:
    """``NAME=PATH`` from the command line; the name becomes part of column names."""
    name, sep, path = text.partition("=")
    if not sep or not path:
        raise ContextError(f"--context {text!r} is not NAME=PATH (e.g. tenements=licences.gpkg)")
    if not NAME.match(name):
        raise ContextError(
            f"context name {name!r} must be lower-case letters, digits or _ (starting with a "
            "letter, at most 40): it becomes the columns inside_<name> and distance_to_<name>_m"
        )
    return name, Path(path)


def load_context(name: str, path: Path) -> ContextLayer:
    """Read a layer (GeoParquet, GeoPackage, GeoJSON, Shapefile…; any CRS) into EPSG:4326."""
    if not path.exists():
        raise ContextError(f"context layer {name!r}: {str(path)!r} does not exist")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path)
    except Exception as e:
        raise ContextError(f"context layer {name!r}: {str(path)!r} cannot be read: {e}") from e
    if frame.crs is None:
        raise ContextError(
            f"context layer {name!r}: {str(path)!r} has no CRS; set one (e.g. EPSG:4326)"
        )
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty].to_crs(4326)
    if frame.empty:
        raise ContextError(f"context layer {name!r}: {str(path)!r} has no features")
    column = next((c for c in ID_COLUMNS if c in frame.columns), None)
    ids = frame[column].astype(str) if column else pd.Series(frame.index.astype(str))
    status = next((c for c in STATUS_COLUMNS if c in frame.columns), None)
    frame = frame.assign(
        feature_id=ids.to_numpy(),
        feature_status=frame[status].astype(str).to_numpy() if status else None,
    ).reset_index(drop=True)
    frame["geometry"] = shapely.make_valid(frame.geometry.to_numpy())
    return ContextLayer(name, frame)


#: Where a results folder keeps the context layers its sites were last related to.
KEPT_FOLDER = "context_layers"


def keep_layers(results: Path, layers: list[ContextLayer]) -> None:
    """Keep these layers (as read: EPSG:4326 with feature ids) in the results folder, in place
    of those kept before: the context the sites are related to until the user gives another.
    The list of names, in the order given, is written last."""
    folder = results / KEPT_FOLDER
    for layer in layers:
        write_replacing(
            folder / f"{layer.name}.parquet",
            # with each row's bbox: GeoParquet 1.1's covering, which readers prune row groups by
            functools.partial(layer.features.to_parquet, write_covering_bbox=True),
        )
    names = [layer.name for layer in layers]
    write_replacing(folder / "layers.json", lambda tmp: Path(tmp).write_text(json.dumps(names)))
    for old in folder.glob("*.parquet"):
        if old.stem not in names:
            old.unlink()


def kept_layers(results: Path) -> list[ContextLayer]:
    """The layers :func:`keep_layers` kept in a results folder, in their order (none if it
    kept none)."""
    folder = results / KEPT_FOLDER
    if not (folder / "layers.json").is_file():
        return []
    names = json.loads((folder / "layers.json").read_text())
    return [ContextLayer(n, gpd.read_parquet(folder / f"{n}.parquet")) for n in names]


def relate(layer: ContextLayer, geometries: list[shapely.Geometry]) -> pd.DataFrame:
    """For each geometry (EPSG:4326): ``inside_<name>`` (id of the feature it overlaps most,
    or None), ``<name>_status`` (that feature's status or phase, when the layer has one) and
    ``distance_to_<name>_m`` (0 when overlapping), in the geometry's UTM zone."""
    inside: list[str | None] = [None] * len(geometries)
    distance = np.full(len(geometries), np.nan)
    ids = layer.ids
    centroids = [g.centroid for g in geometries]
    zones: dict[int, list[int]] = {}
    for i, c in enumerate(centroids):
        zones.setdefault(utm_epsg_for(c.x, c.y), []).append(i)
    for epsg, members in zones.items():
        features = layer.features.to_crs(epsg).geometry.to_numpy()
        tree = shapely.STRtree(features)
        mine = shapely.make_valid(
            gpd.GeoSeries([geometries[i] for i in members], crs=4326).to_crs(epsg).to_numpy()
        )
        nearest, gaps = tree.query_nearest(mine, return_distance=True, all_matches=False)
        for k, gap in zip(nearest[0], gaps, strict=True):
            distance[members[int(k)]] = round(float(gap), 1)
        overlaps = tree.query(mine, predicate="intersects")
        best: dict[int, tuple[float, int]] = {}
        for k, feature_at in zip(*overlaps, strict=True):
            shared = shapely.intersection(mine[int(k)], features[int(feature_at)]).area
            if int(k) not in best or shared > best[int(k)][0]:
                best[int(k)] = (float(shared), int(feature_at))
        for k, (_, feature_at) in best.items():
            inside[members[k]] = ids[feature_at]
    by_id = dict(zip(ids, layer.statuses, strict=True))
    return pd.DataFrame(
        {
            f"inside_{layer.name}": inside,
            f"{layer.name}_status": [None if i is None else by_id[i] for i in inside],
            f"distance_to_{layer.name}_m": distance,
        }
    )
