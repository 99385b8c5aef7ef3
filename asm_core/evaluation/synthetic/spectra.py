"""Typical Sentinel-2 L2A surface reflectance per land cover (B02, B03, B04, B08, B11, B12).

Values are representative of published Sentinel-2 BOA reflectance for West African tropical and
savanna landscapes: vegetation and soils after the ESA Sentinel-2 L2A validation reports and the
USGS Spectral Library v7 (Kokaly et al. 2017) convolved to S2 response functions (lateritic and
iron-stained soils, quartz sand, granite, asphalt/metal roofing); water and sediment-laden water
after Pahlevan et al. (2017, 2022) turbid inland waters; burnt areas after Roy et al. (2019); cloud
and haze after the Sen2Cor ATBD. They are typical values, not a library: the generator adds
spatial texture, sub-pixel mixing and sensor noise around them.
"""

from __future__ import annotations

import numpy as np

BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")

SPECTRA: dict[str, tuple[float, float, float, float, float, float]] = {
    "forest": (0.025, 0.050, 0.030, 0.330, 0.170, 0.075),
    "savanna": (0.045, 0.075, 0.080, 0.270, 0.280, 0.170),
    "crop": (0.035, 0.075, 0.045, 0.380, 0.220, 0.110),
    "field_soil": (0.085, 0.115, 0.140, 0.210, 0.300, 0.250),
    "red_field_soil": (0.075, 0.110, 0.175, 0.240, 0.330, 0.270),
    "laterite": (0.070, 0.105, 0.190, 0.250, 0.340, 0.280),
    "mining_pond": (0.090, 0.135, 0.160, 0.080, 0.030, 0.020),
    "clear_water": (0.060, 0.070, 0.045, 0.025, 0.012, 0.008),
    "turbid_water": (0.075, 0.110, 0.125, 0.060, 0.025, 0.015),
    "iron_stained_sand": (0.100, 0.140, 0.200, 0.260, 0.330, 0.280),
    "metal_roof": (0.220, 0.230, 0.240, 0.260, 0.240, 0.200),
    "concrete": (0.150, 0.170, 0.190, 0.220, 0.260, 0.240),
    "aquaculture_water": (0.045, 0.080, 0.050, 0.060, 0.020, 0.012),
    "burnt": (0.040, 0.050, 0.060, 0.110, 0.190, 0.150),
    "granite": (0.200, 0.220, 0.240, 0.280, 0.330, 0.290),
    "cloud": (0.500, 0.500, 0.500, 0.550, 0.400, 0.280),
    "haze": (0.040, 0.032, 0.024, 0.012, 0.004, 0.002),
    # dry-season savanna: reddish bare ground with dry grass (NDVI ~0.2)
    "dry_savanna": (0.075, 0.105, 0.150, 0.230, 0.330, 0.270),
    # alluvial-gold tailings of the Amazon and Guiana Shield: pale quartz sand, kaolinite-rich
    # fines (2.2 um absorption: SWIR2 below SWIR1) and grey alluvium; B4/B3 1.1-1.15
    "quartz_sand": (0.200, 0.240, 0.270, 0.310, 0.370, 0.320),
    "kaolinite_tailings": (0.170, 0.200, 0.225, 0.270, 0.360, 0.250),
    "grey_alluvium": (0.090, 0.110, 0.125, 0.170, 0.240, 0.200),
    # pit ponds coloured by suspended kaolinite (turquoise, green peak)
    "turquoise_pond": (0.085, 0.135, 0.105, 0.055, 0.025, 0.015),
    # the wet floor or shadow of a pit or shaft at 10 m
    "pit_floor": (0.040, 0.050, 0.055, 0.070, 0.060, 0.045),
    # dry-season farmland: pale stubble fields and flooded paddies with young rice
    "pale_field_soil": (0.110, 0.140, 0.170, 0.240, 0.320, 0.270),
    "paddy": (0.050, 0.075, 0.060, 0.110, 0.060, 0.035),
    # hyper-arid desert (Egypt's Eastern Desert, the Red Sea hills, Sudan's gold belt): varnished
    # gravel pavement, reddish-brown with Fe/Mn coatings (B4/B3 ~1.45); pale wadi sand; aeolian
    # quartz dunes; dark basalt; hydrothermally altered ground (sericite/kaolinite: SWIR2 well
    # below SWIR1; gossan iron: B4/B3 ~1.45); spoil of unweathered rock from below the varnish,
    # greyer than the pavement (B4/B3 1.2); white vein quartz; grey cyanide/amalgam tailings;
    # a tailings facility's pale fines; acacia canopies; the shadowed face of a mine bench
    "desert_pavement": (0.090, 0.130, 0.190, 0.240, 0.320, 0.290),
    "wadi_sand": (0.170, 0.220, 0.280, 0.320, 0.400, 0.360),
    "dune_sand": (0.150, 0.210, 0.300, 0.360, 0.460, 0.410),
    "basalt": (0.050, 0.060, 0.070, 0.090, 0.110, 0.100),
    "altered_ground": (0.120, 0.160, 0.230, 0.270, 0.380, 0.270),
    "fresh_spoil": (0.150, 0.180, 0.215, 0.250, 0.310, 0.280),
    "quartz_spoil": (0.260, 0.290, 0.310, 0.340, 0.380, 0.340),
    "grey_fines": (0.170, 0.190, 0.210, 0.240, 0.290, 0.260),
    "tailings_fines": (0.220, 0.250, 0.270, 0.300, 0.340, 0.310),
    "acacia": (0.040, 0.070, 0.060, 0.280, 0.200, 0.110),
    "bench_shadow": (0.030, 0.040, 0.050, 0.060, 0.060, 0.050),
}

#: Sensor noise (reflectance, 1 sigma) per band: of the order of S2 MSI noise at typical radiance.
NOISE_SIGMA = np.array([0.0030, 0.0030, 0.0030, 0.0040, 0.0035, 0.0035], dtype=np.float32)


def spectrum(name: str) -> np.ndarray:
    """A land cover's reflectance as a float32 vector over :data:`BANDS`."""
    return np.asarray(SPECTRA[name], dtype=np.float32)
