"""Reference values mapped onto predicted ones, and a confusion matrix streamed block by block.

Class values are the raster values themselves (any integers); the matrix is over the sorted
values that occur in either map, row = reference, column = prediction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import confusion_matrix, metrics_from_confusion


class EvaluationError(ValueError):
    """Bad inputs, with a message that tells the user what to change."""


_PAIR_RE = re.compile(r"^\s*(-?\d+)\s*(?:->|=>|:|=)\s*(-?\d+)\s*$")


def parse_class_mapping(text: str | None) -> dict[int, int]:
    """`"10:1, 20:2"` (also `10->1`, `10=1`, separated by commas, semicolons or new lines) as
    {reference value: predicted value}. Empty text: no mapping."""
    mapping: dict[int, int] = {}
    if not text or not text.strip():
        return mapping
    for item in re.split(r"[,;\n]+", text):
        if not item.strip():
            continue
        match = _PAIR_RE.match(item)
        if not match:
            raise EvaluationError(
                f"Class mapping item '{item.strip()}' is not 'reference value:predicted value' "
                "(for example '10:1, 20:2')."
            )
        ref, pred = int(match.group(1)), int(match.group(2))
        if ref in mapping and mapping[ref] != pred:
            raise EvaluationError(f"Class mapping gives reference value {ref} twice.")
        mapping[ref] = pred
    return mapping


def mapping_from_table(cells: Sequence[Any] | None) -> dict[int, int]:
    """A flat [ref, pred, ref, pred, ...] list, as a Processing matrix parameter gives it."""
    norm = [_cell(c) for c in (cells or [])]
    if all(c is None for c in norm):
        return {}  # an unset matrix parameter comes as [NULL]
    if len(norm) % 2:
        raise EvaluationError("The class mapping table needs two columns: reference, predicted.")
    mapping: dict[int, int] = {}
    for ref, pred in zip(norm[::2], norm[1::2], strict=True):
        if ref is None and pred is None:
            continue  # an empty row the dialog leaves behind
        if ref is None or pred is None:
            raise EvaluationError("A class mapping table row has only one value.")
        if mapping.get(ref, pred) != pred:
            raise EvaluationError(f"Class mapping gives reference value {ref} twice.")
        mapping[ref] = pred
    return mapping


def _cell(c: Any) -> int | None:
    """A table cell as an integer class value; None, NULL and '' are empty."""
    text = "" if c is None else str(c).strip()
    if text in ("", "NULL", "None"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise EvaluationError(f"Class mapping value '{text}' is not a number.") from None
    if not value.is_integer():
        raise EvaluationError(f"Class mapping value '{text}' is not an integer class value.")
    return int(value)


def apply_mapping(values: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """Reference values replaced through the mapping; values not listed stay as they are."""
    if not mapping:
        return values
    out = values.copy()
    for ref, pred in mapping.items():
        out[values == ref] = pred  # compare with the original: chains like 1:2, 2:3 stay 1->2
    return out


def class_label(value: int, class_names: Mapping[int, str] | None) -> str:
    name = (class_names or {}).get(value)
    return name if name else f"class {value}"


@dataclass
class StreamingConfusion:
    """Confusion matrix over class values discovered block by block.

    Counting itself is `metrics.confusion_matrix` on indices into the sorted value list, which
    grows (and the matrix with it) when a block brings a new value.
    """

    mapping: Mapping[int, int] = field(default_factory=dict)
    ignore_value: int | None = None
    values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    ignored_pixels: int = 0

    def _grow(self, new_values: np.ndarray) -> None:
        merged = np.union1d(self.values, new_values)
        if merged.size == self.values.size:
            return
        grown = np.zeros((merged.size, merged.size), np.int64)
        pos = np.searchsorted(merged, self.values)
        grown[np.ix_(pos, pos)] = self.matrix
        self.values, self.matrix = merged, grown

    def update(
        self, reference: np.ndarray, prediction: np.ndarray, valid: np.ndarray | None = None
    ) -> None:
        """Add one block. `valid` (bool, same shape) marks pixels usable in both rasters."""
        ref = np.asarray(reference)
        pred = np.asarray(prediction)
        if ref.shape != pred.shape:
            raise EvaluationError(f"reference {ref.shape} and prediction {pred.shape} differ")
        ok = np.ones(ref.shape, bool) if valid is None else np.asarray(valid, bool).copy()
        # Float rasters: NaN is missing, values are rounded to the class integers.
        if np.issubdtype(ref.dtype, np.floating):
            ok &= np.isfinite(ref)
            ref = np.rint(np.where(ok, ref, 0))
        if np.issubdtype(pred.dtype, np.floating):
            ok &= np.isfinite(pred)
            pred = np.rint(np.where(ok, pred, 0))
        ref = ref.astype(np.int64, copy=False)
        pred = pred.astype(np.int64, copy=False)
        if self.ignore_value is not None:
            ok &= ref != self.ignore_value
        ref = apply_mapping(ref, self.mapping)
        if self.ignore_value is not None:
            ok &= ref != self.ignore_value
        n_ok = int(ok.sum())
        self.ignored_pixels += int(ok.size - n_ok)
        if n_ok == 0:
            return
        ref, pred = ref[ok], pred[ok]
        self._grow(np.union1d(np.unique(ref), np.unique(pred)))
        k = self.values.size
        self.matrix += confusion_matrix(
            np.searchsorted(self.values, ref), np.searchsorted(self.values, pred), k,
            ignore_index=None,
        )

    def metrics(self, class_names: Mapping[int, str] | None = None) -> dict[str, Any]:
        """The training side's metric dict, plus `class_values`."""
        names = [class_label(int(v), class_names) for v in self.values]
        result = metrics_from_confusion(self.matrix, names)
        result["class_values"] = [int(v) for v in self.values]
        result["ignored_pixels"] = self.ignored_pixels
        return result
