"""Synthetic Sentinel-2 L2A scenes with planted ASM sites, look-alikes and truth.

Writes what Earth Search serves: one COG per band (10 m and 20 m, uint16 DEFLATE, nodata 0, DN
carrying the BOA offset when the processing baseline implies it), an SCL COG, a STAC item with
relative hrefs, and a truth GeoJSON of every planted mining site and look-alike.

Example:
    >>> from pathlib import Path
    >>> from asm_core.evaluation.synthetic import SceneSpec, write_scene
    >>> out = write_scene(SceneSpec(seed=1, size=256), Path("/tmp/asm-doc"))  # doctest: +SKIP
"""

from asm_core.evaluation.synthetic.scene import SceneSpec, generate_set, write_scene

__all__ = ["SceneSpec", "generate_set", "write_scene"]
