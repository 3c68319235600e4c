"""Which units a layer's values are in, among those the model accepts.

Detection looks at the data type and a few robust statistics of a decimated sample; it never
invents a conversion (the model's metadata holds those). When the data fit none of the units the
model accepts, the user is asked to say which units the layer is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .metadata import UNITS, InputSpec

AUTO = "auto"
_INTEGER_TYPES = {"Byte", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64"}


class UnitsError(ValueError):
    """The layer's units cannot be used with the model; the message says what to do."""


@dataclass(frozen=True)
class ValueStats:
    dtype: str  # GDAL data type name of the source band(s), e.g. "Int16", "Float32"
    count: int
    minimum: float = float("nan")
    p01: float = float("nan")
    p50: float = float("nan")
    p99: float = float("nan")
    maximum: float = float("nan")

    @classmethod
    def of(cls, values: np.ndarray, dtype: str) -> ValueStats:
        """Statistics of the finite values (NaN marks missing pixels)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(dtype, 0)
        p01, p50, p99 = np.percentile(v, [1, 50, 99])
        return cls(dtype, int(v.size), float(v.min()), float(p01), float(p50), float(p99),
                   float(v.max()))

    def describe(self) -> str:
        if not self.count:
            return f"{self.dtype}, no valid pixels"
        return (
            f"{self.dtype}, values {self.minimum:g}..{self.maximum:g} "
            f"(1%/50%/99%: {self.p01:g}/{self.p50:g}/{self.p99:g})"
        )


def plausible_units(stats: ValueStats) -> list[str]:
    """The units these values could be in, most likely first (whatever the model accepts)."""
    if stats.count == 0:
        return []
    if stats.dtype == "Byte":
        return ["uint8_rendering"]
    if stats.dtype in _INTEGER_TYPES:
        # Integer data beyond 8 bits: Sentinel-2 style digital numbers (reflectance x 10000).
        if stats.minimum >= 0 and stats.maximum <= 255:
            return ["uint8_rendering", "reflectance_x10000"]
        return ["reflectance_x10000"]
    # Floating point.
    if stats.p50 < 0 or stats.p01 < -1.0:
        # Mostly negative: backscatter in dB (water about -20, land about -10, urban up to +10).
        return ["sar_db"] if stats.p01 >= -100 and stats.p99 <= 60 else []
    if stats.p99 <= 1.5:
        # Fractions: reflectance for an optical layer, linear power for a SAR layer.
        return ["reflectance", "sar_linear"]
    if stats.maximum <= 255.5:
        return ["uint8_rendering", "sar_linear"] if stats.p99 <= 10 else ["uint8_rendering"]
    return ["reflectance_x10000"]


def resolve_units(
    requested: str,
    spec: InputSpec,
    stats: ValueStats,
    role: str = "optical",
    parameter: str = "OPTICAL_UNITS",
) -> tuple[str, str, list[str]]:
    """(units, how they were chosen, warnings) for one model input."""
    accepted = list(spec.accepted_units)
    plausible = plausible_units(stats)
    if stats.count == 0:
        raise UnitsError(
            f"The {role} layer has no valid pixels (all nodata) in the selected bands. "
            "Check the layer, its nodata value and the selected bands."
        )
    if requested and requested != AUTO:
        if requested not in UNITS:
            raise UnitsError(f"{parameter} '{requested}' is not one of {[AUTO, *UNITS]}.")
        if requested not in accepted:
            raise UnitsError(
                f"{parameter} is {requested}, but the model's {role} input accepts only "
                f"{', '.join(accepted)}. Convert the layer to one of those, or choose a model "
                f"that accepts {requested}."
            )
        warnings = []
        if plausible and requested not in plausible:
            warnings.append(
                f"{parameter} is {requested}, but the {role} values ({stats.describe()}) look "
                f"like {' or '.join(plausible)}. Check the setting if the result looks wrong."
            )
        return requested, "set by the user", warnings
    for units in plausible:
        if units in accepted:
            return units, f"detected from {stats.describe()}", []
    looks = f"they look like {' or '.join(plausible)}" if plausible else "they fit none of them"
    raise UnitsError(
        f"Cannot tell the units of the {role} layer ({stats.describe()}): the model's {role} "
        f"input accepts {', '.join(accepted)} and {looks}. Set {parameter} to the layer's "
        "units, or convert the layer to units the model accepts."
    )


def accepted_units_text(specs: Sequence[InputSpec]) -> str:
    return "; ".join(f"{s.name}: {', '.join(s.accepted_units)}" for s in specs)
