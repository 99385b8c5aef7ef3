"""Put the image's precompiled numba kernels where numba may use them at run time.

The image is built with the kernels compiled into /opt/numba-cache; Lambda's file system is
read-only except /tmp, and numba only uses a cache folder it can write to, so the cache is copied
to NUMBA_CACHE_DIR (/tmp/numba-cache) once per container, before any kernel runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

BUILT = Path("/opt/numba-cache")


def prepare() -> None:
    target = os.environ.get("NUMBA_CACHE_DIR")
    if target and BUILT.is_dir() and not Path(target).exists():
        shutil.copytree(BUILT, target)


prepare()
