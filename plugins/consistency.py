"""Balanced consistency regularisation, bCR (Zhao, Zhang, Chen, Singh, Zhang, AAAI 2021,
"Improved Consistency Regularization for GANs"; CR: Zhang et al., ICLR 2020).

    + λ_real E_x[‖D(x) - D(T(x))‖²] + λ_fake E_z[‖D(G(z)) - D(T(G(z)))‖²]   in D's loss

T is a semantics-preserving augmentation; the paper's CIFAR-10 setting is a random horizontal
flip and a translation by up to 4 pixels (1/8 of the side) with reflected borders, and
λ_real = λ_fake = 10. Both D outputs carry gradient, as in the paper. D's outputs on the plain
images are the D phase's own (no extra forward); D(T(·)) costs two more.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganzoo import Component, GanzooError, Regularizer, hookimpl, option


def flip_and_translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Per image: mirror left-right with probability 1/2, then shift by up to `ratio` of the side
    in each direction, filling from the reflected border. One gather, no per-sample Python."""
    n, _, h, w = x.shape
    x = torch.where(torch.rand(n, 1, 1, 1, device=x.device) < 0.5, x.flip(-1), x)
    sh, sw = max(1, round(h * ratio)), max(1, round(w * ratio))
    padded = F.pad(x, (sw, sw, sh, sh), mode="reflect")
    dy = torch.randint(0, 2 * sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * sw + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class BCROptions:
    real: float = option(10.0, "weight λ_real of the consistency term on real images", min=0)
    fake: float = option(10.0, "weight λ_fake of the consistency term on generated images", min=0)
    translation: float = option(0.125, "largest shift, as a fraction of the side (CIFAR-10: 4 of 32 px)",
                                min=0, max=0.5)
    network: str = option("D", "the discriminator role to regularise")


class BalancedConsistency(Regularizer):
    def __init__(self, o: BCROptions, ctx):
        if len(ctx.data.image_shape) != 3:
            raise GanzooError(f"regularizer bcr: needs images (C, H, W), the data is {tuple(ctx.data.image_shape)}")
        self.weights, self.translation, self.network = (o.real, o.fake), o.translation, o.network

    def penalty(self, objective, nets, step):
        if step.real_out is None or step.fake_out is None:
            raise GanzooError("regularizer bcr: the objective leaves no D outputs on real and fake images "
                              "in the step (a generator-vs-discriminator objective does)")
        D, terms, total = nets[self.network], {}, 0.0
        for name, weight, images, labels, out in (("real", self.weights[0], step.real, step.real_labels, step.real_out),
                                                  ("fake", self.weights[1], step.fake, step.fake_labels, step.fake_out)):
            if weight == 0:
                continue
            moved = objective.critic(D, flip_and_translate(images, self.translation), labels)
            value = (out - moved).pow(2).reshape(out.shape[0], -1).sum(1).mean()
            total = total + weight * value
            terms[f"{self.network}/bcr_{name}"] = value
        return total, terms


@hookimpl
def ganzoo_add_components():
    return [Component("regularizer", "bcr", BalancedConsistency, BCROptions,
                      "bCR: D unchanged by flips and shifts of real and fake images (Zhao et al. 2021)")]
