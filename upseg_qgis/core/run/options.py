"""What a caller of `segment()` may set, grouped by what it is about. Every field defaults to
"what the model's metadata or the machine says" (see `defaults`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..engine.tta import MODES as TTA_MODES


@dataclass(frozen=True)
class InputOptions:
    """Which bands, in which units, over which area.

    bands: 1-based band numbers in the model's order (None: from the band names).
    units: "auto" or one of metadata.INPUT_UNITS.
    extent: (xmin, ymin, xmax, ymax) in the optical layer's CRS (None: the whole layer).
    """

    optical_bands: Sequence[int] | None = None
    sar_bands: Sequence[int] | None = None
    optical_units: str = "auto"
    sar_units: str = "auto"
    extent: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class TilingOptions:
    """tile_size, overlap: None = the model's metadata (tiling.*; see
    defaults.default_tile_size); batch_size: None = the model's tiling.batch_size if any, else
    defaults.default_batch_size; chunk_width: columns processed at a time (None:
    DEFAULT_CHUNK_WIDTH), memory follows it."""

    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int | None = None
    chunk_width: int | None = None


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how the model runs.

    device: auto, cuda, tensorrt or cpu; strict_device: DeviceError instead of CPU fallback.
    threads: CPU threads for the model (None: every available core); see cpu_threading.
    parallel_runs: batches in the model at once, each ONNX Runtime run in its own thread with
        threads / parallel_runs intra-op threads (None: defaults.cpu_threading; CPU only).
    prefetch: read ahead and blend/write behind the model in two background threads
        (None: DEFAULT_PREFETCH).
    tta: test-time augmentation, "none" or "flips" (`tta.py`: every tile also flipped three
        ways, logits averaged; 4x the model time).
    """

    device: str = "auto"
    strict_device: bool = False
    threads: int | None = None
    parallel_runs: int | None = None
    prefetch: bool | None = None
    tta: str = "none"

    def __post_init__(self) -> None:
        if self.tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {TTA_MODES}, got {self.tta!r}")
