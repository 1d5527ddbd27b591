"""The training-step contract: named networks, phases as data, objectives that only do GAN maths.

The loop owns zero_grad, requires_grad toggles, backward, optimiser steps, logging and
checkpoints. An objective only says which networks it needs, which phases a step has,
and returns losses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Phase:
    """One update within a training step.

    name:       label used in logs ("D", "G").
    trains:     the networks whose optimisers step in this phase.
    repeats:    how many times the phase runs per step (n_critic), each on a fresh batch.
    every:      run only on steps divisible by this (lazy regularisation).
    reads_data: draw a real batch for this phase.
    needs_grad: networks that must record gradients in this phase (default: `trains`).
                All other networks are frozen (requires_grad=False), so no weight
                gradients are computed for them.
    """

    name: str
    trains: tuple[str, ...]
    repeats: int = 1
    every: int = 1
    reads_data: bool = True
    needs_grad: tuple[str, ...] | None = None

    @property
    def grad_networks(self) -> tuple[str, ...]:
        return self.trains if self.needs_grad is None else self.needs_grad


class Objective:
    """Base class of every objective component.

    networks: {role: kind}, e.g. {"G": "generator", "D": "discriminator"}. The recipe's
              `networks:` section must name exactly these roles.
    phases:   the phases of one training step, in order.
    """

    networks: Mapping[str, str] = {"G": "generator", "D": "discriminator"}
    phases: tuple[Phase, ...] = ()

    def loss(self, phase: Phase, nets: dict[str, nn.Module], batch: dict[str, Tensor] | None,
             scratch: dict) -> tuple[Tensor, dict[str, Tensor]]:
        """Return (total loss to backpropagate, {term name: detached-or-not scalar tensor}).

        `scratch` is a dict shared by the phases of one step and emptied after it, so a
        later phase can reuse what an earlier one computed (e.g. the same fake batch).
        """
        raise NotImplementedError

    # --- sampling (grids, `ganzoo sample`) -------------------------------------------------
    def fixed_inputs(self, nets: dict[str, nn.Module], n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Inputs drawn once per run (on the CPU, so grids match across devices)."""
        return {"z": torch.randn(n, nets["G"].latent_dim, generator=generator)}

    @torch.no_grad()
    def sample(self, nets: dict[str, nn.Module], inputs: dict[str, Tensor]) -> Tensor:
        """Images in [-1, 1], shape (N, C, H, W), for the given fixed inputs."""
        G = nets["G"]
        device = next(G.parameters()).device
        return G(inputs["z"].to(device))


class GANObjective(Objective):
    """A generator G against a discriminator D: a D phase (n_critic times), then a G phase.

    Subclasses give the loss maths in `d_loss(real_out, fake_out)` and `g_loss(fake_out)`,
    where the outputs are D's raw outputs (logits or critic values).

    With n_critic == 1 the G phase reuses the D phase's fake batch, as the seed tutorial
    and the PyTorch DCGAN example do: one generator forward per step, and G's update uses
    the same z that D was just trained on.
    """

    def __init__(self, batch_size: int, n_critic: int = 1):
        self.batch_size = batch_size
        self.n_critic = n_critic
        reuse = n_critic == 1
        self.phases = (
            Phase("D", trains=("D",), repeats=n_critic, needs_grad=("D", "G") if reuse else ("D",)),
            Phase("G", trains=("G",), reads_data=False),
        )

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def g_loss(self, fake_out: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def latents(self, G: nn.Module, n: int, device) -> Tensor:
        return torch.randn(n, G.latent_dim, device=device)

    def loss(self, phase, nets, batch, scratch):
        G, D = nets["G"], nets["D"]
        if phase.name == "D":
            real = batch["image"]
            fake = G(self.latents(G, real.shape[0], real.device))
            if self.n_critic == 1:
                scratch["fake"] = fake  # still attached to G's graph; the G phase backpropagates it
            return self.d_loss(D(real), D(fake.detach()))
        fake = scratch.pop("fake", None)
        if fake is None:
            device = next(G.parameters()).device
            fake = G(self.latents(G, self.batch_size, device))
        return self.g_loss(D(fake))
