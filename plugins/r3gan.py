"""R3GAN's simplified residual networks (Huang, Gokaslan, Kuleshov, Tompkin, NeurIPS 2024,
"The GAN is dead; long live the GAN! A Modern GAN Baseline", section 4; authors' code
brownvc/R3GAN, R3GAN/Networks.py), at sizes that train on a CPU.

A ResNeXt-style design with no normalisation anywhere:
  block   x + conv1x1(act(grouped conv3x3(act(conv1x1(x)))))  -- expand the channels by
          `expansion`, a grouped 3x3 conv with `group_channels` channels per group, project
          back; act = leaky ReLU 0.2 after a learned bias
  init    fix-up style: He (MSR) init with the activation's gain, scaled by L^(-1/4) for L
          residual blocks in the network (3 layers per block: L^(-1/(2*3-2))), and the last
          conv of every block zero, so each block starts as the identity
  G       z -> a learned 4x4 basis (7x7 for 28-px images) modulated channel-wise by a linear
          map of z -> stages, each an upsampling transition (1x1 conv when the width changes,
          then x2 interpolation) and `blocks` residual blocks -> 1x1 conv to the image (no
          tanh, as in the paper's code)
  D       1x1 conv from the image -> stages, each `blocks` residual blocks and a downsampling
          transition (x2 down, then 1x1 conv) -> at the basis side, a depthwise conv over the
          whole map and a linear map to one output
Widths: `width` channels at the image's side, doubled per stage towards the basis up to
`max_width`. The paper resamples with a [1,2,1] low-pass filter; here up is bilinear
interpolation and down a 2x2 average, the plain equivalents.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import Component, GanzooError, hookimpl, option

LEAK = 0.2
ACT_GAIN = math.sqrt(2 / (1 + LEAK ** 2))


def _msr(layer: nn.Module, gain: float) -> nn.Module:
    """He init: std = gain / sqrt(fan_in); gain 0 gives zeros (the blocks' last layers)."""
    fan_in = layer.weight[0].numel()
    with torch.no_grad():
        layer.weight.normal_(0, gain / math.sqrt(fan_in)) if gain else layer.weight.zero_()
    return layer


def _conv(cin, cout, kernel, gain, groups=1):
    return _msr(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False), gain)


class BiasedActivation(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1).to(x.dtype), LEAK)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, expansion: int, group_channels: int, blocks_in_network: int):
        super().__init__()
        wide = channels * expansion
        if wide % group_channels:
            raise GanzooError(f"networks: group_channels {group_channels} does not divide the {wide} expanded "
                              "channels of a block")
        gain = ACT_GAIN * blocks_in_network ** (-1 / (2 * 3 - 2))
        self.expand = _conv(channels, wide, 1, gain)
        self.act1 = BiasedActivation(wide)
        self.grouped = _conv(wide, wide, 3, gain, groups=wide // group_channels)
        self.act2 = BiasedActivation(wide)
        self.project = _conv(wide, channels, 1, 0.0)

    def forward(self, x):
        return x + self.project(self.act2(self.grouped(self.act1(self.expand(x)))))


def _widths(image_shape, width: int, max_width: int, what: str) -> tuple[int, list[int]]:
    """(basis side, widths of the stages from the basis to the image)."""
    _, height, side = image_shape
    if height != side:
        raise GanzooError(f"{what}: R3GAN's networks need square images, got {height}x{side}")
    for base in (4, 7):
        stages = math.log2(side / base) if side % base == 0 else -1
        if stages >= 1 and stages.is_integer():
            n = int(stages) + 1
            return base, [min(max_width, width * 2 ** (n - 1 - i)) for i in range(n)]
    raise GanzooError(f"{what}: R3GAN's networks need images of side 4·2^k or 7·2^k (28, 32, 64, ...), got {side}")


@dataclass(frozen=True)
class R3GANOptions:
    width: int = option(64, "channels at the image's side, doubled per stage towards the basis", min=1)
    max_width: int = option(256, "cap on the channels of any stage", min=1)
    blocks: int = option(1, "residual blocks per stage", min=1)
    expansion: int = option(2, "channel expansion inside a block (the paper: 2)", min=1)
    group_channels: int = option(16, "channels per group of the grouped 3x3 conv (the paper: 16 or 32)", min=1)


@dataclass(frozen=True)
class R3GANGeneratorOptions(R3GANOptions):
    latent_dim: int = option(64, "size of z", min=1)


class R3GANGenerator(nn.Module):
    def __init__(self, o: R3GANGeneratorOptions, image_shape):
        super().__init__()
        self.latent_dim = o.latent_dim
        self.base, widths = _widths(image_shape, o.width, o.max_width, "networks.G")
        total = o.blocks * len(widths)
        self.basis = nn.Parameter(torch.randn(widths[0], self.base, self.base))
        self.modulation = _msr(nn.Linear(o.latent_dim, widths[0], bias=False), 1.0)
        stages = []
        for i, w in enumerate(widths):
            layers = []
            if i > 0:  # upsampling transition: 1x1 conv to the new width, then x2
                layers += [_conv(widths[i - 1], w, 1, 1.0) if widths[i - 1] != w else nn.Identity(), Upsample()]
            layers += [ResidualBlock(w, o.expansion, o.group_channels, total) for _ in range(o.blocks)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.to_image = _conv(widths[-1], image_shape[0], 1, 1.0)

    def forward(self, z, labels=None):
        h = self.basis.unsqueeze(0) * self.modulation(z).view(z.shape[0], -1, 1, 1)
        return self.to_image(self.stages(h))


class R3GANDiscriminator(nn.Module):
    def __init__(self, o: R3GANOptions, image_shape):
        super().__init__()
        self.base, widths = _widths(image_shape, o.width, o.max_width, "networks.D")
        widths = widths[::-1]  # from the image to the basis
        total = o.blocks * len(widths)
        self.from_image = _conv(image_shape[0], widths[0], 1, ACT_GAIN)
        self.act = BiasedActivation(widths[0])
        stages = []
        for i, w in enumerate(widths):
            layers = [ResidualBlock(w, o.expansion, o.group_channels, total) for _ in range(o.blocks)]
            if i < len(widths) - 1:  # downsampling transition: x2 down, then 1x1 conv to the new width
                layers += [Downsample(), _conv(w, widths[i + 1], 1, 1.0) if widths[i + 1] != w else nn.Identity()]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.basis = _msr(nn.Conv2d(widths[-1], widths[-1], self.base, groups=widths[-1], bias=False), 1.0)
        self.out = _msr(nn.Linear(widths[-1], 1, bias=False), 1.0)

    def forward(self, x, labels=None):
        h = self.stages(self.act(self.from_image(x)))
        return self.out(self.basis(h).flatten(1))


class Upsample(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class Downsample(nn.Module):
    def forward(self, x):
        return F.avg_pool2d(x, 2)


def build_generator(o: R3GANGeneratorOptions, ctx):
    if ctx.data.num_classes:
        raise GanzooError("networks.G (r3gan): takes z only; use it with an unconditional objective")
    return R3GANGenerator(o, ctx.data.image_shape)


def build_discriminator(o: R3GANOptions, ctx):
    if ctx.data.num_classes:
        raise GanzooError("networks.D (r3gan): takes images only; use it with an unconditional objective")
    return R3GANDiscriminator(o, ctx.data.image_shape)


@hookimpl
def ganzoo_add_components():
    return [
        Component("generator", "r3gan", build_generator, R3GANGeneratorOptions,
                  "R3GAN's generator: grouped-conv residual blocks, no normalisation, fix-up init (Huang et al. 2024)"),
        Component("discriminator", "r3gan", build_discriminator, R3GANOptions,
                  "R3GAN's discriminator: the generator's mirror, depthwise basis to one output (Huang et al. 2024)"),
    ]
