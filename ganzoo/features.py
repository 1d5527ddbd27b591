"""Feature networks for metrics: an MNIST-style classifier the project trains itself, and
Inception-v3 from a local weights file.

Inception weights cannot be downloaded offline and Inception features are questionable on
MNIST, so FID on digits uses the penultimate layer of a LeNet-style classifier trained by
ganzoo (`ganzoo train-classifier --data mnist`, or on first use). The classifier is cached
in the user cache directory; its file records the SHA-256 of its weights, which every score
computed with it carries in its fingerprint.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import GanzooError

CLASSIFIER_FORMAT = "ganzoo-classifier/1"


def cache_dir() -> Path:
    """$GANZOO_CACHE, else the user cache directory (~/.cache/ganzoo on Linux)."""
    if os.environ.get("GANZOO_CACHE"):
        return Path(os.environ["GANZOO_CACHE"]).expanduser()
    from .data import user_cache_dir
    return user_cache_dir()


def weights_hash(state_dict: dict) -> str:
    """SHA-256 of the weights, in state_dict order (names, shapes and raw bytes)."""
    h = hashlib.sha256()
    for name, tensor in state_dict.items():
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class FeatureNet:
    """What a metric needs: features (N, D) and, for classifiers, class probabilities (N, K)."""

    name: str
    weights_hash: str
    layer: str
    num_classes: int | None = None

    def features(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def probabilities(self, images: Tensor) -> Tensor:
        raise GanzooError(f"feature network {self.name} is not a classifier")

    def fingerprint(self) -> dict:
        return {"features": self.name, "weights_sha256": self.weights_hash, "layer": self.layer}


# --- the in-project classifier ------------------------------------------------------------------

class LeNet(nn.Module):
    """LeNet-5 style: two 5x5 conv + max-pool stages, a 128-unit hidden layer, 10 logits."""

    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.hidden = nn.Sequential(nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(128, classes)

    def penultimate(self, x: Tensor) -> Tensor:
        return self.hidden(self.conv(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.penultimate(x)))


class ClassifierFeatures(FeatureNet):
    layer = "penultimate (128-d, after ReLU)"

    def __init__(self, name: str, net: LeNet, digest: str, device, batch_size: int = 1000):
        self.name, self.net, self.weights_hash = name, net.to(device).eval(), digest
        self.device, self.batch_size = device, batch_size
        self.num_classes = net.head.out_features

    @torch.no_grad()
    def _batched(self, fn, images: Tensor) -> Tensor:
        return torch.cat([fn(images[i:i + self.batch_size].to(self.device, torch.float32))
                          for i in range(0, len(images), self.batch_size)])

    def features(self, images):
        return self._batched(self.net.penultimate, images)

    def probabilities(self, images):
        return self._batched(lambda x: F.softmax(self.net(x), dim=1), images)

    def predict(self, images):
        return self._batched(lambda x: self.net(x).argmax(dim=1), images)


def classifier_path(dataset: str) -> Path:
    return cache_dir() / "classifiers" / f"{dataset}_lenet.pt"


def train_classifier(dataset: str, root: str | None = None, epochs: int = 4, seed: int = 0,
                     device: torch.device | None = None) -> dict:
    """Train the LeNet classifier on a dataset's train split and cache it; returns its record.

    Adam with a one-cycle schedule (peak 2e-3), batch 128, random ±2-pixel shifts and stroke
    dilation/erosion (digits) or mirroring (clothes); about 80 s (MNIST) on 2 CPU cores. The record holds the test accuracy and the weights' SHA-256.
    """
    from .data import FASHION_MNIST, MNIST

    source = {"mnist": MNIST, "fashion_mnist": FASHION_MNIST}.get(dataset)
    if source is None:
        raise GanzooError(f"train-classifier --data: expected mnist or fashion_mnist, got {dataset!r}")
    with torch.random.fork_rng(devices=[]):  # training it mid-run must not move the run's random state
        return _train_classifier(source, dataset, root, epochs, seed, device or torch.device("cpu"))


def _train_classifier(source, dataset, root, epochs, seed, device) -> dict:
    from .data import load_idx_images

    train_x, train_y = load_idx_images(source, "train", root, download=False)
    test_x, test_y = load_idx_images(source, "test", root, download=False)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = LeNet().to(device)
    batch = 128
    steps = epochs * (len(train_x) // batch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    train_x, train_y = train_x.to(device), train_y.to(device)
    start = time.perf_counter()
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(train_x), generator=generator).to(device)
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i:i + batch]
            x = train_x[idx].float().div_(127.5).sub_(1)
            if dataset == "mnist":
                # random shifts of up to 2 pixels (worth ~0.2% on digits), and strokes made
                # thicker or thinner for a quarter of the batches each, so that the classifier
                # reads any stroke width (CycleGAN's thick-digit task is scored with it)
                dx, dy = torch.randint(-2, 3, (2,), generator=generator).tolist()
                x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
                stroke = float(torch.rand((), generator=generator))
                if stroke < 0.25:
                    x = F.max_pool2d(x, 3, stride=1, padding=1)
                elif stroke < 0.5:
                    x = -F.max_pool2d(-x, 3, stride=1, padding=1)
            elif torch.rand((), generator=generator) < 0.5:  # clothes: mirror half the batches
                x = x.flip(3)
            loss = F.cross_entropy(net(x), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            step += 1
    seconds = time.perf_counter() - start
    net.eval()
    features = ClassifierFeatures(f"{dataset}_lenet", net, "", device)
    accuracy = float((features.predict(test_x.float().div(127.5).sub(1)).cpu() == test_y).float().mean())
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    record = {"format": CLASSIFIER_FORMAT, "dataset": dataset, "state_dict": state, "sha256": weights_hash(state),
              "test_accuracy": accuracy, "epochs": epochs, "seconds": seconds, "seed": seed}
    path = classifier_path(dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    from .checkpoint import save_atomic
    save_atomic(record, path)
    return record


def load_classifier(dataset: str, device, root: str | None = None, train_if_missing: bool = True) -> ClassifierFeatures:
    """The cached classifier for `dataset`, trained on first use (once) when missing."""
    path = classifier_path(dataset)
    if not path.is_file():
        if not train_if_missing:
            raise GanzooError(f"{path}: no {dataset} classifier; run `ganzoo train-classifier --data {dataset}`")
        print(f"ganzoo: training the {dataset} classifier for metrics (once; cached in {path})", file=sys.stderr,
              flush=True)
        record = train_classifier(dataset, root=root)
        print(f"ganzoo: classifier test accuracy {record['test_accuracy']:.2%} in {record['seconds']:.0f} s",
              file=sys.stderr, flush=True)
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise GanzooError(f"{path}: unreadable classifier ({str(exc).splitlines()[0][:120]}); delete it to retrain") \
            from None
    if not isinstance(record, dict) or record.get("format") != CLASSIFIER_FORMAT:
        raise GanzooError(f"{path}: not a ganzoo classifier; delete it to retrain")
    if weights_hash(record["state_dict"]) != record["sha256"]:
        raise GanzooError(f"{path}: weights do not match their recorded SHA-256; delete it to retrain")
    net = LeNet()
    net.load_state_dict(record["state_dict"])
    return ClassifierFeatures(f"{dataset}_lenet", net, record["sha256"], device)


# --- Inception-v3 from a local file -------------------------------------------------------------

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
