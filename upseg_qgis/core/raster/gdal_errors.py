"""GDAL calls that fail with a RasterError, whatever GDAL's exception mode.

The core never calls `gdal.UseExceptions()`: the mode is process-wide (one flag per Python
module, shared by every thread and every plugin in the user's QGIS), so switching it would
change how other plugins' GDAL calls fail. Instead, failures are collected by an error handler
pushed for the duration of one call, and a None result becomes an exception here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from osgeo import gdal

T = TypeVar("T")


class RasterError(RuntimeError):
    """A raster cannot be read, aligned or written; the message says what to do."""


@contextmanager
def gdal_errors() -> Iterator[list[str]]:
    """Collect GDAL failure messages for the calls inside the block (thread-local handler)."""
    messages: list[str] = []

    def handler(err_class: int, _code: int, msg: str) -> None:
        if err_class >= gdal.CE_Failure:
            messages.append(str(msg).strip())

    gdal.PushErrorHandler(handler)
    try:
        yield messages
    finally:
        gdal.PopErrorHandler()


def gdal_call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a GDAL call; None or a failure becomes RasterError naming `what` and GDAL's reason."""
    with gdal_errors() as messages:
        try:
            result = fn(*args, **kwargs)
        except RuntimeError as exc:  # someone else switched on gdal.UseExceptions()
            messages.append(str(exc))
            result = None
    if result is None:
        raise RasterError(f"{what} failed: {failure_reason(messages)}")
    return result


def gdal_status(what: str, fn: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    """Run a GDAL call that returns an error code (CE_None = 0 on success)."""
    with gdal_errors() as messages:
        try:
            code = fn(*args, **kwargs)
        except RuntimeError as exc:
            messages.append(str(exc))
            code = gdal.CE_Failure
    if code not in (None, gdal.CE_None) or messages:
        raise RasterError(f"{what} failed: {failure_reason(messages)}")


def failure_reason(messages: list[str]) -> str:
    return "; ".join(m for m in messages if m) or "GDAL gave no reason"


def gdal_cache_used() -> int:
    """Bytes in GDAL's (process-wide) block cache."""
    return int(gdal.GetCacheUsed())
