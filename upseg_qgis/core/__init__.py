"""Inference core: plain Python + numpy + GDAL + ONNX Runtime; no QGIS, no torch.

    contract/  the model's metadata contract (what an exported .onnx says about itself); the one
               part the training side imports
    raster/    GDAL access: grids, reading, sampling, warping, writing, commits, styling
    inputs/    the optical and SAR layers: band choice, units, product offsets, input checks
    engine/    ONNX Runtime: session and providers, GPU probe, batched inference, TTA
    run/       segment(): options, plan, tiling, streaming stages, blending, threads, result
    region/    segment_region(): many scenes or one huge mosaic, cut into resumable windows
    models/    model distribution: catalogues, download, checksums, the local store, resolving
    accuracy/  accuracy assessment: confusion matrix, metrics, HTML report
    locks.py   one lock format (host, PID, start time) for downloads, region jobs and commits
    cli.py     the command line (python -m upseg_qgis.core.cli)

The public API is below; names load on first use, so importing a subpackage stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "segment": "run.pipeline",
    "CORE_ERRORS": "run.pipeline",
    "CancelledError": "run.reporting",
    "InputOptions": "run.options",
    "RuntimeOptions": "run.options",
    "TilingOptions": "run.options",
    "SegmentResult": "run.result",
    "segment_region": "region.run",
    "RegionError": "region.run",
    "resolve_model": "models.resolve",
    "ModelNotFoundError": "models.resolve",
    "MetadataError": "contract.metadata",
    "ModelError": "engine.session",
    "DeviceError": "engine.session",
    "InferenceError": "engine.inference",
    "RasterError": "raster.gdal_errors",
    "BandSelectionError": "inputs.bands",
    "UnitsError": "inputs.units",
    "TilingError": "run.tiling",
    "EvaluationError": "accuracy.confusion",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
