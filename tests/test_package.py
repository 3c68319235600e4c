"""`scripts/package.py`: the zip QGIS's "Install from ZIP" takes, unpacked by QGIS's own unzip code
into a fresh profile and loaded by qgis_process from there (no plugin path to the checkout)."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import ROOT

QGIS_PROCESS = "/usr/bin/qgis_process.bin"
QGIS_UNZIP = Path("/usr/share/qgis/python/pyplugin_installer/unzip.py")


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    package = _load(ROOT / "scripts" / "package.py", "upseg_package")
    return package.build(tmp_path_factory.mktemp("dist"), log=lambda *_: None, local=True)


def test_zip_layout(plugin_zip: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "metadata.txt", encoding="utf-8")
    version = parser["general"]["version"]
    assert plugin_zip.name == f"upseg_qgis-{version}-local.zip"
    with zipfile.ZipFile(plugin_zip) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
        # QGIS takes the plugin folder from the (first) metadata.txt: there must be one only.
        assert [n for n in names if n.endswith("metadata.txt")] == ["upseg_qgis/metadata.txt"]
        assert {n.split("/")[0] for n in names} == {"upseg_qgis"}
        assert zf.read("upseg_qgis/metadata.txt") == (ROOT / "metadata.txt").read_bytes()
        assert zf.read("upseg_qgis/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert f"upseg_qgis/{parser['general']['icon']}" in names
        for required in ("__init__.py", "plugin/main.py", "plugin/provider.py",
                         "algorithms/segment.py",
                         "core/accuracy/metrics.py", "dependencies/installer.py"):
            assert f"upseg_qgis/{required}" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")
                    or "/tests/" in n]
        model = "upseg_qgis/models/upseg_default.onnx"
        assert (model in names) == (ROOT / model).is_file()
        # The user guide the algorithms' Help opens, with every image it shows.
        guide = ROOT / "docs" / "user_guide.md"
        assert zf.read("upseg_qgis/docs/user_guide.md") == guide.read_bytes()
        for image in {line.split("](", 1)[1].split(")")[0] for line in guide.read_text().split(
                "\n") if "](img/" in line}:
            assert zf.read(f"upseg_qgis/docs/{image}") == (guide.parent / image).read_bytes()
        for info in zf.infolist():  # no symlink entries: QGIS's unzip writes plain files
            assert (info.external_attr >> 16) & 0o170000 != 0o120000, info.filename


def test_zip_is_reproducible(plugin_zip: Path, tmp_path: Path) -> None:
    package = _load(ROOT / "scripts" / "package.py", "upseg_package2")
    again = package.build(tmp_path, log=lambda *_: None, local=True)
    assert again.read_bytes() == plugin_zip.read_bytes()


@pytest.mark.skipif(not Path(QGIS_PROCESS).is_file(), reason="qgis_process.bin not installed")
def test_zip_installs_into_a_fresh_profile_and_runs_in_qgis_process(
        plugin_zip: Path, tmp_path: Path) -> None:
    from osgeo import gdal

    profile = tmp_path / "xdg"
    plugins = profile / "QGIS" / "QGIS3" / "profiles" / "default" / "python" / "plugins"
    # What "Install from ZIP" does (pyplugin_installer.installer.installFromZipFile): the
    # plugin name is the folder of metadata.txt, then QGIS's own unzip().
    with zipfile.ZipFile(plugin_zip) as zf:
        plugin_name = os.path.split(sorted(
            f for f in zf.namelist() if f.endswith("metadata.txt"))[0])[0]
    assert plugin_name == "upseg_qgis"
    _load(QGIS_UNZIP, "qgis_unzip").unzip(str(plugin_zip), str(plugins))
    assert (plugins / "upseg_qgis" / "metadata.txt").is_file()

    # No plugin path to the checkout, no custom config (pytest-qgis sets QGIS_CUSTOM_CONFIG_PATH):
    # the only copy of the plugin is the one in the fresh profile.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("QGIS_") and k != "PYTHONPATH"}
    env.update(XDG_DATA_HOME=str(profile), QT_QPA_PLATFORM="offscreen", GDAL_PAM_ENABLED="NO")
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"), None)
    if site:  # onnxruntime, as the user's own install would provide it
        env["PYTHONPATH"] = str(site)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([QGIS_PROCESS, *args], capture_output=True, text=True, env=env,
                              timeout=180, cwd=tmp_path)

    enable = run("plugins", "enable", "upseg_qgis")
    assert enable.returncode == 0, enable.stdout + enable.stderr
    listing = run("list")
    assert listing.returncode == 0, listing.stderr
    for alg in ("upseg:segment", "upseg:evaluate", "upseg:polygonize", "upseg:class_areas"):
        assert alg in listing.stdout, listing.stdout[-3000:] + listing.stderr[-3000:]

    # Run one algorithm from the installed copy.
    tif = tmp_path / "classes.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(tif), 8, 8, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((500000, 10, 0, 4400000, 0, -10))
    ds.SetProjection('PROJCS["WGS 84 / UTM zone 30N",GEOGCS["WGS 84",DATUM["WGS_1984",'
                     'SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],'
                     'UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
                     'PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",-3],'
                     'PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],'
                     'PARAMETER["false_northing",0],UNIT["metre",1],AUTHORITY["EPSG","32630"]]')
    ds.GetRasterBand(1).WriteArray(np.eye(8, dtype=np.uint8))
    ds = None
    res = run("run", "upseg:class_areas", "--json", "--", f"INPUT={tif}", "AREA_METHOD=1",
              f"OUTPUT={tmp_path / 'areas.csv'}")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    results = json.loads(res.stdout[res.stdout.index("{"):])["results"]
    assert results["VALID_PIXELS"] == 64
    assert results["TOTAL_AREA_HA"] == pytest.approx(0.64)


# ----------------------------------------------------------------- plugin repository checks


def test_zip_meets_the_plugin_repository_rules(plugin_zip: Path) -> None:
    package = _load(ROOT / "scripts" / "package.py", "upseg_package3")
    assert plugin_zip.stat().st_size <= package.MAX_ZIP_BYTES
    with zipfile.ZipFile(plugin_zip) as zf:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(zf.read("upseg_qgis/metadata.txt").decode("utf-8"))
        assert "upseg_qgis/LICENSE" in zf.namelist()
    general = parser["general"]
    for key in set(package.REQUIRED_METADATA) - set(package.ADDRESS_KEYS):
        assert general.get(key), key
    assert int(general["qgisMaximumVersion"].split(".")[0]) >= 4


def _root_with_metadata(tmp_path: Path, text: str) -> Path:
    (tmp_path / "upseg_qgis").symlink_to(ROOT / "upseg_qgis")
    (tmp_path / "LICENSE").write_text("GPL")
    (tmp_path / "metadata.txt").write_text(text, encoding="utf-8")
    return tmp_path


def test_no_upload_zip_while_an_address_is_empty_or_a_placeholder(tmp_path: Path) -> None:
    package = _load(ROOT / "scripts" / "package.py", "upseg_package5")
    text = (ROOT / "metadata.txt").read_text(encoding="utf-8")
    root = _root_with_metadata(tmp_path, text.replace(
        "\nemail=\n", "\nemail=someone@example.org\n").replace("\ntracker=\n", "\n"))
    with pytest.raises(SystemExit) as err:
        package.build(tmp_path / "dist", root=root, log=lambda *_: None)
    for problem in ("'email' is a placeholder", "lacks 'repository'", "lacks 'tracker'"):
        assert problem in str(err.value)
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
    (root / "upseg_qgis").unlink()
    root = _plugin_copy(root, _real_catalogue())
    (root / "metadata.txt").write_text(_real_metadata(), encoding="utf-8")
    assert package.build(tmp_path / "dist", root=root, log=lambda *_: None).name == \
        f"upseg_qgis-{package.plugin_version(root)}.zip"


def _real_metadata() -> str:
    text = (ROOT / "metadata.txt").read_text(encoding="utf-8")
    return text.replace("\nemail=\n", "\nemail=maintainer@upseg.eu\n").replace(
        "\nrepository=\n", "\nrepository=https://git.upseg.eu/upseg-qgis\n").replace(
        "\ntracker=\n", "\ntracker=https://git.upseg.eu/upseg-qgis/issues\n")


def _real_catalogue() -> dict:
    """The shipped catalogue with its placeholder addresses replaced by (synthetic) real ones."""
    data = json.loads((ROOT / "upseg_qgis" / "models" / "catalogue.json").read_text("utf-8"))
    for entry in data["models"]:
        entry["urls"] = [f"https://models.upseg.eu/{entry['file_name']}"]
        entry["homepage"] = "https://git.upseg.eu/upseg-qgis/model-card"
    return data


def _plugin_copy(root: Path, catalogue: dict) -> Path:
    """`root` with a copy of the plugin (no models, no caches) that ships `catalogue`."""
    shutil.copytree(ROOT / "upseg_qgis", root / "upseg_qgis",
                    ignore=shutil.ignore_patterns("__pycache__", "*.onnx"))
    (root / "upseg_qgis" / "models" / "catalogue.json").write_text(json.dumps(catalogue))
    return root


def test_no_upload_zip_while_the_model_catalogue_has_placeholder_urls(tmp_path: Path) -> None:
    package = _load(ROOT / "scripts" / "package.py", "upseg_package6")
    root = _root_with_metadata(tmp_path, _real_metadata())  # only the catalogue is left
    with pytest.raises(SystemExit) as err:
        package.build(tmp_path / "dist", root=root, log=lambda *_: None)
    message = str(err.value)
    shipped = json.loads((ROOT / "upseg_qgis" / "models" / "catalogue.json").read_text("utf-8"))
    for entry in shipped["models"]:  # each entry is named, with its placeholder URL
        assert f"{entry['id']} {entry['version']} ({entry['urls'][0]}" in message
    assert "catalogue.json points at placeholder addresses" in message
    assert "make package-local" in message and "PLACEHOLDER_URLS" in message
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
    # The local zip is still built, and says why it is not for upload.
    notes: list[str] = []
    local = package.build(tmp_path / "dist", root=root, log=notes.append, local=True)
    assert local.name.endswith("-local.zip") and "placeholder addresses" in notes[-1]
    # A catalogue of placeholder hosts (RFC 2606) is refused the same way.
    data = _real_catalogue()
    data["models"][0]["urls"].append("https://models.example.org/m.onnx")
    (root / "upseg_qgis").unlink()
    _plugin_copy(root, data)
    with pytest.raises(SystemExit, match="models.example.org"):
        package.build(tmp_path / "dist2", root=root, log=lambda *_: None)


def test_metadata_without_a_qgis4_range_cannot_be_packaged(tmp_path: Path) -> None:
    package = _load(ROOT / "scripts" / "package.py", "upseg_package4")
    (tmp_path / "upseg_qgis").symlink_to(ROOT / "upseg_qgis")
    (tmp_path / "LICENSE").write_text("GPL")
    text = (ROOT / "metadata.txt").read_text(encoding="utf-8")
    (tmp_path / "metadata.txt").write_text(
        text.replace("qgisMaximumVersion=4.99", "qgisMaximumVersion=3.99").replace(
            "tracker=", "nottracker="), encoding="utf-8")
    with pytest.raises(SystemExit) as err:
        package.build(tmp_path / "dist", root=tmp_path, log=lambda *_: None)
    assert "qgisMaximumVersion must be 4" in str(err.value)
    assert "lacks 'tracker'" in str(err.value)
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def _unpacked(plugin_zip: Path, where: Path) -> Path:
    with zipfile.ZipFile(plugin_zip) as zf:
        zf.extractall(where)
    return where / "upseg_qgis"


def test_bandit_finds_nothing_at_medium_or_high(plugin_zip: Path, tmp_path: Path) -> None:
    tree = _unpacked(plugin_zip, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "bandit", "-r", "-ll", "-f", "json", "-q",
                           str(tree)], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    assert report["metrics"]["_totals"]["loc"] > 1000  # it really scanned the plugin
    assert report["results"] == [], json.dumps(report["results"], indent=1)[:3000]
    assert proc.returncode == 0


def test_bandit_would_catch_the_xml_parser_it_used_to_block(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import xml.etree.ElementTree as ET\nET.parse('x.qml')\n")
    proc = subprocess.run([sys.executable, "-m", "bandit", "-ll", "-f", "json", "-q",
                           str(bad)], capture_output=True, text=True, timeout=120)
    assert [r["test_id"] for r in json.loads(proc.stdout)["results"]] == ["B314"]


def _detect_secrets(folder: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "detect_secrets", "scan", "--all-files",
                           folder.name], capture_output=True, text=True, timeout=300,
                          cwd=folder.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)["results"]


def test_detect_secrets_finds_nothing(plugin_zip: Path, tmp_path: Path) -> None:
    tree = _unpacked(plugin_zip, tmp_path)
    assert _detect_secrets(tree) == {}
    # The same scan does see a key planted in the tree.
    (tree / "planted.py").write_text('aws_access_key_id = "AKIAIOSFODNN7ABCDEFG"\n')
    assert list(_detect_secrets(tree)) == ["upseg_qgis/planted.py"]
