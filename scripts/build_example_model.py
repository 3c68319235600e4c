#!/usr/bin/env python3
"""Build upseg_qgis/examples/segment_polygonize_areas.model3 with the QGIS Python API.

The chain: upseg:segment -> upseg:polygonize (polygons with class name and ellipsoidal area in
ha, minimum mapping unit) and upseg:class_areas (one row per class: pixels, ha, percent). Run it
headless with
    scripts/qgis-process run upseg_qgis/examples/segment_polygonize_areas.model3 -- \\
        optical=s2.tif sar=s1.tif upseg:classes=map.tif polygonize:polygons=polygons.gpkg \\
        areas:class_areas=areas.csv [model=my_model.onnx]
(any output may be TEMPORARY_OUTPUT).
Usage: .venv/bin/python scripts/build_example_model.py [output.model3]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "upseg_qgis" / "examples" / "segment_polygonize_areas.model3"


def _qgis() -> Any:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for p in (str(ROOT), "/usr/share/qgis/python/plugins"):
        if p not in sys.path:
            sys.path.insert(0, p)
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    import upseg_qgis

    plugin = upseg_qgis.classFactory(None)
    plugin.initProcessing()
    return app, plugin  # both must stay referenced while the model is built


def build(out: Path) -> Path:
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm(
        "UPSeg: segment, polygonise, area per class", "UPSeg examples", "upseg_examples"
    )
    model.setHelpContent(HELP)
    _add_inputs(model)
    _add_children(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not model.toFile(str(out)):
        raise SystemExit(f"could not write {out}")
    return out


HELP = {
    "ALG_DESC": "Segments an optical + SAR pair with upseg:segment, turns the class "
    "raster into polygons with class names and areas (upseg:polygonize, patches below "
    "the minimum mapping unit merged into their neighbours) and tabulates the area and "
    "share of each class (upseg:class_areas). Areas are ellipsoidal, in hectares.",
    "optical": "Optical layer (e.g. Sentinel-2).",
    "sar": "SAR layer (e.g. Sentinel-1, any CRS).",
    "model": "UPSeg model: an .onnx file or a catalogue model id; empty = the embedded default "
    "model.",
    "mmu_ha": "Minimum mapping unit of the polygons in hectares (0: keep all).",
}


def _add_inputs(model: Any) -> None:
    """The model's inputs, in a row along the top of the canvas."""
    from qgis.core import (
        QgsProcessingModelParameter,
        QgsProcessingParameterFile,
        QgsProcessingParameterNumber,
        QgsProcessingParameterRasterLayer,
    )
    from qgis.PyQt.QtCore import QPointF

    params = (
        QgsProcessingParameterRasterLayer("optical", "Optical layer"),
        QgsProcessingParameterRasterLayer("sar", "SAR layer"),
        QgsProcessingParameterFile(
            "model", "UPSeg model: .onnx file or catalogue model id (empty: embedded default)",
            QgsProcessingParameterFile.Behavior.File, "", None, True,
            "ONNX models (*.onnx);;All files (*)",  # "(*)": a catalogue id has no extension
        ),
        QgsProcessingParameterNumber(
            "mmu_ha", "Minimum mapping unit (ha)", QgsProcessingParameterNumber.Type.Double,
            0.0, False, 0.0,
        ),
    )
    for i, param in enumerate(params):
        mp = QgsProcessingModelParameter(param.name())
        mp.setPosition(QPointF(120 + 220 * i, 60))
        model.addModelParameter(param, mp)


def _child(alg_id: str, child_id: str, desc: str, y: float) -> Any:
    from qgis.core import QgsProcessingModelChildAlgorithm
    from qgis.PyQt.QtCore import QPointF

    c = QgsProcessingModelChildAlgorithm(alg_id)
    c.setChildId(child_id)
    c.setDescription(desc)
    c.setPosition(QPointF(340, y))
    return c


def _output(c: Any, child_output: str, name: str, desc: str, mandatory: bool) -> None:
    from qgis.core import QgsProcessingModelOutput

    o = QgsProcessingModelOutput(name, desc)
    # QGIS 3.22 still asks for every model output (pass TEMPORARY_OUTPUT to skip one);
    # newer versions make the non-mandatory ones optional.
    o.setMandatory(mandatory)
    o.setChildId(c.childId())
    o.setChildOutputName(child_output)
    o.setDescription(desc)
    outs = dict(c.modelOutputs())
    outs[name] = o
    c.setModelOutputs(outs)


def _add_children(model: Any) -> None:
    """segment -> polygonize and class_areas, each with its model output."""
    from qgis.core import QgsProcessingModelChildParameterSource as Src

    seg = _child("upseg:segment", "upseg", "Segment optical + SAR", 180)
    seg.addParameterSources("OPTICAL", [Src.fromModelParameter("optical")])
    seg.addParameterSources("SAR", [Src.fromModelParameter("sar")])
    seg.addParameterSources("MODEL", [Src.fromModelParameter("model")])
    seg.addParameterSources("DEVICE", [Src.fromStaticValue("auto")])
    _output(seg, "OUTPUT", "classes", "Classes", False)
    model.addChildAlgorithm(seg)

    poly = _child("upseg:polygonize", "polygonize", "Class polygons", 280)
    poly.addParameterSources("INPUT", [Src.fromChildOutput("upseg", "OUTPUT")])
    poly.addParameterSources("MMU_HA", [Src.fromModelParameter("mmu_ha")])
    _output(poly, "OUTPUT", "polygons", "Class polygons", False)
    model.addChildAlgorithm(poly)

    areas = _child("upseg:class_areas", "areas", "Area per class", 380)
    areas.addParameterSources("INPUT", [Src.fromChildOutput("upseg", "OUTPUT")])
    _output(areas, "OUTPUT", "class_areas", "Area per class", True)
    model.addChildAlgorithm(areas)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    app, _plugin = _qgis()
    print(build(out))
    del _plugin
    app.exitQgis()


if __name__ == "__main__":
    main()
