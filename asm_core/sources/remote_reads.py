"""Where GDAL opens an href (s3:// through /vsis3/, http(s) through /vsicurl/) and how reads that
object storage fails transiently (throttling, 5xx, dropped connections) are retried; a 404 or a
corrupt local file is not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rasterio.errors import RasterioError

from asm_core.errors import (
    BandSourceUnavailableError,
    RasterReadError,
)


def gdal_path(href: str) -> str:
    """The path GDAL opens for an href: s3:// becomes /vsis3/, http(s) goes via /vsicurl/."""
    if href.startswith("s3://"):
        return "/vsis3/" + href.removeprefix("s3://")
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    return href


#: GDAL messages that object storage produces transiently: throttling, 5xx, dropped
#: connections, and the intermittent "not recognized as a supported file format" on S3 when a
#: header read comes back short. A 404 or a corrupt local file is never retried.
TRANSIENT = re.compile(
    r"not recognized as a supported file format|HTTP response code: (429|5\d\d)|"
    r"timed out|Connection (reset|refused|closed)|curl error|SSL",
    re.IGNORECASE,
)


T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient remote read errors."""

    attempts: int = 4
    backoff_s: float = 0.5

    def run(self, href: str, what: str, action: Callable[[], T]) -> T:
        remote = href.startswith(("http://", "https://", "s3://"))
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except RasterioError as e:
                transient = remote and TRANSIENT.search(str(e)) is not None
                if not transient or attempt == self.attempts:
                    tried = f" after {attempt} attempts" if attempt > 1 else ""
                    kind = BandSourceUnavailableError if transient else RasterReadError
                    raise kind(f"band file {href!r} cannot be {what}{tried}: {e}") from e
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")
