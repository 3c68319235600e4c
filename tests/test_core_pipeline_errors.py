"""Bad inputs and cancellation: a clear error each time, and no output file left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.toy_model import build_toy_model, geographic_scene, write_raster
from upseg_qgis.core.contract.metadata import MetadataError
from upseg_qgis.core.engine.session import ModelError
from upseg_qgis.core.inputs.bands import BandSelectionError
from upseg_qgis.core.raster.gdal_errors import RasterError
from upseg_qgis.core.run.pipeline import (
    CancelledError,
    InputOptions,
    Reporter,
    RuntimeOptions,
    TilingOptions,
    segment,
)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("errors")
    opt, sar = geographic_scene(d, width=100, height=80)
    return {"optical": opt, "sar": sar, "model": build_toy_model(d / "toy.onnx")}


def _nothing_left(folder: Path, name: str = "out") -> None:
    assert not any(folder.glob(f"{name}*")), sorted(folder.iterdir())


def test_corrupt_onnx_leaves_nothing(scene: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "out.tif"),
                model=str(bad), runtime=RuntimeOptions(device="cpu"))
    _nothing_left(tmp_path)


def test_onnx_without_metadata_leaves_nothing(scene: dict[str, Path], tmp_path: Path) -> None:
    plain = build_toy_model(tmp_path / "plain.onnx", metadata=False)
    with pytest.raises(MetadataError, match="python -m model_export export"):
        segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "out.tif"),
                model=str(plain), runtime=RuntimeOptions(device="cpu"))
    _nothing_left(tmp_path)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("a_file.txt/out.tif", "does not exist"),
        ("no_such_dir/out.tif", "does not exist"),
        ("out.png", "must be a GeoTIFF"),
    ],
)
def test_unwritable_output(scene: dict[str, Path], tmp_path: Path, name: str, match: str) -> None:
    (tmp_path / "a_file.txt").write_text("x")
    with pytest.raises(RasterError, match=match):
        segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / name),
                model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
    _nothing_left(tmp_path)


def test_output_that_gdal_cannot_create(scene: dict[str, Path]) -> None:
    with pytest.raises(RasterError, match="Choose an output folder you can write to"):
        segment(str(scene["optical"]), str(scene["sar"]), "/proc/upseg_out.tif",
                model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))


def test_output_may_not_overwrite_an_input(scene: dict[str, Path]) -> None:
    with pytest.raises(RasterError, match="overwrite an input"):
        segment(str(scene["optical"]), str(scene["sar"]), str(scene["optical"]),
                model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))


def test_wrong_band_count(scene: dict[str, Path], tmp_path: Path) -> None:
    two = write_raster(tmp_path / "two.tif", np.ones((2, 80, 100), np.uint8))
    with pytest.raises(BandSelectionError, match="has only 2"):
        segment(str(two), str(scene["sar"]), str(tmp_path / "out.tif"), model=str(scene["model"]),
                runtime=RuntimeOptions(device="cpu"))
    with pytest.raises(BandSelectionError, match="OPTICAL_BANDS lists 2"):
        segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "out.tif"),
                model=str(scene["model"]), inputs=InputOptions(optical_bands=[1, 2]),
                runtime=RuntimeOptions(device="cpu"))
    _nothing_left(tmp_path)


def test_cancel_after_first_batch_removes_partial_output(
    scene: dict[str, Path], tmp_path: Path
) -> None:
    calls: list[float] = []
    seen_partial: list[bool] = []

    def progress(fraction: float, _msg: str) -> None:
        calls.append(fraction)
        # While running, only a temporary file exists, never the final name.
        seen_partial.append(any(tmp_path.glob("out.*.partial.tif")))
        assert not (tmp_path / "out.tif").exists()

    with pytest.raises(CancelledError, match="partial output was removed"):
        segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "out.tif"),
                model=str(scene["model"]), confidence=str(tmp_path / "out_conf.tif"),
                tiling=TilingOptions(tile_size=32, overlap=4, batch_size=2),
                runtime=RuntimeOptions(device="cpu"),
                report=Reporter(progress=progress, is_cancelled=lambda: len(calls) >= 1))
    assert len(calls) == 1 and calls[0] < 0.5 and seen_partial == [True]
    _nothing_left(tmp_path)


def test_failure_mid_run_removes_partial_output(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upseg_qgis.core.engine import session

    calls = {"n": 0}
    real_run = session.LoadedModel.run

    def flaky(self: session.LoadedModel, o: np.ndarray, s: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated GPU out of memory")
        return real_run(self, o, s)

    monkeypatch.setattr(session.LoadedModel, "run", flaky)
    with pytest.raises(RuntimeError, match="simulated"):
        segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "out.tif"),
                model=str(scene["model"]),
                tiling=TilingOptions(tile_size=32, overlap=4, batch_size=2),
                runtime=RuntimeOptions(device="cpu"))
    _nothing_left(tmp_path)


def test_success_replaces_an_old_output(scene: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    out.write_bytes(b"old")
    (tmp_path / "out.tif.aux.xml").write_text("<PAMDataset/>")
    r = segment(str(scene["optical"]), str(scene["sar"]), str(out), model=str(scene["model"]),
                runtime=RuntimeOptions(device="cpu"))
    assert out.stat().st_size > 100 and r.output == str(out)
    assert not list(tmp_path.glob("*.partial.tif*"))


def test_missing_embedded_model_says_what_to_do(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upseg_qgis.core.engine import session

    monkeypatch.setattr(session, "DEFAULT_MODEL", tmp_path / "missing" / "upseg_default.onnx")
    with pytest.raises(ModelError, match="embedded default model is missing.*set MODEL"):
        segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "out.tif"),
                runtime=RuntimeOptions(device="cpu"))
    _nothing_left(tmp_path)


@pytest.mark.parametrize("exceptions", [True, False])
def test_errors_are_the_same_whatever_gdal_exception_mode(
    scene: dict[str, Path], tmp_path: Path, exceptions: bool
) -> None:
    """Another plugin may have called gdal.UseExceptions(); the core must not care."""
    from tests.gdal_modes import exception_modes, set_exception_modes

    before = exception_modes()
    set_exception_modes([exceptions, before[1], before[2]] if exceptions else [False] * 3)
    try:
        far = write_raster(tmp_path / "far.tif", np.full((1, 9, 9), -9, np.float32),
                           (60.0, 1e-4, 0, 10.0, 0, -1e-4))
        with pytest.raises(RasterError, match="does not overlap"):
            segment(str(scene["optical"]), str(far), str(tmp_path / "out.tif"),
                    model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
        with pytest.raises(RasterError, match="Choose an output folder"):
            segment(str(scene["optical"]), str(scene["sar"]), "/proc/upseg_x.tif",
                    model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
        with pytest.raises(RasterError, match="GDAL can read"):
            segment(str(tmp_path / "nope.tif"), str(scene["sar"]), str(tmp_path / "out.tif"),
                    model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
        r = segment(str(scene["optical"]), str(scene["sar"]), str(tmp_path / "ok.tif"),
                    model=str(scene["model"]), runtime=RuntimeOptions(device="cpu"))
        assert Path(r.output).is_file()
    finally:
        set_exception_modes(before)
    _nothing_left(tmp_path)
