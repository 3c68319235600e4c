"""Write and check catalogues: entries are derived from the model file, never typed by hand.

    python -m upseg_qgis.core.models.catalogue_tools add team.json model.onnx --id flood-s1s2 \\
        --url https://models.example.org/flood-s1s2-1.0.onnx
    python -m upseg_qgis.core.models.catalogue_tools validate team.json [--check-files]

`add` reads the model's own `upseg` metadata (classes, inputs, licence, citation, test metrics),
its size and SHA-256, and adds or replaces that entry in the catalogue (created if missing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..contract.metadata import MetadataError, ModelMetadata
from ..contract.onnx_props import OnnxFileError, read_model_metadata
from .catalogue import (
    CATALOGUE_VERSION,
    CatalogueEntry,
    CatalogueError,
    local_path,
    parse_catalogue,
    parse_entry,
)
from .checksum import sha256_file

_METRIC_KEYS = ("split", "oa", "mpa", "miou", "kappa", "mf1")


def summary_from_metadata(meta: ModelMetadata) -> dict[str, Any]:
    """The browsing summary of a model (classes, inputs, resolution) from its metadata."""
    return {
        "classes": [{"value": c.value, "name": c.name, "colour": c.colour}
                    for c in meta.classes],
        "inputs": {
            name: {"bands": [{"name": b.name, "description": b.description}
                             for b in spec.bands],
                   "units": spec.units,
                   "accepts": [c.source_units for c in spec.conversions]}
            for name, spec in meta.inputs.items()
        },
        "gsd_m": meta.gsd_m,
    }


def entry_from_model(
    model: Path, model_id: str, urls: list[str], name: str | None = None,
    description: str | None = None, file_name: str | None = None,
) -> dict[str, Any]:
    """A catalogue entry (JSON object) for `model`."""
    meta = read_model_metadata(model)
    test = meta.training.get("test_metrics", {})
    entry: dict[str, Any] = {
        "id": model_id,
        "name": name or meta.name,
        "description": description if description is not None else meta.description,
        "version": meta.version,
        **summary_from_metadata(meta),
        "licence": meta.licence or "see the model's metadata",
        "citation": meta.citation,
        "size": model.stat().st_size,
        "sha256": "sha256:" + sha256_file(model),  # prefixed: not a "secret" to scanners
        "file_name": file_name or f"{model_id}-{meta.version}.onnx",
        "urls": urls,
    }
    metrics = {k: round(test[k], 6) if isinstance(test[k], float) else test[k]
               for k in _METRIC_KEYS if k in test}
    if metrics:
        entry["metrics"] = metrics
    return entry


def summary_differences(entry: CatalogueEntry, meta: ModelMetadata) -> list[str]:
    """Where a catalogue entry's summary disagrees with the file's own metadata."""
    want = summary_from_metadata(meta)
    have = {"classes": [{"value": c.value, "name": c.name, "colour": c.colour}
                        for c in entry.classes],
            "inputs": {n: {"bands": [{"name": b, "description": d} for b, d in s.bands],
                           "units": s.units, "accepts": list(s.accepts)}
                       for n, s in entry.inputs.items()}}
    out = []
    if have["classes"] != want["classes"]:
        out.append("classes")
    for name in want["inputs"]:
        w, h = want["inputs"][name], have["inputs"][name]
        if [b["name"] for b in w["bands"]] != [b["name"] for b in h["bands"]] \
                or w["units"] != h["units"] or set(w["accepts"]) != set(h["accepts"]):
            out.append(f"inputs.{name}")
    if entry.version != meta.version:
        out.append("version")
    return out


def add_to_catalogue(catalogue: Path, entry: dict[str, Any], name: str | None) -> None:
    """Add or replace (same id and version) `entry` in the catalogue file, validating first."""
    if catalogue.is_file():
        data = json.loads(catalogue.read_text(encoding="utf-8"))
    else:
        data = {"catalogue_version": CATALOGUE_VERSION, "name": name or catalogue.stem,
                "description": "", "models": []}
    data["models"] = [m for m in data.get("models", [])
                      if (m.get("id"), m.get("version")) != (entry["id"], entry["version"])]
    data["models"].append(entry)
    parse_catalogue(data, str(catalogue))  # never write an invalid catalogue
    tmp = catalogue.with_suffix(catalogue.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(catalogue)


def validate(catalogue: Path, check_files: bool) -> list[str]:
    """Problems with a catalogue file (empty: fine); `check_files` hashes local URLs too."""
    data = catalogue.read_bytes()
    try:
        cat = parse_catalogue(data, str(catalogue), allow_embedded=True)
    except CatalogueError as exc:
        return [str(exc)]
    problems = []
    for entry in cat.entries:
        paths = [p for p in (local_path(u) for u in entry.urls) if p is not None]
        if entry.embedded:
            paths.append(catalogue.parent / entry.file_name)
        for path in paths if check_files else []:
            if not path.is_file():
                problems.append(f"{entry.key}: {path} does not exist")
            elif path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
                problems.append(f"{entry.key}: {path} has another size or SHA-256")
            else:
                diff = summary_differences(entry, read_model_metadata(path))
                if diff:
                    problems.append(f"{entry.key}: {', '.join(diff)} differ from {path.name}'s "
                                    "metadata")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m upseg_qgis.core.models.catalogue_tools",
                                 description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add (or replace) a model in a catalogue file")
    add.add_argument("catalogue", type=Path)
    add.add_argument("model", type=Path)
    add.add_argument("--id", required=True, help="the id users type as MODEL")
    add.add_argument("--url", action="append", default=[],
                     help="where to download it (repeat for mirrors; relative = beside the "
                          "catalogue)")
    add.add_argument("--name")
    add.add_argument("--description")
    add.add_argument("--catalogue-name", help="name of a new catalogue")
    val = sub.add_parser("validate", help="check a catalogue file")
    val.add_argument("catalogue", type=Path)
    val.add_argument("--check-files", action="store_true",
                     help="also hash the files that local URLs point to")
    args = ap.parse_args(argv)
    try:
        if args.command == "add":
            if not args.url:
                ap.error("give at least one --url")
            entry = entry_from_model(args.model, args.id, args.url, args.name, args.description)
            parse_entry(entry, str(args.catalogue), 0)
            add_to_catalogue(args.catalogue, entry, args.catalogue_name)
            print(f"{args.catalogue}: {entry['id']}@{entry['version']} "
                  f"({entry['size']} bytes, {entry['sha256']})")
            return 0
        problems = validate(args.catalogue, args.check_files)
    except (CatalogueError, MetadataError, OnnxFileError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"{args.catalogue}: valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
