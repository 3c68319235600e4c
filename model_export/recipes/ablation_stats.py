"""The significance section of an ablation report: the first variant (the full model) against
every other, per metric, Welch's t-test over seeds plus a bootstrap interval; the verdict says in
words which differences are significant at the 5 % level and which are not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model_export.evaluation.evaluate import select_metric
from model_export.evaluation.significance import Comparison, compare

METRICS = (("water IoU", "iou:water"), ("mIoU", "miou"))


def _scores(results: Sequence[dict[str, Any]], variant: str, key: str) -> list[float]:
    rows = sorted((r for r in results if r["model"] == variant), key=lambda r: r["seed"])
    return [100 * float(select_metric(r["test"], key)) for r in rows]


def comparisons(results: Sequence[dict[str, Any]], variants: Sequence[str], key: str
                ) -> list[Comparison]:
    ref = variants[0]
    return [compare(ref, _scores(results, ref, key), v, _scores(results, v, key))
            for v in variants[1:]]


def _sentence(c: Comparison, label: str) -> str:
    sig = "**significant**" if c.significant() else "**not significant**"
    return (f"`{c.a}` vs `{c.b}`: {c.mean_diff:+.2f} points {label}, Welch t = {c.t:.2f} "
            f"(df {c.df:.1f}), p = {c.p:.3g}, bootstrap 95 % CI [{c.ci_low:+.2f}, "
            f"{c.ci_high:+.2f}]: {sig} at the 5 % level ({c.n_a} vs {c.n_b} seeds; a true "
            f"difference of about {c.detectable:.1f} points would be found with 80 % power).")


def significance_section(results: Sequence[dict[str, Any]], variants: Sequence[str]) -> str:
    if len(variants) < 2:
        return ""
    lines = ["## Significance (computed)", "",
             f"Each row: `{variants[0]}` minus the other variant, in points, over seeds. Welch's "
             "t-test (unequal variances, two-sided) and a percentile bootstrap interval of the "
             "difference of means (10 000 resamples of the seeds). Significant: p < 0.05 and the "
             "interval excludes 0. Paired p: paired t-test over seeds (seed i of every variant "
             "starts from the same weights of the shared parts and sees the same data order); "
             "supporting information, the verdict uses Welch.", "",
             "| comparison | metric | difference | t | df | p | bootstrap 95 % CI | verdict | "
             "paired p |", "|---|---|---:|---:|---:|---:|---|---|---:|"]
    verdicts = []
    for label, key in METRICS:
        for c in comparisons(results, variants, key):
            lines.append(f"| `{c.a}` − `{c.b}` | {label} | {c.mean_diff:+.2f} | {c.t:.2f} | "
                         f"{c.df:.1f} | {c.p:.3g} | [{c.ci_low:+.2f}, {c.ci_high:+.2f}] | "
                         f"{'significant' if c.significant() else 'not significant'} | "
                         f"{c.paired_p:.3g} |")
            if key == METRICS[0][1]:
                verdicts.append(_sentence(c, label))
    return "\n".join([*lines, "", "Verdict (computed, water IoU):", "",
                      *[f"- {v}" for v in verdicts], ""])
