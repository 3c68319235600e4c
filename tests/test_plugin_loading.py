"""The plugin shell: it loads with iface=None, registers `upseg`, and never needs torch."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT

REQUIRED_METADATA = [
    "name", "qgisMinimumVersion", "description", "about", "version", "author", "tags",
    "hasProcessingProvider",
]
# Present, but empty until the project has a public home (scripts/package.py then refuses an
# upload zip): never an address that does not exist.
ADDRESSES = ["email", "repository", "tracker"]


def test_metadata_txt_has_the_fields_the_plugin_repository_expects() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "metadata.txt", encoding="utf-8")
    general = parser["general"]
    missing = [k for k in REQUIRED_METADATA if not general.get(k)]
    assert not missing, f"metadata.txt lacks {missing}"
    assert all(k in general for k in ADDRESSES)
    assert general["qgisMinimumVersion"] == "3.40"
    assert general["qgisMaximumVersion"] == "4.99" and general["supportsQt6"] == "True"
    assert general["hasProcessingProvider"] == "yes"
    assert (ROOT / "LICENSE").is_file() and "GPL" in general["about"]
    # One source: the plugin folder's metadata.txt is the top-level file.
    assert (ROOT / "upseg_qgis" / "metadata.txt").resolve() == (ROOT / "metadata.txt").resolve()
    assert (ROOT / "upseg_qgis" / general["icon"]).is_file()


def test_provider_registered_through_class_factory(upseg_provider) -> None:
    from qgis.core import QgsApplication

    from upseg_qgis.version import plugin_version

    provider = QgsApplication.processingRegistry().providerById("upseg")
    assert provider is upseg_provider
    assert provider.name() == "UPSeg"
    assert plugin_version() in provider.longName()
    assert not provider.icon().isNull()
    ids = {alg.id() for alg in provider.algorithms()}
    assert "upseg:segment" in ids
    for alg in provider.algorithms():
        assert alg.shortHelpString().strip(), f"{alg.id()} has no help"


def test_qgis_process_lists_segment(qgis_process) -> None:
    result = qgis_process("list")
    assert result.returncode == 0, result.stderr
    assert "upseg:segment" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


def test_plugin_source_never_imports_torch() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "upseg_qgis").rglob("*.py")
        if any(
            line.strip().startswith(("import torch", "from torch"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []


def _run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:/usr/share/qgis/python/plugins")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )


def test_loading_the_plugin_imports_no_torch() -> None:
    result = _run_isolated(
        """
        import sys
        from qgis.core import QgsApplication
        app = QgsApplication([], False); app.initQgis()
        from processing.core.Processing import Processing
        Processing.initialize()
        import upseg_qgis
        plugin = upseg_qgis.classFactory(None); plugin.initProcessing()
        assert QgsApplication.processingRegistry().algorithmById("upseg:segment") is not None
        print("TORCH" if "torch" in sys.modules else "NO_TORCH")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "NO_TORCH" in result.stdout


def test_without_onnxruntime_the_plugin_loads_and_says_how_to_install(tmp_path: Path) -> None:
    # Hide onnxruntime the way a user's QGIS without it would look.
    result = _run_isolated(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "onnxruntime" or name.startswith("onnxruntime."):
                    raise ImportError("No module named 'onnxruntime'")
        sys.meta_path.insert(0, Block())
        from qgis.core import QgsApplication, QgsProcessingException
        app = QgsApplication([], False); app.initQgis()
        from processing.core.Processing import Processing
        Processing.initialize()
        import processing, upseg_qgis
        plugin = upseg_qgis.classFactory(None); plugin.initProcessing()
        assert QgsApplication.processingRegistry().algorithmById("upseg:segment") is not None
        s2 = "{ROOT.parent}/shared/data/sen1floods11_sample/Spain_7370579_S2Hand.tif"
        s1 = "{ROOT.parent}/shared/data/sen1floods11_sample/Spain_7370579_S1Hand.tif"
        try:
            processing.run("upseg:segment",
                           {{"OPTICAL": s2, "SAR": s1, "OUTPUT": "{tmp_path}/out.tif"}})
        except QgsProcessingException as exc:
            print("ERROR:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR:" in result.stdout, result.stdout + result.stderr
    assert "pip install" in result.stdout and "onnxruntime-gpu==" in result.stdout
    assert not (tmp_path / "out.tif").exists()
