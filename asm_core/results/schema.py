"""The one schema of ASM Watch results, as pyarrow schemas.

Parquet writers and (later) Glue table columns both come from here. Athena-safe types only:
timestamps in milliseconds UTC, signed integers, doubles, strings, lists, maps, structs, and the
geometry as WKB (EPSG:4326) with GeoParquet 1.1 metadata. Partition columns (``dt``,
``utm_zone``) live in the Hive path, not in the files.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Any

import pyarrow as pa
from pyproj import CRS

from asm_core.spectral.indices import ROW_INDICES

TIMESTAMP = pa.timestamp("ms", tz="UTC")
PARTITION_COLUMNS = (("dt", "date"), ("utm_zone", "int"))
GEOPARQUET_VERSION = "1.1.0"
BBOX_NAMES = ("xmin", "ymin", "xmax", "ymax")

#: the row's bounding box, the GeoParquet 1.1 covering of its geometry: required like the
#: geometry (the spec: "the repetition of a bounding box column MUST match the geometry column's")
BBOX = pa.struct([pa.field(name, pa.float64(), nullable=False) for name in BBOX_NAMES])

DETECTIONS = pa.schema(
    [
        pa.field("detection_id", pa.string(), nullable=False),
        pa.field("site_id", pa.string()),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("mgrs_tile", pa.string()),
        pa.field("acquired", TIMESTAMP, nullable=False),
        pa.field("processing_baseline", pa.string()),
        pa.field("ruleset_version", pa.string(), nullable=False),
        pa.field("ruleset_hash", pa.string(), nullable=False),
        pa.field("class", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
        pa.field("cues", pa.list_(pa.string())),
        pa.field("area_m2", pa.float64(), nullable=False),
        pa.field("perimeter_m", pa.float64()),
        pa.field("compactness", pa.float64()),
        pa.field("rectangularity", pa.float64()),
        pa.field("pixels", pa.int32()),
        pa.field("valid_fraction", pa.float64()),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        # country containing the centroid (Natural Earth, bundled); null at sea / outside
        pa.field("country_iso3", pa.string()),
        pa.field("bbox", BBOX, nullable=False),
        *[pa.field(f"{name}_mean", pa.float64()) for name in ROW_INDICES],
        pa.field("ndvi_p10", pa.float64()),
        pa.field("ndvi_p90", pa.float64()),
        pa.field("bsi_p10", pa.float64()),
        pa.field("bsi_p90", pa.float64()),
        pa.field("ring_ndvi_mean", pa.float64()),
        # the site's NDVI in the same-season baseline composite
        # (asm_core/detection/objects/baseline.py)
        pa.field("baseline_ndvi", pa.float64()),
        pa.field("geometry", pa.binary(), nullable=False),
    ]
)

TILE_RUNS = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("mgrs_tile", pa.string()),
        pa.field("acquired", TIMESTAMP),
        pa.field("processing_baseline", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("error_type", pa.string()),
        pa.field("detections", pa.int32(), nullable=False),
        pa.field("sites", pa.int32(), nullable=False),
        pa.field("valid_fraction", pa.float64()),
        pa.field("valid_area_km2", pa.float64()),
        pa.field("seconds", pa.float64(), nullable=False),
        pa.field("ruleset_version", pa.string(), nullable=False),
        pa.field("ruleset_hash", pa.string(), nullable=False),
        pa.field("rules_skipped", pa.list_(pa.string())),
        # fallback rules run in place of rules whose bands the item lacks (lower confidence)
        pa.field("rules_fallback", pa.list_(pa.string())),
        pa.field("bands_missing", pa.list_(pa.string())),
        pa.field("boa_offset_dn", pa.int32()),
        pa.field("boa_offset_source", pa.string()),
        pa.field("boa_offset_detail", pa.string()),
        pa.field("suppressed", pa.map_(pa.string(), pa.int32())),
        pa.field("rescued_pond_pixels", pa.int64()),
        # share of the valid pixels that are bare ground (how open the landscape is)
        pa.field("open_share", pa.float64()),
        # rule bounds this scene's own statistics tightened (asm_core/rules/scene_statistics.py)
        pa.field("scene_thresholds", pa.map_(pa.string(), pa.float64())),
        # sites already tracked on the tile, re-detected with less evidence (hysteresis)
        pa.field("known_sites", pa.int32()),
        pa.field("bytes_read", pa.int64()),
        pa.field("source", pa.string()),
        pa.field("aoi", pa.list_(pa.float64())),
        pa.field("stage_seconds", pa.map_(pa.string(), pa.float64())),
        # clear share per 200 m cell (asm_core/detection/objects/observed.py): was a footprint seen
        # that date?
        pa.field("observed_grid", pa.binary()),
        pa.field("observed_grid_shape", pa.list_(pa.int32())),
        pa.field("observed_grid_transform", pa.list_(pa.float64())),
        pa.field("observed_grid_crs", pa.string()),
        # mean NDVI of the clear pixels per 40 m cell (asm_core/detection/objects/observed.py): is
        # a footprint still bare, greening or grown over on that date? (same CRS as the observed
        # grid)
        pa.field("ndvi_grid", pa.binary()),
        pa.field("ndvi_grid_shape", pa.list_(pa.int32())),
        pa.field("ndvi_grid_transform", pa.list_(pa.float64())),
        # where each band of the item is: alerts' evidence chips are cut from them
        pa.field("band_hrefs", pa.map_(pa.string(), pa.string())),
        # the tile-date's own land background of the geology ratios (asm_core/spectral/geology.py)
        pa.field("ferric_iron_median", pa.float64()),
        pa.field("ferric_iron_spread", pa.float64()),
        pa.field("clay_median", pa.float64()),
        pa.field("clay_spread", pa.float64()),
        pa.field("baseline_looks", pa.list_(pa.string())),  # items of the baseline composite
        pa.field("baseline_error", pa.string()),  # why there is no composite, if a look failed
        # baseline looks given or searched but not used, each "item_id: reason"
        pa.field("baseline_skipped", pa.list_(pa.string())),
        pa.field("asm_version", pa.string(), nullable=False),
    ]
)


class RunStatus(StrEnum):
    """What became of a tile-date: the ``status`` of its tile_runs row."""

    OK = "ok"
    NO_DATA = "no_data"  # read, but nothing of it could be seen (cloud, outside the swath)
    FAILED = "failed"


#: every status, in the order summaries list them
STATUSES = tuple(RunStatus)

#: pixel values of the class mask COG (the detections' classes, then what could not be seen;
#: asm_core/results/class_mask.py writes it)
CLASS_CODES = {"none": 0, "mining_scar": 1, "pond": 2, "turbid_water": 3, "no_data": 4}
#: the tile-date was read: its look counts (seen clear or not) for tracking and turbidity
READ_STATUSES = (RunStatus.OK, RunStatus.NO_DATA)
#: the geometry types of detections and sites: an object's outline, or several
POLYGONAL = ("Polygon", "MultiPolygon")


def covering_bbox(bounds: tuple[float, float, float, float], places: int = 7) -> dict[str, float]:
    """A geometry's ``bounds`` as its row's ``bbox``, rounded outward to ``places`` decimals
    (1e-7 degrees is about 1 cm): rounded to nearest, a corner could fall inside the geometry,
    and the covering must contain it."""
    scale = 10.0**places
    low = [math.floor(v * scale) / scale for v in bounds[:2]]
    high = [math.ceil(v * scale) / scale for v in bounds[2:]]
    # the division can land one float step inside the true value: step back out
    low = [
        v if v <= b else math.nextafter(v, -math.inf) for v, b in zip(low, bounds[:2], strict=True)
    ]
    high = [
        v if v >= b else math.nextafter(v, math.inf) for v, b in zip(high, bounds[2:], strict=True)
    ]
    return dict(zip(BBOX_NAMES, low + high, strict=True))


def geoparquet_metadata(
    bbox: list[float] | None, covering: bool = True, geometry_types: tuple[str, ...] = POLYGONAL
) -> dict[bytes, bytes]:
    """GeoParquet 1.1 file metadata of a table's WKB ``geometry`` column (lon/lat, EPSG:4326):
    its extent ``bbox`` (none for an empty table) and, with ``covering``, the ``bbox`` column
    that covers each row's geometry."""
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": list(geometry_types),
        "crs": CRS.from_epsg(4326).to_json_dict(),
        "edges": "planar",
    }
    if covering:
        column["covering"] = {"bbox": {name: ["bbox", name] for name in BBOX_NAMES}}
    if bbox is not None:
        column["bbox"] = bbox
    meta = {
        "version": GEOPARQUET_VERSION,
        "primary_column": "geometry",
        "columns": {"geometry": column},
    }
    return {b"geo": json.dumps(meta, sort_keys=True).encode()}


SITES = pa.schema(
    [
        pa.field("site_id", pa.string(), nullable=False),
        pa.field("mgrs_tile", pa.string(), nullable=False),
        pa.field("first_seen", TIMESTAMP, nullable=False),
        pa.field("last_seen", TIMESTAMP, nullable=False),
        pa.field("state", pa.string(), nullable=False),
        pa.field("detections", pa.int32(), nullable=False),
        pa.field("max_area_m2", pa.float64(), nullable=False),
        pa.field("latest_area_m2", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("country_iso3", pa.string()),
        # with context layers named tenements / protected_areas (null without them)
        pa.field("possibly_informal", pa.bool_()),
        pa.field("high_priority", pa.bool_()),
        # spreads above the tile's own land median (asm_core/spectral/geology.py)
        pa.field("ferric_anomaly", pa.float64()),
        pa.field("clay_anomaly", pa.float64()),
        # baseline NDVI under the site when first seen (below bare_baseline_ndvi: bare already)
        pa.field("baseline_ndvi", pa.float64()),
        pa.field("bbox", BBOX, nullable=False),  # the footprint's (GeoParquet covering)
        pa.field("geometry", pa.binary(), nullable=False),
    ],
    metadata={"asm_watch": "sites: one row per tracked site (asm_core/monitoring/sites.py)"},
)

SITE_CONTEXT = pa.schema(
    [
        pa.field("site_id", pa.string(), nullable=False),
        pa.field("mgrs_tile", pa.string(), nullable=False),
        pa.field("layer", pa.string(), nullable=False),
        pa.field("feature_id", pa.string()),  # the feature it overlaps most, or null
        pa.field("feature_status", pa.string()),  # its status or phase, if the layer has one
        pa.field("distance_m", pa.float64()),  # to the nearest feature (0 inside)
    ],
    metadata={
        "asm_watch": (
            "site_context: one row per site and context layer (asm_core/monitoring/sites.py)"
        )
    },
)

SITE_OBSERVATIONS = pa.schema(
    [
        pa.field("site_id", pa.string(), nullable=False),
        pa.field("mgrs_tile", pa.string(), nullable=False),
        pa.field("acquired", TIMESTAMP, nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("observed_clear", pa.bool_(), nullable=False),
        pa.field("clear_share", pa.float64(), nullable=False),
        pa.field("detected", pa.bool_(), nullable=False),
        # the worked extent: scars, pits and the ponds among them, hole-filled
        pa.field("area_m2", pa.float64()),
        pa.field("water_m2", pa.float64()),  # of that, the ponds (pits flooded in the rains)
        pa.field("ndvi_mean", pa.float64()),  # of the detected scars
        # of the whole footprint known so far, on this look (detected or not)
        pa.field("footprint_ndvi", pa.float64()),
        pa.field("state", pa.string(), nullable=False),
    ],
    metadata={"asm_watch": "site_observations: one row per site and tile-date since it appeared"},
)


def _hive_type(t: pa.DataType) -> str:
    """The Glue/Athena (Hive DDL) type of a pyarrow type used in our tables."""
    if pa.types.is_string(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_binary(t):
        return "binary"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_list(t):
        return f"array<{_hive_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{_hive_type(t.key_type)},{_hive_type(t.item_type)}>"
    if pa.types.is_struct(t):
        fields = ",".join(f"{f.name}:{_hive_type(f.type)}" for f in t)
        return f"struct<{fields}>"
    raise TypeError(f"no Glue type for {t}")


def glue_columns(schema: pa.Schema) -> list[dict[str, str]]:
    """Glue table columns (Name, Type) of a results schema: the template's tables must match."""
    return [{"Name": f.name, "Type": _hive_type(f.type)} for f in schema]
