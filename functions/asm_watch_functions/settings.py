"""What the handlers read from their environment (set by template.yaml), in one typed place."""

from __future__ import annotations

import os
from dataclasses import dataclass

from asm_core.sources.catalog import EARTH_SEARCH_URL, SENTINEL2_L2A
from asm_core.sources.stac import PUBLIC_COG_SOURCES, readable_sources
from asm_watch_functions.errors import ConfigurationError

#: CloudWatch namespace of every function's metrics (one dashboard for the whole application).
METRICS_NAMESPACE = "AsmWatch"
#: each function's service name in its logs, metrics and traces (the template sets none)
PLAN_SERVICE = "asm-watch-plan"
API_SERVICE = "asm-watch-api"
FINALIZE_SERVICE = "asm-watch-finalize"
TRACK_SITES_SERVICE = "asm-watch-track-sites"
DETECT_TILE_SERVICE = "asm-watch-detect-tile"


@dataclass(frozen=True)
class Settings:
    results_bucket: str
    results_prefix: str = "results"
    manifests_prefix: str = "manifests"
    scans_prefix: str = "scans"
    #: context layers for the sites: ``context/<name>.<gpkg|geojson|parquet|…>``
    context_prefix: str = "context"
    #: the lock object that lets one Finalize at a time update the site tables
    locks_prefix: str = "locks"
    stac_url: str = EARTH_SEARCH_URL
    collection: str = SENTINEL2_L2A
    max_tiles: int = 5000
    #: tile-dates per manifest row, i.e. per child workflow of the Distributed Map
    tiles_per_batch: int = 8
    alert_topic_arn: str | None = None
    #: rule set of scans whose request names none
    rule_set: str = "default"
    #: where the bands of items posted to POST /scans may be read from (URL or bucket prefixes)
    asset_sources: tuple[str, ...] = PUBLIC_COG_SOURCES

    def group_outcome_key(self, scan_id: str, group: str) -> str:
        """Where a site group's update stores its outcome for the scan's Finalize step."""
        return f"{self.scans_prefix}/{scan_id}/groups/{group}.json"

    def group_report_key(self, scan_id: str, group: str) -> str:
        """Where a site group's update stores its report, under the scan."""
        return f"{self.scans_prefix}/{scan_id}/reports/{group}.html"

    @property
    def item_sources(self) -> tuple[str, ...]:
        """Where a scan may read bands from: the configured sources and the catalogue's host."""
        return readable_sources(self.asset_sources, self.stac_url)

    @classmethod
    def from_environment(cls) -> Settings:
        bucket = os.environ.get("RESULTS_BUCKET", "")
        if not bucket:
            raise ConfigurationError("RESULTS_BUCKET is not set; the template sets it")
        return cls(
            results_bucket=bucket,
            tiles_per_batch=_positive_int("TILES_PER_BATCH", "8"),
            stac_url=os.environ.get("STAC_API_URL", EARTH_SEARCH_URL),
            collection=os.environ.get("STAC_COLLECTION", SENTINEL2_L2A),
            max_tiles=_positive_int("MAX_TILES", "5000"),
            alert_topic_arn=os.environ.get("ALERT_TOPIC_ARN") or None,
            rule_set=os.environ.get("RULE_SET", "default"),
            asset_sources=tuple(
                p.strip()
                for p in os.environ.get("ASSET_SOURCES", ",".join(PUBLIC_COG_SOURCES)).split(",")
                if p.strip()
            ),
        )


def _positive_int(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, not {raw!r}")
    return value
