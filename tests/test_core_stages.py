"""Each stage of segment() on its own: plan, open/align, normalise, infer, blend."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.toy_model import build_toy_model, geographic_scene, toy_metadata, write_raster
from upseg_qgis.core.contract.parsing import parse_metadata
from upseg_qgis.core.engine.inference import InferenceError, ModelRunner, describe_run_error
from upseg_qgis.core.engine.session import ModelError
from upseg_qgis.core.inputs import layers as inputs_stage
from upseg_qgis.core.raster.gdal_errors import RasterError
from upseg_qgis.core.run.blend import Blender, classes_and_confidence
from upseg_qgis.core.run.chunks import Chunk, cut_tiles, normalise
from upseg_qgis.core.run.options import InputOptions, TilingOptions
from upseg_qgis.core.run.plan import plan_run
from upseg_qgis.core.run.reporting import CancelledError, Clock, Reporter
from upseg_qgis.core.run.tiling import TilingError

META = parse_metadata(toy_metadata())
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def test_plan_takes_the_model_and_the_device_into_account() -> None:
    plan, warns = plan_run(100, 70, META, CPU, None, TilingOptions())
    lay = plan.layout
    assert (lay.tile_h, lay.tile_w, lay.overlap) == (64, 64, 8) and plan.batch == 2  # CPU
    assert plan.weight.shape == (64, 64) and not warns
    assert plan_run(100, 70, META, CUDA, None, TilingOptions())[0].batch == 4  # GPU
    fixed, warns = plan_run(100, 70, META, CPU, (32, 32), TilingOptions(tile_size=48))
    assert fixed.layout.tile_h == 32 and "TILE_SIZE is ignored" in warns[0]
    narrow = plan_run(400, 70, META, CPU, None, TilingOptions(tile_size=32, overlap=8,
                                                              chunk_width=60))[0]
    assert all(len(c) <= 2 for c in narrow.chunks)  # about 60 px of tiles per chunk
    assert sum(len(c) for c in narrow.chunks) == len(narrow.layout.xs)
    with pytest.raises(ModelError, match="non-square"):
        plan_run(10, 10, META, CPU, (32, 16), TilingOptions())
    with pytest.raises(TilingError, match="BATCH_SIZE"):
        plan_run(10, 10, META, CPU, None, TilingOptions(batch_size=-1))


def test_normalise_marks_missing_pixels_and_zeroes_them() -> None:
    raw = np.array([[[100.0, np.nan], [255.0, 0.0]]] * 3, np.float32)
    arr, valid = normalise(raw, META.optical, "uint8_rendering")
    assert valid.tolist() == [[True, False], [True, True]]
    assert arr[:, 0, 1].tolist() == [0.0, 0.0, 0.0] and arr[0, 0, 0] == 0.0  # mean 100 -> 0
    tiles = cut_tiles(np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5), (10, 13), 10,
                      4, 4)
    assert tiles.shape == (2, 2, 4, 4)
    assert tiles[1, 0, :3, :2].tolist() == [[3, 4], [8, 9], [13, 14]]
    assert not tiles[1, :, :, 2:].any() and not tiles[:, :, 3].any()  # zero padding


def _chunk(n: int, tag: float) -> Chunk:
    return Chunk(y=0, next_y=0, xs=tuple(range(n)), release_x=0, first_in_row=True,
                 last_in_row=True, optical=np.full((n, 3, 4, 4), tag, np.float32),
                 sar=np.zeros((n, 1, 4, 4), np.float32), valid=np.ones((n, 4, 4), bool))


class _EchoModel:
    """Logits whose channel 0 carries the optical input (so order can be checked); the n-th
    call sleeps in reverse order of arrival, so parallel runs finish out of order."""

    provider = CPU

    def __init__(self) -> None:
        self.calls = 0

    def run(self, opt: np.ndarray, sar: np.ndarray) -> np.ndarray:
        import time

        self.calls += 1
        time.sleep(0.05 * (4 - min(self.calls, 4)))
        return np.concatenate([opt[:, :1], opt[:, :1]], axis=1)


@pytest.mark.parametrize("runs", [1, 3])
def test_batches_come_out_in_order_whatever_the_runs(runs: int) -> None:
    chunks = [_chunk(3, float(i)) for i in range(4)]  # 12 tiles, tags 0..3
    runner = ModelRunner(_EchoModel(), batch=5, runs=runs, num_classes=2, clock=Clock(),
                         report=Reporter())
    with runner:
        got = [b for c in chunks for b in runner.add(c)] + list(runner.flush())
    assert [len(items) for items, _ in got] == [5, 5, 2]
    tags = [float(lg[0, 0, 0]) for _, logits in got for lg in logits]
    assert tags == [float(c) for c in range(4) for _ in range(3)]


def test_model_failures_say_what_to_change() -> None:
    class Broken:
        provider = CUDA

        def run(self, *_: object) -> np.ndarray:
            raise RuntimeError("[ONNXRuntimeError] : 6 : Failed to allocate memory for 4 GB")

    runner = ModelRunner(Broken(), 2, 1, 2, Clock(), Reporter())
    with pytest.raises(InferenceError, match="GPU ran out of memory.*DEVICE to cpu"):
        list(runner.add(_chunk(2, 0.0)))
    msg = describe_run_error(ValueError("bad input shape"), CPU)
    assert "model_export export" in msg and "memory" not in msg
    wrong = SimpleNamespace(provider=CPU, run=lambda o, s: np.zeros((1, 5, 4, 4), np.float32))
    with pytest.raises(ModelError, match="logits of shape"):
        list(ModelRunner(wrong, 1, 1, 2, Clock(), Reporter()).add(_chunk(1, 0.0)))


def test_blend_writes_classes_and_confidence_of_the_weighted_logits() -> None:
    logits = np.array([[[0.0, 2.0]], [[1.0, -1.0]]], np.float32)  # K=2, 1x2 px
    classes, conf = classes_and_confidence(logits, np.array([[True, False]]),
                                           np.array([3, 7], np.uint8), 255, True)
    assert classes.tolist() == [[7, 255]]
    assert conf[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0))) and conf[0, 1] == -1.0

    plan, _ = plan_run(6, 4, META, CPU, None, TilingOptions(tile_size=16, overlap=0))
    written: list[tuple[int, int, np.ndarray]] = []
    writer = SimpleNamespace(write_window=lambda r, c, k, f: written.append((r, c, k)))
    blender = Blender(plan, META.classes, 255, writer, False, Clock(), origin=(100, 200))
    chunk = Chunk(y=0, next_y=4, xs=(0,), release_x=6, first_in_row=True, last_in_row=True,
                  optical=np.zeros((1, 3, 16, 16), np.float32),
                  sar=np.zeros((1, 1, 16, 16), np.float32), valid=np.ones((1, 16, 16), bool))
    lg = np.zeros((1, 2, 16, 16), np.float32)
    lg[0, 1, :, 3:] = 1.0  # "water" from column 3 on
    blender.add([(chunk, 0)], lg)
    ((row, col, cls),) = written
    assert (row, col) == (100, 200) and cls.shape == (4, 6)  # at the window's origin
    assert cls[:, :3].max() == 0 and cls[:, 3:].min() == 1 and blender.valid_pixels == 24


def test_open_stages_release_everything_when_they_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opt, sar = geographic_scene(tmp_path, width=20, height=20)
    meta = parse_metadata(toy_metadata())
    made: list[inputs_stage.Layer] = []
    real_layer = inputs_stage._layer

    def spy(*args: object, **kwargs: object) -> inputs_stage.Layer:
        layer = real_layer(*args, **kwargs)  # type: ignore[arg-type]
        made.append(layer)
        return layer

    monkeypatch.setattr(inputs_stage, "_layer", spy)
    missing = str(tmp_path / "missing.tif")
    with pytest.raises(RasterError, match="GDAL can read"), inputs_stage.open_layers(
            str(opt), missing, meta, InputOptions(), Reporter()):
        pass
    assert len(made) == 1 and made[0].ds is None  # the optical layer was let go
    far = write_raster(tmp_path / "far.tif", np.full((1, 9, 9), -9, np.float32),
                       (60.0, 1e-4, 0, 10.0, 0, -1e-4), descriptions=["VV"])
    closed: list[str] = []
    real_close = inputs_stage.StripReader.close
    monkeypatch.setattr(inputs_stage.StripReader, "close",
                        lambda self: (closed.append(self.role), real_close(self)))
    with inputs_stage.open_layers(str(opt), str(far), meta, InputOptions(), Reporter()) as lay, \
            pytest.raises(RasterError, match="does not overlap"), inputs_stage.open_readers(lay):
        pass
    assert closed == ["optical"] and lay.optical.ds is None and lay.sar.ds is None


def test_cancel_is_checked_between_stages(tmp_path: Path) -> None:
    from upseg_qgis.core.run.pipeline import RuntimeOptions, output_exists, segment

    opt, sar = geographic_scene(tmp_path, width=20, height=20)
    with pytest.raises(CancelledError, match="before the first tile"):
        segment(str(opt), str(sar), str(tmp_path / "o.tif"),
                model=str(build_toy_model(tmp_path / "t.onnx")),
                runtime=RuntimeOptions(device="cpu"), report=Reporter(is_cancelled=lambda: True))
    assert not output_exists(tmp_path / "o.tif")


def test_freed_memory_goes_back_between_tile_rows() -> None:
    """On glibc (this machine) malloc_trim is found and called; elsewhere it is a no-op."""
    import platform

    from upseg_qgis.core.run import memory

    assert (memory._trim() is not None) == (platform.libc_ver()[0] == "glibc")
    memory.release_free_memory()  # must not raise, whatever the platform
