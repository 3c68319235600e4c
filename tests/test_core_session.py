"""ONNX Runtime session: provider choice (pure logic, tested on the CPU) and model checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.toy_model import build_toy_model, toy_metadata
from upseg_qgis.core.metadata import MetadataError
from upseg_qgis.core.session import (
    CPU,
    CUDA,
    TENSORRT,
    DeviceError,
    ModelError,
    check_providers,
    load_model,
    plan_providers,
)

ALL = [TENSORRT, CUDA, CPU]


def test_plan_providers() -> None:
    assert plan_providers("auto", ALL) == ([CUDA, CPU], [])
    assert plan_providers("auto", [CPU]) == ([CPU], [])
    assert plan_providers("cpu", ALL) == ([CPU], [])
    assert plan_providers("cuda", ALL) == ([CUDA, CPU], [])
    assert plan_providers("tensorrt", ALL) == ([TENSORRT, CUDA, CPU], [])
    providers, warns = plan_providers("cuda", [CPU])
    assert providers == [CPU] and "no CUDAExecutionProvider" in warns[0]
    with pytest.raises(DeviceError, match="no CUDAExecutionProvider"):
        plan_providers("cuda", [CPU], strict=True)
    with pytest.raises(DeviceError, match="DEVICE must be one of"):
        plan_providers("gpu", ALL)


def test_check_providers_fallback_warns_or_fails() -> None:
    # onnxruntime-gpu lists CUDA, but without CUDA/cuDNN the session runs on the CPU.
    warns = check_providers("auto", [CUDA, CPU], [CPU])
    assert warns and "could not run" in warns[0]
    with pytest.raises(DeviceError, match="STRICT_DEVICE"):
        check_providers("cuda", [CUDA, CPU], [CPU], strict=True)
    with pytest.raises(DeviceError):
        check_providers("auto", [CUDA, CPU], [CPU], strict=True)
    assert check_providers("cpu", [CPU], [CPU], strict=True) == []
    assert check_providers("cuda", [CUDA, CPU], [CUDA, CPU], strict=True) == []


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_toy_model(tmp_path_factory.mktemp("session") / "toy.onnx")


def test_load_on_cpu(toy: Path) -> None:
    lm = load_model(toy, "cpu")
    assert lm.providers == [CPU] and lm.provider == CPU and not lm.warnings
    assert lm.metadata.name == "toy_water" and lm.static_hw is None


def test_auto_reports_what_actually_ran(toy: Path) -> None:
    import onnxruntime as ort

    lm = load_model(toy, "auto")
    assert lm.providers == [CPU] or CUDA in ort.get_available_providers()
    if CUDA in ort.get_available_providers() and lm.providers == [CPU]:
        # This machine: CUDA listed, not usable -> CPU with a warning, or an error if strict.
        assert any("could not run" in w for w in lm.warnings)
        with pytest.raises(DeviceError):
            load_model(toy, "cuda", strict=True)


def test_static_shape_is_read(tmp_path: Path) -> None:
    lm = load_model(build_toy_model(tmp_path / "s.onnx", static_hw=(32, 32)), "cpu")
    assert lm.static_hw == (32, 32)


def test_corrupt_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07 this is not a protobuf" * 10)
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_model(bad, "cpu")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_model(bad, "auto")
    text = tmp_path / "model.onnx"
    text.write_text("hello")
    with pytest.raises(ModelError):
        load_model(text, "cpu")
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.onnx", "cpu")


def test_onnx_without_upseg_metadata(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="no 'upseg' metadata"):
        load_model(build_toy_model(tmp_path / "plain.onnx", metadata=False), "cpu")


def test_metadata_that_disagrees_with_the_graph(tmp_path: Path) -> None:
    meta = toy_metadata()
    meta["classes"].append({"value": 2, "name": "cloud", "colour": "#ffffff"})
    with pytest.raises(ModelError, match="2 channels but the metadata lists 3 classes"):
        load_model(build_toy_model(tmp_path / "k.onnx", metadata=meta), "cpu")
    meta = toy_metadata()
    meta["schema_version"] = 99
    with pytest.raises(MetadataError, match="schema version"):
        load_model(build_toy_model(tmp_path / "v.onnx", metadata=meta), "cpu")
