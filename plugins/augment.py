"""Augmentations of every discriminator input (the `augmentation:` recipe section).

flip  random horizontal flips of each image, with probability p, on real and fake alike.
      Flipping is a permutation of pixels, so G's gradient flows back through it unchanged
      (a differentiable augmentation, as DiffAugment requires; Zhao et al. 2020).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ganzoo import Augmentation, Component, GanzooError, hookimpl, option


@dataclass(frozen=True)
class FlipOptions:
    p: float = option(0.5, "probability that an image is mirrored left to right", min=0, max=1)


class RandomFlip(Augmentation):
    def __init__(self, options: FlipOptions, ctx):
        super().__init__()
        if len(ctx.data.image_shape) != 3:
            raise GanzooError(f"augmentation flip: needs images (C, H, W), the data is {tuple(ctx.data.image_shape)}")
        self.register_buffer("p", torch.tensor(float(options.p)))  # a buffer: checkpointed with the run

    def forward(self, images):
        # one uniform draw per image on the device: no host sync, no per-sample Python
        mirrored = torch.rand(images.shape[0], 1, 1, 1, device=images.device) < self.p
        return torch.where(mirrored, images.flip(-1), images)


@hookimpl
def ganzoo_add_components():
    return [Component("augmentation", "flip", RandomFlip, FlipOptions,
                      "random horizontal flips of every D input, real and fake (probability p)")]
