"""Vanilla GAN: the seed tutorial's section 4 (Goodfellow et al. 2014, non-saturating G loss).

G: Linear 100 -> 256 -> 256 -> 784, ReLU, ReLU, tanh.  D: Linear 784 -> 256 -> 256 -> 1,
ReLU, ReLU, then a sigmoid folded into the loss (BCE on logits: same maths, stable).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import Component, GANObjective, GANOptions, hookimpl, option


@dataclass(frozen=True)
class MLPGeneratorOptions:
    latent_dim: int = option(100, "size of the latent vector z", min=1)
    hidden: int = option(256, "units in each of the two hidden layers", min=1)


@dataclass(frozen=True)
class MLPDiscriminatorOptions:
    hidden: int = option(256, "units in each of the two hidden layers", min=1)


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, hidden: int, image_shape: tuple[int, ...]):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.fc1 = nn.Linear(latent_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, math.prod(image_shape))

    def forward(self, z):
        x = F.relu(self.fc1(z))
        x = F.relu(self.fc2(x))
        return torch.tanh(self.fc3(x)).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Returns logits, shape (N, 1)."""

    def __init__(self, hidden: int, image_shape: tuple[int, ...]):
        super().__init__()
        self.fc1 = nn.Linear(math.prod(image_shape), hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, x):
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


@dataclass(frozen=True)
class BCEOptions(GANOptions):
    generator_loss: Literal["non_saturating", "minimax"] = option(
        "non_saturating", "G minimises -log D(G(z)) (non_saturating, the seed) or log(1 - D(G(z))) (minimax)")
    label_smoothing: float = option(0.0, "one-sided: D's target for real images is 1 - this "
                                         "(Salimans et al. 2016)", min=0, max=0.5)


class BCEObjective(GANObjective):
    """Binary cross-entropy GAN loss: D on real=1 / fake=0; G on fake=1 (non-saturating)."""

    def __init__(self, options: BCEOptions, ctx):
        super().__init__(options, ctx)
        self.minimax = options.generator_loss == "minimax"
        self.real_target = 1.0 - options.label_smoothing

    def d_loss(self, real_out, fake_out):
        real = F.binary_cross_entropy_with_logits(real_out, torch.full_like(real_out, self.real_target))
        fake = F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
        total = real + fake
        return total, {"D": total, "D/real": real, "D/fake": fake}

    def g_loss(self, fake_out):
        if self.minimax:  # log(1 - D(G(z))) = -BCE(D(G(z)), 0)
            loss = -F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
        else:
            loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
        return loss, {"G": loss}


@hookimpl
def ganzoo_add_components():
    return [
        Component("generator", "mlp", lambda o, ctx: MLPGenerator(o.latent_dim, o.hidden, ctx.data.image_shape),
                  MLPGeneratorOptions, "MLP generator of the seed tutorial (two ReLU hidden layers, tanh out)"),
        Component("discriminator", "mlp", lambda o, ctx: MLPDiscriminator(o.hidden, ctx.data.image_shape),
                  MLPDiscriminatorOptions, "MLP discriminator of the seed tutorial (two ReLU hidden layers)"),
        Component("objective", "bce", BCEObjective, BCEOptions,
                  "binary cross-entropy GAN loss, non-saturating or minimax G loss (Goodfellow et al. 2014)"),
    ]
