"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"),
training through the same loop as every other variant.

networks    unet: the paper's U-Net; at 256 px encoder C64-C128-C256-C512-C512-C512-C512-C512 and
                  decoder CD512-CD512-CD512-C512-C256-C128-C64, each decoder layer fed its mirror's
                  encoder output as well (skip connections); 4x4 stride-2 convolutions, LeakyReLU 0.2
                  down, ReLU up, BatchNorm (none on the first encoder layer nor at the 1x1
                  innermost), dropout 0.5 in the first three decoder layers, tanh out, N(0, 0.02)
            patchgan (ganzoo_plugins.cyclegan) with `pairs: true, norm: batch`: the 70x70 PatchGAN
                  as a conditional D, seeing the input and an output stacked on channels
objective   pix2pix: roles G (generator), D (discriminator);
            D phase: 0.5·(ℓ(D(a, b), 1) + ℓ(D(a, G(a)), 0)), then
            G phase: ℓ(D(a, G(a)), 1) + λ·‖G(a) - b‖₁, λ = 100, on the same G(a);
            ℓ the BCE of the logits over the patch map (the paper) or least squares
Training in the paper: Adam 2e-4 betas (0.5, 0.999), batch 1, 286-px jitter cropped to 256 and
flipped; facades 200 epochs (100 constant, 100 decayed linearly to 0 in the authors' code).

Evaluation here runs G in eval mode (BatchNorm's running statistics, no dropout); the paper
kept dropout and batch statistics at test time. The authors' PyTorch code puts the three
dropouts one layer deeper (not on the innermost decoder layer); this follows the paper and the
original Torch code. The paired datasets and the translation metrics are in
ganzoo_plugins.image_to_image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo import Component, GanzooError, Objective, Phase, hookimpl, option
from ganzoo_plugins.cyclegan import NORMS, init_weights

# --- the U-Net generator ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnetOptions:
    width: int = option(64, "channels of the first layer (the paper: 64); doubled per layer up to 8x", min=1)
    depth: int | None = option(None, "stride-2 downsamplings (the paper: 8 at 256 px); default: down to 1x1, "
                                     "at most 8", min=1)
    dropout: float = option(0.5, "dropout in the first three decoder layers (the paper: 0.5)", min=0, max=1)
    norm: Literal["batch", "instance"] = option("batch", "batch (the paper) or instance")
    pad: Literal["reflect", "zero"] = option(
        "reflect", "how sides that are not a multiple of 2^depth are padded (the output is cropped back)")


def default_depth(height: int, width: int) -> int:
    """Downsamplings that take the shorter side to 1x1 (padded up to a power of 2), at most 8."""
    return max(1, min(8, math.ceil(math.log2(max(1, min(height, width))))))


class UnetGenerator(nn.Module):
    """Encoder layer i (of `depth`) halves the side; decoder layer k mirrors encoder layer
    depth-1-k and sees its output concatenated with the previous decoder layer's."""

    def __init__(self, channels: int, width: int, depth: int, dropout: float, norm: str, pad: str):
        super().__init__()
        Norm, bias = NORMS[norm], norm == "instance"  # BatchNorm has its own shift: no conv bias (the paper's code)
        self.depth, self.pad = depth, pad
        widths = [width * min(2 ** i, 8) for i in range(depth)]  # 64, 128, 256, 512, 512, ...
        self.down = nn.ModuleList()
        for i, out in enumerate(widths):
            first, innermost = i == 0, i == depth - 1
            layers = [] if first else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(channels if first else widths[i - 1], out, 4, 2, 1, bias=bias or first))
            if not (first or innermost):  # the innermost map is 1x1: batch statistics of one pixel are useless
                layers.append(Norm(out))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        for k in range(depth):
            i = depth - 1 - k  # the encoder layer this one mirrors
            inputs = widths[i] * (1 if k == 0 else 2)  # the innermost has no skip to concatenate
            if i == 0:  # the output layer
                layers = [nn.ReLU(), nn.ConvTranspose2d(inputs, channels, 4, 2, 1), nn.Tanh()]
            else:
                layers = [nn.ReLU(), nn.ConvTranspose2d(inputs, widths[i - 1], 4, 2, 1, bias=bias), Norm(widths[i - 1])]
                if k < 3 and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.apply(init_weights)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        multiple = 2 ** self.depth
        pad_h, pad_w = -height % multiple, -width % multiple
        top, left = pad_h // 2, pad_w // 2
        if pad_h or pad_w:
            # reflection needs a pad shorter than the side; beyond that the edge pixels are repeated
            mode = ("reflect" if pad_h < height and pad_w < width else "replicate") if self.pad == "reflect" \
                else "constant"
            x = F.pad(x, (left, pad_w - left, top, pad_h - top), mode=mode)
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for up in self.up[1:]:
            x = up(torch.cat([skips.pop(), x], 1))
        return x[..., top:top + height, left:left + width]


def _unet(o: UnetOptions, ctx) -> UnetGenerator:
    channels, height, width = ctx.data.image_shape
    depth = o.depth or default_depth(height, width)
    return UnetGenerator(channels, o.width, depth, o.dropout, o.norm, o.pad)


# --- the objective ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pix2PixOptions:
    lambda_l1: float = option(100.0, "weight of the L1 loss to the true output (the paper: 100)", min=0)
    gan_mode: Literal["vanilla", "lsgan"] = option(
        "vanilla", "vanilla: BCE of the logits over the patch map (the paper); lsgan: least squares")


def adversarial(out: Tensor, target: float, mode: str) -> Tensor:
    """The GAN loss of D's patch map `out` against a constant target (1 real, 0 fake)."""
    if mode == "lsgan":
        return (out - target).pow(2).mean()
    return F.binary_cross_entropy_with_logits(out, torch.full_like(out, target))


class Pix2PixObjective(Objective):
    networks = {"G": "generator", "D": "discriminator"}
    translators = {"AB": "G"}  # for the translation metrics and `ganzoo translate`

    def __init__(self, options: Pix2PixOptions, ctx):
        self.lambda_l1, self.gan_mode = options.lambda_l1, options.gan_mode
        # As the paper's code: D's update, then G's on the same G(a). Keeping G's graph from the D
        # phase to the G phase saves a forward; DDP's gradient averaging cannot follow it, so under
        # data parallelism the G phase remakes G(a).
        world = getattr(ctx, "world", None)
        self.reuse_fake = not (world is not None and world.distributed)
        self.phases = (Phase("D", trains=("D",), needs_grad=("D", "G") if self.reuse_fake else ("D",)),
                       Phase("G", trains=("G",), reads_data=False))
        self._fake = None  # G(a) of the D phase, with its graph, for the G phase

    def critic(self, D: nn.Module, pairs: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's patch scores on (input, output) pairs stacked on channels, augmented together so
        that both halves get the same transform (regularisers call this)."""
        return D(self.augment(pairs))

    def loss(self, phase, nets, step):
        G, D = nets["G"], nets["D"]
        a, b = step.batch["A"], step.batch["B"]
        if phase.name == "D":
            fake = G(a)
            self._fake = fake if self.reuse_fake else None
            step.real, step.fake = torch.cat([a, b], 1), torch.cat([a, fake.detach()], 1)
            step.real_out, step.fake_out = self.critic(D, step.real), self.critic(D, step.fake)
            loss = 0.5 * (adversarial(step.real_out, 1.0, self.gan_mode)
                          + adversarial(step.fake_out, 0.0, self.gan_mode))
            return loss, {"D": loss}
        fake, self._fake = self._fake, None
        if fake is None:
            fake = G(a)
        gan = adversarial(self.critic(D, torch.cat([a, fake], 1)), 1.0, self.gan_mode)
        l1 = self.lambda_l1 * F.l1_loss(fake, b)
        total = gan + l1
        return total, {"G": total, "G/adversarial": gan, "G/l1": l1}

    def check(self, nets, info, recipe):
        G, D = nets["G"], nets["D"]
        g_name, d_name = recipe.networks["G"].name, recipe.networks["D"].name
        x = torch.zeros(1, *info.image_shape, device=next(G.parameters()).device)
        channels = info.image_shape[0]
        for net in (G, D):
            net.eval()
        try:
            with torch.no_grad():
                try:
                    y = G(x)
                except (RuntimeError, TypeError, ValueError) as exc:
                    raise GanzooError(f"networks.G ({g_name}) failed on images of shape {tuple(x.shape[1:])}: "
                                      f"{str(exc).splitlines()[0][:160]}") from None
                if y.shape != x.shape:
                    raise GanzooError(f"networks.G ({g_name}) maps images of shape {tuple(x.shape[1:])} to "
                                      f"{tuple(y.shape[1:])}; pix2pix needs the same")
                try:
                    D(torch.cat([x, y], 1))
                except (RuntimeError, TypeError, ValueError) as exc:
                    hint = " (set networks.D.pairs: true)" if getattr(recipe.networks["D"].options, "pairs", None) \
                        is False else ""
                    raise GanzooError(f"networks.D ({d_name}) must take (input, output) pairs stacked on channels, "
                                      f"{2 * channels} channels{hint}: {str(exc).splitlines()[0][:120]}") from None
        finally:
            for net in (G, D):
                net.train()

    # sample grids: rows of input | output | true target
    def fixed_inputs(self, nets, n, generator, label=None, data=None):
        if label is not None:
            raise GanzooError("--class: pix2pix is not class-conditional")
        if data is None:
            raise GanzooError("pix2pix samples are translations of real images; use `ganzoo translate`")
        examples = data.examples(max(1, n), generator)
        return {"A": examples["A"].cpu(), "B": examples["B"].cpu()}

    @torch.no_grad()
    def sample(self, nets, inputs):
        G = nets["G"]
        device = next(G.parameters()).device
        a, b = inputs["A"].to(device), inputs["B"].to(device)
        return torch.stack([a, G(a), b], 1).flatten(0, 1)

    grid_columns = 3


@hookimpl
def ganzoo_add_components():
    return [
        Component("generator", "unet", _unet, UnetOptions,
                  "pix2pix U-Net: skip connections, BatchNorm, dropout; pads odd sides (Isola et al. 2017)"),
        Component("objective", "pix2pix", Pix2PixObjective, Pix2PixOptions,
                  "pix2pix: conditional GAN on (input, output) pairs + 100·L1 to the target (Isola et al. 2017)"),
    ]
