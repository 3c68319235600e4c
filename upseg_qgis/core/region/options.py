"""What a caller of `segment_region()` may set beyond `segment()`'s options."""

from __future__ import annotations

from dataclasses import dataclass

from .executors import DEFAULT_RETRIES
from .plan import DEFAULT_WINDOW_SIZE


@dataclass(frozen=True)
class RegionOptions:
    """How the region is cut and run.

    window_size: output pixels per window side. scheduler: None runs the windows in this
    process; "local" / "local:N" starts a LocalCluster of N worker processes on loopback TCP;
    "tcp://host:port" uses an existing Dask cluster. workers: N for "local". retries: further
    attempts per failed window. overwrite: replace an existing output (or a work folder of
    another job). restart: discard finished windows. keep_work: keep the work folder (tiles,
    manifest) after a COG has been written.
    """

    window_size: int = DEFAULT_WINDOW_SIZE
    scheduler: str | None = None
    workers: int | None = None
    retries: int = DEFAULT_RETRIES
    overwrite: bool = False
    restart: bool = False
    keep_work: bool = False
