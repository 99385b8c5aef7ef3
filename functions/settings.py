"""What the handlers read from their environment (set by template.yaml), in one typed place."""

from __future__ import annotations

import os
from dataclasses import dataclass

from asm_core.catalog import EARTH_SEARCH_URL, SENTINEL2_L2A
from asm_core.stac import PUBLIC_COG_SOURCES, readable_sources

#: CloudWatch namespace of every function's metrics (one dashboard for the whole application).
METRICS_NAMESPACE = "AsmWatch"


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed (a deployment error)."""


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
    alert_topic_arn: str | None = None
    #: rule set of scans whose request names none
    rule_set: str = "default"
    #: where the bands of items posted to POST /scans may be read from (URL or bucket prefixes)
    asset_sources: tuple[str, ...] = PUBLIC_COG_SOURCES

    @property
    def item_sources(self) -> tuple[str, ...]:
        """Where a scan may read bands from: the configured sources and the catalogue's host."""
        return readable_sources(self.asset_sources, self.stac_url)

    @classmethod
    def from_environment(cls) -> Settings:
        bucket = os.environ.get("RESULTS_BUCKET", "")
        if not bucket:
            raise ConfigurationError("RESULTS_BUCKET is not set; the template sets it")
        raw_max = os.environ.get("MAX_TILES", "5000")
        try:
            max_tiles = int(raw_max)
        except ValueError as e:
            raise ConfigurationError(f"MAX_TILES must be an integer, not {raw_max!r}") from e
        return cls(
            results_bucket=bucket,
            stac_url=os.environ.get("STAC_API_URL", EARTH_SEARCH_URL),
            collection=os.environ.get("STAC_COLLECTION", SENTINEL2_L2A),
            max_tiles=max_tiles,
            alert_topic_arn=os.environ.get("ALERT_TOPIC_ARN") or None,
            rule_set=os.environ.get("RULE_SET", "default"),
            asset_sources=tuple(
                p.strip()
                for p in os.environ.get("ASSET_SOURCES", ",".join(PUBLIC_COG_SOURCES)).split(",")
                if p.strip()
            ),
        )
