"""Combinable GAN losses and the R1 regulariser, for any generator / discriminator pair.

lsgan  least squares (Mao et al. 2017): D: ½E[(D(x)-b)²] + ½E[(D(G(z))-a)²]; G: ½E[(D(G(z))-c)²]
hinge  (Lim & Ye 2017; Miyato et al. 2018): D: E[relu(1-D(x))] + E[relu(1+D(G(z)))]; G: -E[D(G(z))]
r1     (Mescheder et al. 2018): + γ/2 E‖∇D(x_real)‖², optionally lazy (every k steps, scaled by k),
       γ constant or cosine-annealed to gamma_end (R3GAN)
r2     the same on the fakes: + γ/2 E‖∇D(x_fake)‖²
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganzoo import Component, GANObjective, GANOptions, Regularizer, cosine, hookimpl, option


@dataclass(frozen=True)
class LSGANOptions(GANOptions):
    a: float = option(0.0, "target for fake images in D's loss")
    b: float = option(1.0, "target for real images in D's loss")
    c: float = option(1.0, "target G wants D to give its images")


class LSGAN(GANObjective):
    def __init__(self, options: LSGANOptions, ctx):
        super().__init__(options, ctx)
        self.a, self.b, self.c = options.a, options.b, options.c

    def d_loss(self, real_out, fake_out):
        real = 0.5 * (real_out - self.b).pow(2).mean()
        fake = 0.5 * (fake_out - self.a).pow(2).mean()
        total = real + fake
        return total, {"D": total, "D/real": real, "D/fake": fake}

    def g_loss(self, fake_out):
        loss = 0.5 * (fake_out - self.c).pow(2).mean()
        return loss, {"G": loss}


class Hinge(GANObjective):
    def d_loss(self, real_out, fake_out):
        real = F.relu(1.0 - real_out).mean()
        fake = F.relu(1.0 + fake_out).mean()
        total = real + fake
        return total, {"D": total, "D/real": real, "D/fake": fake}

    def g_loss(self, fake_out):
        loss = -fake_out.mean()
        return loss, {"G": loss}


@dataclass(frozen=True)
class ZeroCentredOptions:
    gamma: float = option(10.0, "weight γ of γ/2·E‖∇D(x)‖²", min=0)
    gamma_end: float | None = option(None, "γ at the last step, reached from `gamma` along half a cosine "
                                           "(R3GAN's schedule); null: constant", min=0)
    every: int = option(1, "lazy regularisation: apply every k steps, scaled by k (StyleGAN2 uses 16)", min=1)
    network: str = option("D", "the discriminator role to regularise")


class ZeroCentredPenalty(Regularizer):
    """γ/2·E‖∇D(x)‖² on the D phase's real images (R1) or its fakes (R2): a zero-centred
    gradient penalty; R3GAN (Huang et al. 2024) uses both."""

    on = "real"

    def __init__(self, options: ZeroCentredOptions, ctx):
        self.gamma, self.gamma_end = options.gamma, options.gamma_end
        self.every, self.network = options.every, options.network

    def gamma_at(self, progress: float) -> float:
        return self.gamma if self.gamma_end is None else cosine(self.gamma, self.gamma_end, progress)

    def penalty(self, objective, nets, step):
        images, labels = (step.real, step.real_labels) if self.on == "real" else (step.fake, step.fake_labels)
        x = images.detach().requires_grad_(True)
        out = objective.critic(nets[self.network], x, labels)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        value = 0.5 * self.gamma_at(step.progress) * grad.pow(2).reshape(out.shape[0], -1).sum(1).mean()
        return value * self.every, {f"{self.network}/{self.name}": value}


class R1(ZeroCentredPenalty):
    on, name = "real", "r1"


class R2(ZeroCentredPenalty):
    on, name = "fake", "r2"


R1Options = ZeroCentredOptions  # the older name


@hookimpl
def ganzoo_add_components():
    return [
        Component("objective", "lsgan", LSGAN, LSGANOptions, "least-squares GAN loss, a=0 b=1 c=1 (Mao et al. 2017)"),
        Component("objective", "hinge", Hinge, GANOptions, "hinge loss (Lim & Ye 2017; SNGAN, Miyato et al. 2018)"),
        Component("regularizer", "r1", R1, ZeroCentredOptions, "R1 gradient penalty on real data (Mescheder et al. 2018)"),
        Component("regularizer", "r2", R2, ZeroCentredOptions,
                  "R2 gradient penalty on generated data (Mescheder et al. 2018; R3GAN, Huang et al. 2024)"),
    ]
