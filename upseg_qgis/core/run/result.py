"""What `segment()` returns: the files written, what ran, and how long each stage took."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..contract.metadata import ClassInfo


@dataclass
class SegmentResult:
    output: str
    confidence: str | None
    qml: str
    provider: str  # the execution provider that actually ran
    providers: list[str]
    tile_count: int
    batch_count: int
    tile_size: tuple[int, int]
    overlap: int
    batch_size: int
    width: int
    height: int
    geotransform: tuple[float, ...] | None
    crs_wkt: str
    optical_bands: tuple[int, ...]
    sar_bands: tuple[int, ...]
    optical_units: str
    sar_units: str
    sar_resampled: bool
    valid_fraction: float
    seconds: float
    classes: tuple[ClassInfo, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # With prefetch, read/warp/normalise run in a reader thread alongside inference, so the
    # stage times add up to more than `seconds`; `input_wait` is how long the model waited.
    prefetch: bool = False
    input_wait: float = 0.0
    threads: int | None = None  # ONNX Runtime intra-op threads (None: its default)
    parallel_runs: int = 1  # ONNX Runtime runs at once

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / max(self.seconds, 1e-9)

    def summary(self) -> list[str]:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
        lines = [
            f"Execution provider: {self.provider}",
            f"Tiles: {self.tile_count} of {self.tile_size[0]}x{self.tile_size[1]} px, overlap "
            f"{self.overlap}, {self.batch_count} batch(es) of up to {self.batch_size}",
            f"Output: {self.width}x{self.height} px, {self.valid_fraction:.1%} with data",
            f"Time: {self.seconds:.2f} s, {self.megapixels_per_second:.3f} Mpx/s ({stages})",
        ]
        if self.parallel_runs > 1 or self.threads:
            lines.append(
                f"ONNX Runtime: {self.parallel_runs} run(s) at once, "
                f"{self.threads or 'default'} intra-op thread(s) each"
            )
        if self.prefetch:
            lines.append(
                "Reading, warping and normalising (and blending, writing) ran in background "
                f"threads alongside inference; the model waited {self.input_wait:.2f} s for input."
            )
        return lines

    def timing_record(self) -> dict[str, object]:
        """What a benchmark needs, JSON-ready."""
        return {
            "seconds": round(self.seconds, 4),
            "megapixels": round(self.width * self.height / 1e6, 4),
            "megapixels_per_second": round(self.megapixels_per_second, 4),
            "tile_count": self.tile_count,
            "tile_size": list(self.tile_size),
            "overlap": self.overlap,
            "batch_size": self.batch_size,
            "provider": self.provider,
            "threads": self.threads,
            "parallel_runs": self.parallel_runs,
            "prefetch": self.prefetch,
            "input_wait": round(self.input_wait, 4),
            "timings": dict(self.timings),
        }
