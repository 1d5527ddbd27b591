"""SNGAN's ResNet generator and discriminator (Miyato, Kataoka, Koyama, Yoshida, ICLR 2018,
appendix B.4, Table 4; the authors' Chainer code, pfnet-research/sngan_projection).

G: z (128) -> linear to a 4x4 map (7x7 for 28-px images) -> residual up-blocks, each
   BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3 with a 1x1-conv shortcut on the upsampled input,
   until the image side -> BN-ReLU-conv3x3 -> tanh. CIFAR-10: 3 blocks of 256 channels.
D: an "optimised" first down-block (conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool-conv1x1),
   down-blocks until the 4x4 / 7x7 map, then blocks without downsampling to 4 blocks in all,
   each ReLU-conv3x3-ReLU-conv3x3; ReLU, global sum pooling, linear to one output.
   CIFAR-10: 128 channels. Spectral normalisation on every layer is the recipe's
   `spectral_norm: true`, as for any network.
Initialisation as the authors' code: Xavier-uniform, gain sqrt(2) in the residual branches
and 1 in the shortcuts and the output layers. Class-conditional D adds the projection term
<embed(y), pooled features> (Miyato & Koyama 2018), G conditional batch norm is not provided
(it takes z only): use it unconditionally.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import Component, GanzooError, hookimpl, option


def _stages(image_shape, what: str) -> tuple[int, int]:
    """(first map side, up/down stages) for square images of side 4·2^k or 7·2^k (k >= 1)."""
    _, height, side = image_shape
    if height != side:
        raise GanzooError(f"{what}: the ResNet needs square images, got {height}x{side}")
    for base in (4, 7):
        stages = math.log2(side / base) if side % base == 0 else -1
        if stages >= 1 and stages.is_integer():
            return base, int(stages)
    raise GanzooError(f"{what}: the ResNet needs images of side 4·2^k or 7·2^k (28, 32, 64, ...), got {side}")


def _conv(cin, cout, kernel, gain):
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    nn.init.zeros_(conv.bias)
    return conv


class UpBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1, self.conv2 = _conv(cin, cout, 3, math.sqrt(2)), _conv(cout, cout, 3, math.sqrt(2))
        self.shortcut = _conv(cin, cout, 1, 1.0)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, cin, cout, down: bool, first: bool = False):
        super().__init__()
        self.conv1, self.conv2 = _conv(cin, cout, 3, math.sqrt(2)), _conv(cout, cout, 3, math.sqrt(2))
        self.shortcut = _conv(cin, cout, 1, 1.0) if (cin != cout or down) else None
        self.down, self.first = down, first

    def forward(self, x):
        h = x if self.first else F.relu(x)  # the optimised first block sees the image itself
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:  # pool, then 1x1 conv
            s = self.shortcut(F.avg_pool2d(s, 2))
        elif self.shortcut is not None:  # 1x1 conv, then pool
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


@dataclass(frozen=True)
class GeneratorOptions:
    latent_dim: int = option(128, "size of z (the paper: 128)", min=1)
    width: int = option(256, "channels of every block (the paper's CIFAR-10 G: 256)", min=1)


@dataclass(frozen=True)
class DiscriminatorOptions:
    width: int = option(128, "channels of every block (the paper's CIFAR-10 D: 128)", min=1)
    blocks: int = option(4, "residual blocks in all, the down-blocks included (the paper: 4)", min=1)


class ResNetGenerator(nn.Module):
    def __init__(self, o: GeneratorOptions, image_shape):
        super().__init__()
        self.latent_dim = o.latent_dim
        self.base, stages = _stages(image_shape, "networks.G")
        self.width = o.width
        self.linear = nn.Linear(o.latent_dim, o.width * self.base * self.base)
        nn.init.xavier_uniform_(self.linear.weight, 1.0)
        nn.init.zeros_(self.linear.bias)
        self.blocks = nn.Sequential(*[UpBlock(o.width, o.width) for _ in range(stages)])
        self.bn = nn.BatchNorm2d(o.width)
        self.out = _conv(o.width, image_shape[0], 3, 1.0)

    def forward(self, z, labels=None):
        h = self.linear(z).view(z.shape[0], self.width, self.base, self.base)
        return torch.tanh(self.out(F.relu(self.bn(self.blocks(h)))))


class ResNetDiscriminator(nn.Module):
    def __init__(self, o: DiscriminatorOptions, image_shape, num_classes):
        super().__init__()
        _, stages = _stages(image_shape, "networks.D")
        if o.blocks < stages:
            raise GanzooError(f"networks.D.blocks: {o.blocks} blocks cannot make the {stages} down-blocks "
                              f"{image_shape[1]}-px images need; use at least {stages}")
        layers = [DownBlock(image_shape[0], o.width, down=True, first=True)]
        layers += [DownBlock(o.width, o.width, down=i < stages - 1) for i in range(o.blocks - 1)]
        self.blocks = nn.Sequential(*layers)
        self.linear = nn.Linear(o.width, 1)
        nn.init.xavier_uniform_(self.linear.weight, 1.0)
        nn.init.zeros_(self.linear.bias)
        self.embed = nn.Embedding(num_classes, o.width) if num_classes else None
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight, 1.0)

    def forward(self, x, labels=None):
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        out = self.linear(h)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(dim=1, keepdim=True)
        return out


def build_generator(o: GeneratorOptions, ctx):
    if ctx.data.num_classes:
        raise GanzooError("networks.G (sngan_resnet): takes z only; use it with an unconditional objective")
    return ResNetGenerator(o, ctx.data.image_shape)


def build_discriminator(o: DiscriminatorOptions, ctx):
    return ResNetDiscriminator(o, ctx.data.image_shape, ctx.data.num_classes)


@hookimpl
def ganzoo_add_components():
    return [
        Component("generator", "sngan_resnet", build_generator, GeneratorOptions,
                  "SNGAN's ResNet generator: residual up-blocks with BatchNorm, 28/32/64 px (Miyato et al. 2018)"),
        Component("discriminator", "sngan_resnet", build_discriminator, DiscriminatorOptions,
                  "SNGAN's ResNet discriminator: residual down-blocks, sum pooling; projection when conditional"),
    ]
