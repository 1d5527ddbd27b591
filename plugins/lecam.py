"""LeCam regularisation (Tseng, Jiang, Liu, Yang, Yang, CVPR 2021, "Regularizing Generative
Adversarial Networks under Limited Data").

    R_LC = E_x[relu(D(x) - α_F)²] + E_z[relu(α_R - D(G(z)))²],  added to D's loss with weight λ

α_R and α_F are moving averages (decay 0.99) of D's mean output on real and on generated
images. The penalty keeps D's real and fake scores from drifting apart, which the paper links
to a LeCam divergence and shows to help most when data is scarce. The authors' code updates
the averages from the current batch before the penalty and only penalises after `start` steps;
the squared terms are one-sided (relu), as in their code.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganzoo import Component, GanzooError, Regularizer, hookimpl, option


@dataclass(frozen=True)
class LeCamOptions:
    weight: float = option(0.3, "weight λ of the penalty in D's loss (tuned per backbone in the paper)", min=0)
    decay: float = option(0.99, "decay of the moving averages α_R, α_F of D's outputs", min=0, max=1)
    start: int = option(1000, "steps before the penalty applies (the averages are updated from step 0)", min=0)
    network: str = option("D", "the discriminator role to regularise")


class LeCam(Regularizer):
    def __init__(self, o: LeCamOptions, ctx):
        self.weight, self.decay, self.start, self.network = o.weight, o.decay, o.start, o.network
        # On the device, so updating them costs no host sync; checkpointed through state_dict.
        self.anchors = torch.zeros(2, device=ctx.device)  # (α_R, α_F)

    def penalty(self, objective, nets, step):
        real_out, fake_out = step.real_out, step.fake_out
        if real_out is None or fake_out is None:
            raise GanzooError("regularizer lecam: the objective leaves no D outputs on real and fake images "
                              "in the step (a generator-vs-discriminator objective does)")
        means = torch.stack([real_out.detach().mean(), fake_out.detach().mean()]).float()
        self.anchors.lerp_(means, 1.0 - self.decay)
        alpha_real, alpha_fake = self.anchors[0], self.anchors[1]
        value = F.relu(real_out - alpha_fake).pow(2).mean() + F.relu(alpha_real - fake_out).pow(2).mean()
        weight = self.weight if step.step >= self.start else 0.0
        return weight * value, {f"{self.network}/lecam": value}

    def state_dict(self):
        return {"anchors": self.anchors.cpu()}

    def load_state_dict(self, state):
        if "anchors" in state:
            self.anchors.copy_(state["anchors"])


@hookimpl
def ganzoo_add_components():
    return [Component("regularizer", "lecam", LeCam, LeCamOptions,
                      "LeCam: D's outputs kept near moving anchors of each other (Tseng et al. 2021)")]
