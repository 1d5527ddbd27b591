"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"):
the same random, differentiable transforms on every D input, real and fake, in both phases.

Policies, as the authors' DiffAugment_pytorch.py defines them (each draw is per image):
  color        brightness + U(-0.5, 0.5); saturation: deviation from the channel mean x U(0, 2);
               contrast: deviation from the image mean x U(0.5, 1.5)
  translation  shift by up to ratio 1/8 of the side in each direction, zero-filled
  cutout       zero a square of half the side at a random centre; the part of it inside the
               image (the authors' code clamps the outside part onto the border row instead)
The paper uses "color,translation,cutout" for most results and "translation,cutout" where colour
changes the data's meaning. All are gathers and affine maps of pixels, so G's gradient flows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganzoo import Augmentation, Component, GanzooError, hookimpl, option

POLICIES = ("color", "translation", "cutout")


def _uniform(x, low: float, high: float):
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) * (high - low) + low


def color(x):
    x = x + _uniform(x, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def translation(x, ratio: float = 0.125):
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy + 1).clamp(0, h + 1)  # +1: the zero border
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x, ratio: float = 0.5):
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - ch // 2, cx - cw // 2
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


@dataclass(frozen=True)
class DiffAugmentOptions:
    policy: str = option("color,translation,cutout", "comma-separated transforms, applied in this order: "
                                                     "color, translation, cutout")


class DiffAugment(Augmentation):
    def __init__(self, o: DiffAugmentOptions, ctx):
        super().__init__()
        names = [p.strip() for p in o.policy.split(",") if p.strip()]
        unknown = [p for p in names if p not in TRANSFORMS]
        if unknown:
            raise GanzooError(f"augmentation.policy: unknown transform {unknown[0]!r}; allowed: {', '.join(POLICIES)}")
        if len(ctx.data.image_shape) != 3:
            raise GanzooError(f"augmentation diffaugment: needs images (C, H, W), the data is "
                              f"{tuple(ctx.data.image_shape)}")
        self.transforms = [TRANSFORMS[p] for p in names]

    def forward(self, images):
        for transform in self.transforms:
            images = transform(images)
        return images.contiguous()


@hookimpl
def ganzoo_add_components():
    return [Component("augmentation", "diffaugment", DiffAugment, DiffAugmentOptions,
                      "DiffAugment: colour, translation, cutout on every D input (Zhao et al. 2020)")]
