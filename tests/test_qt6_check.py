"""`make qt6-check`: the plugin passes, and each Qt5-only construct planted in a copy of real
plugin code is caught (the names come from PyQt6 installed by the Makefile; QGIS's enums from
the QGIS running the tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHECK = ROOT / "scripts" / "qt6_check.py"


@pytest.fixture(scope="module")
def names() -> Path:
    path = Path(os.environ.get("UPSEG_PYQT6_NAMES", ROOT / ".cache" / "pyqt6-names.json"))
    assert path.is_file(), f"{path} missing: run `make qt6-check` (make test does)"
    return path


def run_check(names: Path, *paths: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), "check", "--pyqt6", str(names),
                           *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_the_plugin_and_its_scripts_pass(names: Path) -> None:
    proc = run_check(names, ROOT / "upseg_qgis", ROOT / "scripts")
    assert proc.returncode == 0, proc.stdout
    assert " 0 findings" in proc.stdout


PLANTED = {
    "QMessageBox.Yes": "use QMessageBox.StandardButton.Yes",
    "QgsProcessing.TypeVector": "QgsProcessing.SourceType.TypeVector",
    "Qgis.Warning": "Qgis.MessageLevel.Warning",
    "box.exec_()": ".exec_(): use .exec()",
    "QVariant.Int": "QVariant types are gone",
    "Qt.AlignLeft": "use Qt.AlignmentFlag.AlignLeft",
    "QMessageBox.StandardButton.Yess": "does not exist in PyQt6",
}


@pytest.mark.parametrize("planted", list(PLANTED))
def test_each_planted_construct_fails_the_check(names: Path, tmp_path: Path,
                                                planted: str) -> None:
    source = (ROOT / "upseg_qgis" / "plugin/gui.py").read_text(encoding="utf-8")
    header = ("from qgis.core import Qgis, QgsProcessing\n"
              "from qgis.PyQt.QtCore import Qt, QVariant\n")
    bad = tmp_path / "gui_planted.py"
    bad.write_text(source + "\n\n" + header + f"\ndef planted(box):\n    return {planted}\n",
                   encoding="utf-8")
    proc = run_check(names, bad)
    assert proc.returncode == 1, proc.stdout
    assert PLANTED[planted] in proc.stdout
    assert " 1 findings" in proc.stdout  # only the planted line: the copied code is clean


def test_pyqt5_imports_are_caught(names: Path, tmp_path: Path) -> None:
    bad = tmp_path / "imports.py"
    bad.write_text("from PyQt5.QtCore import QTimer\nfrom qgis.PyQt.Qt import Qt\n")
    proc = run_check(names, bad)
    assert proc.returncode == 1
    assert "import PyQt5.QtCore: import Qt through qgis.PyQt" in proc.stdout
    assert "qgis.PyQt.Qt: import Qt from qgis.PyQt.QtCore" in proc.stdout


# A Qt name reached through an alias: assignment (also of an alias, or to an attribute), and
# `import ... as`. network.py's `_ATTR = QNetworkRequest.Attribute` hid a Qt5-only name this way.
ALIASED = {
    "assignment": ("from qgis.PyQt.QtNetwork import QNetworkRequest\n"
                   "_ATTR = QNetworkRequest.Attribute\n",
                   "_ATTR.FollowRedirectsAttribute", "does not exist in PyQt6"),
    "alias of an alias": ("from qgis.PyQt.QtNetwork import QNetworkRequest as Req\n"
                          "_REQ = Req\n_ATTR: object = _REQ.Attribute\n",
                          "_ATTR.FollowRedirectsAttribute", "does not exist in PyQt6"),
    "import as": ("import qgis.PyQt.QtNetwork as net\n",
                  "net.QNetworkRequest.Attribute.FollowRedirectsAttribute",
                  "does not exist in PyQt6"),
    "attribute target": ("from qgis.PyQt.QtWidgets import QMessageBox\n"
                         "class Box:\n    def __init__(self):\n        self.kind = QMessageBox\n",
                         "self.kind.Yes",
                         "use QMessageBox.StandardButton.Yes"),
}


@pytest.mark.parametrize("case", list(ALIASED))
def test_qt_names_reached_through_an_alias_are_checked(names: Path, tmp_path: Path,
                                                       case: str) -> None:
    header, expr, message = ALIASED[case]
    bad = tmp_path / "aliased.py"
    bad.write_text(header + f"\n\ndef planted(self, box):\n    return {expr}\n", encoding="utf-8")
    proc = run_check(names, bad)
    assert proc.returncode == 1, proc.stdout
    assert message in proc.stdout
    assert f"{bad}:" in proc.stdout and " 1 findings" in proc.stdout


def test_an_alias_to_names_pyqt6_has_passes(names: Path, tmp_path: Path) -> None:
    good = tmp_path / "aliased_ok.py"
    good.write_text("from qgis.PyQt.QtNetwork import QNetworkRequest\n"
                    "_ATTR = QNetworkRequest.Attribute\n"
                    "_ATTR = QNetworkRequest.Attribute\n"  # the same binding twice stays an alias
                    "CODE = _ATTR.HttpStatusCodeAttribute\n"
                    "POLICY = _ATTR.RedirectPolicyAttribute\n", encoding="utf-8")
    proc = run_check(names, good)
    assert proc.returncode == 0, proc.stdout
