"""The significance section of an ablation report: the first variant (the full model) against
every other, per metric. Seed i of every variant starts the shared parts from the same weights
and sees the same data order on the same fold, so where both variants ran the same folds x seeds
the design is paired (the unit is one fold-and-seed run) and the verdict uses the paired t-test
(Welch's p is shown beside it); otherwise Welch's. The verdict says in words which differences
are significant at the 5 % level and which are not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model_export.evaluation.evaluate import select_metric
from model_export.evaluation.significance import Comparison, compare

METRICS = (("water IoU", "iou:water"), ("mIoU", "miou"))


Unit = tuple[int, int]  # (fold, seed): one run of every variant, the pairing unit


def _scores(results: Sequence[dict[str, Any]], variant: str, key: str) -> dict[Unit, float]:
    """(fold, seed) -> score in %; runs without folds have fold -1."""
    return {(-1 if r.get("fold") is None else int(r["fold"]), int(r["seed"])):
            100 * float(select_metric(r["test"], key)) for r in results if r["model"] == variant}


def comparisons(results: Sequence[dict[str, Any]], variants: Sequence[str], key: str
                ) -> list[Comparison]:
    ref = _scores(results, variants[0], key)
    out = []
    for v in variants[1:]:
        other = _scores(results, v, key)
        paired = set(ref) == set(other)  # the same folds x seeds: pair them run by run
        seeds_a, seeds_b = sorted(ref), sorted(other)
        out.append(compare(variants[0], [ref[s] for s in seeds_a], v,
                           [other[s] for s in seeds_b], paired_by_seed=paired))
    return out


def _seeds(c: Comparison) -> str:
    return f"{c.n_a} run pairs" if c.test == "paired" else f"{c.n_a} vs {c.n_b} runs"


def _sentence(c: Comparison, label: str) -> str:
    sig = "**significant**" if c.significant() else "**not significant**"
    return (f"`{c.a}` vs `{c.b}`: {c.mean_diff:+.2f} points {label}, {c.test} t = {c.t:.2f} "
            f"(df {c.df:.1f}), p = {c.p:.3g}, bootstrap 95 % CI [{c.ci_low:+.2f}, "
            f"{c.ci_high:+.2f}]: {sig} at the 5 % level ({_seeds(c)}; a true "
            f"difference of about {c.detectable:.1f} points would be found with 80 % power).")


def significance_section(results: Sequence[dict[str, Any]], variants: Sequence[str]) -> str:
    if len(variants) < 2:
        return ""
    lines = ["## Significance (computed)", "",
             f"Each row: `{variants[0]}` minus the other variant, in points, over runs. Seed i "
             "of every variant starts the shared parts from the same weights and sees the same "
             "data order on the same fold, so variants run on the same folds x seeds are "
             "compared **paired**: the paired t-test on the per-run differences (two-sided) and "
             "a percentile bootstrap interval of their mean (10 000 resamples of the run pairs); "
             "variants with other runs fall back to Welch's t-test. Significant: p < 0.05 and "
             "the interval excludes 0. Other p: the other test (Welch's, which ignores the "
             "pairing), for reference only.", "",
             "| comparison | metric | difference | test | t | df | p | bootstrap 95 % CI | "
             "verdict | other p |", "|---|---|---:|---|---:|---:|---:|---|---|---:|"]
    verdicts = []
    for label, key in METRICS:
        for c in comparisons(results, variants, key):
            lines.append(f"| `{c.a}` − `{c.b}` | {label} | {c.mean_diff:+.2f} | {c.test} | "
                         f"{c.t:.2f} | "
                         f"{c.df:.1f} | {c.p:.3g} | [{c.ci_low:+.2f}, {c.ci_high:+.2f}] | "
                         f"{'significant' if c.significant() else 'not significant'} | "
                         f"{c.other_p:.3g} |")
            if key == METRICS[0][1]:
                verdicts.append(_sentence(c, label))
    return "\n".join([*lines, "", "Verdict (computed, water IoU):", "",
                      *[f"- {v}" for v in verdicts], ""])
