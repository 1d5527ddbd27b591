"""Image-to-image data and metrics, shared by the image-to-image plugins (CycleGAN's among them).

datasets  mnist_thick: A = MNIST, B = the other half of MNIST with thick strokes (3x3 dilation)
          fashion_pair: A and B two Fashion-MNIST classes (default sneaker <-> ankle boot)
          image_folder: trainA/ trainB/ testA/ testB/ image files (horse2zebra, ...), DataLoader
metrics   cycle_l1, label_preservation, transform_error, translation_fid
command   ganzoo translate RUN_DIR --direction AB --input DIR --output DIR

An image-to-image objective names its translating networks in `translators`, e.g.
{"AB": "G_AB", "BA": "G_BA"}: the metrics and `translate` use them (and nothing else of it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ganzoo import (FASHION_MNIST, MNIST, Command, Component, DataInfo, Dataset, DeviceDataset, GanzooError, Metric,
                    __version__, check_image, fid, hookimpl, list_images, load_checkpoint, load_idx_images,
                    load_image, loader_error, option, worker_count)

FOLDER_LAYOUT = "expected trainA/, trainB/, testA/, testB/ under data.root"


# --- unpaired datasets held on the device ----------------------------------------------------------------

class UnpairedDataset(Dataset):
    """Two independently shuffled domains; a batch is {"A", "B"} (+ "A_label", "B_label")."""

    def __init__(self, a: DeviceDataset, b: DeviceDataset, transform=None):
        self.a, self.b = a, b
        self.info = dataclasses.replace(a.info, size=max(a.info.size, b.info.size), num_classes=None)
        self.true_transform = transform  # uint8 A -> uint8 B, for derived tasks with an exact answer

    def next_batch(self):
        a, b = self.a.next_batch(), self.b.next_batch()
        return {"A": a["image"], "B": b["image"], "A_label": a["label"], "B_label": b["label"]}

    def batches_per_epoch(self):
        return max(self.a.batches_per_epoch(), self.b.batches_per_epoch())

    def examples(self, n, generator):
        ia = torch.randperm(self.a.info.size, generator=generator)[:n].to(self.a.device)
        ib = torch.randperm(self.b.info.size, generator=generator)[:n].to(self.b.device)
        out = {"A": self.a.gather(ia), "B": self.b.gather(ib), "A_label": self.a.labels[ia],
               "B_label": self.b.labels[ib]}
        if self.true_transform is not None:
            out["A_transformed"] = self.a.normalise(self.true_transform(self.a.data[ia]))
        return out

    def subset(self, n, generator):  # up to n images of each domain
        for domain in (self.a, self.b):
            domain.subset(min(n, domain.info.size), generator)
        self.info = dataclasses.replace(self.info, size=max(self.a.info.size, self.b.info.size))

    def state_dict(self):
        return {"A": self.a.state_dict(), "B": self.b.state_dict()}

    def load_state_dict(self, state):
        self.a.load_state_dict(state["A"])
        self.b.load_state_dict(state["B"])


def thicken(images: Tensor) -> Tensor:
    """The fixed transform of the digit task: 3x3 grey-level dilation (thick strokes)."""
    return F.max_pool2d(images.float(), 3, stride=1, padding=1).to(images.dtype)


@dataclass(frozen=True)
class DigitTaskOptions:
    root: str | None = option(None, "data root (default: $GANZOO_DATA, then the user cache directory)")
    download: bool = option(False, "download MNIST through torchvision when missing")
    split: Literal["train", "test"] = option("train", "train: disjoint halves; test: the same digits, paired")
    data_seed: int = option(0, "seed of the split of the training digits into the A and B halves", min=0)


def _mnist_thick(o: DigitTaskOptions, ctx):
    images, labels = load_idx_images(MNIST, o.split, o.root, o.download)
    if o.split == "train":  # disjoint halves: no digit is ever seen in both domains
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(o.data_seed))
        ia, ib = perm[: len(perm) // 2], perm[len(perm) // 2:]
    else:  # evaluation: B is the true transform of A, image for image
        ia = ib = torch.arange(len(images))
    kw = dict(batch_size=ctx.recipe.train.batch_size, device=ctx.device, num_classes=10, features="mnist_lenet")
    a = DeviceDataset(images[ia], labels[ia], seed=ctx.recipe.seed + 1, **kw)
    b = DeviceDataset(thicken(images[ib]), labels[ib], seed=ctx.recipe.seed + 2, **kw)
    return UnpairedDataset(a, b, transform=thicken)


@dataclass(frozen=True)
class FashionPairOptions:
    root: str | None = option(None, "data root (default: $GANZOO_DATA, /usr/share/datasets, the user cache)")
    download: bool = option(False, "download Fashion-MNIST through torchvision when missing")
    split: Literal["train", "test"] = option("train", "which split")
    class_a: int = option(7, "class of domain A (7: sneaker)", min=0, max=9)
    class_b: int = option(9, "class of domain B (9: ankle boot)", min=0, max=9)


def _fashion_pair(o: FashionPairOptions, ctx):
    if o.class_a == o.class_b:
        raise GanzooError(f"data.class_b: must differ from class_a ({o.class_a})")
    images, labels = load_idx_images(FASHION_MNIST, o.split, o.root, o.download)
    kw = dict(batch_size=ctx.recipe.train.batch_size, device=ctx.device, num_classes=10, features="fashion_lenet")
    a = DeviceDataset(images[labels == o.class_a], labels[labels == o.class_a], seed=ctx.recipe.seed + 1, **kw)
    b = DeviceDataset(images[labels == o.class_b], labels[labels == o.class_b], seed=ctx.recipe.seed + 2, **kw)
    return UnpairedDataset(a, b)


# --- folders of image files (DataLoader path) ---------------------------------------------------------

class _FolderPairs(torch.utils.data.Dataset):
    """Item (i_a, i_b, seed) -> (A image, B image), resized, randomly cropped and flipped."""

    def __init__(self, files_a, files_b, channels, load_size, crop_size, flip):
        self.files = {"A": files_a, "B": files_b}
        self.channels, self.load_size, self.crop_size, self.flip = channels, load_size, crop_size, flip

    def __len__(self):
        return max(len(self.files["A"]), len(self.files["B"]))

    def _one(self, path, generator):
        from torchvision.transforms import functional as TF

        image = TF.to_tensor(load_image(path, self.channels).resize((self.load_size, self.load_size),
                                                                      resample=3))  # bicubic, as the paper
        top, left = (int(torch.randint(0, self.load_size - self.crop_size + 1, (), generator=generator))
                     for _ in range(2))
        image = image[:, top:top + self.crop_size, left:left + self.crop_size]
        if self.flip and torch.rand((), generator=generator) < 0.5:
            image = image.flip(2)
        return image * 2 - 1

    def __getitem__(self, item):
        i_a, i_b, seed = item
        generator = torch.Generator().manual_seed(int(seed))
        return self._one(self.files["A"][i_a], generator), self._one(self.files["B"][i_b], generator)


class _PairSampler(torch.utils.data.Sampler):
    """Batches of (i_a, i_b, seed) for one epoch, all drawn in the main process from one
    generator (so workers add no randomness of their own and resume can skip batches)."""

    def __init__(self, n_a, n_b, batch_size, seed, epoch, skip):
        self.n_a, self.n_b, self.batch_size = n_a, n_b, batch_size
        self.seed, self.epoch, self.skip = seed, epoch, skip

    def __len__(self):
        return max(self.n_a, self.n_b) // self.batch_size - self.skip

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        n = max(self.n_a, self.n_b)
        order_a = torch.randperm(n, generator=g) % self.n_a
        order_b = torch.randint(0, self.n_b, (n,), generator=g)  # B unaligned with A, as the paper's code
        seeds = torch.randint(0, 2**31 - 1, (n,), generator=g)
        for k in range(self.skip, n // self.batch_size):
            s = slice(k * self.batch_size, (k + 1) * self.batch_size)
            yield list(zip(order_a[s].tolist(), order_b[s].tolist(), seeds[s].tolist()))


class FolderDataset(Dataset):
    def __init__(self, root: Path, split: str, channels: int, load_size: int, crop_size: int, flip: bool,
                 workers: int, batch_size: int, device, seed: int):
        if crop_size > load_size:
            raise GanzooError(f"data.crop_size: {crop_size} is larger than data.load_size {load_size}")
        if crop_size % 4:
            raise GanzooError(f"data.crop_size: {crop_size} must be a multiple of 4 for the ResNet generator")
        files_a, files_b = (list_images(root / f"{split}{d}", FOLDER_LAYOUT) for d in "AB")
        for path in files_a + files_b:  # fail before training, naming the file, not at step 10,000
            check_image(path)
        self.pairs = _FolderPairs(files_a, files_b, channels, load_size, crop_size, flip)
        # No more workers than CPUs this process may use (torch warns otherwise); results do not
        # depend on the count, since _PairSampler draws every index and seed in the main process.
        self.batch_size, self.device, self.seed, self.workers = batch_size, device, seed, worker_count(workers)
        self.epoch, self.batches_done, self._iterator = 0, 0, None
        if len(self.pairs) < batch_size:
            raise GanzooError(f"train.batch_size: {batch_size} is larger than the {len(self.pairs)} images")
        self.info = DataInfo((channels, crop_size, crop_size), None, len(self.pairs))

    def batches_per_epoch(self):
        return len(self.pairs) // self.batch_size

    def subset(self, n, generator):  # up to n files of each domain
        for domain in "AB":
            files = self.pairs.files[domain]
            keep = torch.randperm(len(files), generator=generator)[:n].sort().values
            self.pairs.files[domain] = [files[i] for i in keep.tolist()]
        self.info = dataclasses.replace(self.info, size=len(self.pairs))

    def _loader(self):
        sampler = _PairSampler(len(self.pairs.files["A"]), len(self.pairs.files["B"]), self.batch_size,
                               self.seed, self.epoch, self.batches_done)
        return iter(torch.utils.data.DataLoader(self.pairs, batch_sampler=sampler, num_workers=self.workers,
                                                pin_memory=self.device.type == "cuda",
                                                persistent_workers=False))

    def next_batch(self):
        if self._iterator is None:
            self._iterator = self._loader()
        try:
            a, b = next(self._iterator)
        except StopIteration:
            self.epoch, self.batches_done = self.epoch + 1, 0
            self._iterator = self._loader()
            a, b = next(self._iterator)
        except Exception as exc:  # noqa: BLE001 - a worker failed: say which file in one line
            raise loader_error(exc) from None
        self.batches_done += 1
        return {"A": a.to(self.device, non_blocking=True), "B": b.to(self.device, non_blocking=True)}

    def examples(self, n, generator):
        sampler = _PairSampler(len(self.pairs.files["A"]), len(self.pairs.files["B"]), 1,
                               int(torch.randint(0, 2**31 - 1, (), generator=generator)), 0, 0)
        items = [batch[0] for _, batch in zip(range(n), iter(sampler))]
        a, b = zip(*(self.pairs[item] for item in items))
        return {"A": torch.stack(a).to(self.device), "B": torch.stack(b).to(self.device)}

    def state_dict(self):
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state):
        self.epoch, self.batches_done, self._iterator = int(state["epoch"]), int(state["batches_done"]), None


@dataclass(frozen=True)
class FolderOptions:
    root: str = option("", "folder holding trainA/, trainB/, testA/, testB/")
    split: Literal["train", "test"] = option("train", "which pair of folders")
    channels: int = option(3, "1 (grey) or 3 (RGB); every image is converted", min=1, max=3)
    load_size: int = option(286, "images are resized to this square side first (the paper: 286)", min=1)
    crop_size: int = option(256, "then randomly cropped to this side (the paper: 256)", min=4)
    flip: bool = option(True, "random horizontal flips")
    workers: int = option(2, "DataLoader worker processes", min=0)


def _folder(o: FolderOptions, ctx):
    if not o.root:
        raise GanzooError("data.root: missing; give the folder that holds trainA/ and trainB/")
    if o.channels == 2:
        raise GanzooError("data.channels: expected 1 or 3, got 2")
    return FolderDataset(Path(o.root).expanduser(), o.split, o.channels, o.load_size, o.crop_size, o.flip,
                         o.workers, ctx.recipe.train.batch_size, ctx.device, ctx.recipe.seed + 1)


def translator(objective, direction: str, where: str) -> str:
    """The network role that translates in `direction` ("AB" or "BA"), from the objective's
    `translators`; a one-line error for runs that are not image-to-image."""
    roles = getattr(objective, "translators", None) or {}
    if direction not in roles:
        which = f"its directions are {', '.join(roles)}" if roles else "its objective translates nothing"
        raise GanzooError(f"{where}: no {direction} translation ({which})")
    return roles[direction]


# --- translation metrics ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TranslationOptions:
    samples: int = option(2000, "test images translated", min=1)


def _translations(ev, n: int) -> dict:
    """Test images of both domains with their translations and reconstructions (cached)."""
    key = ("translations", n)
    if key not in ev.cache:
        test = ev.real("test", n)
        G_AB, G_BA = (ev.nets[translator(ev.objective, d, ev.recipe.source)] for d in ("AB", "BA"))
        for net in ev.nets.values():
            net.eval()
        out = dict(test)
        with torch.no_grad():
            for name, fn, source in (("AB", G_AB, "A"), ("BA", G_BA, "B")):
                out[name] = torch.cat([fn(x) for x in test[source].split(100)])
            out["ABA"] = torch.cat([G_BA(x) for x in out["AB"].split(100)])
            out["BAB"] = torch.cat([G_AB(x) for x in out["BA"].split(100)])
        ev.cache[key] = out
    return ev.cache[key]


class CycleL1(Metric):
    """Mean |G_BA(G_AB(a)) - a| and |G_AB(G_BA(b)) - b|, in [0, 1] pixel units."""

    goals = {"cycle_l1": "min"}

    def __init__(self, o: TranslationOptions, ctx):
        self.o = o

    def __call__(self, ev):
        t = _translations(ev, self.o.samples)
        error = 0.5 * ((t["ABA"] - t["A"]).abs().mean() + (t["BAB"] - t["B"]).abs().mean()) / 2
        return {"cycle_l1": float(error)}

    def fingerprint(self, ev):
        return {"samples": self.o.samples, "reference": "test", "units": "[0, 1] pixels", "ganzoo": __version__}


@dataclass(frozen=True)
class LabelOptions(TranslationOptions):
    features: str | None = option(None, "classifier (default: the dataset's)")
    target: Literal["same", "domain"] = option(
        "same", "same: G_AB(a) keeps a's label (digit tasks); domain: it gets B's label (class pairs)")


class LabelPreservation(Metric):
    goals = {"label_kept": "max"}

    def __init__(self, o: LabelOptions, ctx):
        self.o = o

    def __call__(self, ev):
        t = _translations(ev, self.o.samples)
        predicted = ev.feature_net(self.o.features).predict(t["AB"]).cpu()
        wanted = (t["A_label"] if self.o.target == "same" else t["B_label"][:1].expand_as(t["A_label"])).cpu()
        return {"label_kept": float((predicted == wanted).float().mean())}

    def floor(self, ev):  # the classifier on the true targets: the best a translation can score
        t = _translations(ev, self.o.samples)
        truth = t.get("A_transformed") if self.o.target == "same" else t["B"]
        if truth is None:
            return {}
        labels = (t["A_label"] if self.o.target == "same" else t["B_label"]).cpu()
        return {"label_kept_floor": float((ev.feature_net(self.o.features).predict(truth).cpu() == labels)
                                          .float().mean())}

    def fingerprint(self, ev):
        return {**ev.feature_net(self.o.features).fingerprint(), "samples": self.o.samples, "target": self.o.target,
                "reference": "test", "ganzoo": __version__}


class TransformError(Metric):
    """Mean |G_AB(a) - T(a)| in [0, 1] pixel units, for derived tasks that know the true T."""

    goals = {"transform_error": "min"}

    def __init__(self, o: TranslationOptions, ctx):
        self.o = o

    def __call__(self, ev):
        t = _translations(ev, self.o.samples)
        if "A_transformed" not in t:
            raise GanzooError(f"transform_error: dataset {ev.recipe.data.name!r} has no known true transform")
        return {"transform_error": float((t["AB"] - t["A_transformed"]).abs().mean() / 2)}

    def fingerprint(self, ev):
        return {"samples": self.o.samples, "reference": "test", "units": "[0, 1] pixels", "ganzoo": __version__}


@dataclass(frozen=True)
class TranslationFIDOptions(TranslationOptions):
    features: str | None = option(None, "feature network (default: the dataset's)")


class TranslationFID(Metric):
    """FID of G_AB(test A) against test B, and of G_BA(test B) against test A."""

    goals = {"fid_ab": "min", "fid_ba": "min"}

    def __init__(self, o: TranslationFIDOptions, ctx):
        self.o = o

    def __call__(self, ev):
        t = _translations(ev, self.o.samples)
        net = ev.feature_net(self.o.features)
        f = {k: net.features(t[k]).cpu() for k in ("A", "B", "AB", "BA")}
        return {"fid_ab": fid(f["AB"], f["B"]), "fid_ba": fid(f["BA"], f["A"])}

    def fingerprint(self, ev):
        return {**ev.feature_net(self.o.features).fingerprint(), "samples": self.o.samples, "reference": "test",
                "ganzoo": __version__}


@hookimpl
def ganzoo_add_components():
    return [
        Component("dataset", "mnist_thick", _mnist_thick, DigitTaskOptions,
                  "unpaired digits: MNIST half A <-> thick-stroke MNIST half B (exact answer known)"),
        Component("dataset", "fashion_pair", _fashion_pair, FashionPairOptions,
                  "unpaired Fashion-MNIST classes, default sneaker <-> ankle boot"),
        Component("dataset", "image_folder", _folder, FolderOptions,
                  "unpaired image files in trainA/ trainB/ testA/ testB/ (DataLoader with workers)"),
        Component("metric", "cycle_l1", CycleL1, TranslationOptions, "mean L1 of A -> B -> A and B -> A -> B"),
        Component("metric", "label_preservation", LabelPreservation, LabelOptions,
                  "classifier label of G_AB(a) equals a's (or B's) label"),
        Component("metric", "transform_error", TransformError, TranslationOptions,
                  "mean L1 between G_AB(a) and the true transform T(a) (derived tasks)"),
        Component("metric", "translation_fid", TranslationFID, TranslationFIDOptions,
                  "FID of translated test images against the target domain"),
    ]


# --- `ganzoo translate` ---------------------------------------------------------------------------------

def _translate_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--direction", default="AB", help="AB (A to B, the default) or BA")
    parser.add_argument("--input", required=True, metavar="DIR", help="folder of image files")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the translations (same names, .png)")
    parser.add_argument("--checkpoint", metavar="PATH", help="a specific checkpoint (default: the newest)")
    parser.add_argument("--device", default="auto")


def _translate(args) -> int:
    from torchvision.transforms import functional as TF

    files = list_images(Path(args.input))
    loaded = load_checkpoint(args.run_dir, args.checkpoint, args.device)
    role = translator(loaded.objective, args.direction, args.run_dir)
    G, device = loaded.nets[role].eval(), loaded.device
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    channels = loaded.info.image_shape[0]
    for file in files:
        image = load_image(file, channels)
        w, h = image.size
        size = (max(4, round(w / 4) * 4), max(4, round(h / 4) * 4))  # the generators need multiples of 4
        x = TF.to_tensor(image.resize(size, resample=3) if size != (w, h) else image).unsqueeze(0) * 2 - 1
        with torch.no_grad():
            y = G(x.to(device)).cpu()[0]
        TF.to_pil_image((y.clamp(-1, 1) + 1) / 2).resize((w, h), resample=3).save(out_dir / f"{file.stem}.png")
    print(f"translated {len(files)} images {args.direction[0]} -> {args.direction[1]} into {out_dir}")
    return 0


@hookimpl
def ganzoo_add_commands():
    return [Command("translate", "translate a folder of images with an image-to-image run (e.g. CycleGAN)",
                    _translate_arguments, _translate)]
