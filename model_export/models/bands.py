"""Band meaning -> central wavelength (micrometres): one table for DOFA's wavelength-conditioned
patch embedding and for mapping a pretrained RGB stem's filters onto other band sets.

Names are matched case-insensitively against band names and their aliases (Sentinel-2 band ids
included). SAR bands get DOFA's convention for C-band backscatter, 3.75 (a code value DOFA uses
for Sentinel-1, not the physical ~5.5 cm wavelength), except the cross-polarised VH/HV, which get
their own code (SAR_CROSS_POL_UM); override per model if needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SAR_WAVELENGTH_UM = 3.75  # DOFA's C-band code: co-polarised VV/HH and single-band SAR
# DOFA's examples give VV and VH the same code, so their generated filters were identical and a
# two-band model saw only VV + VH. A distinct code gives VH its own filter; published weights were
# never trained on it, so that filter is the generator's guess until fine-tuning adapts it.
SAR_CROSS_POL_UM = 3.8

WAVELENGTH_UM: dict[str, float] = {
    "coastal": 0.443, "b1": 0.443, "b01": 0.443,
    "blue": 0.49, "b": 0.49, "b2": 0.49, "b02": 0.49,
    "green": 0.56, "g": 0.56, "b3": 0.56, "b03": 0.56,
    "red": 0.665, "r": 0.665, "b4": 0.665, "b04": 0.665,
    "rededge1": 0.705, "b5": 0.705, "b05": 0.705,
    "rededge2": 0.74, "b6": 0.74, "b06": 0.74,
    "rededge3": 0.783, "b7": 0.783, "b07": 0.783,
    "nir": 0.842, "n": 0.842, "b8": 0.842, "b08": 0.842,
    "nir08": 0.865, "b8a": 0.865,
    "water_vapour": 0.945, "b9": 0.945, "b09": 0.945,
    "cirrus": 1.375, "b10": 1.375,
    "swir1": 1.61, "b11": 1.61,
    "swir2": 2.19, "b12": 2.19,
    **{k: SAR_WAVELENGTH_UM for k in ("sar", "vv", "hh", "gf3")},
    **{k: SAR_CROSS_POL_UM for k in ("vh", "hv")},
}

# The channel order of an ImageNet-style RGB stem.
RGB_WAVELENGTHS_UM: tuple[float, float, float] = (0.665, 0.56, 0.49)


def wavelength_of(names: Iterable[str]) -> float | None:
    """First of a band's names/aliases found in the table, else None."""
    for name in names:
        w = WAVELENGTH_UM.get(str(name).strip().lower())
        if w is not None:
            return w
    return None


def wavelengths_for(bands: Sequence[str | Sequence[str]], what: str = "bands") -> list[float]:
    """Wavelengths of bands given by name (or by a list of name + aliases); an unknown band is an
    error that says how to name it or give wavelengths explicitly."""
    out = []
    for band in bands:
        names = [band] if isinstance(band, str) else list(band)
        w = wavelength_of(names)
        if w is None:
            raise ValueError(
                f"no central wavelength known for {what} band {names[0]!r}; name it as one of "
                f"{sorted(k for k in WAVELENGTH_UM if len(k) > 3)} or set the model's "
                "wavelengths explicitly (wavelengths_optical / wavelengths_sar, micrometres)")
        out.append(w)
    return out


def rgb_filter_index(wavelength: float | None, tolerance_um: float = 0.05) -> int | None:
    """Index (0 red, 1 green, 2 blue) of the RGB filter whose wavelength is within tolerance."""
    if wavelength is None:
        return None
    best = min(range(3), key=lambda i: abs(RGB_WAVELENGTHS_UM[i] - wavelength))
    return best if abs(RGB_WAVELENGTHS_UM[best] - wavelength) <= tolerance_um else None
