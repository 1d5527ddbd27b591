"""Built-in metrics and feature networks.

Scores (see ganzoo.metrics for the maths):
  fid                 Fréchet distance of features, 10k samples vs 10k test images (Heusel et al. 2017)
  kid                 kernel distance with its standard deviation over subsets (Bińkowski et al. 2018)
  inception_score     on the dataset's classifier (Salimans et al. 2016)
  precision_recall    k-NN manifolds, k = 3 (Kynkäänniemi et al. 2019)
  density_coverage    real k-NN balls, k = 5 (Naeem et al. 2020)
  stacked_mnist_modes modes out of 1000 and KL to uniform, 26k samples (VEEGAN / PacGAN protocol)
  modes_2d            modes, % high-quality samples, reverse KL, 2,500 samples (PacGAN protocol)
Feature network: inception_v3 (local file); the LeNet classifiers are in ganzoo_plugins.classifiers.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo import (Component, FeatureNet, GanzooError, Metric, __version__, density_coverage, feature_statistics, fid,
                    frechet_distance, hookimpl, inception_score, kid, load_statistics, modes_2d, option,
                    precision_recall, stacked_mnist_modes)


def _fingerprint(ev, features: str | None, **counts) -> dict:
    net = ev.feature_net(features)
    return {**net.fingerprint(), **counts, "ganzoo": __version__}


# --- feature networks -------------------------------------------------------------------------------

class InceptionFeatures(FeatureNet):
    """torchvision's Inception-v3, pool3 (2048-d) features, from a weights file the user names."""

    layer = "pool3 (2048-d)"

    def __init__(self, weights: str, device, batch_size: int = 100):
        import torchvision

        path = Path(weights).expanduser()
        if not path.is_file():
            raise GanzooError(f"features inception_v3: weights file {path} not found; ganzoo downloads nothing. "
                              "Save torchvision's Inception-v3 ImageNet weights (inception_v3_google-0cc3c7bd.pth) "
                              "there, or pass its path as `weights`")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise GanzooError(f"{path}: unreadable weights ({str(exc).splitlines()[0][:120]})") from None
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise GanzooError(f"{path}: not torchvision Inception-v3 weights ({str(exc).splitlines()[0][:120]})") \
                from None
        net.fc = nn.Identity()
        self.net = net.to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.name = "inception_v3"
        self.weights_hash = hashlib.sha256(path.read_bytes()).hexdigest()

    @torch.no_grad()
    def features(self, images):
        out = []
        for i in range(0, len(images), self.batch_size):
            x = images[i:i + self.batch_size].to(self.device, torch.float32)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(self.net(x))  # [-1, 1] input, as torchvision's transform_input=False expects
        return torch.cat(out)


@dataclass(frozen=True)
class InceptionOptions:
    weights: str = option("~/.cache/ganzoo/inception_v3_google-0cc3c7bd.pth",
                          "local file of torchvision's Inception-v3 ImageNet weights (never downloaded)")


# --- distances on features --------------------------------------------------------------------------

@dataclass(frozen=True)
class FIDOptions:
    features: str | None = option(None, "feature network (default: the dataset's, e.g. mnist_lenet)")
    samples: int = option(10000, "generated samples", min=2)
    reference: str = option("test", "real split compared against (for fid also an .npz of mu and sigma in "
                                    "pytorch-fid's format, e.g. published statistics)")
    reference_samples: int = option(10000, "real examples (at most the split's size)", min=2)


def _statistics_file(o) -> Path | None:
    return Path(o.reference).expanduser() if o.reference.endswith(".npz") else None


class FID(Metric):
    goals = {"fid": "min"}

    def __init__(self, o: FIDOptions, ctx):
        self.o = o

    def _real(self, ev):
        """Real features of the reference split; a statistics file is for fid alone."""
        if _statistics_file(self.o):
            raise GanzooError(f"reference: {self.o.reference} holds statistics, which only fid can use; "
                              "give a split (train or test)")
        return ev.features(self.o.features, self.o.reference, self.o.reference_samples)

    def __call__(self, ev):
        fake = feature_statistics(ev.features(self.o.features, "fake", self.o.samples))
        path = _statistics_file(self.o)
        return {"fid": frechet_distance(*fake, *(load_statistics(path) if path else feature_statistics(self._real(ev))))}

    def floor(self, ev):  # real training images against the reference split
        if _statistics_file(self.o):
            return {}
        train = ev.features(self.o.features, "train", self.o.samples)
        return {"fid_floor": fid(train, self._real(ev))}

    def fingerprint(self, ev):
        path = _statistics_file(self.o)
        reference = ({"reference_sha256": hashlib.sha256(path.read_bytes()).hexdigest()} if path else
                     {"reference_samples": len(self._real(ev))})
        return _fingerprint(ev, self.o.features, samples=self.o.samples, reference=self.o.reference, **reference)


@dataclass(frozen=True)
class KIDOptions(FIDOptions):
    subsets: int = option(100, "random subsets", min=1)
    subset_size: int = option(1000, "samples per subset", min=2)


class KID(FID):
    goals = {"kid": "min"}

    def __init__(self, o: KIDOptions, ctx):
        self.o = o

    def _kid(self, ev, source):
        a = ev.features(self.o.features, source, self.o.samples)
        b = self._real(ev)
        return kid(a, b, self.o.subsets, self.o.subset_size, torch.Generator().manual_seed(ev.seed))

    def __call__(self, ev):
        mean, std = self._kid(ev, "fake")
        return {"kid": mean, "kid_std": std}

    def floor(self, ev):
        return {"kid_floor": self._kid(ev, "train")[0]}

    def fingerprint(self, ev):
        return {**super().fingerprint(ev), "subsets": self.o.subsets, "subset_size": self.o.subset_size}


@dataclass(frozen=True)
class PROptions(FIDOptions):
    k: int = option(3, "neighbour that sets each manifold radius", min=1)


class PrecisionRecall(FID):
    goals = {"precision": "max", "recall": "max"}

    def __init__(self, o: PROptions, ctx):
        self.o = o

    def _pr(self, ev, source):
        a = ev.features(self.o.features, source, self.o.samples)
        b = self._real(ev)
        return precision_recall(a, b, self.o.k)

    def __call__(self, ev):
        precision, recall = self._pr(ev, "fake")
        return {"precision": precision, "recall": recall}

    def floor(self, ev):
        precision, recall = self._pr(ev, "train")
        return {"precision_floor": precision, "recall_floor": recall}

    def fingerprint(self, ev):
        return {**super().fingerprint(ev), "k": self.o.k}


@dataclass(frozen=True)
class DCOptions(FIDOptions):
    k: int = option(5, "neighbour that sets each real ball's radius (the paper: 5)", min=1)


class DensityCoverage(FID):
    goals = {"density": "max", "coverage": "max"}

    def __init__(self, o: DCOptions, ctx):
        self.o = o

    def _dc(self, ev, source):
        a = ev.features(self.o.features, source, self.o.samples)
        b = self._real(ev)
        return density_coverage(a, b, self.o.k)

    def __call__(self, ev):
        density, coverage = self._dc(ev, "fake")
        return {"density": density, "coverage": coverage}

    def floor(self, ev):
        density, coverage = self._dc(ev, "train")
        return {"density_floor": density, "coverage_floor": coverage}

    def fingerprint(self, ev):
        return {**super().fingerprint(ev), "k": self.o.k}


# --- classifier scores -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ISOptions:
    features: str | None = option(None, "classifier (default: the dataset's)")
    samples: int = option(10000, "generated samples", min=10)
    splits: int = option(10, "splits for the mean and standard deviation", min=1)


class InceptionScore(Metric):
    goals = {"is": "max"}

    def __init__(self, o: ISOptions, ctx):
        self.o = o

    def _score(self, ev, images):
        return inception_score(ev.feature_net(self.o.features).probabilities(images).cpu(), self.o.splits)

    def __call__(self, ev):
        mean, std = self._score(ev, ev.fake(self.o.samples))
        return {"is": mean, "is_std": std}

    def floor(self, ev):  # the real test set's score (about 9.9 for MNIST)
        return {"is_floor": self._score(ev, ev.real("test", self.o.samples))[0]}

    def fingerprint(self, ev):
        return _fingerprint(ev, self.o.features, layer="softmax", samples=self.o.samples, splits=self.o.splits)


@dataclass(frozen=True)
class StackedOptions:
    samples: int = option(26000, "generated samples", min=1)
    features: str = option("mnist_lenet", "MNIST classifier applied to each channel")


class StackedMNISTModes(Metric):
    """Modes and KL from the classifier's digit on each channel; `confident` is the share of those
    channel predictions made with probability >= 0.9, since a mode count on digits the classifier
    is unsure of measures the classifier more than the generator (its floor: real digits)."""

    goals = {"modes": "max", "kl": "min", "confident": "max"}

    def __init__(self, o: StackedOptions, ctx):
        self.o = o

    def _score(self, ev, images):
        if images.dim() != 4 or images.shape[1] != 3:
            raise GanzooError(f"stacked_mnist_modes needs 3-channel images, got shape {tuple(images.shape[1:])}")
        net = ev.feature_net(self.o.features)
        probs = torch.stack([net.probabilities(images[:, c:c + 1]).cpu() for c in range(3)], dim=1)  # (N, 3, 10)
        top, digits = probs.max(dim=2)
        modes, kl = stacked_mnist_modes(digits)
        return {"modes": float(modes), "kl": kl, "confident": float((top >= 0.9).double().mean())}

    def __call__(self, ev):
        return self._score(ev, ev.fake(self.o.samples))

    def floor(self, ev):  # real stacked test digits, same count
        return {f"{k}_floor": v for k, v in self._score(ev, ev.real("test", self.o.samples)).items()}

    def fingerprint(self, ev):
        return _fingerprint(ev, self.o.features, layer="softmax per channel (argmax; confident: p >= 0.9)",
                            samples=self.o.samples, reference="test")


@dataclass(frozen=True)
class Modes2DOptions:
    samples: int = option(2500, "generated points", min=1)


class Modes2D(Metric):
    goals = {"modes": "max", "hq": "max", "reverse_kl": "min"}

    def __init__(self, o: Modes2DOptions, ctx):
        self.o = o

    def _score(self, ev, points):
        info = ev.data_info
        if "centers" not in info.extras:
            raise GanzooError("modes_2d needs a 2D mixture dataset (ring2d or grid2d)")
        modes, hq, kl = modes_2d(points, torch.tensor(info.extras["centers"]), info.extras["center_std"])
        return {"modes": float(modes), "hq": hq, "reverse_kl": kl}

    def __call__(self, ev):
        return self._score(ev, ev.fake(self.o.samples))

    def floor(self, ev):  # points drawn from the true mixture (about 98.9% high quality)
        return {f"{k}_floor": v for k, v in self._score(ev, ev.real("test", self.o.samples)).items()}

    def fingerprint(self, ev):
        return {"samples": self.o.samples, "modes": len(ev.data_info.extras["centers"]),
                "std": ev.data_info.extras["center_std"],
                "high_quality": "within 3 std of the nearest mode", "ganzoo": __version__}


@hookimpl
def ganzoo_add_components():
    return [
        Component("features", "inception_v3", lambda o, ctx: InceptionFeatures(o.weights, ctx.device),
                  InceptionOptions, "Inception-v3 pool3 features from a local weights file"),
        Component("metric", "fid", FID, FIDOptions, "Fréchet distance on a feature network (Heusel et al. 2017)"),
        Component("metric", "kid", KID, KIDOptions, "kernel distance, mean and std over subsets (Bińkowski et al. 2018)"),
        Component("metric", "inception_score", InceptionScore, ISOptions,
                  "Inception Score on the dataset's classifier (Salimans et al. 2016)"),
        Component("metric", "precision_recall", PrecisionRecall, PROptions,
                  "improved precision and recall, k-NN manifolds (Kynkäänniemi et al. 2019)"),
        Component("metric", "density_coverage", DensityCoverage, DCOptions,
                  "density and coverage on real k-NN balls, k = 5 (Naeem et al. 2020)"),
        Component("metric", "stacked_mnist_modes", StackedMNISTModes, StackedOptions,
                  "Stacked MNIST: modes of 1000 and KL to uniform (VEEGAN/PacGAN protocol)"),
        Component("metric", "modes_2d", Modes2D, Modes2DOptions,
                  "2D ring/grid: modes, high-quality fraction, reverse KL (PacGAN protocol)"),
    ]
