"""GANObjective: the generator-against-discriminator objective most variants subclass.

The contract it implements (Objective, Phase, StepContext, Regularizer) is in ganzoo.contract;
a variant only writes d_loss and g_loss.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .contract import Objective, Phase, StepContext
from .errors import GanzooError
from .options import option


@dataclass(frozen=True)
class GANOptions:
    """Options every generator-vs-discriminator objective takes."""

    n_critic: int = option(1, "D updates per G update (each on a fresh real batch)", min=1)
    g_steps: int = option(1, "G updates per step, after D's; PacGAN's and DCGAN-TensorFlow's code use 2 "
                             "(the first reuses D's z, later ones draw fresh z)", min=1)
    pack: int = option(1, "PacGAN: D judges this many samples at once, stacked along channels "
                          "(Lin et al. 2018); train.batch_size counts samples, so D sees batch_size / pack "
                          "packs per step", min=1)
    conditional: bool = option(False, "class-conditional: G(z, y) and D(x, y) with the data's labels")
    top_k: float = option(1.0, "top-k training (Sinha et al. 2020): G's update keeps only the k fakes (packs) D "
                               "scores most real; k shrinks from the whole batch to this fraction of it "
                               "(the paper's nu, 0.5 for most GANs); 1 keeps every fake",
                         min=0, max=1, min_exclusive=True)
    top_k_decay: float = option(0.99, "top-k: k = batch * max(top_k, top_k_decay ** epoch) (the paper's "
                                      "gamma, annealed once per epoch)", min=0, max=1)


class GANObjective(Objective):
    """A generator G against a discriminator D: a D phase (n_critic times), then a G phase
    (g_steps times).

    Subclasses give the loss maths on D's raw outputs (logits or critic values):

        d_loss(real_out, fake_out) -> (loss, {term: tensor})
        g_loss(fake_out)           -> (loss, {term: tensor})
        g_loss(fake_out, real_out)    when the class sets g_loss_uses_real = True
                                      (relativistic losses); real_out then costs one more
                                      D forward on the D phase's real batch, without gradients

    With n_critic == 1 the G phase reuses the D phase's fake batch, as the seed tutorial
    and the PyTorch DCGAN example do: one generator forward per step, and G's update uses
    the same z that D was just trained on.
    """

    g_loss_uses_real: bool = False

    def __init__(self, options: GANOptions, ctx):
        from .distributed import SINGLE, local_slice

        self.world = getattr(ctx, "world", None) or SINGLE
        self.local = local_slice(self.world, ctx.recipe.train.batch_size) if self.world.distributed else slice(None)
        self.batch_size = ctx.recipe.train.batch_size
        self.n_critic = options.n_critic
        self.pack = options.pack
        self.conditional = options.conditional
        self.top_k, self.top_k_decay = options.top_k, options.top_k_decay
        self._for_g = None  # (z, labels, fake) the D phase hands to the first G update of a step
        self.num_classes = ctx.data.num_classes if ctx.data is not None else None
        if self.conditional and not self.num_classes:
            raise GanzooError("objective.conditional: the dataset has no class labels")
        if self.pack > 1 and self.conditional:
            raise GanzooError("objective: pack > 1 and conditional: true cannot be combined")
        if self.top_k < 1 and self.g_loss_uses_real:
            raise GanzooError("objective.top_k: a relativistic loss pairs every fake with a real score; "
                              "top_k must be 1")
        if self.batch_size % self.pack:
            raise GanzooError(f"objective.pack: {self.pack} does not divide train.batch_size "
                              f"{self.batch_size}; PacGAN needs whole packs")
        # Reusing D's fake batch in the G phase keeps G's graph across phases, which DDP's
        # gradient averaging cannot follow: under data parallelism G remakes it from the same z.
        self.reuse_fake = options.n_critic == 1 and not self.world.distributed
        self.phases = (
            Phase("D", trains=("D",), repeats=options.n_critic, needs_grad=("D", "G") if self.reuse_fake else ("D",)),
            Phase("G", trains=("G",), repeats=options.g_steps, reads_data=False),
        )

    # --- the maths subclasses provide -------------------------------------------------------
    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def g_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    # --- shared machinery -------------------------------------------------------------------
    def network_input(self, role, info):
        # Networks see class labels only when the objective is conditional, and PacGAN's D
        # sees `pack` samples stacked along channels.
        info = dataclasses.replace(info, num_classes=info.num_classes if self.conditional else None)
        if role == "D" and self.pack > 1:
            c, *rest = info.image_shape
            info = dataclasses.replace(info, image_shape=(c * self.pack, *rest))
        return info

    def critic(self, D: nn.Module, images: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's output on `images`: augmented (the recipe's augmentation), packed for PacGAN,
        with labels when conditional."""
        images = self.augment(images)
        if self.pack > 1:
            n, c, *rest = images.shape
            images = images.reshape(n // self.pack, c * self.pack, *rest)  # consecutive samples share a pack
        return D(images, labels) if self.conditional else D(images)

    def latents(self, G: nn.Module, n: int, device) -> tuple[Tensor, Tensor | None]:
        """z (and labels) for n fakes. Ranks draw the same global batch (same seed) and keep their slice."""
        total = n * self.world.size
        z = torch.randn(total, G.latent_dim, device=device)[self.local]
        labels = torch.randint(0, self.num_classes, (total,), device=device)[self.local] if self.conditional else None
        return z, labels

    def generate(self, G: nn.Module, z: Tensor, labels: Tensor | None) -> Tensor:
        return G(z, labels) if self.conditional else G(z)

    def loss(self, phase, nets, step: StepContext):
        if phase.name == "D":
            return self.discriminator_loss(nets["G"], nets["D"], step)
        return self.generator_loss(nets["G"], nets["D"], step)

    def discriminator_loss(self, G: nn.Module, D: nn.Module, step: StepContext):
        real = step.batch["image"]
        real_labels = step.batch.get("label") if self.conditional else None
        z, fake_labels = self.latents(G, real.shape[0], real.device)
        fake = self.generate(G, z, fake_labels)
        # the G phase uses the same z (and, on one rank, this very graph)
        self._for_g = (z, fake_labels, fake if self.reuse_fake else None) if self.n_critic == 1 else None
        fake = fake.detach()
        step.real, step.fake, step.real_labels, step.fake_labels = real, fake, real_labels, fake_labels
        step.real_out = self.critic(D, real, real_labels)
        step.fake_out = self.critic(D, fake, fake_labels)
        return self.d_loss(step.real_out, step.fake_out)

    def generator_loss(self, G: nn.Module, D: nn.Module, step: StepContext):
        carried, self._for_g = self._for_g, None  # only the first G update reuses D's z
        z, labels, fake = carried or (None, None, None)
        if z is None:
            z, labels = self.latents(G, self.batch_size // self.world.size, next(G.parameters()).device)
        if fake is None:
            fake = self.generate(G, z, labels)
        fake_out = self.critic(D, fake, labels)
        if self.top_k < 1:
            fake_out = self.most_real(fake_out, step.epoch)
        if not self.g_loss_uses_real:
            return self.g_loss(fake_out)
        with torch.no_grad():  # D is frozen in this phase; its real scores only shift G's loss
            real_out = self.critic(D, step.real, step.real_labels)
        return self.g_loss(fake_out, real_out)

    def most_real(self, fake_out: Tensor, epoch: float) -> Tensor:
        """Top-k training: D's outputs on the k fakes it scores most real. The worst fakes'
        gradients can push samples away from the nearest mode (Sinha et al. 2020, section 4)."""
        n = fake_out.shape[0]
        k = math.ceil(n * max(self.top_k, self.top_k_decay ** int(epoch)))  # >= 1, as top_k > 0
        if k >= n:
            return fake_out
        scores = fake_out.detach().reshape(n, -1).mean(1)  # a patch critic's outputs, averaged per sample
        return fake_out[scores.topk(k).indices]

    def check(self, nets, info, recipe):
        G, D = nets["G"], nets["D"]
        g_name, d_name = recipe.networks["G"].name, recipe.networks["D"].name
        generator = torch.Generator().manual_seed(0)
        n = 2 * self.pack
        device = next(G.parameters()).device
        z = torch.randn(n, G.latent_dim, generator=generator).to(device)
        labels = torch.zeros(n, dtype=torch.long, device=device) if self.conditional else None
        for net in (G, D):
            net.eval()
        try:
            with torch.no_grad():
                try:
                    fake = G(z, labels) if self.conditional else G(z)
                except (RuntimeError, TypeError, ValueError) as exc:
                    raise GanzooError(f"networks.G ({g_name}) failed on a test batch"
                                      f"{' with class labels' if self.conditional else ''}: "
                                      f"{str(exc).splitlines()[0][:160]}") from None
                if tuple(fake.shape[1:]) != tuple(info.image_shape):
                    raise GanzooError(f"networks.G ({g_name}) makes images of shape {tuple(fake.shape[1:])} but the "
                                      f"data and networks.D ({d_name}) have {tuple(info.image_shape)}")
                try:
                    self.critic(D, fake, labels)
                except (RuntimeError, TypeError, ValueError) as exc:
                    raise GanzooError(f"networks.D ({d_name}) cannot take networks.G ({g_name})'s images of shape "
                                      f"{tuple(fake.shape[1:])}: {str(exc).splitlines()[0][:160]}") from None
        finally:
            for net in (G, D):
                net.train()

    def fixed_inputs(self, nets, n, generator, label=None, data=None):
        z = torch.randn(n, nets["G"].latent_dim, generator=generator)
        if not self.conditional:
            return super().fixed_inputs(nets, n, generator, label) if label is not None else {"z": z}
        if label is not None:
            if not 0 <= label < self.num_classes:
                raise GanzooError(f"--class: expected a class in [0, {self.num_classes - 1}], got {label}")
            return {"z": z, "y": torch.full((n,), label, dtype=torch.long)}
        return {"z": z, "y": torch.arange(n) % self.num_classes}
