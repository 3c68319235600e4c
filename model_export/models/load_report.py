"""What a pretrained-weights load did, and the rule every encoder loader applies: fewer than 95 %
of the encoder's tensors loaded is an error unless the user explicitly allows a partial load."""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_COVERAGE = 0.95


class PretrainedLoadError(ValueError):
    """The checkpoint does not fit the encoder well enough to be called "pretrained"."""


@dataclass
class LoadReport:
    encoder: str
    source: str
    total: int  # tensors in the encoder's own state dict
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # encoder tensors not in the checkpoint
    unexpected: list[str] = field(default_factory=list)  # checkpoint tensors the encoder lacks
    mismatched: list[str] = field(default_factory=list)  # in both, other shape: not loaded
    notes: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return len(self.loaded) / self.total if self.total else 0.0

    # Kept so older callers reading a (missing, unexpected, mismatched) result keep working.
    @property
    def missing_keys(self) -> list[str]:
        return self.missing

    @property
    def unexpected_keys(self) -> list[str]:
        return self.unexpected

    @property
    def mismatched_keys(self) -> list[str]:
        return self.mismatched

    def text(self, limit: int = 12) -> str:
        def show(keys: list[str]) -> str:
            more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
            return ", ".join(keys[:limit]) + more

        lines = [
            f"[{self.encoder}] pretrained weights from {self.source}",
            f"  loaded {len(self.loaded)}/{self.total} encoder tensors "
            f"({100 * self.coverage:.1f} %)",
            f"  missing ({len(self.missing)}): {show(self.missing)}",
            f"  unexpected ({len(self.unexpected)}): {show(self.unexpected)}",
            f"  shape mismatches, not loaded ({len(self.mismatched)}): {show(self.mismatched)}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def enforce(self, allow_partial: bool = False, min_coverage: float = MIN_COVERAGE,
                hint: str = "") -> None:
        """Raise PretrainedLoadError below `min_coverage` unless `allow_partial`."""
        if self.coverage >= min_coverage or allow_partial:
            return
        raise PretrainedLoadError(
            f"only {len(self.loaded)} of {self.total} tensors of the {self.encoder} encoder "
            f"({100 * self.coverage:.1f} %) loaded from {self.source}; at least "
            f"{100 * min_coverage:.0f} % are needed to call the model pretrained. "
            + (hint + " " if hint else "")
            + "Check that the checkpoint is for this encoder, or pass allow_partial "
            "(--allow-partial / pretrained_allow_partial: true) to accept a partial load.\n"
            + self.text()
        )
