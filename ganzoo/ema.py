"""An exponential moving average of a network's weights (e.g. for the generator).

torch.optim.swa_utils.AveragedModel does the same maths but reads its step counter back
from the device on every update (a host sync per step), so the loop uses this instead.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """ema = decay * ema + (1 - decay) * weights, after every update; starts as a copy.

    A fixed `decay`, or a `halflife` in training images (Karras et al. 2020): each update of
    `batch` images then decays by 0.5 ** (batch / halflife), whatever the batch size, and with
    `rampup` the half-life is at most rampup x the images seen so far (StyleGAN2-ADA's
    ema_rampup), so the average forgets the first, random weights quickly. `rampup` applies to a
    fixed `decay` the same way: its half-life (batch x ln 0.5 / ln decay images) is capped.
    Without it a decay of 0.999 still holds 0.999 ** 2000 = 14% of the random initial weights after
    2,000 updates."""

    def __init__(self, net: nn.Module, decay: float | None = None, halflife: float | None = None,
                 rampup: float | None = None):
        self.decay, self.halflife, self.rampup = decay, halflife, rampup
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self._pairs = None

    def decay_at(self, images_seen: float, batch: int) -> float:
        """The decay of one update of `batch` images, after `images_seen` training images."""
        decay = self.decay if self.halflife is None else 0.5 ** (batch / self.halflife)
        if self.rampup is None:
            return decay
        return min(decay, 0.5 ** (batch / max(images_seen * self.rampup, 1e-8)))

    @torch.no_grad()
    def update(self, net: nn.Module, images_seen: float = 0.0, batch: int = 1) -> None:
        if self._pairs is None:
            params = [(e, p) for e, p in zip(self.module.parameters(), net.parameters()) if e.is_floating_point()]
            self._pairs = ([e for e, _ in params], [p for _, p in params])
        averaged, current = self._pairs
        torch._foreach_lerp_(averaged, current, 1.0 - self.decay_at(images_seen, batch))
        for e, b in zip(self.module.buffers(), net.buffers()):  # BatchNorm statistics: copied, not averaged
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
