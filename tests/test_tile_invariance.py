"""Memory settings never change the map: a model whose map depends on the tile (`tiling.fixed`)
runs at its own tile size and overlap whatever TILE_SIZE / OVERLAP say, and the user is told."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from upseg_qgis.core.contract.metadata import MetadataError
from upseg_qgis.core.contract.onnx_props import read_model_metadata
from upseg_qgis.core.contract.parsing import parse_metadata
from upseg_qgis.core.engine.session import default_model_path
from upseg_qgis.core.run.options import RuntimeOptions, TilingOptions
from upseg_qgis.core.run.pipeline import segment
from upseg_qgis.core.run.plan import plan_run


def _meta(tiling: dict, architecture: dict | None = None):
    raw = json.loads(read_model_metadata(default_model_path()).to_json())
    raw["tiling"] = tiling
    if architecture is not None:
        raw["model"]["architecture"] = architecture
    return parse_metadata(raw)


def test_fixed_is_read_and_derived_for_older_files() -> None:
    base = {"tile_size": 256, "overlap": 32}
    assert _meta({**base, "fixed": True}).fixed_tiling
    assert not _meta({**base, "fixed": False}, {"input_tile_contrast": True}).fixed_tiling
    assert _meta(base, {"input_tile_contrast": True}).fixed_tiling  # exported before the field
    assert not _meta(base, {"input_tile_contrast": False}).fixed_tiling
    with pytest.raises(MetadataError, match="tiling.fixed"):
        _meta({**base, "fixed": "yes"})


@pytest.mark.parametrize("fixed", [True, False])
def test_plan_keeps_the_models_tiling_when_fixed(fixed: bool) -> None:
    meta = _meta({"tile_size": 256, "overlap": 32, "fixed": fixed})
    plan, warnings = plan_run(1000, 700, meta, "CPUExecutionProvider", None,
                              TilingOptions(tile_size=128, overlap=8, batch_size=2))
    tile = (plan.layout.tile_h, plan.layout.overlap)
    if fixed:
        assert tile == (256, 32)
        assert any("TILE_SIZE 128 and OVERLAP 8 ignored" in w for w in warnings)
    else:
        assert tile == (128, 8) and warnings == []
    _, quiet = plan_run(1000, 700, meta, "CPUExecutionProvider", None,
                        TilingOptions(tile_size=256, batch_size=1))
    assert quiet == []


def _run(shared: Path, out: Path, tiling: TilingOptions) -> tuple[np.ndarray, list[str]]:
    chip = shared / "sen1floods11_sample"
    result = segment(str(chip / "Spain_7370579_S2Hand.tif"), str(chip / "Spain_7370579_S1Hand.tif"),
                     str(out), runtime=RuntimeOptions(device="cpu"), tiling=tiling)
    return gdal.Open(str(out)).ReadAsArray(), list(result.warnings)


def test_default_model_map_does_not_move_with_memory_settings(shared_data: Path,
                                                               tmp_path: Path) -> None:
    """The issue's bound: a tile-size or overlap change moves at most 0.5 % of the chip."""
    ref, _ = _run(shared_data, tmp_path / "ref.tif", TilingOptions())
    for i, opts in enumerate([TilingOptions(tile_size=128), TilingOptions(tile_size=512),
                              TilingOptions(overlap=0), TilingOptions(overlap=64, batch_size=1)]):
        got, warnings = _run(shared_data, tmp_path / f"t{i}.tif", opts)
        assert float(np.mean(got != ref)) <= 0.005, opts
        assert any("ignored" in w and "BATCH_SIZE" in w for w in warnings), warnings
