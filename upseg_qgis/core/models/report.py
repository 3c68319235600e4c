"""What a model expects and produces, for people: one report, rendered as HTML or plain text.

Built from the model file's own metadata when the file is there, else from its catalogue entry
(a summary: enough to choose before downloading). `upseg:model_info` writes both renderings; the
segment dialog's help shows the compact HTML one. Pure Python: no QGIS.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract.metadata import UNITS, InputSpec, ModelMetadata
from .catalogue import CatalogueEntry

MIB = 1 << 20
_TITLES = {"optical": "Optical input", "sar": "SAR input"}
_METRICS = (("oa", "OA"), ("mpa", "mPA"), ("miou", "mIoU"), ("fwiou", "FWIoU"),
            ("mf1", "mF1"), ("kappa", "Kappa"))


@dataclass(frozen=True)
class Colour:
    hex: str


@dataclass
class Section:
    title: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (label, text)
    header: list[str] = field(default_factory=list)
    rows: list[list[str | Colour]] = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section]

    def to_text(self) -> str:
        out = [self.title, "=" * len(self.title)]
        if self.subtitle:
            out.append(self.subtitle)
        for s in self.sections:
            out += ["", s.title, "-" * len(s.title)]
            out += [f"{k}: {v}" if k else v for k, v in s.lines]
            if s.rows:
                out += _text_table(s.header, s.rows)
        return "\n".join(out) + "\n"

    def to_html(self, full_page: bool = True, title: bool = True) -> str:
        body = [f"<h2>{_e(self.title)}</h2>"] if title else []
        if self.subtitle:
            body.append(f"<p>{_e(self.subtitle)}</p>")
        for s in self.sections:
            body.append(f"<h3>{_e(s.title)}</h3>")
            body += [f"<p><b>{_e(k)}:</b> {_e(v)}</p>" if k else f"<p>{_e(v)}</p>"
                     for k, v in s.lines]
            if s.rows:
                body.append(_html_table(s.header, s.rows))
        inner = "\n".join(body)
        if not full_page:
            return inner
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{_e(self.title)}</title></head><body>\n{inner}\n</body></html>\n")


def _e(text: str) -> str:
    return html.escape(str(text), quote=False)


def _cell_text(c: str | Colour) -> str:
    return c.hex if isinstance(c, Colour) else c


def _text_table(header: list[str], rows: list[list[str | Colour]]) -> list[str]:
    table = [header, *[[_cell_text(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in table]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def _html_cell(c: str | Colour) -> str:
    if isinstance(c, Colour):  # a swatch QTextBrowser and browsers both draw
        return (f"<td><span style=\"background-color:{c.hex}\">&nbsp;&nbsp;&nbsp;&nbsp;"
                f"</span>&nbsp;{_e(c.hex)}</td>")
    return f"<td>{_e(c)}</td>"


def _html_table(header: list[str], rows: list[list[str | Colour]]) -> str:
    head = "".join(f"<th align=\"left\">{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_html_cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table border=\"1\" cellspacing=\"0\" cellpadding=\"3\"><tr>{head}</tr>{body}</table>"


def _source(entry: CatalogueEntry) -> str:
    from .store import SHIPPED_CATALOGUE

    return "the plugin's own catalogue" if entry.source == str(SHIPPED_CATALOGUE) \
        else entry.source


def _pct(v: Any) -> str:
    return f"{100 * v:.1f} %" if isinstance(v, (int, float)) else str(v)


def _units_lines(spec: InputSpec) -> list[tuple[str, str]]:
    lines = [("Units", f"{spec.units}: {UNITS.get(spec.units, '')}; data type {spec.dtype}")]
    for conv in spec.conversions:
        lines.append(("Also accepts", f"{conv.source_units}: {conv.description}".rstrip(": ")))
    lo, hi = spec.clip
    mean = ", ".join(f"{m:.4g}" for m in spec.mean)
    std = ", ".join(f"{s:.4g}" for s in spec.std)
    lines.append(("Normalisation", f"clip to [{lo:g}, {hi:g}], then (x - [{mean}]) / [{std}]"))
    return lines


def _input_section(name: str, spec: InputSpec) -> Section:
    rows: list[list[str | Colour]] = [[str(i), b.name, b.description, ", ".join(b.aliases)]
                              for i, b in enumerate(spec.bands, 1)]
    return Section(_TITLES[name], _units_lines(spec),
                   ["#", "band", "description", "also matches"], rows)


def _classes_section(classes: Any, nodata: int | None) -> Section:
    rows: list[list[str | Colour]] = [[str(c.value), Colour(c.colour), c.name] for c in classes]
    lines = [("No data", f"{nodata} where either input is missing")] if nodata is not None \
        else []
    return Section("Classes (output values)", lines, ["value", "colour", "name"], rows)


def _metrics_section(test: dict[str, Any], names: list[str]) -> Section | None:
    if not any(k in test for k, _ in _METRICS):
        return None
    overall = ", ".join(f"{label} {_pct(test[k])}" if k != "kappa" else f"Kappa {test[k]:.3f}"
                        for k, label in _METRICS if k in test)
    sec = Section("Test metrics", [("Split", str(test.get("split", "the test split"))),
                                   ("Overall", overall)])
    per = [k for k in ("iou", "f1", "pa") if isinstance(test.get(k), list)]
    if per and names:
        sec.header = ["class", *[{"iou": "IoU", "f1": "F1", "pa": "PA (recall)"}[k] for k in per]]
        sec.rows = [[n, *[_pct(test[k][i]) for k in per]] for i, n in enumerate(names)
                    if all(i < len(test[k]) for k in per)]
    for key, base in test.items():
        if isinstance(base, dict) and "miou" in base:
            label = key.replace("_", " ")
            sec.lines.append((f"Baseline: {label}", ", ".join(
                f"{lab} {_pct(base[k])}" for k, lab in _METRICS if k in base and k != "kappa")))
    return sec


def _training_section(meta: ModelMetadata) -> Section | None:
    t = meta.training
    labels = (("dataset_description", "Data"), ("dataset_citation", "Data citation"),
              ("dataset_licence", "Data licence"), ("epochs", "Epochs (best)"),
              ("exported", "Exported"))
    lines = [(label, str(t[k])) for k, label in labels if t.get(k) not in (None, "")]
    return Section("Training", lines) if lines else None


def metadata_report(meta: ModelMetadata, path: Path | None = None,
                    entry: CatalogueEntry | None = None, compact: bool = False) -> Report:
    """The full report of a model file (its metadata), with its catalogue entry if known."""
    title = entry.name if entry else meta.name
    subtitle = meta.description or (entry.description if entry else "")
    about = Section("Model", [("Name", f"{meta.name} ({meta.variant}), version {meta.version}")])
    if entry is not None:
        about.lines.append(("Catalogue id", f"{entry.id} (from {_source(entry)})"))
    if path is not None:
        about.lines.append(("File", f"{path} ({path.stat().st_size / MIB:.1f} MiB)"))
    about.lines.append(("Resolution", f"about {meta.gsd_m:g} m per pixel (training data)"))
    about.lines.append(("Tiling", f"tiles of {meta.tile_size} px, {meta.overlap} px overlap, "
                                  f"sizes a multiple of {meta.multiple_of}"))
    inputs = [_input_section("optical", meta.optical), _input_section("sar", meta.sar)]
    classes = _classes_section(meta.classes, meta.nodata_value)
    # The dialog's help leads with what comes out; the full report with what goes in.
    sections = [about, classes, *inputs] if compact else [about, *inputs, classes]
    test = meta.training.get("test_metrics", {})
    names = list(test.get("class_names", [c.name for c in meta.classes]))
    metrics = _metrics_section(test, names)
    if metrics:
        sections.append(metrics)
    training = None if compact else _training_section(meta)
    if training:
        sections.append(training)
    sections.append(Section("Licence and citation", [
        ("Licence", meta.licence or "not stated"), ("Citation", meta.citation or "not stated")]))
    if compact:  # the dialog: bands and units, without normalisation numbers
        for s in inputs:
            s.lines = [ln for ln in s.lines if ln[0] != "Normalisation"]
    return Report(title, subtitle, sections)


def entry_report(entry: CatalogueEntry, status: str) -> Report:
    """A catalogue entry whose file is not on this machine (yet): its summary."""
    about = Section("Model", [
        ("Catalogue id", f"{entry.id}, version {entry.version} (from {_source(entry)})"),
        ("Status", status),
        ("Download", f"{entry.size / MIB:.1f} MiB, SHA-256 {entry.sha256}"),
        *[("URL", u) for u in entry.urls],
    ])
    if entry.gsd_m:
        about.lines.append(("Resolution", f"about {entry.gsd_m:g} m per pixel (training data)"))
    if entry.notes:
        about.lines.append(("Notes", entry.notes))
    sections = [about]
    for name, summary in entry.inputs.items():
        units = summary.units + (f"; also accepts {', '.join(summary.accepts)}"
                                 if summary.accepts else "")
        rows: list[list[str | Colour]] = [[str(i), b, d]
                                          for i, (b, d) in enumerate(summary.bands, 1)]
        sections.append(Section(_TITLES[name], [("Units", units)],
                                ["#", "band", "description"], rows))
    sections.append(_classes_section(entry.classes, None))
    metrics = _metrics_section(entry.metrics, [])
    if metrics:
        sections.append(metrics)
    sections.append(Section("Licence and citation", [
        ("Licence", entry.licence), ("Citation", entry.citation or "not stated")]))
    return Report(entry.name, entry.description, sections)
