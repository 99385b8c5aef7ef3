"""ASM Watch core: find artisanal and small-scale mining in Sentinel-2 L2A scenes.

The package is pure: no AWS SDK, no environment reads. Callers inject I/O.

For notebooks::

    import asm_core
    found = asm_core.detect(item, bbox=(-1.85, 5.85, -1.80, 5.90))  # a pystac.Item, dict, path, URL
    sites = asm_core.read_results("asm-results", "sites")  # GeoDataFrames in EPSG:4326

The names below are loaded when first used, so importing the package stays light (the
Lambdas that plan and answer the API import parts of it and must not load the detector).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "detect": "asm_core.jobs.scene_detection",
    "DetectionFailedError": "asm_core.errors",
    "read_results": "asm_core.results.export",
    "write_export": "asm_core.results.export",
    "load_rules": "asm_core.rules",
    "load_item": "asm_core.sources.stac",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'asm_core' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
