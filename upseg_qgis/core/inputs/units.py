"""Which units a layer's values are in, among those the model accepts.

Detection looks at the data type and percentiles of a sample (never the minimum or maximum: one
bright corner reflector or one dead pixel must not decide), plus the radiometric offset stated
in the product's metadata. It never invents a conversion (the model's metadata holds those).
When the data fit several accepted units, the choice is named in a warning; when they fit none,
the user is asked to say which units the layer is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..contract.metadata import INPUT_UNITS, InputSpec
from .product_offset import BASELINE_OFFSET, ProductOffset

AUTO = "auto"
X10000 = "reflectance_x10000"
X10000_OFFSET = "reflectance_x10000_offset1000"
_INTEGER_TYPES = {"Byte", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64"}
# Stored Sentinel-2 values of products with the +1000 offset rarely fall below this; without the
# offset, dark surfaces (water, shadow) do: a low 1st percentile above it suggests the offset.
OFFSET_HINT_P01 = 1000.0


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
        if stats.p01 >= 0 and stats.p99 <= 255:
            return ["uint8_rendering", X10000]
        return [X10000]
    # Floating point.
    if stats.p50 < 0 or stats.p01 < -1.0:
        # Mostly negative: backscatter in dB (water about -20, land about -10, urban up to +10).
        return ["sar_db"] if stats.p01 >= -100 and stats.p99 <= 60 else []
    if stats.p99 <= 1.5:
        # Fractions: reflectance for an optical layer, linear power for a SAR layer.
        return ["reflectance", "sar_linear"]
    if stats.p99 <= 10:
        # Small positive floats: linear power with bright targets (urban, gamma0) before a
        # float copy of a very dark 8-bit rendering.
        return ["sar_linear", "uint8_rendering"]
    if stats.p99 <= 255.5:
        # As for integers: a float copy of an 8-bit rendering, or dark reflectance x 10000
        # (water, shadow); the choice is said, as on the integer path.
        return ["uint8_rendering", X10000] if stats.p01 >= 0 else ["uint8_rendering"]
    return [X10000]


def _user_units(requested: str, spec: InputSpec, stats: ValueStats, plausible: list[str],
                role: str, parameter: str) -> tuple[str, str, list[str]]:
    accepted = list(spec.accepted_units)
    if requested not in INPUT_UNITS:
        raise UnitsError(f"{parameter} '{requested}' is not one of {[AUTO, *INPUT_UNITS]}.")
    if requested not in accepted:
        raise UnitsError(
            f"{parameter} is {requested}, but the model's {role} input accepts only "
            f"{', '.join(accepted)}. Convert the layer to one of those, or choose a model "
            f"that accepts {requested}."
        )
    base = X10000 if requested == X10000_OFFSET else requested
    warnings = []
    if plausible and base not in plausible:
        warnings.append(
            f"{parameter} is {requested}, but the {role} values ({stats.describe()}) look "
            f"like {' or '.join(plausible)}. Check the setting if the result looks wrong."
        )
    return requested, "set by the user", warnings


def _offset_units(units: str, how: str, offset: ProductOffset | None, stats: ValueStats,
                  parameter: str) -> tuple[str, str, list[str]]:
    """reflectance_x10000 refined by the product's stated offset (or a hint about it)."""
    if offset is None:
        if stats.p01 >= OFFSET_HINT_P01:
            return units, how, [
                f"The optical values start high (1st percentile {stats.p01:g}), as in "
                "Sentinel-2 products from processing baseline 04.00, which add 1000 to every "
                "value; the file's metadata does not say. If it is such a product, set "
                f"{parameter} to {X10000_OFFSET}."]
        return units, how, []
    if offset.value == 0.0:
        return units, f"{how}; no offset ({offset.source})", []
    if offset.value == BASELINE_OFFSET and offset.implied:
        # A distributor's harmonised file may keep the item: the baseline alone is not proof.
        return units, f"{how}; no offset removed ({offset.source} alone)", [
            f"The optical metadata say {offset.source} (products from 04.00 add 1000 to every "
            "value) but state no offset (BOA_ADD_OFFSET, RADIO_ADD_OFFSET or a band offset), "
            "so none is removed: a file harmonised by its distributor keeps the baseline item. "
            f"If the values still carry the +1000, set {parameter} to {X10000_OFFSET}."]
    if offset.value == BASELINE_OFFSET:
        return X10000_OFFSET, f"{how}; offset {offset.value:g} from {offset.source}", []
    raise UnitsError(
        f"The optical layer's metadata ({offset.source}) gives an offset of {offset.value:g}; "
        f"UPSeg applies only Sentinel-2's {BASELINE_OFFSET:g}. Remove the offset from the "
        f"values, or set {parameter}."
    )


def _offset_mismatch(units: str, offset: ProductOffset | None, parameter: str) -> list[str]:
    if offset is None or units not in (X10000, X10000_OFFSET):
        return []
    if units == X10000 and offset.value != 0.0:
        return [f"{parameter} is {X10000}, but the metadata ({offset.source}) give an offset "
                f"of {offset.value:g}, which is therefore not removed. Use {X10000_OFFSET} to "
                "remove it."]
    if units == X10000_OFFSET and offset.value == 0.0:
        return [f"{parameter} is {X10000_OFFSET}, but the metadata ({offset.source}) say the "
                "values have no offset. Check the setting if the result looks wrong."]
    return []


def resolve_units(
    requested: str,
    spec: InputSpec,
    stats: ValueStats,
    role: str = "optical",
    parameter: str = "OPTICAL_UNITS",
    offset: ProductOffset | None = None,
) -> tuple[str, str, list[str]]:
    """(units, how they were chosen, warnings) for one model input."""
    if stats.count == 0:
        raise UnitsError(
            f"The {role} layer has no valid pixels (all nodata) in the selected bands. "
            "Check the layer, its nodata value and the selected bands."
        )
    plausible = plausible_units(stats)
    if requested and requested != AUTO:
        units, how, warnings = _user_units(requested, spec, stats, plausible, role, parameter)
        return units, how, warnings + _offset_mismatch(units, offset, parameter)
    accepted = list(spec.accepted_units)
    fits = [u for u in plausible if u in accepted]
    if not fits:
        looks = (f"they look like {' or '.join(plausible)}" if plausible
                 else "they fit none of them")
        raise UnitsError(
            f"Cannot tell the units of the {role} layer ({stats.describe()}): the model's "
            f"{role} input accepts {', '.join(accepted)} and {looks}. Set {parameter} to the "
            "layer's units, or convert the layer to units the model accepts."
        )
    units, how = fits[0], f"detected from {stats.describe()}"
    warnings = []
    if len(fits) > 1:
        warnings.append(
            f"The {role} values ({stats.describe()}) could be {' or '.join(fits)}; {units} is "
            f"assumed. If that is wrong, set {parameter}.")
    if units == X10000:
        units, how, more = _offset_units(units, how, offset, stats, parameter)
        warnings += more
    return units, how, warnings


def accepted_units_text(specs: Sequence[InputSpec]) -> str:
    return "; ".join(f"{s.name}: {', '.join(s.accepted_units)}" for s in specs)
