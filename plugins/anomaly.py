"""GAN anomaly detection: train on normal images only, then score how far an image is from them.

objectives  ganomaly: GANomaly (Akçay et al. 2018). Roles E, G, E2 (the encoder-decoder-encoder
                      generator: z = E(x), x̂ = G(z), ẑ = E2(x̂)) and D. G phase:
                      w_adv·‖f(x) - f(x̂)‖² (feature matching on D's features) + w_con·‖x - x̂‖₁
                      + w_enc·‖z - ẑ‖², weights 1, 50, 1; D phase: BCE, real against x̂.
                      Score: mean (z - ẑ)² over the code.
            fanogan:  f-AnoGAN (Schlegl et al. 2019). A WGAN-GP (roles G, D: the `wasserstein`
                      objective with the `gradient_penalty` regulariser), then, with G and D
                      frozen, an encoder E trained in the izi_f mode on
                      ‖x - G(E(x))‖²/n + κ·‖f(x) - f(G(E(x)))‖²/n_f (f: D's features), κ = 1.
                      Score: the same quantity. The two stages are phases of one run (`during`).
            any GAN:  -D(x), the discriminator's verdict (Objective.anomaly_scores' default), or
                      AnoGAN's inversion (Schlegl et al. 2017): z fitted to x by gradient descent,
                      the score the residual left (0.9·‖x - G(z)‖₁ + 0.1·‖f(x) - f(G(z))‖₁).
dataset     mnist_anomaly: MNIST (or Fashion-MNIST) under one of two protocols, kept apart:
              one_class      train on the digit `normal`, test on the whole test set, every other
                             digit an anomaly (Ruff et al. 2018, Deep SVDD, Table 1);
              leave_one_out  train on the nine digits other than `anomaly`, test on the whole
                             test set, that digit the anomaly (GANomaly, MNIST experiment).
metric      anomaly_auroc: AUROC and average precision of the objective's scores on the test
            split, with a model-free baseline as the floor: the distance of each test image to its
            nearest training image, in raw pixels.
command     ganzoo score-anomaly RUN_DIR --input DIR [--output scores.csv]: a CSV of scores.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo import (FASHION_MNIST, MNIST, Command, Component, DeviceDataset, GanzooError, Metric,
                    Objective, Phase, __version__, auroc, average_precision, hookimpl, list_images, load_checkpoint,
                    load_idx_images, load_image, nearest_neighbour_distance, option)
from ganzoo_plugins.wgan import Wasserstein, WassersteinOptions


@contextlib.contextmanager
def _eval_mode(*nets: nn.Module):
    """Frozen networks as fixed functions: BatchNorm uses its running statistics and keeps them."""
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)


def _features(D: nn.Module, images: Tensor, where: str) -> Tensor:
    """D's intermediate features, flattened (the layer before its output)."""
    features = getattr(D, "features", None)
    if not callable(features):
        raise GanzooError(f"{where}: networks.D has no `features` (the layer before its output); "
                          f"use a discriminator that has one, e.g. dcgan")
    return features(images).flatten(1)


def _check_codes(nets: dict, encoders: tuple[str, ...], what: str) -> None:
    latent = nets["G"].latent_dim
    for role in encoders:
        code = getattr(nets[role], "latent_dim", None)
        if code != latent:
            raise GanzooError(f"networks.{role}.latent_dim: {code}, but networks.G.latent_dim is {latent}; "
                              f"{what} needs them equal")


# --- GANomaly --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GANomalyOptions:
    w_adv: float = option(1.0, "weight of the adversarial loss (the paper: 1)", min=0)
    w_con: float = option(50.0, "weight of the contextual L1 loss ‖x - x̂‖₁ (the paper: 50)", min=0)
    w_enc: float = option(1.0, "weight of the latent loss ‖z - ẑ‖² (the paper: 1)", min=0)
    adversarial: Literal["feature_matching", "bce"] = option(
        "feature_matching", "G's adversarial loss: feature matching on D's features (the paper) or BCE (early code)")
    reinit_d: int = option(100, "every this many steps, re-initialise D if its loss fell below 1e-5 (the authors' "
                                "code checks every step; 0: never)", min=0)


class GANomalyObjective(Objective):
    networks = {"E": "encoder", "G": "generator", "E2": "encoder", "D": "discriminator"}
    grid_columns = 16  # eight (input, reconstruction) pairs a row

    def __init__(self, options: GANomalyOptions, ctx):
        self.o = options
        world = getattr(ctx, "world", None)
        # The G phase reuses the D phase's reconstruction (the authors' code does too); under
        # data parallelism G remakes it, as DDP cannot follow a graph across phases.
        self.reuse = world is None or not world.distributed
        self.phases = (Phase("D", trains=("D",), needs_grad=("D", "E", "G", "E2") if self.reuse else ("D",)),
                       Phase("G", trains=("E", "G", "E2"), reads_data=False))
        self._for_g = None
        self._initial_d = None  # D's first weights, for the re-initialisation
        self._d_terms = None  # the D phase's real and fake losses (detached), for that check

    def network_input(self, role, info):  # unconditional: the networks never see labels
        return dataclasses.replace(info, num_classes=None)

    def reconstruct(self, nets, x):
        z = nets["E"](x)
        x_hat = nets["G"](z)
        return z, x_hat, nets["E2"](x_hat)

    def loss(self, phase, nets, step):
        D = nets["D"]
        if phase.name == "D":
            if self._initial_d is None and self.o.reinit_d:
                self._initial_d = {k: v.detach().clone() for k, v in D.state_dict().items()}
            x = step.batch["image"]
            if self.reuse:
                z, x_hat, z_hat = self.reconstruct(nets, x)
                self._for_g = (x, z, x_hat, z_hat)
            else:
                with torch.no_grad():
                    x_hat = nets["G"](nets["E"](x))
            step.real, step.fake = x, x_hat.detach()
            step.real_out, step.fake_out = D(self.augment(x)), D(self.augment(step.fake))
            real = F.binary_cross_entropy_with_logits(step.real_out, torch.ones_like(step.real_out))
            fake = F.binary_cross_entropy_with_logits(step.fake_out, torch.zeros_like(step.fake_out))
            self._d_terms = (real.detach(), fake.detach())
            total = real + fake
            return total, {"D": total, "D/real": real, "D/fake": fake}
        self._maybe_reinit(D, step.step)
        if self._for_g is not None:
            (x, z, x_hat, z_hat), self._for_g = self._for_g, None
        else:
            x = step.batch["image"]
            z, x_hat, z_hat = self.reconstruct(nets, x)
        if self.o.adversarial == "feature_matching":
            with torch.no_grad():
                real_features = _features(D, self.augment(x), "objective.adversarial")
            adversarial = (_features(D, self.augment(x_hat), "objective.adversarial") - real_features).pow(2).mean()
        else:
            out = D(self.augment(x_hat))
            adversarial = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        contextual = (x - x_hat).abs().mean()
        latent = (z - z_hat).pow(2).mean()
        total = self.o.w_adv * adversarial + self.o.w_con * contextual + self.o.w_enc * latent
        return total, {"G": total, "G/adversarial": adversarial, "G/contextual": contextual, "G/latent": latent}

    def _maybe_reinit(self, D, step_index: int) -> None:
        """The authors' safeguard against a D that has won outright: start it afresh. One host
        sync each `reinit_d` steps (here, after D's update, before G's)."""
        if not self.o.reinit_d or step_index % self.o.reinit_d or self._initial_d is None:
            return
        if float(torch.minimum(*self._d_terms)) < 1e-5:
            D.load_state_dict(self._initial_d)

    @torch.no_grad()
    def anomaly_scores(self, nets, images):
        z, _, z_hat = self.reconstruct(nets, images)
        return (z - z_hat).pow(2).mean(1)

    def check(self, nets, info, recipe):
        _check_codes(nets, ("E", "E2"), "GANomaly")
        with _eval_mode(*nets.values()), torch.no_grad():
            x = torch.zeros(2, *info.image_shape, device=next(nets["G"].parameters()).device)
            try:
                _, x_hat, _ = self.reconstruct(nets, x)
            except (RuntimeError, ValueError) as exc:
                raise GanzooError(f"networks: GANomaly's E, G, E2 do not fit images of shape {tuple(info.image_shape)}: "
                                  f"{str(exc).splitlines()[0][:160]}") from None
            if x_hat.shape != x.shape:
                raise GanzooError(f"networks.G ({recipe.networks['G'].name}) makes images of shape "
                                  f"{tuple(x_hat.shape[1:])} from E's codes; the data has {tuple(info.image_shape)}")
            if self.o.adversarial == "feature_matching":
                _features(nets["D"], x_hat, "objective.adversarial")

    def state_dict(self):
        return {"initial_d": self._initial_d}

    def load_state_dict(self, state):
        self._initial_d = state.get("initial_d")

    # sample grids: pairs of a real image and its reconstruction
    def fixed_inputs(self, nets, n, generator, label=None, data=None):
        if label is not None:
            raise GanzooError("--class: GANomaly is not class-conditional")
        if data is None:
            raise GanzooError("GANomaly reconstructs real images and has no sampling prior; score it with "
                              "anomaly_auroc (or `ganzoo score-anomaly`)")
        return {"x": data.examples(max(1, n // 2), generator).cpu()}

    @torch.no_grad()
    def sample(self, nets, inputs):
        x = inputs["x"].to(next(nets["G"].parameters()).device)
        _, x_hat, _ = self.reconstruct(nets, x)
        return torch.stack([x, x_hat], 1).flatten(0, 1)


# --- f-AnoGAN --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FAnoGANOptions(WassersteinOptions):
    encoder_stage: float = option(0.5, "the last part of the run (a fraction of train.steps) in which E is trained "
                                       "with G and D frozen; the WGAN-GP trains before it", min=0.01, max=0.99)
    kappa: float = option(1.0, "weight of the feature residual in the izi_f loss and score (the paper: 1)", min=0)


class FAnoGANObjective(Wasserstein):
    networks = {"G": "generator", "D": "discriminator", "E": "encoder"}

    def __init__(self, options: FAnoGANOptions, ctx):
        super().__init__(options, ctx)
        if options.conditional or options.pack > 1:
            raise GanzooError("objective: f-AnoGAN needs an unconditional, unpacked WGAN-GP (conditional: false, pack: 1)")
        self.kappa = options.kappa
        gan_stage = (0.0, 1.0 - options.encoder_stage)
        self.phases = (*(dataclasses.replace(p, during=gan_stage) for p in self.phases),
                       Phase("E", trains=("E",), during=(gan_stage[1], 1.0)))

    def izi_f(self, nets, x) -> Tensor:
        """Per image: ‖x - G(E(x))‖²/n_pixels + κ·‖f(x) - f(G(E(x)))‖²/n_features."""
        G, D = nets["G"], nets["D"]
        x_hat = G(nets["E"](x))
        image = (x - x_hat).flatten(1).pow(2).mean(1)
        feature = (_features(D, x, "f-AnoGAN") - _features(D, x_hat, "f-AnoGAN")).pow(2).mean(1)
        return image + self.kappa * feature

    def loss(self, phase, nets, step):
        if phase.name != "E":
            return super().loss(phase, nets, step)
        with _eval_mode(nets["G"], nets["D"]):  # the trained GAN is a fixed function now
            loss = self.izi_f(nets, step.batch["image"]).mean()
        return loss, {"E": loss}

    @torch.no_grad()
    def anomaly_scores(self, nets, images):
        return self.izi_f(nets, images)

    def check(self, nets, info, recipe):
        super().check(nets, info, recipe)
        _check_codes(nets, ("E",), "f-AnoGAN")
        with _eval_mode(*nets.values()), torch.no_grad():
            x = torch.zeros(2, *info.image_shape, device=next(nets["G"].parameters()).device)
            try:
                self.izi_f(nets, x)
            except (RuntimeError, ValueError) as exc:
                raise GanzooError(f"networks.E ({recipe.networks['E'].name}) does not fit images of shape "
                                  f"{tuple(info.image_shape)}: {str(exc).splitlines()[0][:160]}") from None


# --- the MNIST protocols ---------------------------------------------------------------------------

class AnomalyDataset(DeviceDataset):
    """A DeviceDataset that knows which of its examples are anomalies (none, in training)."""

    def __init__(self, images, labels, anomalous: Tensor, **kwargs):
        super().__init__(images, labels, **kwargs)
        self.anomalous = anomalous.to(self.device)

    def keep(self, index):
        super().keep(index)
        self.anomalous = self.anomalous[index]

    def anomaly_examples(self) -> dict[str, Tensor]:
        """Every example, as the model sees it, with its label and whether it is an anomaly."""
        return {"image": self.normalise(self.data), "label": self.labels, "anomalous": self.anomalous}


@dataclass(frozen=True)
class AnomalyDataOptions:
    protocol: Literal["one_class", "leave_one_out"] = option(
        "one_class", "one_class: train on digit `normal`; leave_one_out: train on all but digit `anomaly`")
    normal: int | None = option(None, "one_class: the normal digit", min=0, max=9)
    anomaly: int | None = option(None, "leave_one_out: the anomalous digit", min=0, max=9)
    source: Literal["mnist", "fashion_mnist"] = option("mnist", "the images: MNIST digits or Fashion-MNIST classes")
    root: str | None = option(None, "data root (default: $GANZOO_DATA, then the user cache directory)")
    download: bool = option(False, "download through torchvision when the files are missing")
    split: Literal["train", "test"] = option("train", "train: normal images only; test: the whole test set")


def normal_classes(o: AnomalyDataOptions) -> list[int]:
    """The classes trained on under the protocol; one-line errors for a protocol half given."""
    if o.protocol == "one_class":
        if o.normal is None or o.anomaly is not None:
            raise GanzooError("data.normal: protocol one_class needs the normal digit in `normal` "
                              "(and no `anomaly`: every other digit is one)")
        return [o.normal]
    if o.anomaly is None or o.normal is not None:
        raise GanzooError("data.anomaly: protocol leave_one_out needs the anomalous digit in `anomaly` "
                          "(and no `normal`: every other digit is normal)")
    return [c for c in range(10) if c != o.anomaly]


def _mnist_anomaly(o: AnomalyDataOptions, ctx):
    source, features = (MNIST, "mnist_lenet") if o.source == "mnist" else (FASHION_MNIST, "fashion_lenet")
    normal = normal_classes(o)
    images, labels = load_idx_images(source, o.split, o.root, o.download)
    anomalous = ~torch.isin(labels, torch.tensor(normal))
    if o.split == "train":  # normal images only
        images, labels, anomalous = images[~anomalous], labels[~anomalous], anomalous[~anomalous]
    return AnomalyDataset(images, labels, anomalous, batch_size=ctx.recipe.train.batch_size, device=ctx.device,
                          seed=ctx.recipe.seed + 1, num_classes=10, features=features)


# --- the metric ------------------------------------------------------------------------------------

# --- AnoGAN's score: invert G by gradient descent on z -------------------------------------------------

def anogan_scores(nets, images: Tensor, steps: int, weight: float, lr: float = 0.01, seed: int = 0) -> Tensor:
    """AnoGAN (Schlegl et al. 2017): for each image x, `steps` Adam updates of z on
    (1 - λ)·‖x - G(z)‖₁ + λ·‖f(x) - f(G(z))‖₁ (f: D's features, λ = `weight`); the final value is
    the score. Every image has its own z, and Adam is elementwise, so a batch inverts each image
    independently. G and D are fixed (eval mode, no weight gradients)."""
    G, D = nets["G"], nets["D"]
    params = [p for net in (G, D) for p in net.parameters()]
    wanted = [p.requires_grad for p in params]
    generator = torch.Generator().manual_seed(seed)
    scores = []
    try:
        for p in params:
            p.requires_grad_(False)
        with _eval_mode(G, D), torch.enable_grad():
            for x in images.split(1000):
                target = _features(D, x, "anomaly_auroc.score anogan")
                z = torch.randn(len(x), G.latent_dim, generator=generator).to(x.device).requires_grad_(True)
                optimizer = torch.optim.Adam([z], lr=lr)
                for _ in range(steps + 1):  # the last pass only measures
                    x_hat = G(z)
                    loss = ((1 - weight) * (x - x_hat).abs().flatten(1).sum(1)
                            + weight * (target - _features(D, x_hat, "anomaly_auroc.score anogan")).abs().sum(1))
                    if _ == steps:
                        break
                    optimizer.zero_grad(set_to_none=True)
                    loss.sum().backward()
                    optimizer.step()
                scores.append(loss.detach().float().cpu())
    finally:
        for p, flag in zip(params, wanted):
            p.requires_grad_(flag)
    return torch.cat(scores)


@dataclass(frozen=True)
class AnomalyMetricOptions:
    score: Literal["objective", "anogan"] = option(
        "objective", "objective: the objective's own score (GANomaly's latent distance, f-AnoGAN's izi_f, else "
                     "-D(x)); anogan: invert G by gradient descent on z (Schlegl et al. 2017), for any G and D")
    anogan_steps: int = option(500, "anogan: updates of z per image (the paper: 500)", min=1)
    anogan_lambda: float = option(0.1, "anogan: weight of the feature residual (the paper: 0.1)", min=0, max=1)
    samples: int | None = option(None, "test images scored, drawn at random (default: the whole test split)", min=2)
    baseline_k: int = option(1, "the floor's k: distance to the k-th nearest training image", min=1)


def _split(ev, split: str, samples: int | None = None):
    """The recipe's dataset, built for `split` (kept for the run); `samples` of its images at random."""
    key = ("anomaly data", split, samples)
    if key not in ev.lasting:
        data = ev.dataset(split, "anomaly_auroc")
        if not callable(getattr(data, "anomaly_examples", None)):
            raise GanzooError(f"anomaly_auroc: dataset {ev.recipe.data.name!r} does not say which images are "
                              "anomalies (it needs anomaly_examples(), as mnist_anomaly has)")
        examples = data.anomaly_examples()
        if samples is not None and samples < len(examples["anomalous"]):
            keep = torch.randperm(len(examples["anomalous"]), generator=torch.Generator().manual_seed(ev.seed))[:samples]
            examples = {k: v[keep.to(v.device)] for k, v in examples.items()}
        ev.lasting[key] = examples
    return ev.lasting[key]


def score_images(objective, nets, images: Tensor, batch: int = 500) -> Tensor:
    """The objective's anomaly scores for images in [-1, 1], in batches, networks in eval mode."""
    with _eval_mode(*nets.values()), torch.no_grad():
        return torch.cat([objective.anomaly_scores(nets, part).float().cpu() for part in images.split(batch)])


class AnomalyAUROC(Metric):
    goals = {"auroc": "max", "average_precision": "max"}

    def __init__(self, o: AnomalyMetricOptions, ctx):
        self.o = o

    def __call__(self, ev):
        test = _split(ev, "test", self.o.samples)
        if self.o.score == "anogan":
            for role in ("G", "D"):
                if role not in ev.nets:
                    raise GanzooError(f"anomaly_auroc.score: anogan inverts a generator G through a discriminator D; "
                                      f"this run has no {role}")
            scores = anogan_scores(ev.nets, test["image"], self.o.anogan_steps, self.o.anogan_lambda, seed=ev.seed)
        else:
            scores = score_images(ev.objective, ev.nets, test["image"])
        if not torch.isfinite(scores).all():
            raise GanzooError("anomaly_auroc: the objective gave non-finite anomaly scores")
        return {"auroc": auroc(scores, test["anomalous"]), "average_precision": average_precision(scores, test["anomalous"])}

    def floor(self, ev):  # no model: how far each test image is from the nearest training image
        train, test = _split(ev, "train"), _split(ev, "test", self.o.samples)
        distance = nearest_neighbour_distance(test["image"].flatten(1), train["image"].flatten(1), self.o.baseline_k)
        return {"auroc_floor": auroc(distance, test["anomalous"]),
                "average_precision_floor": average_precision(distance, test["anomalous"])}

    def fingerprint(self, ev):
        test = _split(ev, "test", self.o.samples)
        options = ev.recipe.data.options
        score = (f"anogan ({self.o.anogan_steps} steps, lambda {self.o.anogan_lambda})" if self.o.score == "anogan"
                 else type(ev.objective).__name__)
        return {"reference": "test", "test_images": len(test["anomalous"]), "anomalies": int(test["anomalous"].sum()),
                "protocol": getattr(options, "protocol", None), "normal": getattr(options, "normal", None),
                "anomaly": getattr(options, "anomaly", None), "score": score,
                "floor": f"{self.o.baseline_k}-NN pixel distance", "ganzoo": __version__}


@hookimpl
def ganzoo_add_components():
    return [
        Component("objective", "ganomaly", GANomalyObjective, GANomalyOptions,
                  "GANomaly: encoder-decoder-encoder G, adversarial + 50·L1 + latent loss (Akçay et al. 2018)"),
        Component("objective", "fanogan", FAnoGANObjective, FAnoGANOptions,
                  "f-AnoGAN: WGAN-GP, then an izi_f encoder; image + feature residual score (Schlegl et al. 2019)"),
        Component("dataset", "mnist_anomaly", _mnist_anomaly, AnomalyDataOptions,
                  "MNIST anomaly protocols: one_class (normal digit) or leave_one_out (anomalous digit)"),
        Component("metric", "anomaly_auroc", AnomalyAUROC, AnomalyMetricOptions,
                  "AUROC and average precision of the anomaly scores on the test split; kNN-pixel floor"),
    ]


# --- `ganzoo score-anomaly` ------------------------------------------------------------------------

def _score_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--input", required=True, metavar="DIR", help="folder of image files")
    parser.add_argument("--output", metavar="CSV", help="where to write file,score rows (default: standard output)")
    parser.add_argument("--score", choices=("objective", "anogan"), default="objective",
                        help="the objective's own score (default) or AnoGAN's inversion of G")
    parser.add_argument("--anogan-steps", type=int, default=500, metavar="N", help="updates of z per image (anogan)")
    parser.add_argument("--checkpoint", metavar="PATH", help="a specific checkpoint (default: the newest)")
    parser.add_argument("--device", default="auto")


def _score_anomaly(args) -> int:
    from torchvision.transforms import functional as TF

    files = list_images(Path(args.input))
    loaded = load_checkpoint(args.run_dir, args.checkpoint, args.device)
    channels, height, width = loaded.info.image_shape
    images = []
    for file in files:  # the run's image size, as its training data: resized with bicubic
        image = load_image(file, channels)
        if image.size != (width, height):
            image = image.resize((width, height), resample=3)
        images.append(TF.to_tensor(image) * 2 - 1)
    images = torch.stack(images).to(loaded.device)
    if args.score == "anogan":
        if args.anogan_steps < 1:
            raise GanzooError(f"--anogan-steps: expected at least 1, got {args.anogan_steps}")
        if not {"G", "D"} <= set(loaded.nets):
            raise GanzooError(f"--score anogan: {args.run_dir} has no generator G and discriminator D to invert")
        scores = anogan_scores(loaded.nets, images, args.anogan_steps, 0.1)
    else:
        scores = score_images(loaded.objective, loaded.nets, images)
    out = open(args.output, "w", newline="") if args.output else contextlib.nullcontext(sys.stdout)
    with out as stream:
        writer = csv.writer(stream)
        writer.writerow(["file", "score"])
        for file, score in zip(files, scores.tolist()):
            writer.writerow([str(file), f"{score:.6g}"])
    if args.output:
        print(f"scored {len(files)} images into {args.output} (higher: more anomalous)")
    return 0


@hookimpl
def ganzoo_add_commands():
    return [Command("score-anomaly", "anomaly scores of a folder of images from a trained run, as CSV",
                    _score_arguments, _score_anomaly)]
