"""Tell mining scars from the things threshold rules mistake for them (DESIGN.md confounders).

Each test looks at what surrounds or shapes an object, which spectra alone cannot:
- cloud edges and haze: the ring around the object is largely cloud, shadow or no data;
- river sandbars and braided channels: the ring is largely water;
- towns and roads: the ring is largely built-up (roads are already removed by the opening);
- bare agricultural fields: the parcel fills its minimum rotated rectangle.
Aquaculture and farm ponds are handled with water: a pond counts only beside a kept scar.
"""

from __future__ import annotations

from asm_core.detection.objects.objects import ObjectCrop, ring_fraction
from asm_core.detection.pixels.layers import SceneLayers
from asm_core.rules import LookalikeSettings


def ring_lookalike(
    crop: ObjectCrop, layers: SceneLayers, settings: LookalikeSettings
) -> str | None:
    """The look-alike a scar candidate's surroundings betray (cloud edge, sandbar, town), if any;
    cheap, so it runs before the object is turned into a polygon."""
    if ring_fraction(crop, layers.valid, invert=True) >= settings.cloud_ring_invalid_min:
        return "cloud_edge"
    water = layers.layers.get("water")
    if water is not None and ring_fraction(crop, water) >= settings.sandbar_ring_water_min:
        return "sandbar"
    built = layers.layers.get("built_up")
    if built is not None and ring_fraction(crop, built) >= settings.town_ring_built_up_min:
        return "town"
    return None


def shape_lookalike(rectangularity: float, settings: LookalikeSettings) -> str | None:
    """'field' when the parcel fills its minimum rotated rectangle."""
    return "field" if rectangularity >= settings.field_rectangularity_min else None


def classify_scar(
    crop: ObjectCrop, rectangularity: float, layers: SceneLayers, settings: LookalikeSettings
) -> str | None:
    """The look-alike a scar candidate is taken for, or None if it stays a mining scar."""
    return ring_lookalike(crop, layers, settings) or shape_lookalike(rectangularity, settings)
