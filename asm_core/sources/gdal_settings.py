"""GDAL configuration for reading COGs over HTTP and S3 (values, not environment reads).

Callers pass these to :func:`asm_core.sources.reader.open_bands`; the CLI uses them as they are.
"""

from __future__ import annotations

#: Settings that matter for cloud-optimised GeoTIFFs on object storage: no directory listing
#: on open, only .tif fetched, merged range requests, retries on transient HTTP errors.
REMOTE_COG: dict[str, str | bool | int] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "GDAL_HTTP_MAX_RETRY": 5,
    "GDAL_HTTP_RETRY_DELAY": 1,
    "VSI_CACHE": "TRUE",
}

#: Public buckets such as ``sentinel-cogs`` are read without credentials.
UNSIGNED_S3: dict[str, str | bool | int] = {"AWS_NO_SIGN_REQUEST": "YES"}


def read_options(unsigned_s3: bool = True) -> dict[str, str | bool | int]:
    """GDAL options for reading an item's bands wherever they are."""
    options = dict(REMOTE_COG)
    if unsigned_s3:
        options.update(UNSIGNED_S3)
    return options
