"""Values that change over a run: the learning rate, Adam's beta2 and penalty weights.

Each is a plain function of the step, so a resumed run recomputes it from the step it
restored: nothing to checkpoint beyond the step count.
"""
from __future__ import annotations

import math

import torch


def cosine(start: float, end: float, progress: float) -> float:
    """From `start` at progress 0 to `end` at progress 1 along half a cosine (R3GAN's schedules)."""
    t = min(max(progress, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t))


class OptimizerSchedule:
    """An optimiser's learning rate, and optionally Adam's beta2, as functions of the step.

    schedule constant: lr as given; linear: lr until decay_start, then linearly to lr_end at
    the last step; cosine: the same along half a cosine. beta2_end: beta2 moves from the
    optimiser's own to beta2_end along a cosine over the whole run. Call step() after each
    training step (as a torch LR scheduler)."""

    def __init__(self, optimizer: torch.optim.Optimizer, settings, total: int):
        self.optimizer = optimizer  # not its param_groups: loading a state dict replaces them
        self.lrs = [group["lr"] for group in optimizer.param_groups]
        self.beta2s = [group["betas"][1] if "betas" in group else None for group in optimizer.param_groups]
        if settings.beta2_end is not None and None in self.beta2s:
            from .errors import GanzooError

            raise GanzooError(f"beta2_end: the optimiser {type(optimizer).__name__} has no betas")
        self.settings, self.total, self.steps = settings, max(1, total), 0
        self._apply()

    def lr_factor(self, step: int) -> float:
        s = self.settings
        start = int(s.decay_start * self.total)
        if s.schedule == "constant" or step < start:
            return 1.0
        t = min(1.0, (step - start) / max(1, self.total - start))
        return 1.0 - t if s.schedule == "linear" else cosine(1.0, 0.0, t)

    def _apply(self) -> None:
        factor, s = self.lr_factor(self.steps), self.settings
        for group, lr, beta2 in zip(self.optimizer.param_groups, self.lrs, self.beta2s):
            group["lr"] = s.lr_end + (lr - s.lr_end) * factor if s.schedule != "constant" else lr
            if s.beta2_end is not None:
                group["betas"] = (group["betas"][0], cosine(beta2, s.beta2_end, self.steps / self.total))

    def step(self) -> None:
        self.steps += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"last_epoch": self.steps}  # the key torch's LR schedulers use, so older checkpoints load

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["last_epoch"])
        self._apply()


def make_scheduler(optimizer: torch.optim.Optimizer, settings, total: int) -> OptimizerSchedule | None:
    """The optimiser's schedule over `total` steps, or None when nothing changes."""
    if settings.schedule == "constant" and settings.beta2_end is None:
        return None
    return OptimizerSchedule(optimizer, settings, total)
