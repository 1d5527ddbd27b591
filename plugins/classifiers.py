"""The classifiers that metrics on MNIST-style data compute on: LeNet, shipped with ganzoo.

Inception weights cannot be downloaded offline and Inception features are questionable on
MNIST, so FID on digits uses the penultimate layer of a LeNet-style classifier. The MNIST and
Fashion-MNIST ones ship inside this package (weights/, about 1.8 MB each), trained once by
`python benchmarks/feature_networks.py export`: every machine scores with the same network, and
nothing is trained at run time. Each file's SHA-256 is fixed below; every score computed with
it carries that hash in its fingerprint.

features  mnist_lenet, fashion_lenet
metric    cas: classification accuracy score of class-conditional samples (Ravuri & Vinyals 2019)
command   ganzoo train-classifier --data mnist|fashion_mnist --out FILE (re-creates a shipped network)
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo import (FASHION_MNIST, MNIST, Command, Component, FeatureNet, GanzooError, Metric, NoOptions, __version__,
                    hookimpl, load_idx_images, option, save_atomic)

CLASSIFIER_FORMAT = "ganzoo-classifier/1"
#: dataset -> (IDX source, training augmentation): digits get random stroke widths (CycleGAN's
#: thick-digit task is scored with this classifier), clothes random mirroring
CLASSIFIER_DATA = {"mnist": (MNIST, "strokes"), "fashion_mnist": (FASHION_MNIST, "mirror")}


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
        channels = self.net.conv[0].in_channels
        if images.dim() != 4 or tuple(images.shape[1:]) != (channels, 28, 28):
            raise GanzooError(f"features {self.name}: takes ({channels}, 28, 28) images, got "
                              f"{tuple(images.shape[1:])}; set the metric's `features` option to a network "
                              "made for these samples")
        return torch.cat([fn(images[i:i + self.batch_size].to(self.device, torch.float32))
                          for i in range(0, len(images), self.batch_size)])

    def features(self, images):
        return self._batched(self.net.penultimate, images)

    def probabilities(self, images):
        return self._batched(lambda x: F.softmax(self.net(x), dim=1), images)

    def predict(self, images):
        return self._batched(lambda x: self.net(x).argmax(dim=1), images)


#: the shipped networks: dataset -> (file in weights/, its SHA-256), written by
#: `python benchmarks/feature_networks.py export`
SHIPPED = {
    "mnist": ("mnist_lenet.pt", "b41ede6f076105604b4bc656b22132d0a8f2fbfd4040f31c8fc66940c8bfd492"),
    "fashion_mnist": ("fashion_lenet.pt", "ed8d4d6dc1144dfb917a9ff1917e06d8e809dd3575da4b99698bd9437f58063f"),
}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def fit_lenet(train_x: Tensor, train_y: Tensor, epochs: int, seed: int, device, augment: str | None = None,
              classes: int = 10) -> LeNet:
    """A LeNet fitted to images (uint8, or float in [-1, 1]) and labels: Adam with a one-cycle
    schedule (peak 2e-3), batch 128; `augment` "strokes" (digits) or "mirror" (clothes)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = LeNet(train_x.shape[1], classes).to(device)
    batch = min(128, len(train_x))
    steps = epochs * (len(train_x) // batch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    train_x, train_y = train_x.to(device), train_y.to(device)
    for _ in range(epochs):
        perm = torch.randperm(len(train_x), generator=generator).to(device)
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i:i + batch]
            x = train_x[idx].float().div_(127.5).sub_(1) if train_x.dtype == torch.uint8 else train_x[idx].float()
            if augment == "strokes":
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
            elif augment == "mirror" and torch.rand((), generator=generator) < 0.5:  # clothes: mirror half
                x = x.flip(3)
            loss = F.cross_entropy(net(x), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
    return net.eval()


def train_classifier(dataset: str, out: Path, root: str | None = None, epochs: int = 4, seed: int = 0,
                     device: torch.device | None = None) -> dict:
    """Train the LeNet classifier on a dataset's train split and save it to `out`; returns its record.

    Adam with a one-cycle schedule (peak 2e-3), batch 128, random ±2-pixel shifts and stroke
    dilation/erosion (digits) or mirroring (clothes). The record holds the test accuracy.
    """
    if dataset not in CLASSIFIER_DATA:
        raise GanzooError(f"train-classifier --data: expected {' or '.join(CLASSIFIER_DATA)}, got {dataset!r}")
    source, augment = CLASSIFIER_DATA[dataset]
    train_x, train_y = load_idx_images(source, "train", root, download=False)
    test_x, test_y = load_idx_images(source, "test", root, download=False)
    device = device or torch.device("cpu")
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # training it mid-run must not move the run's random state
        net = fit_lenet(train_x, train_y, epochs, seed, device, augment)
    seconds = time.perf_counter() - start
    features = ClassifierFeatures(f"{dataset}_lenet", net, "", device)
    accuracy = float((features.predict(test_x.float().div(127.5).sub(1)).cpu() == test_y).float().mean())
    record = {"format": CLASSIFIER_FORMAT, "dataset": dataset,
              "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
              "test_accuracy": accuracy, "epochs": epochs, "seed": seed, "torch": str(torch.__version__)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(record, out)
    return {**record, "seconds": seconds, "sha256": file_sha256(out)}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_classifier(path: Path, expected_sha256: str | None = None) -> tuple[LeNet, dict]:
    """A classifier file written by train_classifier: (the network, its record)."""
    path = Path(path)
    if not path.is_file():
        raise GanzooError(f"{path}: classifier file missing; reinstall ganzoo, or re-create it with "
                          "`python benchmarks/feature_networks.py export`")
    digest = file_sha256(path)
    if expected_sha256 is not None and digest != expected_sha256:
        raise GanzooError(f"{path}: SHA-256 {digest[:16]}... is not the shipped {expected_sha256[:16]}...; "
                          "reinstall ganzoo")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(record, dict) or record.get("format") != CLASSIFIER_FORMAT:
            raise ValueError(f"not a {CLASSIFIER_FORMAT} file")
        net = LeNet(record["state_dict"]["conv.0.weight"].shape[1], record["state_dict"]["head.weight"].shape[0])
        net.load_state_dict(record["state_dict"])
    except Exception as exc:  # noqa: BLE001 - unreadable, foreign or mismatched: one line either way
        raise GanzooError(f"{path}: not a ganzoo classifier ({str(exc).splitlines()[0][:120]})") from None
    return net.eval(), {**record, "sha256": digest}


def load_classifier(dataset: str, device) -> ClassifierFeatures:
    """The shipped classifier for `dataset`, its file checked against the SHA-256 above."""
    name, digest = SHIPPED[dataset]
    net, _ = read_classifier(WEIGHTS_DIR / name, digest)
    return ClassifierFeatures(Path(name).stem, net, digest, device)  # the component's name


# --- classification accuracy score (Ravuri & Vinyals 2019) -------------------------------------------

@dataclass(frozen=True)
class CASOptions:
    samples: int = option(10000, "class-conditional samples the classifier is trained on (balanced)", min=10)
    epochs: int = option(4, "training epochs over them", min=1)


class CAS(Metric):
    """Train a classifier on generated samples labelled by the class they were made for; its
    accuracy on the real test split. The floor is the same classifier trained on as many real
    training images: how much a sample set is worth as training data."""

    goals = {"cas": "max"}

    def __init__(self, o: CASOptions, ctx):
        self.o = o
        recipe = ctx.recipe if ctx is not None else None
        self.dataset = recipe.data.name if recipe is not None else None
        self.root = getattr(recipe.data.options, "root", None) if recipe is not None else None

    def _source(self):
        if self.dataset not in CLASSIFIER_DATA:
            raise GanzooError(f"cas: needs a dataset with a real labelled test split "
                              f"({', '.join(CLASSIFIER_DATA)}), got {self.dataset!r}")
        return CLASSIFIER_DATA[self.dataset][0]

    def _accuracy(self, ev, images, labels) -> float:
        test_x, test_y = load_idx_images(self._source(), "test", self.root, download=False)
        with torch.random.fork_rng(devices=[]):
            net = fit_lenet(images, labels.to(images.device), self.o.epochs, ev.seed, ev.device)
        predicted = ClassifierFeatures("cas", net, "", ev.device).predict(test_x.float().div(127.5).sub(1))
        return float((predicted.cpu() == test_y).float().mean())

    def __call__(self, ev):
        self._source()
        labels = ev.fake_labels(self.o.samples)
        if labels is None:
            raise GanzooError("cas: the run is not class-conditional (its samples carry no labels)")
        return {"cas": self._accuracy(ev, ev.fake(self.o.samples), labels)}

    def floor(self, ev):  # as many real training images, drawn by the eval seed
        train_x, train_y = load_idx_images(self._source(), "train", self.root, download=False)
        keep = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(ev.seed + 1))[:self.o.samples]
        return {"cas_floor": self._accuracy(ev, train_x[keep], train_y[keep])}

    def fingerprint(self, ev):
        return {"classifier": "LeNet (ganzoo_plugins.classifiers.fit_lenet)", "samples": self.o.samples,
                "epochs": self.o.epochs, "test": f"{self.dataset} test split", "ganzoo": __version__}


def _arguments(parser) -> None:
    parser.add_argument("--data", required=True, choices=list(CLASSIFIER_DATA))
    parser.add_argument("--out", required=True, help="file to write (the metrics use the shipped networks; "
                        "benchmarks/feature_networks.py compares a re-created one with them)")
    parser.add_argument("--root", help="data root (default: $GANZOO_DATA, then the user cache directory)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)


def _train_command(args) -> int:
    if not 1 <= args.epochs <= 100:
        raise GanzooError(f"train-classifier --epochs: expected an integer in [1, 100], got {args.epochs}")
    record = train_classifier(args.data, Path(args.out), root=args.root, epochs=args.epochs, seed=args.seed)
    print(f"{args.data} classifier: test accuracy {record['test_accuracy']:.2%}, trained in {record['seconds']:.0f} s, "
          f"sha256 {record['sha256'][:16]}..., saved to {args.out}")
    return 0


@hookimpl
def ganzoo_add_components():
    return [
        Component("features", "mnist_lenet", lambda o, ctx: load_classifier("mnist", ctx.device), NoOptions,
                  "LeNet MNIST classifier shipped with ganzoo (99.2% test accuracy); 128-d penultimate features"),
        Component("features", "fashion_lenet", lambda o, ctx: load_classifier("fashion_mnist", ctx.device),
                  NoOptions, "LeNet Fashion-MNIST classifier shipped with ganzoo (91%); 128-d penultimate features"),
        Component("metric", "cas", CAS, CASOptions,
                  "classification accuracy score: a classifier trained on samples, tested on real data "
                  "(Ravuri & Vinyals 2019)"),
    ]


@hookimpl
def ganzoo_add_commands():
    return [Command("train-classifier", "train an MNIST / Fashion-MNIST LeNet classifier into a file", _arguments,
                    _train_command)]
