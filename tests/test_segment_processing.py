"""upseg:segment end to end through `processing.run` (pytest-qgis, offscreen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osgeo import gdal

from tests.toy_model import build_toy_model, geographic_scene, prepared_reference, utm_sar

pytestmark = pytest.mark.usefixtures("upseg_provider")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("segment_processing")
    opt, sar = geographic_scene(d, width=120, height=90)
    return {"optical": opt, "sar": sar, "sar_utm": utm_sar(d, opt),
            "model": build_toy_model(d / "toy.onnx")}


def _run(params: dict[str, Any], feedback: Any = None, context: Any = None) -> dict[str, Any]:
    import processing

    return processing.run("upseg:segment", params, feedback=feedback, context=context)


class _Feedback:
    """A QgsProcessingFeedback that records messages (created lazily: needs QGIS)."""

    @staticmethod
    def make(cancel_after_first_progress: bool = False) -> Any:
        from qgis.core import QgsProcessingFeedback

        class Recorder(QgsProcessingFeedback):
            def __init__(self) -> None:
                super().__init__()
                self.infos: list[str] = []
                self.warnings: list[str] = []
                self.progress_calls = 0

            def pushInfo(self, info: str) -> None:  # noqa: N802
                self.infos.append(info)
                super().pushInfo(info)

            def pushWarning(self, warning: str) -> None:  # noqa: N802
                self.warnings.append(warning)
                super().pushWarning(warning)

            def setProgress(self, progress: float) -> None:  # noqa: N802
                super().setProgress(progress)
                if progress > 0:
                    self.progress_calls += 1
                    if cancel_after_first_progress:
                        self.cancel()

        return Recorder()


def _read(path: str | Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray()


def test_utm_sar_with_confidence_and_styled_output(
    scene: dict[str, Path], tmp_path: Path
) -> None:
    from qgis.core import QgsRasterLayer

    fb = _Feedback.make()
    out, conf = tmp_path / "classes.tif", tmp_path / "confidence.tif"
    res = _run({"OPTICAL": str(scene["optical"]), "SAR": str(scene["sar_utm"]),
                "MODEL": str(scene["model"]), "DEVICE": "cpu", "TILE_SIZE": 48, "OVERLAP": 8,
                "BATCH_SIZE": 2, "OUTPUT": str(out), "OUTPUT_CONFIDENCE": str(conf)}, fb)
    assert res["OUTPUT"] == str(out) and res["OUTPUT_CONFIDENCE"] == str(conf)
    assert res["PROVIDER"] == "CPUExecutionProvider" and res["TILE_COUNT"] == 9
    ref, _, _ = prepared_reference(scene["optical"], scene["sar"])
    assert (_read(out) != ref).mean() < 0.02  # measured 0.53 %: class boundaries only
    assert _read(conf).min() >= 0.5 and _read(conf).max() <= 1.0
    assert any("resampled onto the optical grid" in m for m in fb.infos)
    assert any("Mpx/s" in m for m in fb.infos) and fb.progress_calls == 5
    src, dst = gdal.Open(str(scene["optical"])), gdal.Open(str(out))
    assert dst.GetGeoTransform() == src.GetGeoTransform()
    layer = QgsRasterLayer(str(out), "classes")
    assert layer.isValid() and layer.renderer().type() == "paletted"
    assert [(int(c.value), c.label) for c in layer.renderer().classes()] == [
        (0, "not water"), (1, "water")]


def test_extent_in_another_crs(scene: dict[str, Path], tmp_path: Path) -> None:
    """EXTENT given in UTM is transformed to the optical CRS and snapped to its pixels."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsProject,
        QgsRectangle,
    )

    src = gdal.Open(str(scene["optical"]))
    gt = src.GetGeoTransform()
    geo = QgsRectangle(gt[0] + 20.5 * gt[1], gt[3] + 70.5 * gt[5], gt[0] + 99.5 * gt[1],
                       gt[3] + 10.5 * gt[5])
    xf = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"),
                                QgsCoordinateReferenceSystem("EPSG:32631"), QgsProject.instance())
    utm = xf.transformBoundingBox(geo)
    extent = (f"{utm.xMinimum()},{utm.xMaximum()},{utm.yMinimum()},{utm.yMaximum()} "
              "[EPSG:32631]")
    res = _run({"OPTICAL": str(scene["optical"]), "SAR": str(scene["sar"]),
                "MODEL": str(scene["model"]), "DEVICE": "cpu", "EXTENT": extent,
                "OUTPUT": str(tmp_path / "e.tif")})
    out = gdal.Open(res["OUTPUT"])
    ogt = out.GetGeoTransform()
    # On the optical pixel grid, covering at least the requested window.
    col, row = (ogt[0] - gt[0]) / gt[1], (ogt[3] - gt[3]) / gt[5]
    assert abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6
    assert round(col) <= 20 and round(row) <= 10
    assert round(col) + out.RasterXSize >= 100 and round(row) + out.RasterYSize >= 71
    assert out.RasterXSize < 120 or out.RasterYSize < 90


def test_real_chip_with_default_band_choice(shared_data: Path, tmp_path: Path,
                                            scene: dict[str, Path]) -> None:
    folder = shared_data / "sen1floods11_sample"
    fb = _Feedback.make()
    res = _run({"OPTICAL": str(folder / "Spain_7370579_S2Hand.tif"),
                "SAR": str(folder / "Spain_7370579_S1Hand.tif"), "MODEL": str(scene["model"]),
                "OUTPUT": str(tmp_path / "water.tif")}, fb)
    # DEVICE auto: what ran is reported, and a GPU that cannot run is a warning, not an error.
    assert res["PROVIDER"] == "CPUExecutionProvider"
    text = "\n".join(fb.infos)
    assert "4 (B4), 3 (B3), 2 (B2)" in text and "1 (VV)" in text
    assert "reflectance_x10000" in text and "sar_db" in text
    ds = gdal.Open(res["OUTPUT"])
    src = gdal.Open(str(folder / "Spain_7370579_S2Hand.tif"))
    assert ds.GetGeoTransform() == src.GetGeoTransform()


def _assert_fails(params: dict[str, Any], match: str, folder: Path) -> None:
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=match):
        _run(params)
    assert not list(folder.glob("out*")), sorted(folder.iterdir())


def test_bad_inputs_raise_processing_exceptions(scene: dict[str, Path], tmp_path: Path) -> None:
    from tests.toy_model import write_raster

    base = {"OPTICAL": str(scene["optical"]), "SAR": str(scene["sar"]),
            "MODEL": str(scene["model"]), "DEVICE": "cpu", "OUTPUT": str(tmp_path / "out.tif")}
    far = write_raster(tmp_path / "far.tif", np.full((1, 20, 20), -9, np.float32),
                       (60.0, 1e-4, 0, 10.0, 0, -1e-4))
    _assert_fails({**base, "SAR": str(far)}, "does not overlap", tmp_path)
    _assert_fails({**base, "OPTICAL_BANDS": [1, 2]}, "OPTICAL_BANDS lists 2", tmp_path)
    _assert_fails({**base, "SAR_BANDS": [2]}, "SAR layer has 1 band", tmp_path)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not onnx at all" * 50)
    _assert_fails({**base, "MODEL": str(corrupt)}, "not a readable ONNX model", tmp_path)
    plain = build_toy_model(tmp_path / "plain.onnx", metadata=False)
    _assert_fails({**base, "MODEL": str(plain)}, "no 'upseg' metadata", tmp_path)
    (tmp_path / "a_file").write_text("x")
    _assert_fails({**base, "OUTPUT": str(tmp_path / "a_file" / "out.tif")}, "does not exist",
                  tmp_path)
    _assert_fails({**base, "OUTPUT": "/proc/out.tif"}, "write to", tmp_path)
    _assert_fails({**base, "OVERLAP": 40, "TILE_SIZE": 64}, "less than half", tmp_path)


def test_strict_device_refuses_fallback(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU whose libraries are missing (made so on any machine by the library probe):
    DEVICE=cuda falls back to the CPU with the reason; with STRICT_DEVICE it is an error."""
    from upseg_qgis.core.engine import session

    why = "libcublasLt.so.13: cannot open shared object file (simulated)"
    monkeypatch.setattr(session, "provider_problem", lambda provider, capi: why)
    monkeypatch.setattr(session, "plan_providers", lambda device, available, strict=False: (
        [session.CUDA, session.CPU], []))  # as onnxruntime-gpu lists CUDA
    params = {"OPTICAL": str(scene["optical"]), "SAR": str(scene["sar"]),
              "MODEL": str(scene["model"]), "DEVICE": "cuda",
              "OUTPUT": str(tmp_path / "ok.tif")}
    fb = _Feedback.make()
    lenient = _run(params, fb)
    assert lenient["PROVIDER"] == "CPUExecutionProvider"
    assert [w for w in fb.warnings if why in w]
    _assert_fails({**params, "STRICT_DEVICE": True, "OUTPUT": str(tmp_path / "out.tif")},
                  "STRICT_DEVICE.*libcublasLt", tmp_path)


def test_cancel_after_first_batch(scene: dict[str, Path], tmp_path: Path) -> None:
    from qgis.core import QgsProcessingException

    fb = _Feedback.make(cancel_after_first_progress=True)
    with pytest.raises(QgsProcessingException, match="cancelled"):
        _run({"OPTICAL": str(scene["optical"]), "SAR": str(scene["sar"]),
              "MODEL": str(scene["model"]), "DEVICE": "cpu", "TILE_SIZE": 32, "OVERLAP": 4,
              "BATCH_SIZE": 2, "OUTPUT": str(tmp_path / "out.tif"),
              "OUTPUT_CONFIDENCE": str(tmp_path / "out_conf.tif")}, fb)
    assert fb.progress_calls == 1
    assert list(tmp_path.iterdir()) == []


def test_gui_post_processor_styles_the_loaded_layer(scene: dict[str, Path],
                                                    tmp_path: Path) -> None:
    """As the Toolbox dialog does: the output is to be loaded, so a post-processor is set."""
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProject,
        QgsRasterLayer,
    )

    out = str(tmp_path / "gui.tif")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    context.addLayerToLoadOnCompletion(
        out, QgsProcessingContext.LayerDetails("Classes", QgsProject.instance(), "OUTPUT")
    )
    _run({"OPTICAL": str(scene["optical"]), "SAR": str(scene["sar"]),
          "MODEL": str(scene["model"]), "DEVICE": "cpu", "OUTPUT": out}, context=context)
    post = context.layerToLoadOnCompletionDetails(out).postProcessor()
    assert post is not None
    Path(out).with_suffix(".qml").unlink()  # without the .qml: only the colour table is left
    layer = QgsRasterLayer(out, "gui")
    post.postProcessLayer(layer, context, QgsProcessingFeedback())
    assert layer.renderer().type() == "paletted"
    assert [(int(c.value), c.label) for c in layer.renderer().classes()] == [
        (0, "not water"), (1, "water")]


def test_help_explains_every_parameter(upseg_provider: Any) -> None:
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("upseg:segment")
    help_text = alg.shortHelpString()
    for p in alg.parameterDefinitions():
        assert p.description().split(" (")[0] in help_text, p.name()
    assert "metadata" in help_text and "units" in help_text
    assert {o.name() for o in alg.outputDefinitions()} == {
        "OUTPUT", "OUTPUT_CONFIDENCE", "PROVIDER", "TILE_COUNT"}


SEGMENT_MAIN = ["OPTICAL", "SAR", "MODEL", "OUTPUT", "OUTPUT_CONFIDENCE", "EXTENT",
                "OPTICAL_BANDS", "SAR_BANDS"]
SEGMENT_ADVANCED = {"OPTICAL_UNITS", "SAR_UNITS", "TILE_SIZE", "OVERLAP", "BATCH_SIZE",
                    "DEVICE", "STRICT_DEVICE", "TTA"}


def test_dialog_shows_what_an_analyst_sets_first(upseg_provider: Any) -> None:
    from qgis.core import QgsApplication

    from upseg_qgis.plugin import qt_compat as qt

    alg = QgsApplication.processingRegistry().algorithmById("upseg:segment")
    defs = alg.parameterDefinitions()
    advanced = {p.name() for p in defs if p.flags() & qt.PARAMETER_ADVANCED}
    assert advanced == SEGMENT_ADVANCED
    assert [p.name() for p in defs if p.name() not in advanced] == SEGMENT_MAIN


def test_help_states_the_defaults_the_code_uses(upseg_provider: Any) -> None:
    from qgis.core import QgsApplication

    from upseg_qgis.algorithms.segment_parameters import UNIT_OPTIONS
    from upseg_qgis.core.contract.metadata import INPUT_UNITS
    from upseg_qgis.core.run import defaults

    text = QgsApplication.processingRegistry().algorithmById("upseg:segment").shortHelpString()
    assert (f"else {defaults.DEFAULT_CPU_BATCH_SIZE} on the CPU and "
            f"{defaults.DEFAULT_BATCH_SIZE} on a GPU") in text
    assert f"up to {defaults.MEASURED_PARALLEL_RUNS} batches run at once" in text
    assert UNIT_OPTIONS[0] == "auto" and sorted(UNIT_OPTIONS[1:]) == sorted(INPUT_UNITS)
    assert "reflectance_x10000_offset1000" in text


def test_every_user_facing_string_goes_through_tr(
    upseg_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a translator that marks what it translated, every name, description, option and
    help text of every algorithm comes out marked."""
    from upseg_qgis.algorithms import algorithm_classes, base

    monkeypatch.setattr(base, "translate", lambda text: f"«{text}»")
    for cls in algorithm_classes():
        alg = cls()
        alg.initAlgorithm()
        help_text = alg.shortHelpString()
        if alg.name() == "segment":  # starts with the default model's report: its metadata
            from upseg_qgis.plugin.segment_dialog import model_help_html

            box = model_help_html(None)
            assert help_text.startswith(box)
            help_text = help_text[len(box):]
        texts = [alg.displayName(), alg.group(), help_text, alg.tags()[0]]
        texts += [p.description() for p in alg.parameterDefinitions()]
        texts += [o.description() for o in alg.outputDefinitions()]
        texts += [o for p in alg.parameterDefinitions() if p.type() == "enum"
                  for o in p.options()
                  if alg.name() not in ("segment", "segment_region")]  # static unit/device ids
        unmarked = [t for t in texts if not t.startswith("«")]
        assert not unmarked, (alg.name(), unmarked)


def test_each_algorithm_links_its_section_of_the_user_guide(upseg_provider: Any) -> None:
    from qgis.PyQt.QtCore import QUrl

    from upseg_qgis.algorithms import algorithm_classes

    guide = Path(__file__).resolve().parents[1] / "docs" / "user_guide.md"
    for cls in algorithm_classes():
        url = QUrl(cls().helpUrl())
        # The project has no public home: Help opens the guide on disk, never a made-up address.
        assert url.isLocalFile(), url.toString()
        assert Path(url.toLocalFile()).resolve() == guide.resolve()
        assert f'<a id="{url.fragment()}"></a>' in guide.read_text(encoding="utf-8"), url
