"""``python -m model_export ablation --config model_export/configs/ablation_ombria.yaml``.

UPSeg against its baselines and its own ablations under one budget, several seeds: every run is a
normal training run (``train.run``) of the base config with only ``model.name`` and ``seed``
changed; the best-on-validation checkpoint of each run is then evaluated on the report split
(OMBRIA: the official ``test/``). The table of mean ± sample std over seeds is written to the
report (``docs/ablation.md``) together with the exact command line, the budget and per-seed
numbers. Finished runs are reused (``--force`` retrains), so an interrupted ablation resumes.

Not part of ``make test``: on 2 CPU cores it takes tens of minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from model_export.evaluation.evaluate import evaluate_checkpoint, select_metric
from model_export.recipes.ablation_chip import add_chip_score
from model_export.recipes.ablation_stats import significance_section
from model_export.training.config import REPO_ROOT, deep_merge, load_config
from model_export.training.train import run
from upseg_qgis.core.accuracy.metrics import jsonable

WHAT: dict[str, str] = {
    "upseg_tiny": "UPSeg: bidirectional prompts + VEM",
    "upseg_tiny_no_vem": "UPSeg without VEM",
    "upseg_tiny_no_prompts": "UPSeg without prompts",
    "optical_only_tiny": "S2 only (optical)",
    "sar_only_tiny": "S1 only (SAR)",
    "early_fusion_tiny": "early fusion (stacked input)",
    "late_fusion_tiny": "late fusion (two encoders, fused decoder)",
    "upseg_base": "UPSeg, base size",
    "upseg_dofa_tiny": "UPSeg-DOFA: prompts + cross-attention VEM",
    "upseg_dofa_tiny_no_prompts": "UPSeg-DOFA without prompts",
    "upseg_dofa_tiny_no_vem": "UPSeg-DOFA without VEM",
    "late_fusion_dofa_tiny": "late fusion: shared DOFA encoder, fused decoder",
    "galileo_nano_linear": "frozen Galileo-nano, joint tokens, linear head (probe)",
    "galileo_nano_late_fusion": "frozen Galileo-nano per modality, skip decoder",
    "upseg_galileo_nano_no_vem": "UPSeg-Galileo, frozen, prompts only",
    "upseg_galileo_nano": "UPSeg-Galileo, frozen: prompts + VEM (prompt tuning)",
    "upseg_galileo_nano_ft": "UPSeg-Galileo, full fine-tuning",
    "upseg_tiny@default_recipe": "the shipped default's recipe at its own budget, from scratch",
}
COLUMNS = (("water IoU", "iou:water"), ("mIoU", "miou"), ("mPA", "mpa"), ("OA", "oa"))


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.array([x for x in values if x is not None and not math.isnan(x)], np.float64)
    if not v.size:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def _fmt(mean: float, std: float) -> str:
    return "n/a" if math.isnan(mean) else f"{100 * mean:.2f} ± {100 * std:.2f}"


def run_one(cfg: dict[str, Any], split: str, force: bool, score: str = "best",
            fold: int | None = None, label: str | None = None,
            score_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train one run (or reuse its stored result) and score its `score` checkpoint ("best":
    the epoch chosen on the validation split; "last": no epoch picking) on `split`, with the
    run's data config updated by `score_data` (every row scored on the same labels)."""
    out = Path(cfg["output_dir"])
    result_path = out / f"ablation_{split}.json"
    if result_path.is_file() and not force:
        return json.loads(result_path.read_text())
    t0 = time.time()
    summary = run(cfg, resume="auto")  # a run cut off mid-way continues from its last epoch
    train_seconds = time.time() - t0
    checkpoint = summary["last_checkpoint" if score == "last" else "best_checkpoint"]
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    stored = ckpt.get("val_metrics") or {}
    same_data = deep_merge(cfg["data"], score_data or {}) == cfg["data"]
    if score == "last" and split == "val" and same_data and not math.isnan(
            stored.get("miou", math.nan)):
        metrics = stored  # the last epoch was scored on this very split during training
    else:
        metrics = evaluate_checkpoint(checkpoint, split, data_overrides=score_data)
    result = {"model": label or cfg["model"]["name"], "seed": cfg["seed"], "fold": fold,
              "scored": score, "split": split,
              "best_epoch": summary["best_epoch"], "val_select": summary["best_metric"],
              "select_metric": summary["select_metric"], "train_seconds": train_seconds,
              "test": jsonable(metrics)}
    result["parameters"] = int(sum(v.numel() for v in ckpt["state_dict"].values()
                                   if v.is_floating_point()))
    result_path.write_text(json.dumps(result, indent=2))
    return result


def verdict(means: dict[str, float], stds: dict[str, float], variants: Sequence[str],
            metric: str = "water IoU") -> str:
    """The computed verdict: does the reference row (the first variant, as in the significance
    section) have the highest
    mean `metric` (NaN ranks last), by how much, and is the margin larger than the spread over
    seeds (the larger standard deviation of the two)? Means and stds are fractions."""
    upseg = variants[0]
    ranked = sorted(variants, key=lambda v: -np.nan_to_num(means[v], nan=-1))
    lead = ranked[0]
    if lead == upseg and len(ranked) > 1:
        other = ranked[1]
        text = (f"`{upseg}` has the highest mean {metric}, "
                f"{100 * (means[upseg] - means[other]):+.2f} points over `{other}`.")
    else:
        other = lead
        text = (f"`{upseg}` does **not** have the highest mean {metric}: `{lead}` leads by "
                f"{100 * (means[lead] - means[upseg]):.2f} points "
                f"(rank of `{upseg}`: {ranked.index(upseg) + 1} of {len(ranked)}).")
    if other != upseg:
        margin = abs(means[upseg] - means[other])
        spread = max(np.nan_to_num(stds.get(upseg, 0.0)), np.nan_to_num(stds.get(other, 0.0)))
        if not margin > spread:
            text += (f" The margin is within one standard deviation over seeds "
                     f"({100 * spread:.2f} points): not evidence either way.")
    return text


def _summary_rows(results: list[dict[str, Any]], variants: Sequence[str]
                  ) -> tuple[list[str], dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The table's rows (mean ± std over seeds), and the means and stds per variant and column."""
    rows = []
    means: dict[str, dict[str, float]] = {}
    stds: dict[str, dict[str, float]] = {}
    for v in variants:
        rs = [r for r in results if r["model"] == v]
        cells = []
        means[v], stds[v] = {}, {}
        for label, key in COLUMNS:
            m, s = _mean_std([select_metric(r["test"], key) for r in rs])
            means[v][label], stds[v][label] = m, s
            cells.append(_fmt(m, s))
        params = rs[0].get("parameters", 0) if rs else 0
        minutes = np.mean([r["train_seconds"] for r in rs]) / 60 if rs else math.nan
        chip = _mean_std([(r.get("chip") or {}).get("water_iou", math.nan) for r in rs])
        rows.append(f"| `{v}` | {WHAT.get(v, '')} | {' | '.join(cells)} | {params / 1e3:.0f} k | "
                    f"{minutes:.1f} | {len(rs)} | {_fmt(*chip)} |")
    return rows, means, stds


def _seed_rows(results: list[dict[str, Any]], variants: Sequence[str]) -> list[str]:
    return [
        f"| `{r['model']}` | {'' if r.get('fold') is None else r['fold']} | {r['seed']} | "
        f"{r['best_epoch']} | "
        + " | ".join(f"{100 * select_metric(r['test'], key):.2f}" for _, key in COLUMNS)
        + f" | {r['train_seconds'] / 60:.1f} |"
        for v in variants for r in sorted((x for x in results if x["model"] == v),
                                          key=lambda x: (x.get("fold") or 0, x["seed"]))
    ]


def _data_line(budget: dict[str, Any], split: str) -> str:
    """Which patches trained and which were scored, as the config ran them."""
    caps = budget.get("max_samples") or {}
    cap = ", ".join(f"{k} capped at {v} patches" for k, v in caps.items() if v)
    if budget.get("val_scheme") == "grouped":
        folds = budget.get("folds")
        return (f"`{budget['dataset']}` training split in grouped (spatial) folds; each run "
                f"trains on the other folds and is scored on its own fold "
                f"({'folds ' + ', '.join(map(str, folds)) if folds else 'the configured fold'})"
                f"{'; ' + cap if cap else ''}. The official test split is not used.")
    return (f"`{budget['dataset']}`, training split minus a fixed validation split "
            f"({budget['val_fraction']:.0%} of it, split seed {budget['split_seed']}) for "
            f"training and model selection; metrics on the **{split}** split, never seen "
            f"during training{'; ' + cap if cap else ''}.")


def _report_header(command: str, budget: dict[str, Any], split: str,
                   wall_seconds: float) -> list[str]:
    """Title, command line, date, machine, data and budget: what makes the table reproducible."""
    return [
        f"# {budget['title']}",
        "",
        "Produced by the ablation command; do not edit by hand. Command line:",
        "",
        "```",
        command,
        "```",
        "",
        f"- Date: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}; wall-clock "
        f"{wall_seconds / 60:.1f} min for the runs done in this invocation.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPU core(s) (shared), torch "
        f"{torch.__version__}, CUDA {'yes' if torch.cuda.is_available() else 'no'}.",
        f"- Data: {_data_line(budget, split)}",
        "- Budget" + (" of the first row" if budget.get("own_recipes")
                      else ", identical for every row")
        + f": {budget['epochs']} epochs, batch "
        f"{budget['batch_size']}, "
        f"{f'random {crop} px crops' if (crop := budget['crop']) else 'whole patches'}, "
        f"AdamW lr {budget['lr']}, "
        f"cosine schedule, loss {budget['loss']}; "
        + ("the **last** epoch is scored (no epoch picking on the scored data)"
           if budget.get("score") == "last"
           else f"best epoch by validation `{budget['select_metric']}`")
        + f". Seeds: {budget['seeds']} (weights, data order, augmentations)."
        + ("" if not budget.get("own_recipes") else " Rows with their own overrides (see the "
           f"config): {', '.join(f'`{v}`' for v in budget['own_recipes'])}."),
        "- Values: mean ± sample standard deviation over seeds, in %.",
        "",
    ]


def write_report(path: Path, results: list[dict[str, Any]], variants: Sequence[str],
                 command: str, budget: dict[str, Any], split: str, wall_seconds: float) -> str:
    rows, means, stds = _summary_rows(results, variants)
    computed = verdict({v: means[v]["water IoU"] for v in variants},
                       {v: stds[v]["water IoU"] for v in variants}, variants)
    text = "\n".join([
        *_report_header(command, budget, split, wall_seconds),
        f"| model | what it tests | {' | '.join(c for c, _ in COLUMNS)} | parameters | "
        "train min/run | runs | Sen1Floods11 chip water IoU (reported only) |",
        "|---|---|" + "---:|" * (len(COLUMNS) + 4),
        *rows,
        "",
        f"Verdict (computed): {computed}",
        "",
        significance_section(results, variants),
        "## Per run",
        "",
        f"| model | fold | seed | best epoch on val | {' | '.join(c for c, _ in COLUMNS)} | "
        "train min |",
        "|---|---:|---:|---:|" + "---:|" * (len(COLUMNS) + 1),
        *_seed_rows(results, variants),
        "",
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def _variant_seeds(acfg: dict[str, Any], variant: str, seeds: Sequence[int],
                   asked: bool) -> list[int]:
    """The row's own seeds (`variant_seeds`), within those asked on the command line."""
    own = (acfg.get("variant_seeds") or {}).get(variant)
    if own is None:
        return list(seeds)
    return [s for s in own if s in seeds] if asked else list(own)


def _run_config(base_path: Path, acfg: dict[str, Any], common: list[str], out_root: Path,
                variant: str, seed: int, fold: int | None) -> dict[str, Any]:
    """One run's training config: the base config (the variant's own `variant_base_config`, if
    any), the common overrides, the variant's own (`variant_overrides`), then model, seed, fold
    and where the run lives. A variant `model@recipe` is a row of `model` under its own recipe."""
    own = list((acfg.get("variant_overrides") or {}).get(variant, []))
    base = (acfg.get("variant_base_config") or {}).get(variant)
    base_path = REPO_ROOT / base if base else base_path
    where = out_root / variant / f"seed{seed}"
    extra = [f"model.name={variant.split('@')[0]}", f"seed={seed}"]
    if fold is not None:
        where = out_root / f"fold{fold}" / variant / f"seed{seed}"
        extra.append(f"data.options.fold={fold}")
    tag = f"ablation_{variant.replace('@', '_')}_seed{seed}" + (
        "" if fold is None else f"_fold{fold}")
    return load_config(base_path, [*common, *own, *extra, f"experiment={tag}",
                                   f"output_dir={where}"])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model_export ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(REPO_ROOT / "model_export" / "configs"
                                           / "ablation_ombria.yaml"))
    p.add_argument("--variants", nargs="+")
    p.add_argument("--seeds", nargs="+", type=int)
    p.add_argument("--folds", nargs="+", type=int,
                   help="grouped validation folds to run (default: the config's `folds`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="training config override applied to every run (repeatable)")
    p.add_argument("--output-dir")
    p.add_argument("--report", help="markdown report (default from the config)")
    p.add_argument("--data-root")
    p.add_argument("--threads", type=int)
    p.add_argument("--force", action="store_true", help="retrain runs that already finished")
    return p


def _budget(cfg: dict[str, Any], acfg: dict[str, Any], score: str,
            folds: Sequence[int] | None, seeds: Sequence[int]) -> dict[str, Any]:
    """What the report's header says of the runs, from the first row's config `cfg`; rows with
    their own recipe are named apart."""
    return {
        "own_recipes": sorted(set(acfg.get("variant_overrides") or {})
                              | set(acfg.get("variant_base_config") or {})),
        "epochs": cfg["train"]["epochs"], "batch_size": cfg["data"]["batch_size"],
        "crop": (cfg["data"].get("augment") or {}).get("crop"), "lr": cfg["train"]["lr"],
        "loss": cfg["train"]["loss"], "select_metric": cfg["train"]["select_metric"],
        "score": score, "folds": folds, "val_scheme": cfg["data"].get("options", {}).get(
            "val_scheme", "random"), "max_samples": cfg["data"].get("max_samples") or {},
        "val_fraction": cfg["data"]["val_fraction"], "split_seed": cfg["data"]["split_seed"],
        "seeds": seeds, "dataset": cfg["data"]["dataset"],
        "title": acfg.get("title", f"Ablation on {cfg['data']['dataset']}"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    acfg = yaml.safe_load(Path(args.config).read_text())
    variants = args.variants or acfg["variants"]
    seeds = args.seeds if args.seeds is not None else acfg["seeds"]
    split = acfg.get("split", "test")
    out_root = Path(args.output_dir or acfg.get("output_dir", "runs/ablation"))
    report = Path(args.report or acfg.get("report", "docs/ablation.md"))
    base_path = Path(acfg["base_config"])
    if not base_path.is_absolute():
        base_path = REPO_ROOT / base_path
    common = [*acfg.get("overrides", []), *args.overrides]
    if args.data_root:
        common.append(f"data.data_root={args.data_root}")
    if args.threads:
        common.append(f"threads={args.threads}")
    folds = args.folds if args.folds is not None else acfg.get("folds")
    score = str(acfg.get("score_checkpoint", "best"))

    t0 = time.time()
    results = []
    for fold in folds if folds is not None else [None]:
        for variant in variants:
            for seed in _variant_seeds(acfg, variant, seeds, args.seeds is not None):
                cfg = _run_config(base_path, acfg, common, out_root, variant, seed, fold)
                results.append(_one_row_run(cfg, acfg, split, score, args.force, variant, fold))
    first = _run_config(base_path, acfg, common, out_root, variants[0], seeds[0],
                        None if folds is None else folds[0])
    command = "python -m model_export ablation " + " ".join(shlex.quote(a) for a in argv)
    text = write_report(report, results, variants, command.strip(),
                        _budget(first, acfg, score, folds, seeds), split, time.time() - t0)
    print(text)
    print(f"[ablation] wrote {report}")
    return 0


def _one_row_run(cfg: dict[str, Any], acfg: dict[str, Any], split: str, score: str,
                 force: bool, variant: str, fold: int | None) -> dict[str, Any]:
    """One run of one row, with its chip score where the config asks for it, logged."""
    where = f"{variant} seed {cfg['seed']}" + ("" if fold is None else f" fold {fold}")
    print(f"[ablation] {where}", flush=True)
    r = run_one(cfg, split, force, score, fold, variant, acfg.get("score_data"))
    if variant in (acfg.get("chip_rows") or []):
        r = add_chip_score(r, Path(cfg["output_dir"]), split)
    print(f"[ablation] {where}: water IoU {select_metric(r['test'], 'iou:water'):.4f} "
          f"mIoU {r['test']['miou']:.4f}", flush=True)
    return r

if __name__ == "__main__":
    sys.exit(main())
