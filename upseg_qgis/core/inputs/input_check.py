"""Does a layer look like the data the model was trained on?

Units can be detected right and still be wrong for the model (VH where it expects VV, dB x 10,
linear values declared as dB, reflectance declared as x10000): the conversion then maps the
layer somewhere the model has never been. The model's metadata carries, per band, the range of
the median and of the interquartile spread of its training patches in its own units
(``inputs.*.statistics``); this compares the layer's sampled values, converted exactly as the
pipeline will convert them, against those ranges. Pure numpy: no QGIS, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract.metadata import InputSpec

# Slack around the training range, as a share of the clip range: training augments brightness,
# and a scene's median legitimately strays a little beyond every training patch's.
MEDIAN_SLACK = 0.1
# A spread below half the flattest training patch's (e.g. everything saturated at one value) or
# above twice the widest is not the training data.
SPREAD_FACTOR = 2.0


@dataclass(frozen=True)
class BandCheck:
    band: str
    median: float
    spread: float
    median_range: tuple[float, float]  # of the training patches
    spread_range: tuple[float, float]
    median_slack: float  # how far beyond the median range still passes

    @property
    def unlike(self) -> bool:
        lo, hi = self.median_range[0] - self.median_slack, self.median_range[1] + self.median_slack
        s_lo, s_hi = self.spread_range[0] / SPREAD_FACTOR, self.spread_range[1] * SPREAD_FACTOR
        return not (lo <= self.median <= hi and s_lo <= self.spread <= s_hi)

    def describe(self) -> str:
        return (f"{self.band}: median {self.median:.3g} (training {self.median_range[0]:.3g} to "
                f"{self.median_range[1]:.3g}), spread {self.spread:.3g} (training "
                f"{self.spread_range[0]:.3g} to {self.spread_range[1]:.3g})")


def band_checks(spec: InputSpec, raw: np.ndarray, units: str) -> list[BandCheck]:
    """One check per band of ``raw`` ([C, ...] sampled values in ``units``, NaN = missing);
    empty when the model has no training statistics or the sample no valid value."""
    stats = spec.statistics
    if stats is None:
        return []
    native = np.clip(spec.conversion_for(units).apply(raw), *spec.clip)
    lo, hi = spec.clip
    out = []
    for b, band in enumerate(spec.bands):
        v = native[b].ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        out.append(BandCheck(
            band=band.description, median=float(q50), spread=float(q75 - q25),
            median_range=(stats.median_low[b], stats.median_high[b]),
            spread_range=(stats.spread_low[b], stats.spread_high[b]),
            median_slack=MEDIAN_SLACK * (hi - lo)))
    return out


def unlike_training_warning(spec: InputSpec, raw: np.ndarray, units: str, role: str,
                            parameter: str) -> str | None:
    """A warning when any band of the layer lies far outside the training data, else None."""
    bad = [c for c in band_checks(spec, raw, units) if c.unlike]
    if not bad:
        return None
    return (f"The {role} values look unlike the training data: check {parameter} (now "
            f"{units}) and the selected bands. In the model's units after conversion, "
            + "; ".join(c.describe() for c in bad) + ". The result may be wrong.")
