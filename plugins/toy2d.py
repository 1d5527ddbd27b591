"""Mode-coverage toys, by the PacGAN protocol (Lin et al. 2018, section 5.1 and appendix):

datasets   ring2d: 8 Gaussians at (cos 2πi/8, sin 2πi/8), std 0.01
           grid2d: 25 Gaussians at {-4, -2, 0, 2, 4}², std 0.05
           a fixed training set of 100,000 points; the "test" split draws fresh points
networks   mlp2d: G with 4 hidden layers of 400 ReLU units and BatchNorm, z ~ N(0, I_2)
           maxout: D with 3 maxout layers of 200 units, 5 pieces each
           Both initialised as PacGAN's code does: weights N(0, 0.02), biases 0, and no bias
           on the G layers that BatchNorm follows.
PacGAN's batch of 100 is 100 *packs*: with `pack: m` set train.batch_size to 100·m.
Samples are drawn as scatter plots over the true modes (hook ganzoo_save_samples); score them
with `modes_2d`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ganzoo import Component, DeviceDataset, hookimpl, option


def ring_centers(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """`modes` distinct angles 2πi/modes (not linspace(0, 2π, modes), which repeats 0 = 2π)."""
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """A side x side grid centred on 0 (float64)."""
    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(coords, coords)


@dataclass(frozen=True)
class MixtureOptions:
    points: int = option(100000, "size of the fixed training set", min=1)
    data_seed: int = option(0, "seed of the training set (the same points whatever the run's seed)", min=0)
    split: Literal["train", "test"] = option("train", "train: the fixed set; test: fresh points (reference)")


def _mixture(centers: torch.Tensor, std: float):
    def build(o: MixtureOptions, ctx):
        g = torch.Generator().manual_seed(o.data_seed + (1000 if o.split == "test" else 0))
        which = torch.randint(0, len(centers), (o.points,), generator=g)
        points = (centers[which] + std * torch.randn(o.points, 2, generator=g, dtype=torch.float64)).float()
        extras = {"centers": tuple(map(tuple, centers.tolist())), "center_std": std}  # for modes_2d and plots
        return DeviceDataset(points, which, ctx.recipe.train.batch_size, ctx.device, seed=ctx.recipe.seed + 1,
                             extras=extras)
    return build


@dataclass(frozen=True)
class MLP2DOptions:
    latent_dim: int = option(2, "size of z, a spherical Gaussian (2 in PacGAN's code)", min=1)
    hidden: int = option(400, "units per hidden layer", min=1)
    layers: int = option(4, "hidden layers", min=1)
    batch_norm: bool = option(True, "BatchNorm after each hidden layer")
    init_std: float = option(0.02, "weights drawn from N(0, init_std), biases 0 (PacGAN's code)", min=0.0)


class MLP2D(nn.Module):
    def __init__(self, o: MLP2DOptions, out_dim: int):
        super().__init__()
        self.latent_dim = o.latent_dim
        layers, width = [], o.latent_dim
        for _ in range(o.layers):
            layers += [nn.Linear(width, o.hidden, bias=not o.batch_norm)]  # BatchNorm's shift is the bias
            if o.batch_norm:
                layers += [nn.BatchNorm1d(o.hidden)]
            layers += [nn.ReLU()]
            width = o.hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        _init(self, o.init_std)

    def forward(self, z):
        return self.net(z)


def _init(net: nn.Module, std: float) -> None:
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class Maxout(nn.Module):
    def __init__(self, in_dim: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_dim, units * pieces)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.units, self.pieces).max(dim=2).values


@dataclass(frozen=True)
class MaxoutOptions:
    units: int = option(200, "units per maxout layer", min=1)
    pieces: int = option(5, "linear pieces per unit", min=1)
    layers: int = option(3, "maxout layers", min=1)
    init_std: float = option(0.02, "weights drawn from N(0, init_std), biases 0 (PacGAN's code)", min=0.0)


class MaxoutDiscriminator(nn.Module):
    """Returns raw outputs (N, 1); PacGAN packing stacks points along the input dimension."""

    def __init__(self, o: MaxoutOptions, in_dim: int):
        super().__init__()
        layers, width = [], in_dim
        for _ in range(o.layers):
            layers.append(Maxout(width, o.units, o.pieces))
            width = o.units
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))
        _init(self, o.init_std)

    def forward(self, x):
        return self.net(x.flatten(1))


def save_scatter(points: torch.Tensor, path: Path, centers=None, std: float | None = None,
                 size: int = 480) -> Path:
    """2D samples (blue) over the true modes (red circles of 3 std) as a PNG."""
    from PIL import Image, ImageDraw

    pts = points.detach().float().cpu()
    ref = torch.tensor(centers, dtype=torch.float32) if centers is not None else pts
    lo = torch.minimum(ref.min(0).values, torch.tensor([-1.0, -1.0])) if len(ref) else torch.tensor([-1.0, -1.0])
    hi = torch.maximum(ref.max(0).values, torch.tensor([1.0, 1.0])) if len(ref) else torch.tensor([1.0, 1.0])
    margin = (hi - lo) * 0.15 + 0.1
    lo, hi = lo - margin, hi + margin
    scale = (size - 1) / (hi - lo)

    def to_pixel(p):
        return float((p[0] - lo[0]) * scale[0]), float((hi[1] - p[1]) * scale[1])

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for p in pts:
        x, y = to_pixel(p)
        draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(40, 90, 200))
    if centers is not None:
        r = float(3 * (std or 0.0) * scale[0])
        for c in ref:
            x, y = to_pixel(c)
            draw.ellipse((x - max(r, 3), y - max(r, 3), x + max(r, 3), y + max(r, 3)), outline=(220, 30, 30), width=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    image.save(tmp, format="png")
    os.replace(tmp, path)
    return path


@hookimpl
def ganzoo_save_samples(samples, path, info, nrow):
    """2D points (N, 2): a scatter plot over the data's modes; anything else is not ours."""
    if samples.dim() != 2 or samples.shape[1] != 2:
        return None
    return save_scatter(samples, path, info.extras.get("centers") if info else None,
                        info.extras.get("center_std") if info else None)


@hookimpl
def ganzoo_add_components():
    return [
        Component("dataset", "ring2d", _mixture(ring_centers(8, 1.0), 0.01), MixtureOptions,
                  "8 Gaussians on the unit circle, std 0.01, 100k fixed points (PacGAN)"),
        Component("dataset", "grid2d", _mixture(grid_centers(5, 2.0), 0.05), MixtureOptions,
                  "25 Gaussians on a 5x5 grid, spacing 2, std 0.05, 100k fixed points (PacGAN)"),
        Component("generator", "mlp2d", lambda o, ctx: MLP2D(o, ctx.data.image_shape[0]), MLP2DOptions,
                  "PacGAN's toy generator: 4 x 400 ReLU with BatchNorm"),
        Component("discriminator", "maxout", lambda o, ctx: MaxoutDiscriminator(o, ctx.data.image_shape[0]),
                  MaxoutOptions, "PacGAN's toy discriminator: 3 maxout layers of 200 units x 5 pieces"),
    ]
