"""Digital numbers to surface reflectance, with the BOA offset decided once and never twice.

From processing baseline 04.00 ESA adds 1000 to every L2A DN (BOA_ADD_OFFSET = -1000), so
reflectance = (DN - 1000) / 10000. Catalogues record this inconsistently: Earth Search's
``earthsearch:boa_offset_applied`` is wrong in both directions and ``raster:bands`` offsets may or
may not carry the -0.1. We therefore decide from the baseline, weigh the metadata, and let the
pixels overrule when they are unambiguous: DN that still carry the offset have (almost) nothing
below 1000, because that would be negative reflectance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asm_core.rules import BoaOffsetSettings
from asm_core.sources.sentinel2 import BOA_ADD_OFFSET_DN, OFFSET_BASELINE, BandAsset


@dataclass(frozen=True)
class OffsetDecision:
    """Whether the DN carry the +1000 BOA offset, and why we think so."""

    dn_offset: int
    source: str
    detail: str


def pixel_evidence(
    dark_band_dn: Sequence[npt.NDArray[np.integer]], settings: BoaOffsetSettings
) -> str:
    """Classify DN samples of dark bands (blue, red, nir) as offset 'present', 'absent' or
    'inconclusive' (the rule set's ``boa_offset`` settings say when). Nodata (0) must already
    be removed from the samples."""
    values = [np.asarray(a).ravel() for a in dark_band_dn if np.asarray(a).size]
    if not values:
        return "inconclusive"
    dn = np.concatenate(values)
    below = np.count_nonzero(dn < BOA_ADD_OFFSET_DN)
    if below > settings.absent_if_below_share * dn.size:
        return "absent"
    window = settings.floor_window_dn
    just_below = np.count_nonzero((dn >= BOA_ADD_OFFSET_DN - window) & (dn < BOA_ADD_OFFSET_DN))
    just_above = np.count_nonzero((dn >= BOA_ADD_OFFSET_DN) & (dn < BOA_ADD_OFFSET_DN + window))
    enough = just_above >= settings.floor_min_pixels
    if enough and just_below <= settings.floor_max_ratio * just_above:
        return "present"
    return "inconclusive"


def decide_boa_offset(
    baseline: tuple[int, int] | None,
    flag: bool | None,
    bands: Mapping[str, BandAsset],
    evidence: str,
) -> OffsetDecision:
    """Decide whether to subtract 1000 from the DN before scaling.

    Args:
        baseline: processing baseline (major, minor), or None when the item does not say.
        flag: ``earthsearch:boa_offset_applied`` if present.
        bands: resolved band assets (their ``raster:bands`` offsets are metadata claims).
        evidence: result of :func:`pixel_evidence` on the scene's dark bands.

    Returns:
        The decision; ``dn_offset`` is 1000 or 0 and is applied exactly once, in
        :func:`to_reflectance`, never together with the ``raster:bands`` offset.
    """
    claims = []
    if flag is not None:
        claims.append(f"boa_offset_applied={str(flag).lower()}")
    metadata_offsets = sorted({round(b.offset, 4) for b in bands.values() if b.name != "scl"})
    if metadata_offsets:
        claims.append(f"raster:bands offset={metadata_offsets}")
    if baseline is None:
        prior, why = None, "baseline unknown"
    else:
        prior = baseline >= OFFSET_BASELINE
        why = f"baseline {baseline[0]:02d}.{baseline[1]:02d}"
    detail = ", ".join([why, *claims, f"pixels {evidence}"])
    if evidence == "present":
        source = "baseline" if prior is True else "pixels"
        return OffsetDecision(BOA_ADD_OFFSET_DN, source, detail)
    if evidence == "absent":
        source = "baseline" if prior is False else "pixels"
        return OffsetDecision(0, source, detail)
    if prior is None:
        # No baseline and no pixel verdict: trust the metadata's -0.1 offset if it is there.
        has_offset = any(abs(o + 0.1) < 1e-6 for o in metadata_offsets)
        return OffsetDecision(BOA_ADD_OFFSET_DN if has_offset else 0, "metadata", detail)
    return OffsetDecision(BOA_ADD_OFFSET_DN if prior else 0, "baseline", detail)


def to_reflectance(
    dn: npt.NDArray[np.integer], scale: float, dn_offset: int
) -> npt.NDArray[np.float32]:
    """Reflectance as float32: ``(DN - dn_offset) * scale``; nodata (0) becomes NaN."""
    out = dn.astype(np.float32)
    nodata = dn == 0
    if dn_offset:
        out -= np.float32(dn_offset)
    out *= np.float32(scale)
    out[nodata] = np.nan
    return out
