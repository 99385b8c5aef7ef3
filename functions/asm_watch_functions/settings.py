"""What the handlers read from their environment (set by template.yaml): one settings class per
function, each reading ``ASM_WATCH_*`` variables with pydantic-settings.

:class:`Settings` is where the results live (every function needs it); the others add what one
function alone reads. A missing or malformed variable fails the cold start with one line that
names it and what it takes.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Self

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
COMPACT_RESULTS_SERVICE = "asm-watch-compact-results"
#: the prefix of every variable the settings read
ENV_PREFIX = "ASM_WATCH_"


class Settings(BaseSettings):
    """Where the results live: every function's settings (the detect-tile and track-sites
    functions need no more)."""

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore"
    )

    results_bucket: str = Field(min_length=1)
    results_prefix: str = "results"
    manifests_prefix: str = "manifests"
    scans_prefix: str = "scans"
    #: context layers for the sites: ``context/<name>.<gpkg|geojson|parquet|…>``
    context_prefix: str = "context"
    #: the lock object that lets one update at a time write a site group's tables
    locks_prefix: str = "locks"

    @classmethod
    def from_environment(cls) -> Self:
        """The settings from the environment; a bad or missing variable raises
        :class:`ConfigurationError` naming it."""
        try:
            return cls()
        except ValidationError as e:
            first = e.errors()[0]
            name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else "(settings)"
            raise ConfigurationError(
                f"{name}: {first['msg']} (got {first.get('input')!r}); template.yaml sets it"
            ) from e

    def group_outcome_key(self, scan_id: str, group: str) -> str:
        """Where a site group's update stores its outcome for the scan's Finalize step."""
        return f"{self.scans_prefix}/{scan_id}/groups/{group}.json"

    def group_report_key(self, scan_id: str, group: str) -> str:
        """Where a site group's update stores its report, under the scan."""
        return f"{self.scans_prefix}/{scan_id}/reports/{group}.html"


class ScanSettings(Settings):
    """What a function that starts scans reads: the catalogue, the limits, the sources."""

    stac_url: str = EARTH_SEARCH_URL
    collection: str = SENTINEL2_L2A
    max_tiles: int = Field(5000, ge=1)
    #: tile-dates per manifest row, i.e. per child workflow of the Distributed Map
    tiles_per_batch: int = Field(8, ge=1)
    #: rule set of scans whose request names none
    rule_set: str = "default"
    #: where the bands of items posted to POST /scans may be read from (URL or bucket
    #: prefixes; comma-separated in the environment)
    asset_sources: Annotated[tuple[str, ...], NoDecode] = PUBLIC_COG_SOURCES

    @field_validator("asset_sources", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @property
    def item_sources(self) -> tuple[str, ...]:
        """Where a scan may read bands from: the configured sources and the catalogue's host."""
        return readable_sources(self.asset_sources, self.stac_url)


class PlanSettings(ScanSettings):
    """The plan function's settings."""


class FinalizeSettings(Settings):
    """The Finalize function's: where to send the scan's alerts (none: no message)."""

    alert_topic_arn: str | None = None


class ApiSettings(ScanSettings):
    """The API's: the state machine it starts scans on and the catalogue it queries."""

    state_machine_arn: str = Field(min_length=1)
    athena_workgroup: str = "asm-watch"
    glue_database: str = "asm_watch"
