"""Which raster bands feed which model input band: the user's choice, else the band names.

Band names come from descriptions, naming metadata items or colour interpretation
(`reading.band_labels`). Without names, the file order is taken only where it is the one
possible reading (as many bands as the model takes), and a warning names the order assumed;
any other case is refused with a message that says which parameter to set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..contract.metadata import InputSpec
from ..raster.reading import is_generic_label


class BandSelectionError(ValueError):
    """The layer's bands cannot feed the model input; the message says what to do."""


@dataclass(frozen=True)
class BandSelection:
    bands: tuple[int, ...]  # 1-based raster band numbers, in the model's order
    how: str  # "user", "descriptions" or "file order"
    warnings: tuple[str, ...] = field(default=())

    def describe(self, role: str, labels: Sequence[str]) -> str:
        names = [
            f"{b} ({labels[b - 1]})" if b - 1 < len(labels) and labels[b - 1] else str(b)
            for b in self.bands
        ]
        return f"{role} bands {', '.join(names)} (chosen by {self.how})"


def _expected(spec: InputSpec) -> str:
    return ", ".join(b.name for b in spec.bands)


def _user_bands(requested: Sequence[int], count: int, spec: InputSpec, role: str,
                parameter: str) -> BandSelection:
    bands = tuple(int(b) for b in requested)
    need = spec.band_count
    if len(bands) != need:
        raise BandSelectionError(
            f"The model's {role} input takes {need} band(s) ({_expected(spec)}) but "
            f"{parameter} lists {len(bands)}. Give exactly {need} band number(s) in that "
            f"order, or leave {parameter} empty to choose them from the band descriptions."
        )
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise BandSelectionError(
            f"{parameter} names band(s) {', '.join(map(str, bad))}, but the {role} layer has "
            f"{count} band(s)."
        )
    return BandSelection(bands, "user")


def _by_name(labels: Sequence[str], spec: InputSpec) -> tuple[int, ...] | None:
    """Each model band found under exactly one label, or None."""
    found: list[int] = []
    for info in spec.bands:
        hits = [i + 1 for i, label in enumerate(labels) if label and info.matches(label)]
        if len(hits) != 1:
            return None
        found.append(hits[0])
    return tuple(found) if len(set(found)) == len(found) else None


def select_bands(
    labels: Sequence[str],
    spec: InputSpec,
    requested: Sequence[int] | None = None,
    role: str = "optical",
    parameter: str = "OPTICAL_BANDS",
) -> BandSelection:
    """Raster band numbers for `spec`, given the layer's band labels (see the module docstring).

    requested: the user's band numbers (1-based), used as given after checks.
    """
    count, need = len(labels), spec.band_count
    if requested:
        return _user_bands(requested, count, spec, role, parameter)
    found = _by_name(labels, spec)
    if found is not None:
        return BandSelection(found, "descriptions")
    if count < need:
        raise BandSelectionError(
            f"The model's {role} input takes {need} band(s) ({_expected(spec)}) but the {role} "
            f"layer has only {count}. Choose a layer with those bands, or a model made for "
            "this layer's bands."
        )
    named = [f"{i + 1} ({label})" for i, label in enumerate(labels) if not is_generic_label(label)]
    if named or count > need:
        what = (f"its bands are named {', '.join(named)}" if named
                else f"it has {count} bands without names")
        raise BandSelectionError(
            f"Cannot tell which bands of the {role} layer are the model's {_expected(spec)}: "
            f"{what}. Set {parameter} to the band numbers holding {_expected(spec)}, in that "
            "order (or give the bands descriptions such as B4, VV)."
        )
    bands = tuple(range(1, need + 1))
    assumed = ", ".join(f"band {b} as {info.name}" for b, info in zip(bands, spec.bands,
                                                                        strict=True))
    warning = (
        f"The {role} layer's bands have no names, so they are taken in file order: {assumed}. "
        f"If the file holds them in another order (e.g. B2, B3, B4 instead of B4, B3, B2, or "
        f"VH before VV), the result is wrong: set {parameter}."
    )
    return BandSelection(bands, "file order", (warning,))
