"""The results' STAC catalogue in the bucket: each scan adds its tile-dates to the collection.

The items themselves are uploaded by the per-tile jobs (``results/stac/items/…``, written by
:func:`asm_core.jobs.tile_job.run_item`); Finalize adds the links of the scan's finished tile-dates
and their extent to ``results/stac/collection.json`` without reading the other items, and
writes the root ``catalog.json``. Two scans ending together both get in: the collection is
replaced only if it is still the one read (``If-Match`` on its ETag), else read again.
"""

from __future__ import annotations

from collections.abc import Sequence

from asm_core.results.results_catalogue import results_catalog, results_collection
from asm_core.results.results_stac import CATALOG_FILE, COLLECTION_FILE, STAC_FOLDER
from asm_core.sources.stac import StacItemDict
from asm_watch_functions.errors import CatalogueBusyError
from asm_watch_functions.settings import Settings
from asm_watch_functions.storage import Bucket

#: tries at replacing the collection while other scans replace it too
ATTEMPTS = 8


def add_to_catalogue(bucket: Bucket, settings: Settings, items: Sequence[StacItemDict]) -> str:
    """Add the scan's finished tile-dates (their Sentinel-2 items: same id, footprint and
    date as their results items) to the collection; the collection's key."""
    folder = f"{settings.results_prefix}/{STAC_FOLDER}"
    key = f"{folder}/{COLLECTION_FILE}"
    for _ in range(ATTEMPTS):
        found = bucket.get_json_with_etag(key)
        existing, condition = (
            (None, {"IfNoneMatch": "*"})
            if found is None
            else (
                found[0],
                {"IfMatch": found[1]},
            )
        )
        if bucket.put_json_if(key, results_collection(items, existing), **condition):
            break
    else:
        raise CatalogueBusyError(f"s3://{bucket.name}/{key} changed {ATTEMPTS} times meanwhile")
    bucket.put_json(f"{folder}/{CATALOG_FILE}", results_catalog())
    return key
