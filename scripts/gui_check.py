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
Inside QGIS (env UPSEG_GUI_CHECK_CONFIG set) the same file hands over to scripts/gui_desktop/,
which performs the GUI steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CONFIG_ENV = "UPSEG_GUI_CHECK_CONFIG"
SCREEN = "1280x900x24"

# ---------------------------------------------------------------------------------------------
# Inside QGIS: the GUI steps live in scripts/gui_desktop/ (one module a phase).
# ---------------------------------------------------------------------------------------------


def _qgis_side(cfg: dict[str, Any]) -> None:
    # QGIS runs this file as startup code, without __file__: the driver says where it is.
    if cfg["scripts_dir"] not in sys.path:
        sys.path.insert(0, cfg["scripts_dir"])
    from gui_desktop.qgis_side import run

    run(cfg)


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def _parse_args(argv: list[str], root: Path) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Screenshots of the plugin in the QGIS desktop.")
    ap.add_argument("--out", type=Path, default=root / "docs" / "img")
    ap.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--no-offer", action="store_true", help="skip the dependency-offer phase")
    ap.add_argument("--keep", action="store_true", help="keep the temporary profiles")
    ap.add_argument("--install", action="store_true",
                    help="also answer Yes in a third QGIS and let the plugin really install "
                         "ONNX Runtime with pip (needs the package index; ~340 MB)")
    return ap.parse_args(argv)


def _model(root: Path, work: Path) -> tuple[str, str]:
    """(MODEL value, what it is): the embedded default model, else the tests' toy model."""
    default_model = root / "upseg_qgis" / "models" / "upseg_default.onnx"
    if default_model.is_file():
        return "", "the embedded default model (upseg_default.onnx)"
    from tests.toy_model import build_toy_model

    return (str(build_toy_model(work / "toy_water.onnx")),
            "the tests' toy model (untrained 1x1 convolution: NOT the default model)")


def _driver(argv: list[str]) -> int:
    import shutil

    root = Path(__file__).resolve().parents[1]
    args = _parse_args(argv, root)
    for tool in ("xvfb-run", "qgis.bin"):
        if shutil.which(tool) is None and not Path("/usr/bin", tool).exists():
            print(f"{tool} not found (make setup installs QGIS and xvfb)", file=sys.stderr)
            return 2
    sys.path.insert(0, str(root))
    sys.path.insert(0, str(root / "scripts"))
    import package

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="upseg_gui_check_"))
    model, model_label = _model(root, work)
    zip_path = package.build(work / "dist", log=lambda *_: None, local=True)
    summary: dict[str, Any] = {"zip": str(zip_path), "model": model_label, "phases": []}
    ok = True
    phases = ["main"] + ([] if args.no_offer else ["offer"]) + (["install"] if args.install
                                                                 else [])
    for phase in phases:
        chip = args.data / "sen1floods11_sample"
        cfg = {
            "phase": phase, "zip": str(zip_path), "out_dir": str(args.out.resolve()),
            "optical": str(chip / "Spain_7370579_S2Hand.tif"),
            "sar": str(chip / "Spain_7370579_S1Hand.tif"),
            "model": model, "model_label": model_label,
            "output": str(work / "sen1floods11_water.tif"),
            "polygons": str(work / "sen1floods11_water_polygons.gpkg"),
            "result": str(work / f"result_{phase}.json"),
            "install_timeout": args.timeout - 60,
            "scripts_dir": str(Path(__file__).resolve().parent),
        }
        res = _run_phase(cfg, work, root, args.timeout)
        for s in res.get("screenshots", []):
            s["nonblank"] = _nonblank(Path(s["file"]))
            ok &= s["nonblank"]
        ok &= bool(res.get("ok"))
        summary["phases"].append(res)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary, indent=1))
    return 0 if ok else 1


def _run_phase(cfg: dict[str, Any], work: Path, root: Path, timeout: int) -> dict[str, Any]:
    """One phase in a new QGIS desktop under Xvfb with an empty profile; its result record."""
    phase = cfg["phase"]
    cfg_path = work / f"config_{phase}.json"
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QGIS_") and k not in ("PYTHONPATH", "QT_QPA_PLATFORM")}
    env.update(XDG_DATA_HOME=str(work / f"profile_{phase}"), **{CONFIG_ENV: str(cfg_path)})
    # QGIS would store the layers' histograms as .aux.xml next to the shared input data.
    env["GDAL_PAM_ENABLED"] = "NO"
    site = next((root / ".venv" / "lib").glob("python3*/site-packages"), None)
    if phase == "main" and site is not None:
        env["PYTHONPATH"] = str(site)  # onnxruntime, as a user's install provides it
    cmd = ["timeout", str(timeout), "xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}",
           "qgis.bin", "--nologo", "--noversioncheck", "--code", str(Path(__file__).resolve())]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
    res_path = Path(cfg["result"])
    if res_path.is_file():
        return json.loads(res_path.read_text(encoding="utf-8"))
    return {"phase": phase, "ok": False,
            "error": f"QGIS exited with {proc.returncode} without a result:\n"
                     + proc.stderr[-3000:]}


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
