"""Learning-rate schedule: linear warm-up, then cosine decay; a pure function of the step."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import VsrifeError


@dataclass(frozen=True)
class Schedule:
    """``lr(step)`` for steps 0 .. total_steps - 1.

    Warm-up: ``peak_lr * (step + 1) / warmup_steps`` for the first ``warmup_steps`` steps (never 0, so no
    step is wasted); then a half cosine from ``peak_lr`` at step ``warmup_steps`` that would reach
    ``min_lr`` at step ``total_steps`` (the last step, ``total_steps - 1``, still moves); ``min_lr`` from
    ``total_steps`` on.
    """

    peak_lr: float = 1e-6
    total_steps: int = 1
    warmup_steps: int = 0
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if not (self.peak_lr > 0 and math.isfinite(self.peak_lr)):
            raise VsrifeError(f"peak learning rate must be a positive number; got {self.peak_lr!r}")
        if not 0 <= self.min_lr <= self.peak_lr:
            raise VsrifeError(f"min_lr must lie in [0, peak_lr]; got {self.min_lr!r}")
        if self.total_steps < 1 or self.warmup_steps < 0:
            raise VsrifeError(
                f"need total_steps >= 1 and warmup_steps >= 0; got {self.total_steps}, {self.warmup_steps}"
            )

    def __call__(self, step: int) -> float:
        return learning_rate(step, self)


def learning_rate(step: int, s: Schedule) -> float:
    if step < 0:
        raise VsrifeError(f"step must be >= 0; got {step}")
    if step < s.warmup_steps:
        return s.peak_lr * (step + 1) / s.warmup_steps
    decay = s.total_steps - s.warmup_steps
    if decay <= 0:
        return s.min_lr
    progress = min(1.0, (step - s.warmup_steps) / decay)
    return s.min_lr + (s.peak_lr - s.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
