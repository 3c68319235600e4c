"""The user's error when inference cannot run: what is wrong, and how to install ONNX Runtime."""

from __future__ import annotations

from .check import runtime_problems
from .installer import install_instructions


def runtime_message() -> str | None:
    """The user's error when inference cannot run (None when it can): the problems, and the
    install commands when ONNX Runtime is what is missing or broken."""
    problems = runtime_problems()
    if not problems:
        return None
    text = " ".join(problems)
    if any("ONNX Runtime" in p for p in problems):
        text += "\n" + install_instructions()
    return text


def require_runtime() -> None:
    """Raise RuntimeError with instructions if inference cannot run."""
    message = runtime_message()
    if message:
        raise RuntimeError(message)
