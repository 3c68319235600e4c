"""`python -m model_export COMMAND ...`: one entry point, each command in its own module.

Commands import lazily so that `--help` is instant and a command only pays for what it uses.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("model_export.training.train", "train UPSeg or a baseline from a config file"),
    "pretrain": ("model_export.training.pretrain",
                 "cross-modal self-supervised pretraining on unlabelled optical + SAR pairs"),
    "evaluate": ("model_export.evaluation.evaluate", "metrics of a checkpoint on a dataset split"),
    "export": ("model_export.export.onnx_export", "export a checkpoint to a self-describing ONNX"),
    "info": ("model_export.models.info", "parameter counts and FLOPs of the model variants"),
    "cv": ("model_export.recipes.grouped_cv",
           "grouped (spatial) K-fold cross-validation of candidate recipes -> docs/validation.md"),
    "rendering-check": ("model_export.evaluation.rendering_check",
                        "measure the unit conversions against OMBRIA and the Sen1Floods11 chip"),
    "encoder-features": ("model_export.evaluation.encoder_features",
                         "DOFA or Galileo-nano encoder tokens of a .npy array (a stable contract)"),
    "ablation": ("model_export.recipes.ablation", "UPSeg vs baselines, several seeds, to a table"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        print("usage: python -m model_export COMMAND [options]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<17} {text}")
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
