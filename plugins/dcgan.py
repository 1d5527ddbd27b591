"""DCGAN (Radford et al. 2015): all-convolutional generator and discriminator.

G: z -> ConvTranspose to a 7x7 (28-px images) or 4x4 (32, 64 px) map, then stride-2
   ConvTranspose stages that halve the channels, BatchNorm + ReLU, tanh out.
D: stride-2 convs that double the channels, LeakyReLU 0.2, BatchNorm except on the first
   layer, then one conv over the last map to a single output. No pooling, no FC hidden layers.
By default the kernels are 4x4 and every stage halves the side exactly (PyTorch's DCGAN
example). `kernel: 5` with `depth` gives the paper's own TensorFlow code, which PacGAN and
VEEGAN use: 5x5 kernels, "SAME" padding, sides halved rounding up (28, 14, 7, 4, 2 at depth 4).
Weights from N(0, 0.02); normalisation scales from N(1, 0.02), biases 0 (as the paper's code).

Class-conditional when the objective is (`objective.conditional: true`): G takes one-hot
labels next to z (Mirza & Osindero 2014); D adds a projection term <embed(y), sum-pooled
features> (Miyato & Koyama 2018).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import Component, GanzooError, hookimpl, option


def _map_sides(side: int, depth: int | None, kernel: int, what: str) -> list[int]:
    """Sides of the feature maps from the image down to the smallest map, one per stride-2 stage."""
    if depth is None:  # halve exactly down to a 7x7 or 4x4 map
        for base in (7, 4):
            stages = math.log2(side / base) if side % base == 0 else -1
            if stages >= 1 and stages.is_integer():
                depth = int(stages)
                break
        else:
            raise GanzooError(f"{what}: DCGAN needs square images of side 7·2^k or 4·2^k (28, 32, 64, ...) "
                              f"unless depth is set, got {side}")
    sides = [side]
    for _ in range(depth):
        sides.append(math.ceil(sides[-1] / 2))
    if kernel == 4 and any(s % 2 for s in sides[:-1]):
        raise GanzooError(f"{what}: kernel 4 halves each side exactly, and {side}-px images at depth {depth} "
                          f"give maps of {sides}; use kernel 5 or a smaller depth")
    return sides


def init_dcgan(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # LayerNorm over (C, H, W), the WGAN-GP paper's suggested critic norm
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


@dataclass(frozen=True)
class GeneratorOptions:
    latent_dim: int = option(100, "size of z", min=1)
    width: int = option(64, "channels of the last hidden layer (doubled per stage towards z)", min=1)
    depth: int | None = option(None, "stride-2 stages; default: down to a 7x7 or 4x4 map", min=1)
    kernel: Literal[4, 5] = option(4, "kernel side: 4 (PyTorch's example) or 5 (the paper's code)")


@dataclass(frozen=True)
class DiscriminatorOptions:
    width: int = option(64, "channels of the first layer (doubled per stage)", min=1)
    norm: Literal["batch", "layer", "instance", "none"] = option(
        "batch", "normalisation after every conv but the first: batch (DCGAN), none or layer (WGAN-GP critic)")
    channels: int | None = option(None, "input channels; default: the data's", min=1)
    depth: int | None = option(None, "stride-2 stages; default: down to a 7x7 or 4x4 map", min=1)
    kernel: Literal[4, 5] = option(4, "kernel side: 4 (PyTorch's example) or 5 (the paper's code)")


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, width: int, image_shape: tuple[int, int, int], num_classes: int | None,
                 depth: int | None = None, kernel: int = 4):
        super().__init__()
        channels, height, side = image_shape
        if height != side:
            raise GanzooError(f"networks.G: DCGAN needs square images, got {height}x{side}")
        sides = _map_sides(side, depth, kernel, "networks.G")[::-1]  # smallest map first
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        ch = width * 2 ** (len(sides) - 2)
        # from z (a 1x1 map) to the smallest map: a fully connected projection
        layers = [nn.ConvTranspose2d(latent_dim + (num_classes or 0), ch, sides[0], 1, 0, bias=False),
                  nn.BatchNorm2d(ch), nn.ReLU(True)]
        for small, large in zip(sides, sides[1:]):
            out = channels if large == side else ch // 2
            # kernel 4, padding 1 doubles the side; kernel 5, padding 2 gives 2·side - 1, and
            # output_padding adds the row that "SAME" padding has where the larger side is even
            up = (nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=False) if kernel == 4 else
                  nn.ConvTranspose2d(ch, out, 5, 2, 2, output_padding=large - (2 * small - 1), bias=False))
            if large == side:
                layers += [up, nn.Tanh()]
            else:
                layers += [up, nn.BatchNorm2d(out), nn.ReLU(True)]
                ch = out
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan)

    def forward(self, z, labels=None):
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Returns raw outputs (logits, or critic values for WGAN), shape (N, outputs).
    `features` is the conv stack before the output layer (feature matching, f-AnoGAN)."""

    def __init__(self, width: int, norm: str, image_shape: tuple[int, int, int], num_classes: int | None,
                 depth: int | None = None, kernel: int = 4, outputs: int = 1, role: str = "networks.D"):
        super().__init__()
        channels, height, side = image_shape
        if height != side:
            raise GanzooError(f"{role}: DCGAN needs square images, got {height}x{side}")
        sides = _map_sides(side, depth, kernel, role)
        padding = 1 if kernel == 4 else 2  # exact halving; halving rounded up ("SAME")
        layers = [nn.Conv2d(channels, width, kernel, 2, padding), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(len(sides) - 2):
            layers += [nn.Conv2d(ch, ch * 2, kernel, 2, padding, bias=norm == "none"), _norm(norm, ch * 2),
                       nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.features = nn.Sequential(*layers)
        self.out = nn.Conv2d(ch, outputs, sides[-1], 1, 0)  # over the whole last map: a fully connected output
        self.embed = nn.Embedding(num_classes, ch) if num_classes else None
        self.apply(init_dcgan)

    def forward(self, x, labels=None):
        h = self.features(x)
        out = self.out(h).view(x.shape[0], -1)
        if self.embed is not None:  # projection discriminator
            out = out + (self.embed(labels) * h.sum(dim=(2, 3))).sum(dim=1, keepdim=True)
        return out


class DCGANEncoder(DCGANDiscriminator):
    """The discriminator's architecture with `latent_dim` outputs: images -> codes (N, latent_dim)
    (GANomaly's encoders, f-AnoGAN's izi encoder)."""

    def __init__(self, latent_dim: int, width: int, norm: str, image_shape, depth, kernel, tanh: bool):
        super().__init__(width, norm, image_shape, None, depth, kernel, outputs=latent_dim, role="networks (encoder)")
        self.latent_dim, self.tanh = latent_dim, tanh

    def forward(self, x, labels=None):
        z = super().forward(x)
        return torch.tanh(z) if self.tanh else z


@dataclass(frozen=True)
class EncoderOptions:
    latent_dim: int = option(100, "size of the code; must match the generator's latent_dim", min=1)
    width: int = option(64, "channels of the first layer (doubled per stage)", min=1)
    norm: Literal["batch", "layer", "instance", "none"] = option("batch", "normalisation after every conv but the first")
    depth: int | None = option(None, "stride-2 stages; default: down to a 7x7 or 4x4 map", min=1)
    kernel: Literal[4, 5] = option(4, "kernel side")
    tanh: bool = option(False, "squash codes into (-1, 1) (for a generator trained on a bounded prior)")


def build_generator(o: GeneratorOptions, ctx):
    return DCGANGenerator(o.latent_dim, o.width, ctx.data.image_shape, ctx.data.num_classes, o.depth, o.kernel)


def build_discriminator(o: DiscriminatorOptions, ctx):
    shape = ctx.data.image_shape
    if o.channels is not None:
        shape = (o.channels, *shape[1:])
    return DCGANDiscriminator(o.width, o.norm, shape, ctx.data.num_classes, o.depth, o.kernel)


@hookimpl
def ganzoo_add_components():
    return [
        Component("generator", "dcgan", build_generator, GeneratorOptions,
                  "DCGAN transposed-conv generator, 28/32/64 px (any side with kernel 5 and depth), "
                  "1 or 3 channels (Radford et al. 2015)"),
        Component("discriminator", "dcgan", build_discriminator, DiscriminatorOptions,
                  "DCGAN strided-conv discriminator; norm batch/layer/none; projection when conditional"),
        Component("encoder", "dcgan",
                  lambda o, ctx: DCGANEncoder(o.latent_dim, o.width, o.norm, ctx.data.image_shape, o.depth, o.kernel,
                                              o.tanh),
                  EncoderOptions, "DCGAN discriminator architecture mapping images to latent codes (GANomaly, f-AnoGAN)"),
    ]
