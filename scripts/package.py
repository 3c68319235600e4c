#!/usr/bin/env python3
"""Build `dist/upseg_qgis-<version>.zip`, the file QGIS's "Plugins > Install from ZIP" takes.

One top folder `upseg_qgis/` holding the plugin code, metadata.txt (the top-level file, the single
source; the symlink in the plugin folder is dereferenced), LICENSE, the icon, the embedded
models (upseg_qgis/models/*.onnx when present) and the user guide with its screenshots in
`upseg_qgis/docs/` (the algorithms' Help opens it). No __pycache__, tests or hidden files. The
zip is reproducible: sorted entries with a fixed timestamp.

An upload zip needs a real email, repository and tracker in metadata.txt, and real addresses in
the shipped model catalogue (upseg_qgis/models/catalogue.json); while any is empty or a
placeholder it is refused. `--local` builds `upseg_qgis-<version>-local.zip` for testing and
"Install from ZIP" only, never for upload.

Usage: python scripts/package.py [--out dist] [--require-model] [--local]
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "upseg_qgis"
DEFAULT_MODEL = Path(PLUGIN) / "models" / "upseg_default.onnx"
GUIDE = Path("docs") / "user_guide.md"
EXCLUDED_DIRS = {"__pycache__", "tests", "test", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp", ".tmp"}
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # reproducible archives
# What the QGIS plugin repository requires of an upload (besides Bandit and detect-secrets,
# which tests/test_package.py runs on the unpacked zip).
REQUIRED_METADATA = ("name", "description", "about", "version", "qgisMinimumVersion",
                     "qgisMaximumVersion", "author", "email", "tracker", "repository")
# Addresses users are sent to: an upload needs real ones (RFC 2606/6761 names never resolve).
ADDRESS_KEYS = ("email", "repository", "tracker", "homepage")
PLACEHOLDER_HOSTS = ("example.org", "example.com", "example.net", ".invalid", ".example")
# The project's release location, where the shipped catalogue says its models will be published;
# it does not exist yet (docs/catalogue.md), so its URLs are placeholders. Drop it from here once
# the first release is published there.
PLACEHOLDER_URLS = ("https://github.com/upseg-qgis/",)
CATALOGUE = Path(PLUGIN) / "models" / "catalogue.json"
MAX_ZIP_BYTES = 25 * 1024 * 1024


def parse_general(root: Path = ROOT) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(root / "metadata.txt", encoding="utf-8")
    return parser["general"]


def plugin_version(root: Path = ROOT) -> str:
    return parse_general(root)["version"]


def plugin_files(root: Path = ROOT) -> dict[str, Path]:
    """Archive name -> file on disk (symlinks resolved: the archive holds real files)."""
    files: dict[str, Path] = {}
    for path in sorted((root / PLUGIN).rglob("*")):
        rel = path.relative_to(root)
        if any(part in EXCLUDED_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.is_dir() or path.suffix in EXCLUDED_SUFFIXES:
            continue
        if rel.parent == DEFAULT_MODEL.parent and path.suffix == ".onnx" \
                and rel != DEFAULT_MODEL:
            continue  # only the embedded default model ships, not models left by experiments
        files[rel.as_posix()] = path.resolve()
    files[f"{PLUGIN}/metadata.txt"] = (root / "metadata.txt").resolve()  # the single source
    files[f"{PLUGIN}/LICENSE"] = (root / "LICENSE").resolve()
    files.update(guide_files(root))
    return dict(sorted(files.items()))


def guide_files(root: Path = ROOT) -> dict[str, Path]:
    """The user guide and the images it shows, under upseg_qgis/docs/ (Help opens it there)."""
    guide = root / GUIDE
    if not guide.is_file():
        return {}
    files = {f"{PLUGIN}/{GUIDE.as_posix()}": guide.resolve()}
    for name in sorted(set(re.findall(r"\]\((img/[\w.-]+)\)", guide.read_text("utf-8")))):
        if (guide.parent / name).is_file():
            files[f"{PLUGIN}/docs/{name}"] = (guide.parent / name).resolve()
    return files


def address_problems(general: configparser.SectionProxy | dict) -> list[str]:
    """Empty or placeholder addresses: fine for a local zip, never for an upload."""
    problems = []
    for key in ADDRESS_KEYS:
        value = general.get(key, "").strip()
        if not value and key != "homepage":
            problems.append(f"metadata.txt lacks '{key}' (the project has no public home yet)")
        elif any(host in value for host in PLACEHOLDER_HOSTS):
            problems.append(f"metadata.txt '{key}' is a placeholder: {value}")
    return problems


def _placeholder(url: str) -> bool:
    return url.startswith(PLACEHOLDER_URLS) or any(h in url for h in PLACEHOLDER_HOSTS)


def catalogue_problems(root: Path = ROOT) -> list[str]:
    """Entries of the shipped catalogue that send users to a placeholder address (their
    download URLs or model card): fine for a local zip, never for an upload."""
    path = root / CATALOGUE
    if not path.is_file():
        return []
    entries = []
    for entry in json.loads(path.read_text(encoding="utf-8")).get("models", []):
        urls = [u for u in [*entry.get("urls", []), entry.get("homepage", "")] if _placeholder(u)]
        if urls:
            entries.append(f"{entry.get('id')} {entry.get('version')} ({', '.join(urls)})")
    if not entries:
        return []
    return [f"{CATALOGUE.as_posix()} points at placeholder addresses: {'; '.join(entries)}. "
            "Publish the files there and drop the address from PLACEHOLDER_URLS in "
            "scripts/package.py, or list the real URLs (python -m "
            "upseg_qgis.core.models.catalogue_tools add ... --url URL); meanwhile "
            "`make package-local` builds a zip for testing"]


def check(files: dict[str, Path], root: Path = ROOT, local: bool = False) -> list[str]:
    """What would make QGIS refuse or break the plugin (or the plugin repository refuse the
    upload, unless `local`)."""
    problems = []
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(root / "metadata.txt", encoding="utf-8")
    general = parser["general"] if parser.has_section("general") else {}
    for key in REQUIRED_METADATA:
        if not general.get(key) and key not in ADDRESS_KEYS:
            problems.append(f"metadata.txt lacks '{key}'")
    if not local:
        problems += address_problems(general) + catalogue_problems(root)
    top = general.get("qgisMaximumVersion", "0").split(".")[0]
    if not top.isdigit() or int(top) < 4:
        problems.append("qgisMaximumVersion must be 4 or more, or QGIS 4 users never see it")
    icon = general.get("icon")
    if icon and f"{PLUGIN}/{icon}" not in files:
        problems.append(f"the icon {icon} named in metadata.txt is missing")
    if f"{PLUGIN}/__init__.py" not in files:
        problems.append("upseg_qgis/__init__.py is missing")
    return problems


def build(out_dir: Path = ROOT / "dist", root: Path = ROOT, require_model: bool = False,
          log=print, local: bool = False) -> Path:  # noqa: ANN001
    files = plugin_files(root)
    problems = check(files, root, local)
    model = DEFAULT_MODEL.as_posix()
    if model not in files:
        msg = f"{model} not found: the zip has no embedded default model"
        if require_model:
            problems.append(msg)
        else:
            log(f"warning: {msg}")
    if problems:
        raise SystemExit("cannot package: " + "; ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "-local" if local else ""
    zip_path = out_dir / f"{PLUGIN}-{plugin_version(root)}{suffix}.zip"
    tmp = zip_path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in files.items():
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    if tmp.stat().st_size > MAX_ZIP_BYTES:
        size = tmp.stat().st_size / 2**20
        tmp.unlink()
        raise SystemExit(f"cannot package: the zip is {size:.1f} MiB, the plugin repository "
                         f"takes at most {MAX_ZIP_BYTES / 2**20:.0f} MiB (ship large models "
                         "through a model catalogue, not in the zip)")
    tmp.replace(zip_path)  # never leave a half-written zip under the final name
    log(f"{zip_path} ({zip_path.stat().st_size / 1e6:.1f} MB, {len(files)} files)")
    if local:
        log("LOCAL zip for testing and Install from ZIP only: not for upload (" + "; ".join(
            address_problems(parse_general(root)) + catalogue_problems(root)) + ")")
    return zip_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    ap.add_argument("--require-model", action="store_true",
                    help=f"fail when {DEFAULT_MODEL} is missing")
    ap.add_argument("--local", action="store_true",
                    help="a zip for local testing (…-local.zip), allowed without real addresses")
    args = ap.parse_args(argv)
    build(args.out, require_model=args.require_model, local=args.local)
    return 0


if __name__ == "__main__":
    sys.exit(main())
