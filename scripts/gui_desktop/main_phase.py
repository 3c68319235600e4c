"""Phase "main" (ONNX Runtime available): the plugin from its ZIP, the Sen1Floods11 chip, the
upseg:segment dialog and its model help, a run from the dialog with its log, the styled result
with its legend, then polygons and class areas of the result (a screenshot at each step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .session import Session


def main_phase(s: Session) -> None:
    from processing.core.ProcessingConfig import ProcessingConfig
    from qgis.PyQt.QtCore import QTimer

    s.install_from_zip()
    s2, s1 = _add_chip(s)
    ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)
    dialog = _open_dialog(s, s2, s1)

    def finished(ok: bool, results: dict[str, Any]) -> None:
        QTimer.singleShot(500, lambda: s.guard(_after_run)(s, dialog, (s2, s1), ok, results))

    dialog.algorithmFinished.connect(finished)
    s.log(f"running upseg:segment from the dialog with model: {s.cfg['model_label']}")
    dialog.runAlgorithm()


def _add_chip(s: Session) -> tuple[Any, Any]:
    """The Sentinel-2 (true colour, stretched) and Sentinel-1 layers of the chip, zoomed to."""
    from qgis.core import (
        QgsContrastEnhancement,
        QgsProject,
        QgsRasterLayer,
        QgsRasterMinMaxOrigin,
    )

    s2 = QgsRasterLayer(s.cfg["optical"], "Sentinel-2 (B4 B3 B2)")
    s1 = QgsRasterLayer(s.cfg["sar"], "Sentinel-1 VV, VH (dB)")
    for layer in (s2, s1):
        if not layer.isValid():
            raise RuntimeError(f"cannot open {layer.source()}")
    ren = s2.renderer()
    ren.setRedBand(4)
    ren.setGreenBand(3)
    ren.setBlueBand(2)
    s2.setContrastEnhancement(
        QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum,
        QgsRasterMinMaxOrigin.Limits.CumulativeCut)
    QgsProject.instance().addMapLayers([s1, s2])
    s.iface.mapCanvas().setExtent(s2.extent())
    s.iface.mapCanvas().refresh()
    return s2, s1


def _open_dialog(s: Session, s2: Any, s1: Any) -> Any:
    """The upseg:segment dialog with the chip's layers set; screenshots of it and its help."""
    import processing

    params = {"OPTICAL": s2.id(), "SAR": s1.id(), "MODEL": s.cfg["model"],
              "OUTPUT": s.cfg["output"]}
    dialog = processing.createAlgorithmDialog("upseg:segment", params)
    dialog.resize(1000, 800)
    dialog.show()
    s.keep.append(dialog)
    s.shot(dialog, "segment_dialog.png",
           "the upseg:segment dialog with the Sentinel-2 and Sentinel-1 layers selected")
    _model_help(s, dialog)
    return dialog


def _model_help(s: Session, dialog: Any) -> None:
    """The help panel explains the selected model (the embedded one here)."""
    from qgis.PyQt.QtWidgets import QComboBox, QSplitter, QTextBrowser

    browser = dialog.findChild(QTextBrowser, "textShortHelp")
    combo = dialog.findChild(QComboBox, "upsegModelChoices")
    if browser is None or combo is None:
        raise RuntimeError("the segment dialog has no model help or model drop-down")
    s.result["model_help"] = browser.toPlainText()[:1500]
    s.result["model_choices"] = [combo.itemText(i) for i in range(combo.count())]
    dialog.resize(1260, 880)
    for splitter in dialog.findChildren(QSplitter):
        if splitter.isAncestorOf(browser):
            splitter.setSizes([520, 740])
    s.settle(300)
    browser.verticalScrollBar().setValue(0)
    s.shot(dialog, "segment_model_help.png",
           "the segment dialog's help explaining the selected (embedded) model: inputs "
           "with bands and units, classes with colours, tiling, test metrics, licence")
    dialog.resize(1000, 800)


def _dialog_log(dialog: Any) -> str:
    from qgis.PyQt.QtWidgets import QTextEdit

    return "\n".join(w.toPlainText() for w in dialog.findChildren(QTextEdit))


def _after_run(s: Session, dialog: Any, chip: tuple[Any, Any], ok: bool,
               results: dict[str, Any]) -> None:
    """The run's log (screenshot), then the styled result in the main window."""
    if not ok:
        raise RuntimeError("upseg:segment failed in the dialog:\n" + _dialog_log(dialog)[-2000:])
    s.result["provider"] = results.get("PROVIDER")
    s.result["tile_count"] = results.get("TILE_COUNT")
    s.shot(dialog, "segment_log.png",
           f"the dialog's log after the run (execution provider: {results.get('PROVIDER')})")
    s.result["log_provider_lines"] = [line for line in _dialog_log(dialog).splitlines()
                                      if line.startswith("Execution provider")][:3]
    dialog.close()
    out = _show_result(s, chip[1])
    _vectors(s, out, chip)
    s.done(True)


def _show_result(s: Session, s1: Any) -> Any:
    """The output layer with its legend over the optical chip (screenshot); returns it."""
    from qgis.core import QgsPalettedRasterRenderer, QgsProject

    layers = [ly for ly in QgsProject.instance().mapLayers().values()
              if Path(ly.source()).resolve() == Path(s.cfg["output"]).resolve()]
    if not layers:
        raise RuntimeError("the segment output was not added to the project")
    out = layers[0]
    root = QgsProject.instance().layerTreeRoot()
    root.findLayer(s1.id()).setItemVisibilityChecked(False)
    root.findLayer(out.id()).setExpanded(True)
    renderer = out.renderer()
    if not isinstance(renderer, QgsPalettedRasterRenderer):
        raise RuntimeError(f"result renderer is {type(renderer).__name__}, not paletted")
    s.result["legend"] = [f"{c.value}: {c.label} {c.color.name()}" for c in renderer.classes()]
    s.result["result_layer"] = out.name()
    out.setOpacity(0.85)
    canvas = s.iface.mapCanvas()
    canvas.setExtent(out.extent())
    canvas.refreshAllLayers()
    s.settle(1500)
    canvas.waitWhileRendering()
    s.shot(s.win, "segment_result.png",
           "QGIS with the styled segment result over the Sentinel-2 chip and its legend "
           "(class names and colours from the model) in the Layers panel")
    return out


def _vectors(s: Session, classes: Any, chip: tuple[Any, Any]) -> None:
    """Polygons (MMU 0.5 ha) and the class area table of the result; the polygons shown."""
    import processing
    from qgis.core import QgsVectorLayer

    polys = processing.run("upseg:polygonize", {
        "INPUT": classes, "MMU_HA": 0.5, "OUTPUT": s.cfg["polygons"]})
    areas = processing.run("upseg:class_areas", {"INPUT": classes, "OUTPUT": "TEMPORARY_OUTPUT"})
    s.result["polygonize"] = {k: polys[k] for k in ("POLYGON_COUNT", "DROPPED_COUNT",
                                                    "SIEVE_PIXELS")}
    s.result["class_areas"] = [
        {n: f[n] for n in ("class_value", "class_name", "pixel_count", "area_ha", "percent")}
        for f in areas["OUTPUT"].getFeatures()]
    layer = QgsVectorLayer(polys["OUTPUT"], "Polygons (MMU 0.5 ha)", "ogr")
    _style_polygons(layer, classes)
    _show_polygons(s, layer, classes, chip)


def _style_polygons(layer: Any, classes: Any) -> None:
    """By class name in the class raster's colours; only water filled, the rest outlined."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsRendererCategory

    palette = {c.label: c.color for c in classes.renderer().classes()}
    cats = []
    for name, colour in palette.items():
        sym = QgsFillSymbol.createSimple({
            "color": f"{colour.red()},{colour.green()},{colour.blue()},"
                     f"{150 if name == 'water' else 0}",
            "outline_color": "20,20,20,255", "outline_width": "0.3"})
        cats.append(QgsRendererCategory(name, sym, name))
    layer.setRenderer(QgsCategorizedSymbolRenderer("class_name", cats))


def _show_polygons(s: Session, layer: Any, classes: Any, chip: tuple[Any, Any]) -> None:
    from qgis.core import QgsProject

    QgsProject.instance().addMapLayer(layer, False)  # placed by hand, expanded
    root = QgsProject.instance().layerTreeRoot()
    root.insertLayer(0, layer).setExpanded(True)
    root.findLayer(classes.id()).setItemVisibilityChecked(False)
    root.findLayer(classes.id()).setExpanded(False)
    for chip_layer in chip:
        root.findLayer(chip_layer.id()).setExpanded(False)
    s.iface.mapCanvas().refreshAllLayers()
    s.settle(500)
    view = s.iface.layerTreeView()  # the node alone stays collapsed in 3.22's view
    view.setExpanded(view.node2index(root.findLayer(layer.id())), True)
    s.settle(1000)
    s.iface.mapCanvas().waitWhileRendering()
    s.shot(s.win, "polygonize_result.png",
           "upseg:polygonize output (minimum mapping unit 0.5 ha, merged by sieve) "
           "styled by class name over the Sentinel-2 chip")
