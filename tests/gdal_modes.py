"""GDAL's process-wide exception modes, switched the way GDAL allows (a helper, not a test).

gdal, ogr and osr each keep a flag, and up to GDAL 3.6 their "use exceptions" switches push onto
one shared stack of error handlers: switching one off while another module's entry lies above it
raises "Cannot call gdal.DontUseExceptions() at that point". So: off in reverse order, then on.
"""

from __future__ import annotations

from collections.abc import Sequence

from osgeo import gdal, ogr, osr

MODULES = (gdal, ogr, osr)


def exception_modes() -> list[bool]:
    return [bool(m.GetUseExceptions()) for m in MODULES]


def set_exception_modes(states: Sequence[bool]) -> None:
    """States for (gdal, ogr, osr)."""
    pairs = list(zip(MODULES, states, strict=True))
    for m, state in reversed(pairs):
        if not state and m.GetUseExceptions():
            m.DontUseExceptions()
    for m, state in pairs:
        if state and not m.GetUseExceptions():
            m.UseExceptions()
