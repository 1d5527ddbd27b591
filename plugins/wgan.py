"""WGAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017).

wasserstein       critic minimises E[D(G(z))] - E[D(x)]; G minimises -E[D(G(z))]; n_critic 5
weight_clip       after every critic step, clamp each critic weight to [-c, c] (c = 0.01)
gradient_penalty  + λ·E[(‖∇D(x̂)‖₂ - 1)²], x̂ uniformly on lines between real and fake (λ = 10)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ganzoo import Component, GANObjective, GANOptions, Regularizer, hookimpl, option


@dataclass(frozen=True)
class WassersteinOptions(GANOptions):
    n_critic: int = option(5, "critic updates per generator update", min=1)


class Wasserstein(GANObjective):
    def d_loss(self, real_out, fake_out):
        distance = real_out.mean() - fake_out.mean()  # the critic's estimate of W(P_real, P_fake)
        return -distance, {"D": -distance, "W": distance}

    def g_loss(self, fake_out):
        loss = -fake_out.mean()
        return loss, {"G": loss}


@dataclass(frozen=True)
class ClipOptions:
    clip: float = option(0.01, "clamp every critic weight to [-clip, clip]", min=0, min_exclusive=True)
    network: str = option("D", "the critic role to clip")


class WeightClip(Regularizer):
    def __init__(self, options: ClipOptions, ctx):
        self.clip, self.network = options.clip, options.network
        self._params = None

    @torch.no_grad()
    def after_step(self, nets):
        if self._params is None:
            self._params = list(nets[self.network].parameters())
        torch._foreach_clamp_min_(self._params, -self.clip)
        torch._foreach_clamp_max_(self._params, self.clip)


@dataclass(frozen=True)
class GradientPenaltyOptions:
    weight: float = option(10.0, "λ", min=0)
    center: float = option(1.0, "target gradient norm (1 in WGAN-GP; 0 gives a zero-centred penalty)", min=0)
    network: str = option("D", "the critic role to regularise")


class GradientPenalty(Regularizer):
    def __init__(self, options: GradientPenaltyOptions, ctx):
        self.weight, self.center, self.network = options.weight, options.center, options.network

    def penalty(self, objective, nets, step):
        real, fake = step.real.detach(), step.fake.detach()
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = objective.critic(nets[self.network], x_hat, step.real_labels)
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
        norms = grad.reshape(out.shape[0], -1).norm(2, dim=1)  # one norm per (packed) critic input
        gp = self.weight * (norms - self.center).pow(2).mean()
        return gp, {f"{self.network}/gp": gp}


@hookimpl
def ganzoo_add_components():
    return [
        Component("objective", "wasserstein", Wasserstein, WassersteinOptions,
                  "Wasserstein critic loss, n_critic 5 (Arjovsky et al. 2017)"),
        Component("regularizer", "weight_clip", WeightClip, ClipOptions,
                  "clamp critic weights to ±c after each step (WGAN, Arjovsky et al. 2017)"),
        Component("regularizer", "gradient_penalty", GradientPenalty, GradientPenaltyOptions,
                  "λ(‖∇D(x̂)‖-1)² on real-fake interpolates (WGAN-GP, Gulrajani et al. 2017)"),
    ]
