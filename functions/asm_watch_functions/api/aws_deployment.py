"""The API's AWS services, configured from the function's settings (set by template.yaml)."""

from __future__ import annotations

from asm_watch_functions.api.aws_services import AwsScanServices
from asm_watch_functions.settings import ApiSettings
from asm_watch_functions.storage import Bucket


def services_from_environment() -> AwsScanServices:
    settings = ApiSettings.from_environment()
    return AwsScanServices(
        settings.state_machine_arn,
        Bucket(settings.results_bucket),
        workgroup=settings.athena_workgroup,
        database=settings.glue_database,
        scans_prefix=settings.scans_prefix,
        stac_url=settings.stac_url,
        collection=settings.collection,
        asset_sources=settings.asset_sources,
    )
