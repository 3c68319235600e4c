"""Parity of an exported ONNX file with its PyTorch model, on real input patches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch


class ParityError(RuntimeError):
    """The ONNX file does not compute what the PyTorch model computes."""


@dataclass(frozen=True)
class ParityReport:
    patches: int
    max_abs_diff: float
    argmax_agreement: float
    provider: str

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "patches": self.patches,
            "max_abs_logit_diff": self.max_abs_diff,
            "argmax_agreement": self.argmax_agreement,
            "onnxruntime_provider": self.provider,
        }


def check_parity(
    model: torch.nn.Module,
    onnx_path: str,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    atol: float = 1e-4,
    min_agreement: float = 0.999,
) -> ParityReport:
    """Run torch and ONNX Runtime (CPU) on the same normalised batches and compare logits.

    Raises ParityError when the largest absolute logit difference exceeds `atol` or fewer than
    `min_agreement` of the pixels get the same class.
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    model.eval()
    worst, same, total, count = 0.0, 0, 0, 0
    for optical, sar in batches:
        with torch.no_grad():
            ref = model(torch.from_numpy(optical), torch.from_numpy(sar)).numpy()
        got = sess.run(["logits"], {"optical": optical, "sar": sar})[0]
        if got.shape != ref.shape:
            raise ParityError(f"ONNX output shape {got.shape} differs from torch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
        same += int((got.argmax(1) == ref.argmax(1)).sum())
        total += ref.shape[0] * ref.shape[2] * ref.shape[3]
        count += optical.shape[0]
    if count == 0:
        raise ParityError("no patches to check parity on")
    report = ParityReport(count, worst, same / total, sess.get_providers()[0])
    if worst > atol or report.argmax_agreement < min_agreement:
        raise ParityError(
            f"ONNX Runtime and torch disagree: max |logit diff| {worst:.3g} (limit {atol:g}), "
            f"argmax agreement {report.argmax_agreement:.5f} (limit {min_agreement})"
        )
    return report
