"""Relativistic GAN losses: D judges how much more real a real sample looks than a fake one.

rpgan  relativistic pairing (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024, eq. 2): each
       real is paired with one fake. D: E[f(-(D(x_r) - D(x_f)))]; G: E[f(-(D(x_f) - D(x_r)))],
       with f = softplus (R3GAN's choice)
ragan  relativistic average (Jolicoeur-Martineau 2018): each sample against the mean score of
       the other kind. BCE form, D: E_r[softplus(-(D(x_r) - E D(x_f)))] + E_f[softplus(D(x_f) -
       E D(x_r))], G the same with real and fake swapped; hinge form, D: E_r[relu(1 - (D(x_r) -
       E D(x_f)))] + E_f[relu(1 + (D(x_f) - E D(x_r)))], G swapped
Both need D's scores on real data in the G phase (`g_loss_uses_real`). R3GAN pairs rpgan with
zero-centred penalties on real and fake data: regularizers r1 and r2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F

from ganzoo import Component, GANObjective, GANOptions, hookimpl, option


class RpGAN(GANObjective):
    g_loss_uses_real = True

    def d_loss(self, real_out, fake_out):
        loss = F.softplus(-(real_out - fake_out)).mean()
        return loss, {"D": loss}

    def g_loss(self, fake_out, real_out):
        loss = F.softplus(-(fake_out - real_out)).mean()
        return loss, {"G": loss}


@dataclass(frozen=True)
class RaGANOptions(GANOptions):
    form: Literal["bce", "hinge"] = option("bce", "bce: RaSGAN's logistic form; hinge: RaHingeGAN")


class RaGAN(GANObjective):
    g_loss_uses_real = True

    def __init__(self, options: RaGANOptions, ctx):
        super().__init__(options, ctx)
        self.hinge = options.form == "hinge"

    def _pair(self, more_real, less_real):
        """The loss of a critic that should rank `more_real` above the mean of `less_real` and
        `less_real` below the mean of `more_real`: (that loss, its two halves)."""
        up, down = more_real - less_real.mean(), less_real - more_real.mean()
        if self.hinge:
            a, b = F.relu(1 - up).mean(), F.relu(1 + down).mean()
        else:
            a, b = F.softplus(-up).mean(), F.softplus(down).mean()
        return a + b, a, b

    def d_loss(self, real_out, fake_out):
        total, real, fake = self._pair(real_out, fake_out)
        return total, {"D": total, "D/real": real, "D/fake": fake}

    def g_loss(self, fake_out, real_out):
        total, _, _ = self._pair(fake_out, real_out)
        return total, {"G": total}


@hookimpl
def ganzoo_add_components():
    return [
        Component("objective", "rpgan", RpGAN, GANOptions,
                  "relativistic pairing GAN, softplus (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024)"),
        Component("objective", "ragan", RaGAN, RaGANOptions,
                  "relativistic average GAN, BCE or hinge form (Jolicoeur-Martineau 2018)"),
    ]
