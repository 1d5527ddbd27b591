"""Adaptive discriminator augmentation, ADA (Karras, Aittala, Hellsten, Laine, Lehtinen, Aila,
NeurIPS 2020, "Training Generative Adversarial Networks with Limited Data"; authors' code
NVlabs/stylegan2-ada-pytorch, training/augment.py).

Every D input, real and fake, in both phases, goes through one pipeline whose transforms each
fire per image with probability p. p adapts: every `interval` steps the overfitting signal
r_t = E[sign(D(x_real))] over those steps is compared with the target 0.6, and

    p <- clamp(p + sign(r_t - target) * (batch * interval) / (speed_kimg * 1000), 0, 1)

so p can go from 0 to 1 in `speed_kimg` thousand real images (the paper: 500k). Groups, as
the paper's "bgc" pipeline:
  blit   x-flip, rotation by a multiple of 90 degrees, integer translation by up to 1/8 of the side
  geom   isotropic scaling (log2-normal, std 0.2), rotation (uniform, with probability
         1 - sqrt(1 - p), before and after), anisotropic scaling (log2-normal, std 0.2),
         fractional translation (normal, std 1/8 of the side)
  color  brightness (normal, std 0.2), contrast (log2-normal, std 0.5), saturation on colour
         images (log2-normal, std 1)
The geometric transforms compose into one affine matrix per image, applied with one resampling
with reflected borders: bilinear (the authors filter with a wavelet; bilinear is the simpler
choice), or whole-pixel copies when only blit is on. Images no transform fired on are returned
exactly, so p = 0 is the identity. All of it is differentiable, so G's gradient flows through it.
p and the running r_t are buffers: logged as augment/p and augment/rt, checkpointed, and a
resumed run continues bit-exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganzoo import Augmentation, Component, GanzooError, hookimpl, option

GROUPS = ("blit", "geom", "color")


@dataclass(frozen=True)
class ADAOptions:
    groups: str = option("blit,geom,color", "comma-separated groups of transforms: blit, geom, color")
    p: float = option(0.0, "starting probability of each transform", min=0, max=1)
    target: float = option(0.6, "target of the overfitting signal r_t = E[sign(D(x_real))]", min=0, max=1)
    interval: int = option(4, "steps between adjustments of p", min=1)
    speed_kimg: float = option(500.0, "thousands of real images for p to move by 1 (the paper: 500)",
                               min=0, min_exclusive=True)
    adaptive: bool = option(True, "adapt p; false keeps p fixed (the paper's fixed-p baselines)")


def _affine(a, b, tx, c, d, ty):
    """(n, 3, 3) matrices [[a, b, tx], [c, d, ty], [0, 0, 1]] from (n,) tensors."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([torch.stack([a, b, tx], -1), torch.stack([c, d, ty], -1),
                        torch.stack([zero, zero, one], -1)], -2)


def _rotation(theta):
    c, s, zero = torch.cos(theta), torch.sin(theta), torch.zeros_like(theta)
    return _affine(c, -s, zero, s, c, zero)


def _quarter_turns(k):
    """Rotation by k x 90 degrees with exact zeros and ones (cos(pi/2) is not 0 in floats)."""
    cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=k.device)[k]
    sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=k.device)[k]
    zero = torch.zeros_like(cos)
    return _affine(cos, -sin, zero, sin, cos, zero)


def _scale(sx, sy):
    zero = torch.zeros_like(sx)
    return _affine(sx, zero, zero, zero, sy, zero)


def _translate(tx, ty):
    zero, one = torch.zeros_like(tx), torch.ones_like(tx)
    return _affine(one, zero, tx, zero, one, ty)


class ADA(Augmentation):
    def __init__(self, o: ADAOptions, ctx):
        super().__init__()
        names = [g.strip() for g in o.groups.split(",") if g.strip()]
        unknown = [g for g in names if g not in GROUPS]
        if unknown:
            raise GanzooError(f"augmentation.groups: unknown group {unknown[0]!r}; allowed: {', '.join(GROUPS)}")
        if len(ctx.data.image_shape) != 3:
            raise GanzooError(f"augmentation ada: needs images (C, H, W), the data is {tuple(ctx.data.image_shape)}")
        self.groups, self.target, self.interval, self.adaptive = set(names), o.target, o.interval, o.adaptive
        self.adjust = ctx.recipe.train.batch_size * o.interval / (o.speed_kimg * 1000)
        self.register_buffer("p", torch.tensor(float(o.p)))
        self.register_buffer("signs", torch.zeros(2))  # (sum of E[sign D(x_real)] since the last adjustment, count)

    # --- the pipeline -------------------------------------------------------------------------
    def _fires(self, n, device):
        """Per image: does a transform of probability p fire (as 0/1 floats)."""
        return (torch.rand(n, device=device) < self.p).float()

    def _geometry(self, n, h, w, device):
        """(n, 3, 3) matrices taking output coordinates in [-1, 1] to input coordinates (one pixel
        is 2/side there)."""
        m = torch.eye(3, device=device).expand(n, 3, 3)
        if "blit" in self.groups:
            flip = 1 - 2 * (torch.rand(n, device=device) < 0.5).float() * self._fires(n, device)
            m = m @ _scale(flip, torch.ones_like(flip))
            quarter = (torch.randint(0, 4, (n,), device=device) * self._fires(n, device)).long()
            m = m @ _quarter_turns(quarter)
            side = torch.tensor([w, h], device=device, dtype=torch.float32)
            pixels = torch.round((torch.rand(n, 2, device=device) * 2 - 1) * 0.125 * side)  # whole pixels
            shift = pixels * 2 / side * self._fires(n, device)[:, None]
            m = m @ _translate(shift[:, 0], shift[:, 1])
        if "geom" in self.groups:
            scale = torch.exp2(torch.randn(n, device=device) * 0.2 * self._fires(n, device))
            m = m @ _scale(scale, scale)
            p_rot = 1 - torch.sqrt((1 - self.p).clamp(min=0))  # rotated before or after: about p in all
            m = m @ _rotation(self._angle(n, p_rot, device))
            aniso = torch.exp2(torch.randn(n, device=device) * 0.2 * self._fires(n, device))
            m = m @ _scale(aniso, 1 / aniso)
            m = m @ _rotation(self._angle(n, p_rot, device))
            shift = torch.randn(n, 2, device=device) * 0.125 * 2 * self._fires(n, device)[:, None]
            m = m @ _translate(shift[:, 0], shift[:, 1])
        return m

    @staticmethod
    def _angle(n, p_rot, device):
        fires = (torch.rand(n, device=device) < p_rot).float()
        return (torch.rand(n, device=device) * 2 - 1) * math.pi * fires

    def _colour(self, x):
        n, c = x.shape[:2]
        brightness = torch.randn(n, 1, 1, 1, device=x.device) * 0.2 * self._fires(n, x.device).view(n, 1, 1, 1)
        x = x + brightness
        contrast = torch.exp2(torch.randn(n, 1, 1, 1, device=x.device) * 0.5
                              * self._fires(n, x.device).view(n, 1, 1, 1))
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = x + (x - mean) * (contrast - 1)  # exactly x where no contrast change fired
        if c == 3:
            saturation = torch.exp2(torch.randn(n, 1, 1, 1, device=x.device)
                                    * self._fires(n, x.device).view(n, 1, 1, 1))
            grey = x.mean(dim=1, keepdim=True)
            x = x + (x - grey) * (saturation - 1)
        return x

    def forward(self, images):
        x = images
        if self.groups & {"blit", "geom"}:
            n, _, h, w = x.shape
            m = self._geometry(n, h, w, x.device)
            grid = F.affine_grid(m[:, :2, :].to(x.dtype), list(x.shape), align_corners=False)
            # blitting alone moves whole pixels: copy them (nearest) rather than blend them
            mode = "bilinear" if "geom" in self.groups else "nearest"
            moved = F.grid_sample(x, grid, mode=mode, padding_mode="reflection", align_corners=False)
            # images no transform fired on stay exactly as they were (resampling would round them)
            unchanged = (m == torch.eye(3, device=x.device)).flatten(1).all(1).view(n, 1, 1, 1)
            x = torch.where(unchanged, x, moved)
        if "color" in self.groups:
            x = self._colour(x)
        return x

    # --- adapting p -----------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, step):
        if not self.adaptive or step.real_out is None:
            return {"augment/p": self.p}
        self.signs += torch.stack([step.real_out.detach().float().sign().mean(), torch.ones((), device=self.p.device)])
        terms = {"augment/p": self.p.clone()}
        if (step.step + 1) % self.interval == 0:  # decided on the host from the step count: no sync
            rt = self.signs[0] / self.signs[1].clamp(min=1)
            self.p.copy_((self.p + torch.sign(rt - self.target) * self.adjust).clamp(0, 1))
            self.signs.zero_()
            terms["augment/rt"] = rt
        return terms


@hookimpl
def ganzoo_add_components():
    return [Component("augmentation", "ada", ADA, ADAOptions,
                      "ADA: flips, rotations, shifts, scaling, colour with a p that adapts to D's "
                      "overfitting (Karras et al. 2020)")]
