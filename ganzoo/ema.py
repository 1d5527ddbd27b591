"""An exponential moving average of a network's weights (e.g. for the generator).

torch.optim.swa_utils.AveragedModel does the same maths but reads its step counter back
from the device on every update (a host sync per step), so the loop uses this instead.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """ema = decay * ema + (1 - decay) * weights, after every update; starts as a copy."""

    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self._pairs = None

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        if self._pairs is None:
            params = [(e, p) for e, p in zip(self.module.parameters(), net.parameters()) if e.is_floating_point()]
            self._pairs = ([e for e, _ in params], [p for _, p in params])
        averaged, current = self._pairs
        torch._foreach_lerp_(averaged, current, 1.0 - self.decay)
        for e, b in zip(self.module.buffers(), net.buffers()):  # BatchNorm statistics: copied, not averaged
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
