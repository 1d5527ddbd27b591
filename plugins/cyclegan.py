"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"), training through the same loop as every other variant.

networks    resnet: c7s1-w, two stride-2 downsamplings, n residual blocks, two upsamplings,
                    c7s1-C; reflection padding, InstanceNorm, tanh (6 blocks at 128 px, 9 at 256)
            patchgan: 70x70 PatchGAN, C64-C128-C256-C512, LeakyReLU 0.2, InstanceNorm (pix2pix:
                      BatchNorm, and `pairs: true` to see input and output stacked on channels)
objective   cyclegan: roles G_AB, G_BA (generators), D_A, D_B (discriminators);
            G phase: LSGAN adversarial + λ_cyc·L1 cycle + λ_id·λ_cyc·L1 identity;
            D phase: LSGAN on real vs a pool of 50 earlier fakes, each D loss halved
The unpaired datasets, the translation metrics and `ganzoo translate` are in
ganzoo_plugins.image_to_image, shared with other image-to-image plugins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo import Component, GanzooError, Objective, Phase, hookimpl, option

# --- networks --------------------------------------------------------------------------------------


def init_weights(module: nn.Module) -> None:  # the paper's code: N(0, 0.02); BatchNorm scales N(1, 0.02)
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


NORMS = {"instance": nn.InstanceNorm2d, "batch": nn.BatchNorm2d}  # InstanceNorm without affine, as the paper's code


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x):
        return x + self.body(x)


@dataclass(frozen=True)
class ResnetOptions:
    width: int = option(64, "channels of the first layer (the paper: 64)", min=1)
    blocks: int = option(9, "residual blocks (the paper: 9 at 256 px, 6 at 128 px)", min=1)


class ResnetGenerator(nn.Module):
    def __init__(self, channels: int, width: int, blocks: int):
        super().__init__()
        w = width
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, w, 7), nn.InstanceNorm2d(w), nn.ReLU(True)]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(w * mult, w * mult * 2, 3, 2, 1), nn.InstanceNorm2d(w * mult * 2), nn.ReLU(True)]
        layers += [ResidualBlock(w * 4) for _ in range(blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(w * mult, w * mult // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(w * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, x):
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise GanzooError(f"resnet generator: image sides must be multiples of 4, got {tuple(x.shape[-2:])}")
        return self.net(x)


@dataclass(frozen=True)
class PatchGANOptions:
    width: int = option(64, "channels of the first layer", min=1)
    layers: int = option(3, "stride-2 layers (3 gives the 70x70 receptive field)", min=1)
    pairs: bool = option(False, "sees (input, output) pairs stacked on channels, as pix2pix's conditional D")
    norm: Literal["instance", "batch"] = option("instance", "instance (CycleGAN) or batch (pix2pix)")


class PatchGAN(nn.Module):
    """Outputs a map of real/fake scores, one per (overlapping) patch."""

    def __init__(self, channels: int, width: int, n_layers: int, norm: str = "instance"):
        super().__init__()
        Norm, bias = NORMS[norm], norm == "instance"  # BatchNorm has its own shift: no conv bias (the paper's code)
        layers = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, n_layers):
            out = width * min(2 ** i, 8)
            layers += [nn.Conv2d(ch, out, 4, 2, 1, bias=bias), Norm(out), nn.LeakyReLU(0.2, True)]
            ch = out
        out = width * min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ch, out, 4, 1, 1, bias=bias), Norm(out), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(out, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, x):
        return self.net(x)


# --- the objective -----------------------------------------------------------------------------------

class ImagePool:
    """A buffer of `size` earlier fakes (Shrivastava et al. 2017). Once full, each image of a
    query is swapped, with probability 1/2, for a random stored one (which the new one replaces)."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(0, self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"images": torch.stack(self.images) if self.images else torch.empty(0)}

    def load_state_dict(self, state: dict) -> None:
        self.images = list(state["images"].unbind(0)) if state["images"].numel() else []


@dataclass(frozen=True)
class CycleGANOptions:
    lambda_cycle: float = option(10.0, "weight of the L1 cycle loss (the paper: 10)", min=0)
    lambda_identity: float = option(0.5, "identity loss weight, relative to lambda_cycle (the paper: 0.5)", min=0)
    pool_size: int = option(50, "fakes kept for the discriminators (0: no pool)", min=0)


def lsgan(out: Tensor, target: float) -> Tensor:
    return (out - target).pow(2).mean()


class CycleGANObjective(Objective):
    networks = {"G_AB": "generator", "G_BA": "generator", "D_A": "discriminator", "D_B": "discriminator"}
    translators = {"AB": "G_AB", "BA": "G_BA"}  # for the translation metrics and `ganzoo translate`

    def __init__(self, options: CycleGANOptions, ctx):
        self.lambda_cycle, self.lambda_identity = options.lambda_cycle, options.lambda_identity
        self.pools = {"A": ImagePool(options.pool_size), "B": ImagePool(options.pool_size)}
        self.phases = (Phase("G", trains=("G_AB", "G_BA")), Phase("D", trains=("D_A", "D_B"), reads_data=False))
        self._for_d = None  # the G phase's real and (detached) fake images, for the D phase

    def identity_loss(self, G_AB, G_BA, real_A, real_B) -> Tensor:
        """λ_id·λ_cyc·(‖G_AB(b) - b‖₁ + ‖G_BA(a) - a‖₁): each G should leave its target domain alone."""
        weight = self.lambda_identity * self.lambda_cycle
        return weight * (F.l1_loss(G_AB(real_B), real_B) + F.l1_loss(G_BA(real_A), real_A))

    def loss(self, phase, nets, step):
        if phase.name == "G":
            G_AB, G_BA, D_A, D_B = nets["G_AB"], nets["G_BA"], nets["D_A"], nets["D_B"]
            real_A, real_B = step.batch["A"], step.batch["B"]
            fake_B, fake_A = G_AB(real_A), G_BA(real_B)
            adversarial = lsgan(D_B(self.augment(fake_B)), 1.0) + lsgan(D_A(self.augment(fake_A)), 1.0)
            cycle = self.lambda_cycle * (F.l1_loss(G_BA(fake_B), real_A) + F.l1_loss(G_AB(fake_A), real_B))
            identity = (self.identity_loss(G_AB, G_BA, real_A, real_B) if self.lambda_identity > 0
                        else adversarial.new_zeros(()))
            self._for_d = {"real_A": real_A, "real_B": real_B, "fake_A": fake_A.detach(), "fake_B": fake_B.detach()}
            total = adversarial + cycle + identity
            return total, {"G": total, "G/adversarial": adversarial, "G/cycle": cycle, "G/identity": identity}
        losses, images = {}, self._for_d
        for domain, D in (("A", nets["D_A"]), ("B", nets["D_B"])):
            fake = self.pools[domain].query(images[f"fake_{domain}"])
            real = images[f"real_{domain}"]
            losses[f"D_{domain}"] = 0.5 * (lsgan(D(self.augment(real)), 1.0) + lsgan(D(self.augment(fake)), 0.0))
        total = losses["D_A"] + losses["D_B"]
        return total, {"D": total, **losses}

    def state_dict(self):
        return {domain: pool.state_dict() for domain, pool in self.pools.items()}

    def load_state_dict(self, state):
        for domain, pool in self.pools.items():
            pool.load_state_dict(state[domain])

    def check(self, nets, info, recipe):
        x = torch.zeros(1, *info.image_shape, device=next(nets["G_AB"].parameters()).device)
        for net in nets.values():
            net.eval()
        try:
            with torch.no_grad():
                for role in ("G_AB", "G_BA"):
                    y = nets[role](x)
                    if y.shape != x.shape:
                        raise GanzooError(f"networks.{role} ({recipe.networks[role].name}) maps images of shape "
                                          f"{tuple(x.shape[1:])} to {tuple(y.shape[1:])}; CycleGAN needs the same")
                    nets["D_A"](y), nets["D_B"](y)
        except (RuntimeError, ValueError) as exc:
            raise GanzooError(f"networks: CycleGAN's networks do not fit images of shape {tuple(info.image_shape)}: "
                              f"{str(exc).splitlines()[0][:160]}") from None
        finally:
            for net in nets.values():
                net.train()

    # sample grids: rows of input | translated | reconstructed, A -> B then B -> A
    def fixed_inputs(self, nets, n, generator, label=None, data=None):
        if label is not None:
            raise GanzooError("--class: CycleGAN is not class-conditional")
        if data is None:
            raise GanzooError("CycleGAN samples are translations of real images; use `ganzoo translate`")
        examples = data.examples(max(1, n // 2), generator)
        return {"A": examples["A"].cpu(), "B": examples["B"].cpu()}

    @torch.no_grad()
    def sample(self, nets, inputs):
        G_AB, G_BA = nets["G_AB"], nets["G_BA"]
        device = next(G_AB.parameters()).device
        a, b = inputs["A"].to(device), inputs["B"].to(device)
        ab, ba = G_AB(a), G_BA(b)
        rows = torch.cat([torch.stack([a, ab, G_BA(ab)], 1), torch.stack([b, ba, G_AB(ba)], 1)])
        return rows.flatten(0, 1)

    grid_columns = 3


def _patchgan(o: PatchGANOptions, ctx) -> PatchGAN:
    channels = ctx.data.image_shape[0] * (2 if o.pairs else 1)
    return PatchGAN(channels, o.width, o.layers, o.norm)


@hookimpl
def ganzoo_add_components():
    return [
        Component("generator", "resnet", lambda o, ctx: ResnetGenerator(ctx.data.image_shape[0], o.width, o.blocks),
                  ResnetOptions, "CycleGAN ResNet generator: reflection padding, InstanceNorm, n blocks"),
        Component("discriminator", "patchgan", _patchgan, PatchGANOptions,
                  "70x70 PatchGAN discriminator (Isola et al. 2017); pairs: true for pix2pix"),
        Component("objective", "cyclegan", CycleGANObjective, CycleGANOptions,
                  "CycleGAN: LSGAN + L1 cycle + identity, image pool, D loss halved (Zhu et al. 2017)"),
    ]
