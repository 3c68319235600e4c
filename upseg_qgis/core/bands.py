"""Which raster bands feed which model input band, from band descriptions or the user's choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .metadata import InputSpec


class BandSelectionError(ValueError):
    """The layer's bands cannot feed the model input; the message says what to do."""


@dataclass(frozen=True)
class BandSelection:
    bands: tuple[int, ...]  # 1-based raster band numbers, in the model's order
    how: str  # "user", "descriptions" or "first bands"
    warnings: tuple[str, ...] = field(default=())

    def describe(self, role: str, labels: Sequence[str]) -> str:
        names = [
            f"{b} ({labels[b - 1]})" if b - 1 < len(labels) and labels[b - 1] else str(b)
            for b in self.bands
        ]
        return f"{role} bands {', '.join(names)} (chosen by {self.how})"


def _expected(spec: InputSpec) -> str:
    return ", ".join(b.name for b in spec.bands)


def select_bands(
    labels: Sequence[str],
    spec: InputSpec,
    requested: Sequence[int] | None = None,
    role: str = "optical",
    parameter: str = "OPTICAL_BANDS",
) -> BandSelection:
    """Raster band numbers for `spec`, given the layer's band labels (descriptions).

    requested: the user's band numbers (1-based), used as given after checks. Otherwise each
    model band is looked up by name/alias among the descriptions; if any is not found, the
    first bands are used and a warning says so.
    """
    count = len(labels)
    need = spec.band_count
    if requested:
        bands = tuple(int(b) for b in requested)
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
    found: list[int] = []
    for info in spec.bands:
        hits = [i + 1 for i, label in enumerate(labels) if label and info.matches(label)]
        if len(hits) != 1:
            break
        found.append(hits[0])
    if len(found) == need and len(set(found)) == need:
        return BandSelection(tuple(found), "descriptions")
    if count < need:
        raise BandSelectionError(
            f"The model's {role} input takes {need} band(s) ({_expected(spec)}) but the {role} "
            f"layer has only {count}. Choose a layer with those bands, or a model made for "
            "this layer's bands."
        )
    bands = tuple(range(1, need + 1))
    warnings: tuple[str, ...] = ()
    if count > need:
        warnings = (
            f"The {role} layer's band descriptions do not name the model's bands "
            f"({_expected(spec)}), so its first {need} band(s) are used. If that is wrong, set "
            f"{parameter}.",
        )
    return BandSelection(bands, "first bands", warnings)
