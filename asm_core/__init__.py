"""ASM Watch core: find artisanal and small-scale mining in Sentinel-2 L2A scenes.

The package is pure: no AWS SDK, no environment reads. Callers inject I/O.
"""

__version__ = "0.1.0"
