"""The API's AWS services, configured from the function's environment (set by template.yaml)."""

from __future__ import annotations

import os

from asm_watch_functions.api.aws_services import AwsScanServices
from asm_watch_functions.errors import ConfigurationError
from asm_watch_functions.settings import Settings
from asm_watch_functions.storage import Bucket


def services_from_environment() -> AwsScanServices:
    settings = Settings.from_environment()
    machine = os.environ.get("STATE_MACHINE_ARN", "")
    if not machine:
        raise ConfigurationError("STATE_MACHINE_ARN is not set; the template sets it")
    return AwsScanServices(
        machine,
        Bucket(settings.results_bucket),
        workgroup=os.environ.get("ATHENA_WORKGROUP", "asm-watch"),
        database=os.environ.get("GLUE_DATABASE", "asm_watch"),
        scans_prefix=settings.scans_prefix,
        stac_url=settings.stac_url,
        collection=settings.collection,
        asset_sources=settings.asset_sources,
    )
