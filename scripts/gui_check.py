#!/usr/bin/env python3
"""GUI proof: the plugin installed from its ZIP into a fresh profile of the real QGIS desktop.

Run with the project's Python (it is the driver):
    .venv/bin/python scripts/gui_check.py [--out docs/img] [--no-offer]
It builds the zip (scripts/package.py), then starts QGIS under Xvfb twice, each time with a new,
empty profile and this same file as the startup code (`qgis.bin --code scripts/gui_check.py`):

1. "main": ONNX Runtime available (the project venv on PYTHONPATH). The plugin is installed with
   QGIS's own "Install from ZIP" code, the Sentinel-2 and Sentinel-1 chip of
   ../shared/data/sen1floods11_sample are added, the `upseg:segment` dialog is opened
   (screenshot; and one of its help panel explaining the selected model), run from the dialog
   with the embedded default model (or, until that exists, the tests' toy model: said in the
   result), its log shown (screenshot: the execution provider
   line), and the styled result with its legend shown in the main window (screenshot).
2. "offer": QGIS without ONNX Runtime: the plugin's message bar offer (screenshot) and the
   confirmation it asks before installing (screenshot; answered "No", nothing is installed).
3. "install" (only with --install): as 2, but answered "Yes": the plugin really runs pip (needs
   the package index), its report is captured (screenshot), then upseg:segment runs in that same
   QGIS session with the freshly installed ONNX Runtime and QGIS's own numpy.

PNG files go to docs/img/; a JSON summary is printed. Exit code 0 only if every step worked.
Inside QGIS (env UPSEG_GUI_CHECK_CONFIG set) the same file performs the GUI steps.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

CONFIG_ENV = "UPSEG_GUI_CHECK_CONFIG"
SCREEN = "1280x900x24"

# ---------------------------------------------------------------------------------------------
# Inside QGIS
# ---------------------------------------------------------------------------------------------


def _qgis_side(cfg: dict[str, Any]) -> None:  # noqa: C901 - a linear script of GUI steps
    from qgis.core import (
        QgsApplication,
        QgsCategorizedSymbolRenderer,
        QgsContrastEnhancement,
        QgsFillSymbol,
        QgsPalettedRasterRenderer,
        QgsProject,
        QgsRasterLayer,
        QgsRasterMinMaxOrigin,
        QgsRendererCategory,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication, QMessageBox, QPushButton, QTextEdit
    from qgis.utils import iface

    out_dir = Path(cfg["out_dir"])
    result: dict[str, Any] = {"phase": cfg["phase"], "steps": [], "screenshots": [],
                              "ok": False}
    app = QApplication.instance()

    def log(msg: str) -> None:
        result["steps"].append(msg)

    def done(ok: bool, error: str | None = None) -> None:
        result["ok"] = ok
        if error:
            result["error"] = error
        Path(cfg["result"]).write_text(json.dumps(result, indent=1), encoding="utf-8")
        os._exit(0)  # no teardown: nothing to save, and no "save project?" question

    def guard(fn: Any) -> Any:
        def wrapped(*args: Any) -> None:
            try:
                fn(*args)
            except Exception:
                done(False, traceback.format_exc())
        return wrapped

    def settle(ms: int = 800) -> None:
        """Let Qt paint (the event loop runs while we wait)."""
        import time

        end = time.time() + ms / 1000
        while time.time() < end:
            app.processEvents()
            time.sleep(0.02)

    def shot(widget: Any, name: str, what: str) -> None:
        settle()
        path = out_dir / name
        if not widget.grab().save(str(path)):
            raise RuntimeError(f"could not save {path}")
        result["screenshots"].append({"file": str(path), "shows": what})

    def install_from_zip() -> None:
        import pyplugin_installer.installer as installer

        installer.pluginInstaller.installFromZipFile(cfg["zip"])
        settle(500)
        import qgis.utils

        if "upseg_qgis" not in qgis.utils.active_plugins:
            raise RuntimeError(f"upseg_qgis not active after install: {qgis.utils.active_plugins}")
        alg = QgsApplication.processingRegistry().algorithmById("upseg:segment")
        if alg is None:
            raise RuntimeError("upseg:segment not registered after install")
        where = Path(sys.modules["upseg_qgis"].__file__).parent
        log(f"installed from ZIP into {where}")
        result["plugin_dir"] = str(where)

    win = iface.mainWindow()
    win.resize(1280, 870)
    win.move(0, 0)

    @guard
    def main_phase() -> None:
        import processing
        from processing.core.ProcessingConfig import ProcessingConfig

        install_from_zip()
        s2 = QgsRasterLayer(cfg["optical"], "Sentinel-2 (B4 B3 B2)")
        s1 = QgsRasterLayer(cfg["sar"], "Sentinel-1 VV, VH (dB)")
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
        iface.mapCanvas().setExtent(s2.extent())
        iface.mapCanvas().refresh()
        def model_help(dialog: Any) -> None:
            """The help panel explains the selected model (the embedded one here)."""
            from qgis.PyQt.QtWidgets import QComboBox, QSplitter, QTextBrowser

            browser = dialog.findChild(QTextBrowser, "textShortHelp")
            combo = dialog.findChild(QComboBox, "upsegModelChoices")
            if browser is None or combo is None:
                raise RuntimeError("the segment dialog has no model help or model drop-down")
            result["model_help"] = browser.toPlainText()[:1500]
            result["model_choices"] = [combo.itemText(i) for i in range(combo.count())]
            dialog.resize(1260, 880)
            for splitter in dialog.findChildren(QSplitter):
                if splitter.isAncestorOf(browser):
                    splitter.setSizes([520, 740])
            settle(300)
            browser.verticalScrollBar().setValue(0)
            shot(dialog, "segment_model_help.png",
                 "the segment dialog's help explaining the selected (embedded) model: inputs "
                 "with bands and units, classes with colours, tiling, test metrics, licence")
            dialog.resize(1000, 800)

        ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)
        params = {"OPTICAL": s2.id(), "SAR": s1.id(), "MODEL": cfg["model"],
                  "OUTPUT": cfg["output"]}
        dialog = processing.createAlgorithmDialog("upseg:segment", params)
        dialog.resize(1000, 800)
        dialog.show()
        _KEEP.append(dialog)
        shot(dialog, "segment_dialog.png",
             "the upseg:segment dialog with the Sentinel-2 and Sentinel-1 layers selected")
        model_help(dialog)

        def finished(ok: bool, results: dict[str, Any]) -> None:
            QTimer.singleShot(500, lambda: after_run(ok, results))

        @guard
        def after_run(ok: bool, results: dict[str, Any]) -> None:
            if not ok:
                log_text = "\n".join(w.toPlainText() for w in dialog.findChildren(QTextEdit))
                raise RuntimeError("upseg:segment failed in the dialog:\n" + log_text[-2000:])
            result["provider"] = results.get("PROVIDER")
            result["tile_count"] = results.get("TILE_COUNT")
            shot(dialog, "segment_log.png",
                 f"the dialog's log after the run (execution provider: {results.get('PROVIDER')})")
            log_text = "\n".join(w.toPlainText() for w in dialog.findChildren(QTextEdit))
            result["log_provider_lines"] = [line for line in log_text.splitlines()
                                            if line.startswith("Execution provider")][:3]
            dialog.close()
            layers = [ly for ly in QgsProject.instance().mapLayers().values()
                      if Path(ly.source()).resolve() == Path(cfg["output"]).resolve()]
            if not layers:
                raise RuntimeError("the segment output was not added to the project")
            out = layers[0]
            root = QgsProject.instance().layerTreeRoot()
            root.findLayer(s1.id()).setItemVisibilityChecked(False)
            node = root.findLayer(out.id())
            node.setExpanded(True)
            renderer = out.renderer()
            if not isinstance(renderer, QgsPalettedRasterRenderer):
                raise RuntimeError(f"result renderer is {type(renderer).__name__}, not paletted")
            result["legend"] = [f"{c.value}: {c.label} {c.color.name()}"
                                for c in renderer.classes()]
            result["result_layer"] = out.name()
            out.setOpacity(0.85)
            iface.mapCanvas().setExtent(out.extent())
            iface.mapCanvas().refreshAllLayers()
            settle(1500)
            iface.mapCanvas().waitWhileRendering()
            shot(win, "segment_result.png",
                 "QGIS with the styled segment result over the Sentinel-2 chip and its legend "
                 "(class names and colours from the model) in the Layers panel")
            vectors(out)
            done(True)

        def vectors(classes: QgsRasterLayer) -> None:
            """Polygons (MMU 0.5 ha) and the class area table of the result."""
            polys = processing.run("upseg:polygonize", {
                "INPUT": classes, "MMU_HA": 0.5, "OUTPUT": cfg["polygons"]})
            areas = processing.run("upseg:class_areas", {"INPUT": classes,
                                                         "OUTPUT": "TEMPORARY_OUTPUT"})
            result["polygonize"] = {k: polys[k] for k in ("POLYGON_COUNT", "DROPPED_COUNT",
                                                          "SIEVE_PIXELS")}
            result["class_areas"] = [
                {n: f[n] for n in ("class_value", "class_name", "pixel_count", "area_ha",
                                   "percent")} for f in areas["OUTPUT"].getFeatures()]
            layer = QgsVectorLayer(polys["OUTPUT"], "Polygons (MMU 0.5 ha)", "ogr")
            palette = {c.label: c.color for c in classes.renderer().classes()}
            cats = []
            for name, colour in palette.items():
                sym = QgsFillSymbol.createSimple({
                    "color": f"{colour.red()},{colour.green()},{colour.blue()},"
                             f"{150 if name == 'water' else 0}",
                    "outline_color": "20,20,20,255", "outline_width": "0.3"})
                cats.append(QgsRendererCategory(name, sym, name))
            layer.setRenderer(QgsCategorizedSymbolRenderer("class_name", cats))
            QgsProject.instance().addMapLayer(layer, False)  # placed by hand, expanded
            root = QgsProject.instance().layerTreeRoot()
            root.insertLayer(0, layer).setExpanded(True)
            root.findLayer(classes.id()).setItemVisibilityChecked(False)
            root.findLayer(classes.id()).setExpanded(False)
            root.findLayer(s2.id()).setExpanded(False)
            root.findLayer(s1.id()).setExpanded(False)
            iface.mapCanvas().refreshAllLayers()
            settle(500)
            view = iface.layerTreeView()  # the node alone stays collapsed in 3.22's view
            view.setExpanded(view.node2index(root.findLayer(layer.id())), True)
            settle(1000)
            iface.mapCanvas().waitWhileRendering()
            shot(win, "polygonize_result.png",
                 "upseg:polygonize output (minimum mapping unit 0.5 ha, merged by sieve) "
                 "styled by class name over the Sentinel-2 chip")

        dialog.algorithmFinished.connect(finished)
        log(f"running upseg:segment from the dialog with model: {cfg['model_label']}")
        dialog.runAlgorithm()

    @guard
    def offer_phase() -> None:
        install_from_zip()
        settle(1000)
        bar = iface.messageBar()
        texts = []
        button = None
        for item in bar.items():
            texts.append(item.text())
            for b in item.findChildren(QPushButton):
                if "Install" in b.text():
                    button = b
        result["message_bar"] = texts
        if button is None:
            raise RuntimeError(f"no install button in the message bar: {texts}")
        shot(win, "dependency_offer.png",
             "QGIS without ONNX Runtime: the plugin's message bar with the Install button")

        install = cfg["phase"] == "install"
        site = Path(QgsApplication.qgisSettingsDirPath()) / "python" / "upseg_site-packages"

        @guard
        def grab_question() -> None:
            box = QApplication.activeModalWidget()
            if box is None:
                raise RuntimeError("no confirmation dialog appeared")
            result["question"] = box.text() if hasattr(box, "text") else ""
            if install:
                # a real install, in the background task
                box.button(QMessageBox.StandardButton.Yes).click()
                wait_for_report(0)
            else:
                shot(box, "dependency_question.png",
                     "the confirmation asked before installing (answered No here)")
                box.reject()

        @guard
        def wait_for_report(waited: float) -> None:
            box = QApplication.activeModalWidget()
            if isinstance(box, QMessageBox) and "ONNX Runtime" in box.windowTitle():
                result["report_title"] = box.windowTitle()
                result["report"] = box.text()
                shot(box, "dependency_installed.png",
                     "the installer's report after answering Yes (a real pip install)")
                box.accept()
                QTimer.singleShot(500, after_install)
            elif waited > cfg["install_timeout"]:
                raise RuntimeError("no installer report within the time limit")
            else:
                QTimer.singleShot(1000, lambda: wait_for_report(waited + 1))

        @guard
        def after_install() -> None:
            import processing

            res = processing.run("upseg:segment", {
                "OPTICAL": cfg["optical"], "SAR": cfg["sar"], "MODEL": cfg["model"],
                "OUTPUT": cfg["output"]})
            result["provider_after_install"] = res["PROVIDER"]
            result["installed_into"] = str(site)
            done(True)

        QTimer.singleShot(1500, grab_question)
        button.click()  # modal question: the timer answers it
        if not install:
            result["nothing_installed"] = not site.exists()
            done(True)

    QTimer.singleShot(2000, main_phase if cfg["phase"] == "main" else offer_phase)  # offer/install


_KEEP: list[Any] = []

# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def _driver(argv: list[str]) -> int:
    import argparse
    import shutil
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description="Screenshots of the plugin in the QGIS desktop.")
    ap.add_argument("--out", type=Path, default=root / "docs" / "img")
    ap.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--no-offer", action="store_true", help="skip the dependency-offer phase")
    ap.add_argument("--keep", action="store_true", help="keep the temporary profiles")
    ap.add_argument("--install", action="store_true",
                    help="also answer Yes in a third QGIS and let the plugin really install "
                         "ONNX Runtime with pip (needs the package index; ~340 MB)")
    args = ap.parse_args(argv)
    for tool in ("xvfb-run", "qgis.bin"):
        if shutil.which(tool) is None and not Path("/usr/bin", tool).exists():
            print(f"{tool} not found (make setup installs QGIS and xvfb)", file=sys.stderr)
            return 2
    sys.path.insert(0, str(root))
    sys.path.insert(0, str(root / "scripts"))
    import package

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="upseg_gui_check_"))
    chip = args.data / "sen1floods11_sample"
    default_model = root / "upseg_qgis" / "models" / "upseg_default.onnx"
    if default_model.is_file():
        model, model_label = "", "the embedded default model (upseg_default.onnx)"
    else:
        from tests.toy_model import build_toy_model

        model = str(build_toy_model(work / "toy_water.onnx"))
        model_label = "the tests' toy model (untrained 1x1 convolution: NOT the default model)"
    zip_path = package.build(work / "dist", log=lambda *_: None)
    site = next((root / ".venv" / "lib").glob("python3*/site-packages"), None)
    summary: dict[str, Any] = {"zip": str(zip_path), "model": model_label, "phases": []}
    ok = True
    phases = ["main"] + ([] if args.no_offer else ["offer"]) + (["install"] if args.install
                                                                 else [])
    for phase in phases:
        cfg = {
            "phase": phase, "zip": str(zip_path), "out_dir": str(args.out.resolve()),
            "optical": str(chip / "Spain_7370579_S2Hand.tif"),
            "sar": str(chip / "Spain_7370579_S1Hand.tif"),
            "model": model, "model_label": model_label,
            "output": str(work / "sen1floods11_water.tif"),
            "polygons": str(work / "sen1floods11_water_polygons.gpkg"),
            "result": str(work / f"result_{phase}.json"),
            "install_timeout": args.timeout - 60,
        }
        cfg_path = work / f"config_{phase}.json"
        cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("QGIS_") and k not in ("PYTHONPATH", "QT_QPA_PLATFORM")}
        env.update(XDG_DATA_HOME=str(work / f"profile_{phase}"), **{CONFIG_ENV: str(cfg_path)})
        # QGIS would store the layers' histograms as .aux.xml next to the shared input data.
        env["GDAL_PAM_ENABLED"] = "NO"
        if phase == "main" and site is not None:
            env["PYTHONPATH"] = str(site)  # onnxruntime, as a user's install provides it
        cmd = ["timeout", str(args.timeout), "xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}",
               "qgis.bin", "--nologo", "--noversioncheck", "--code", str(Path(__file__).resolve())]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
        res_path = Path(cfg["result"])
        res = (json.loads(res_path.read_text(encoding="utf-8")) if res_path.is_file()
               else {"phase": phase, "ok": False,
                     "error": f"QGIS exited with {proc.returncode} without a result:\n"
                              + proc.stderr[-3000:]})
        for s in res.get("screenshots", []):
            s["nonblank"] = _nonblank(Path(s["file"]))
            ok &= s["nonblank"]
        ok &= bool(res.get("ok"))
        summary["phases"].append(res)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary, indent=1))
    return 0 if ok else 1


def _nonblank(png: Path) -> bool:
    """A screenshot with actual content (not one flat colour)."""
    try:
        import numpy as np
        from osgeo import gdal

        arr = gdal.Open(str(png)).ReadAsArray().astype(np.float32)
        return bool(arr.std() > 5)
    except Exception:
        return False


if os.environ.get(CONFIG_ENV) and "qgis.utils" in sys.modules:
    _qgis_side(json.loads(Path(os.environ[CONFIG_ENV]).read_text(encoding="utf-8")))
elif __name__ == "__main__":
    sys.exit(_driver(sys.argv[1:]))
