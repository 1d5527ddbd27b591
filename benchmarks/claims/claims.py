"""The claims ganzoo's methods are checked against: what each paper says, and the arms that test it.

A claim compares a *treatment* arm with a *baseline* arm of the same recipe family on one score,
over several seeds, at one budget; `run.py` runs both through `ganzoo bench` and writes the row.
Each setting is chosen so the paper's mechanism can be at work on 2 CPU cores within an hour
(both arms and all seeds), and says so in `setting`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arm:
    recipe: str                       # a recipe under recipes/ (its stem)
    sets: tuple[str, ...] = ()        # --set overrides, KEY=VALUE


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str                    # the paper's claim, in a sentence
    paper: str                        # the paper and its figure or table
    setting: str                      # ours, and why the mechanism is at work in it
    baseline: Arm
    treatment: Arm
    key: str                          # the score compared, as scores.json's "final" names it
    goal: str                         # "min" or "max": which way is better
    metrics: str                      # ganzoo bench --metrics
    budget: tuple[str, ...]           # ganzoo bench --steps N or --seconds S
    seeds: int = 3


CLAIMS = {c.name: c for c in [
    Claim(
        name="ema",
        statement="An exponential moving average of G's weights scores better than the live G at equal steps.",
        paper="Yazıcı et al. 2019, \"The Unusual Effectiveness of Averaging in GAN Training\", Table 2",
        setting="dcgan_sn_hinge_mnist, 6,000 steps (the EMA's half-life, 10,000 images, is 156 steps); EMA "
                "does not change training, so with one seed both arms follow the same trajectory and the "
                "difference is the average alone",
        baseline=Arm("dcgan_sn_hinge_mnist", ("networks.G.ema_halflife=null", "networks.G.ema_rampup=null")),
        treatment=Arm("dcgan_sn_hinge_mnist"),
        key="fid", goal="min",
        metrics="[{name: fid, samples: 10000}]",
        budget=("--steps", "6000"),
    ),
    Claim(
        name="pacgan",
        statement="Packing two samples into each D input covers more modes of a 2D mixture than no packing, "
                  "at the same budget.",
        paper="Lin et al. 2018, \"PacGAN\", Table 3 (ring of 8: GAN 6.3 modes, PacGAN2 7.9)",
        setting="the ring of 8 Gaussians, PacGAN's MLPs and settings, 20,000 steps, reverse KL of 2,500 samples",
        baseline=Arm("gan_ring2d"),
        treatment=Arm("pacgan2_ring2d"),
        key="reverse_kl", goal="min",
        metrics="[{name: modes_2d}]",
        budget=("--steps", "20000"),
    ),
    Claim(
        name="wgan_gp",
        statement="The gradient penalty trains a WGAN critic better than weight clipping at equal steps.",
        paper="Gulrajani et al. 2017, \"Improved Training of Wasserstein GANs\", Figure 3 and Table 3",
        setting="wgan_mnist (clipping at 0.01, RMSprop) against wgan_gp_mnist (λ 10, Adam), DCGAN networks, "
                "5 critic steps per G step, 3,000 G steps",
        baseline=Arm("wgan_mnist"),
        treatment=Arm("wgan_gp_mnist"),
        key="fid", goal="min",
        metrics="[{name: fid, samples: 10000}]",
        budget=("--steps", "3000"),
    ),
]}
