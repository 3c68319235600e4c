"""upseg:segment_region: headless through qgis_process, and in-process with cancel and rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.region_scenes import read, real_scenes, seg
from tests.toy_model import build_toy_model, geographic_scene

ALG = "upseg:segment_region"


def test_segment_region_in_qgis_process(qgis_process: Any, shared_data: Path, tmp_path: Path,
                                        qgis_app: Any) -> None:
    sc = real_scenes(shared_data, tmp_path)
    folder = tmp_path / "more_s2"  # two scenes as files, two as a folder
    folder.mkdir()
    for p in sc["optical"][2:]:
        shutil.move(p, folder / Path(p).name)
    out, conf = tmp_path / "region.tif", tmp_path / "region_conf.tif"
    params = {"OPTICAL": sc["optical"][:2], "OPTICAL_FOLDER": folder,
              "SAR_FOLDER": Path(sc["sar"][0]).parent, "TILE_SIZE": 128, "OVERLAP": 16,
              "WINDOW_SIZE": 200, "DEVICE": "cpu", "OUTPUT": out, "OUTPUT_CONFIDENCE": conf}
    args = ["--json", "run", ALG, "--"]
    for k, v in params.items():
        args += [f"{k}={item}" for item in (v if isinstance(v, list) else [v])]
    proc = qgis_process(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert doc["results"]["OUTPUT"] == str(out)
    assert (int(doc["results"]["WINDOWS"]), int(doc["results"]["WINDOWS_RUN"])) == (9, 9)
    log = "\n".join(doc["log"]["info"])
    assert "4 optical and 2 SAR scene(s)" in log
    assert "upseg_qgis.core.cli region --optical" in log and "--scheduler tcp://" in log
    ref = seg(sc["s2"], sc["s1"], tmp_path / "ref.tif", confidence=tmp_path / "rc.tif",
              tile=128, overlap=16)
    np.testing.assert_array_equal(read(out), read(ref.output))
    # Classes bit for bit; confidence to 1e-6: the default model's per-tile reductions (tile
    # contrast) round differently in ONNX Runtime for a batch of 1 and of 2 tiles (logits within
    # 1e-6, measured), and windows batch their tiles differently from one run.
    np.testing.assert_allclose(read(conf), read(ref.confidence), rtol=0, atol=1e-6)
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(out), "region")  # styled by the .qml beside it
    assert layer.renderer().type() == "paletted"
    assert [(int(c.value), c.label) for c in layer.renderer().classes()] == [
        (0, "not water"), (1, "water")]


def _feedback(cancel_at_first_progress: bool) -> Any:
    from qgis.core import QgsProcessingFeedback

    class Recorder(QgsProcessingFeedback):
        def setProgress(self, progress: float) -> None:  # noqa: N802
            super().setProgress(progress)
            if cancel_at_first_progress and progress > 0:
                self.cancel()

    return Recorder()


@pytest.mark.usefixtures("upseg_provider")
def test_cancel_then_run_again_finishes_only_the_rest(tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsProcessingException

    opt, sar = geographic_scene(tmp_path, width=200, height=100)
    model = build_toy_model(tmp_path / "toy.onnx")
    params = {"OPTICAL": [str(opt)], "SAR": [str(sar)], "MODEL": str(model), "DEVICE": "cpu",
              "WINDOW_SIZE": 50, "OUTPUT": str(tmp_path / "out.tif")}
    with pytest.raises(QgsProcessingException, match="Cancelled. The finished windows are kept"):
        processing.run(ALG, params, feedback=_feedback(True))
    assert not (tmp_path / "out.tif").exists()
    res = processing.run(ALG, params, feedback=_feedback(False))
    assert (res["WINDOWS"], res["WINDOWS_RUN"]) == (8, 7)
    ref = seg(opt, sar, tmp_path / "ref.tif", model=model)
    np.testing.assert_array_equal(read(res["OUTPUT"]), read(ref.output))


def test_registered_with_advanced_parameters_and_help(upseg_provider: Any) -> None:
    from qgis.core import QgsApplication

    from upseg_qgis.plugin import qt_compat as qt

    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert alg is not None and alg.group() == "Segmentation"
    advanced = {p.name() for p in alg.parameterDefinitions()
                if p.flags() & qt.PARAMETER_ADVANCED}
    assert advanced == {"OPTICAL_BANDS", "SAR_BANDS", "OPTICAL_UNITS", "SAR_UNITS",
                        "TILE_SIZE", "OVERLAP", "BATCH_SIZE", "WINDOW_SIZE", "DEVICE",
                        "RESTART"}
    help_text = alg.shortHelpString()
    assert "same parameters" in help_text and "Dask cluster" in help_text
