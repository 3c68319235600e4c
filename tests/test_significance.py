"""Welch's t-test and bootstrap interval used in ablation verdicts."""

from __future__ import annotations

import math

import pytest

from model_export.evaluation.significance import betainc, compare, t_two_sided_p, welch
from model_export.recipes.ablation_stats import significance_section


def test_t_distribution_tail_matches_known_values() -> None:
    # Textbook critical values: t = 2.228 at df 10 and 1.96 at df -> inf give p = 0.05.
    assert t_two_sided_p(2.228, 10) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided_p(1.96, 1e6) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided_p(0.0, 5) == pytest.approx(1.0)
    assert betainc(2.0, 3.0, 0.4) == pytest.approx(0.5248, abs=1e-4)  # I_0.4(2, 3)


def test_welch_agrees_with_scipy_when_available() -> None:
    stats = pytest.importorskip("scipy.stats")
    a, b = [64.1, 65.0, 63.2, 66.3, 64.8], [62.0, 63.9, 61.7, 64.4]
    t, df, p = welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert t == pytest.approx(ref.statistic, rel=1e-9) and p == pytest.approx(ref.pvalue, rel=1e-6)
    assert 3 < df < 7
    a5 = [*a[:4]]
    ref_paired = stats.ttest_rel(a5, b)
    from model_export.evaluation.significance import paired

    assert paired(a5, b)[2] == pytest.approx(ref_paired.pvalue, rel=1e-6)


def test_verdicts_separate_real_and_noise_differences() -> None:
    clear = compare("a", [70.0, 70.5, 69.8, 70.2, 70.1], "b", [65.0, 64.6, 65.3, 64.9, 65.2])
    noise = compare("a", [70.0, 68.0, 72.0, 69.0, 71.0], "b", [69.5, 71.5, 68.5, 70.5, 70.0])
    assert clear.significant() and clear.ci_low > 0 and clear.p < 1e-6
    assert not noise.significant() and noise.ci_low < 0 < noise.ci_high
    assert math.isnan(welch([1.0], [2.0, 3.0])[2])
    # Power: 2.802 standard errors (normal approximation of 80 % power, two-sided 5 %).
    se = noise.detectable / 2.802
    assert se == pytest.approx(math.sqrt(2.5 / 5 + 1.25 / 5), rel=1e-9)


def test_report_section_names_each_comparison() -> None:
    results = [{"model": m, "seed": s, "test": {"miou": v / 100, "iou": [0.9, v / 100],
                                                "class_names": ["dry", "water"]}}
               for m, vals in (("full", [70, 71, 70.5]), ("no_vem", [65, 66, 65.5]),
                               ("late", [70.2, 70.9, 70.4]))
               for s, v in enumerate(vals)]
    text = significance_section(results, ["full", "no_vem", "late"])
    assert "`full` vs `no_vem`: +5.00 points water IoU" in text
    assert text.count("**significant**") == 1 and text.count("**not significant**") == 1


def _results(scores: dict[str, dict[int, float]]) -> list[dict]:
    return [{"model": m, "seed": s, "test": {"miou": v / 100, "iou": [0.9, v / 100],
                                             "class_names": ["dry", "water"]}}
            for m, by_seed in scores.items() for s, v in by_seed.items()]


def test_a_paired_design_is_judged_by_the_paired_test() -> None:
    stats = pytest.importorskip("scipy.stats")
    # Seeds spread widely, but every seed gains about one point: paired, clearly significant;
    # Welch (which ignores the pairing) sees only the spread.
    full = [60.0, 65.0, 70.0, 75.0, 80.0]
    ablated = [f - g for f, g in zip(full, [1.0, 1.2, 0.9, 1.1, 1.0], strict=True)]
    ref = stats.ttest_rel(full, ablated)
    assert stats.ttest_ind(full, ablated, equal_var=False).pvalue > 0.5
    text = significance_section(_results({"full": dict(enumerate(full)),
                                          "abl": dict(enumerate(ablated))}), ["full", "abl"])
    verdict = text.split("Verdict (computed, water IoU):")[1]
    assert f"paired t = {ref.statistic:.2f} (df 4.0), p = {ref.pvalue:.3g}" in verdict
    assert "**significant**" in verdict and "5 run pairs" in verdict


def test_different_seeds_fall_back_to_welch() -> None:
    stats = pytest.importorskip("scipy.stats")
    a, b = [70.0, 70.5, 69.8], [65.0, 64.6, 65.3]
    ref = stats.ttest_ind(a, b, equal_var=False)
    text = significance_section(_results({"full": dict(zip((0, 1, 2), a, strict=True)),
                                          "abl": dict(zip((3, 4, 5), b, strict=True))}),
                                ["full", "abl"])
    assert f"Welch t = {ref.statistic:.2f}" in text and f"p = {ref.pvalue:.3g}" in text


def test_runs_pair_by_fold_and_seed() -> None:
    """Grouped-fold ablations pair run by run on (fold, seed): the same seed on another fold is
    another pair, and a variant missing a fold is not paired at all."""
    stats = pytest.importorskip("scipy.stats")
    full = {(0, 0): 60.0, (0, 1): 61.0, (1, 0): 70.0, (1, 1): 72.0}
    abl = {(0, 0): 59.0, (0, 1): 60.2, (1, 0): 69.1, (1, 1): 70.8}

    def rows(name: str, by_unit: dict[tuple[int, int], float]) -> list[dict]:
        return [{"model": name, "fold": f, "seed": s,
                 "test": {"miou": v / 100, "iou": [0.9, v / 100], "class_names": ["dry", "water"]}}
                for (f, s), v in by_unit.items()]

    keys = sorted(full)
    ref = stats.ttest_rel([full[k] for k in keys], [abl[k] for k in keys])
    text = significance_section(rows("full", full) + rows("abl", abl), ["full", "abl"])
    verdict = text.split("Verdict (computed, water IoU):")[1]
    assert f"paired t = {ref.statistic:.2f} (df 3.0)" in verdict and "4 run pairs" in verdict
    partial = {k: v for k, v in abl.items() if k[0] == 0}
    text = significance_section(rows("full", full) + rows("abl", partial), ["full", "abl"])
    assert "Welch t" in text.split("Verdict (computed, water IoU):")[1]
