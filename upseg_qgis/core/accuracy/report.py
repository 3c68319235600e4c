"""The accuracy assessment as a self-contained HTML page."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import numpy as np

from .evaluation import EvaluationResult


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.2f}" if pct else f"{v:.4f}"


def html_report(result: EvaluationResult, mapping: Mapping[int, int] | None = None,
                ignore_value: int | None = None) -> str:
    m = result.metrics
    esc = html.escape
    values, names = result.values, m["class_names"]
    head = "".join(f"<th>{esc(n)}<br><small>{v}</small></th>" for v, n in zip(values, names,
                                                                              strict=True))
    cm_rows = []
    cm = np.asarray(m["confusion_matrix"], np.int64)
    for i, (v, n) in enumerate(zip(values, names, strict=True)):
        cells = "".join(
            f"<td class='{'diag' if i == j else ''}'>{cm[i, j]}</td>" for j in range(len(values))
        )
        cm_rows.append(f"<tr><th>{esc(n)} <small>{v}</small></th>{cells}"
                       f"<td>{cm[i].sum()}</td></tr>")
    totals = "".join(f"<td>{c}</td>" for c in cm.sum(0))
    cm_rows.append(f"<tr><th>total</th>{totals}<td>{cm.sum()}</td></tr>")
    per_class = "".join(
        f"<tr><td>{esc(n)}</td><td>{v}</td><td>{_fmt(m['pa'][i])}</td>"
        f"<td>{_fmt(m['precision'][i])}</td><td>{_fmt(m['iou'][i])}</td>"
        f"<td>{_fmt(m['f1'][i])}</td><td>{m['support'][i]}</td><td>{m['predicted'][i]}</td></tr>"
        for i, (v, n) in enumerate(zip(values, names, strict=True))
    )
    mapping_s = ", ".join(f"{k}&rarr;{v}" for k, v in (mapping or {}).items()) or "none"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>UPSeg accuracy assessment</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
th, td {{ border: 1px solid #999; padding: 3px 8px; text-align: right; }}
th {{ background: #eee; }} td.diag {{ background: #d8f0d8; font-weight: bold; }}
</style></head><body>
<h1>Accuracy assessment</h1>
<p>Prediction: <code>{esc(result.inputs.get('prediction', ''))}</code><br>
Reference: <code>{esc(result.inputs.get('reference', ''))}</code> ({esc(result.alignment)})<br>
Class mapping (reference &rarr; predicted): {mapping_s}; ignore value:
{'none' if ignore_value is None else ignore_value}<br>
Pixels evaluated: {result.evaluated_pixels} of {result.total_pixels}
(ignored: nodata, outside the reference or ignore value: {result.ignored_pixels})</p>
<h2>Summary</h2>
<table><tr><th>OA (%)</th><th>mPA (%)</th><th>mIoU (%)</th><th>FWIoU (%)</th><th>mF1 (%)</th>
<th>Kappa</th></tr>
<tr><td>{_fmt(m['oa'])}</td><td>{_fmt(m['mpa'])}</td><td>{_fmt(m['miou'])}</td>
<td>{_fmt(m['fwiou'])}</td><td>{_fmt(m['mf1'])}</td><td>{_fmt(m['kappa'], pct=False)}</td></tr>
</table>
<h2>Confusion matrix</h2>
<p>Rows: reference; columns: prediction (pixel counts).</p>
<table><tr><th>reference \\ predicted</th>{head}<th>total</th></tr>
{''.join(cm_rows)}</table>
<h2>Per class</h2>
<table><tr><th>class</th><th>value</th><th>PA / recall (%)</th><th>precision / UA (%)</th>
<th>IoU (%)</th><th>F1 (%)</th><th>reference pixels</th><th>predicted pixels</th></tr>
{per_class}</table>
<p><small>PA = TP / reference pixels, precision = TP / predicted pixels, IoU = TP / (R + P - TP),
F1 = 2 TP / (R + P); mean values skip classes where the metric is undefined (n/a).
Metric code: upseg_qgis.core.accuracy.metrics, shared with the training side.</small></p>
</body></html>
"""
