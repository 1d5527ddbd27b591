"""Image-to-image data and metrics, shared by the image-to-image plugins (CycleGAN's among them).

datasets  unpaired (CycleGAN):
          mnist_thick: A = MNIST, B = the other half of MNIST with thick strokes (3x3 dilation)
          fashion_pair: A and B two Fashion-MNIST classes (default sneaker <-> ankle boot)
          image_folder: trainA/ trainB/ testA/ testB/ image files (horse2zebra, ...), DataLoader
          paired (pix2pix), a batch of aligned (A, B):
          mnist_paired: B = the MNIST digit, A its edge map or the digit with a square masked out
          paired_folder: root/<split>/ files with A | B side by side (facades, maps, ...), or
                         root/A/<split>/ and root/B/<split>/ with matching names; DataLoader
metrics   cycle_l1, label_preservation, transform_error, psnr, translation_fid
command   ganzoo translate RUN_DIR --direction AB --input DIR --output DIR

An image-to-image objective names its translating networks in `translators`, e.g.
{"AB": "G_AB", "BA": "G_BA"}, or {"AB": "G"} for one direction: the metrics and `translate`
use them (and nothing else of it).
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


# --- paired datasets held on the device -------------------------------------------------------------------

class PairedDeviceDataset(DeviceDataset):
    """Aligned pairs: each example's A and B stacked on channels in one uint8 tensor, so that one
    permutation (and one subset, one shard) serves both. A batch is {"A", "B", "A_label", "B_label"};
    examples() adds "A_transformed", the true B, for the metrics that score against it."""

    def __init__(self, a: Tensor, b: Tensor, labels: Tensor | None, **kw):
        super().__init__(torch.cat([a, b], 1), labels, **kw)
        self.info = dataclasses.replace(self.info, num_classes=None)  # the networks are not class-conditional

    def sample_shape(self):
        channels, height, width = self.data.shape[1:]
        return channels // 2, height, width

    @staticmethod
    def _split(images: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        a, b = images.chunk(2, dim=1)
        return {"A": a, "B": b} if labels is None else {"A": a, "B": b, "A_label": labels, "B_label": labels}

    def next_batch(self):
        batch = super().next_batch()
        return self._split(batch["image"], batch.get("label"))

    def examples(self, n, generator):
        index = torch.randperm(self.info.size, generator=generator)[:n].to(self.device)
        out = self._split(self.gather(index), None if self.labels is None else self.labels[index])
        return {**out, "A_transformed": out["B"]}


def edge_map(images: Tensor) -> Tensor:
    """The morphological gradient, 3x3 grey-level dilation minus erosion: the digit's outline."""
    x = images.float()
    dilated, eroded = F.max_pool2d(x, 3, stride=1, padding=1), -F.max_pool2d(-x, 3, stride=1, padding=1)
    return (dilated - eroded).to(images.dtype)


def mask_square(images: Tensor, side: int, generator: torch.Generator) -> Tensor:
    """Each image with a side x side square set to mid-grey (a hole the network can see), placed
    at random inside the central 20x20 box, where MNIST's digits are."""
    n, _, height, width = images.shape
    box_top, box_left = (height - 20) // 2, (width - 20) // 2  # 4, 4 at 28 px
    tops = box_top + torch.randint(0, 20 - side + 1, (n, 1), generator=generator)
    lefts = box_left + torch.randint(0, 20 - side + 1, (n, 1), generator=generator)
    rows, cols = torch.arange(height)[None], torch.arange(width)[None]
    inside = (((rows >= tops) & (rows < tops + side))[:, :, None]
              & ((cols >= lefts) & (cols < lefts + side))[:, None, :])
    return images.masked_fill(inside[:, None], 128)


@dataclass(frozen=True)
class PairedDigitOptions:
    root: str | None = option(None, "data root (default: $GANZOO_DATA, then the user cache directory)")
    download: bool = option(False, "download MNIST through torchvision when missing")
    split: Literal["train", "test"] = option("train", "which split; every digit comes with its pair")
    task: Literal["edges", "inpaint"] = option(
        "edges", "edges: the digit's edge map (3x3 dilation - erosion) -> the digit; "
                 "inpaint: the digit with a square masked out -> the whole digit")
    mask_size: int = option(10, "inpaint: side of the masked square, in pixels", min=1, max=20)
    data_seed: int = option(0, "inpaint: seed of the squares' places (one per digit, fixed)", min=0)


def _mnist_paired(o: PairedDigitOptions, ctx):
    digits, labels = load_idx_images(MNIST, o.split, o.root, o.download)
    if o.task == "edges":
        inputs = edge_map(digits)
    else:
        inputs = mask_square(digits, o.mask_size, torch.Generator().manual_seed(o.data_seed))
    return PairedDeviceDataset(inputs, digits, labels, batch_size=ctx.recipe.train.batch_size, device=ctx.device,
                               seed=ctx.recipe.seed + 1, num_classes=10, features="mnist_lenet")


# --- folders of image files (DataLoader path) ---------------------------------------------------------

@dataclass(frozen=True)
class Jitter:
    """The papers' random jitter: resize to a load_size square (bicubic), cut a crop_size square
    at a random place, flip at random; random=False cuts the centre and never flips (evaluation)."""

    load_size: int
    crop_size: int
    flip: bool
    random: bool = True

    def draw(self, generator: torch.Generator) -> tuple[int, int, bool]:
        """(top, left, flipped), drawn once per image, or once per pair to apply to both halves."""
        if not self.random:
            centre = (self.load_size - self.crop_size) // 2
            return centre, centre, False
        top, left = (int(torch.randint(0, self.load_size - self.crop_size + 1, (), generator=generator))
                     for _ in range(2))
        return top, left, self.flip and bool(torch.rand((), generator=generator) < 0.5)

    def apply(self, image, drawn: tuple[int, int, bool]) -> Tensor:
        from torchvision.transforms import functional as TF

        top, left, flipped = drawn
        pixels = TF.to_tensor(image.resize((self.load_size, self.load_size), resample=3))  # bicubic, as the paper
        pixels = pixels[:, top:top + self.crop_size, left:left + self.crop_size]
        return (pixels.flip(2) if flipped else pixels) * 2 - 1


class _FolderPairs(torch.utils.data.Dataset):
    """Unpaired: item (i_a, i_b, seed) -> (A image i_a, B image i_b), each jittered on its own."""

    aligned = False

    def __init__(self, files_a, files_b, channels, jitter: Jitter):
        self.files = {"A": files_a, "B": files_b}
        self.channels, self.jitter = channels, jitter

    def sizes(self) -> tuple[int, int]:
        return len(self.files["A"]), len(self.files["B"])

    def __len__(self):
        return max(self.sizes())

    def __getitem__(self, item):
        i_a, i_b, seed = item
        generator = torch.Generator().manual_seed(int(seed))
        return tuple(self.jitter.apply(load_image(self.files[domain][i], self.channels), self.jitter.draw(generator))
                     for domain, i in (("A", i_a), ("B", i_b)))

    def subset(self, n, generator):  # up to n files of each domain
        for domain in "AB":
            files = self.files[domain]
            keep = torch.randperm(len(files), generator=generator)[:n].sort().values
            self.files[domain] = [files[i] for i in keep.tolist()]


class _AlignedPairs(torch.utils.data.Dataset):
    """Paired: item (i, i, seed) -> (A, B) of pair i, both halves with the same jitter. A pair is
    (file, None), a file holding A | B side by side, or (file of A, file of B)."""

    aligned = True

    def __init__(self, pairs: list[tuple[Path, Path | None]], channels, jitter: Jitter, swap: bool):
        self.pairs, self.channels, self.jitter, self.swap = pairs, channels, jitter, swap

    def sizes(self) -> tuple[int, int]:
        return len(self.pairs), len(self.pairs)

    def __len__(self):
        return len(self.pairs)

    def halves(self, i: int):
        """The (input, target) PIL images of pair i."""
        first, second = self.pairs[i]
        if second is None:
            image = load_image(first, self.channels)
            width, height = image.size
            # Split at w // 2 as the authors' code does: with an odd width B is one column wider,
            # which the resize to load_size then removes.
            a, b = image.crop((0, 0, width // 2, height)), image.crop((width // 2, 0, width, height))
        else:
            a, b = load_image(first, self.channels), load_image(second, self.channels)
        return (b, a) if self.swap else (a, b)

    def __getitem__(self, item):
        i, _, seed = item
        drawn = self.jitter.draw(torch.Generator().manual_seed(int(seed)))
        return tuple(self.jitter.apply(half, drawn) for half in self.halves(i))

    def subset(self, n, generator):  # up to n pairs
        keep = torch.randperm(len(self.pairs), generator=generator)[:n].sort().values
        self.pairs = [self.pairs[i] for i in keep.tolist()]


class _PairSampler(torch.utils.data.Sampler):
    """Batches of (i_a, i_b, seed) for one epoch, all drawn in the main process from one
    generator (so workers add no randomness of their own and resume can skip batches).
    Aligned: i_b = i_a (paired data); else B is drawn apart from A, as the CycleGAN code does."""

    def __init__(self, n_a, n_b, batch_size, seed, epoch, skip, aligned=False):
        self.n_a, self.n_b, self.batch_size = n_a, n_b, batch_size
        self.seed, self.epoch, self.skip, self.aligned = seed, epoch, skip, aligned

    def __len__(self):
        return max(self.n_a, self.n_b) // self.batch_size - self.skip

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        n = max(self.n_a, self.n_b)
        order_a = torch.randperm(n, generator=g) % self.n_a
        order_b = order_a if self.aligned else torch.randint(0, self.n_b, (n,), generator=g)
        seeds = torch.randint(0, 2**31 - 1, (n,), generator=g)
        for k in range(self.skip, n // self.batch_size):
            s = slice(k * self.batch_size, (k + 1) * self.batch_size)
            yield list(zip(order_a[s].tolist(), order_b[s].tolist(), seeds[s].tolist()))


class _ImageFiles(Dataset):
    """(A, B) batches decoded from image files by DataLoader workers, resumable mid-epoch.
    `items` is a _FolderPairs (unpaired) or an _AlignedPairs (paired)."""

    def __init__(self, items, channels: int, crop_size: int, workers: int, batch_size: int, device, seed: int):
        self.pairs = items
        # No more workers than CPUs this process may use (torch warns otherwise); results do not
        # depend on the count, since _PairSampler draws every index and seed in the main process.
        self.batch_size, self.device, self.seed, self.workers = batch_size, device, seed, worker_count(workers)
        self.epoch, self.batches_done, self._iterator = 0, 0, None
        if len(self.pairs) < batch_size:
            what = "pairs of images" if items.aligned else "images"
            raise GanzooError(f"train.batch_size: {batch_size} is larger than the {len(self.pairs)} {what}")
        self.info = DataInfo((channels, crop_size, crop_size), None, len(self.pairs))

    def batches_per_epoch(self):
        return len(self.pairs) // self.batch_size

    def subset(self, n, generator):
        self.pairs.subset(n, generator)
        self.info = dataclasses.replace(self.info, size=len(self.pairs))

    def _sampler(self, batch_size, seed, epoch, skip):
        return _PairSampler(*self.pairs.sizes(), batch_size, seed, epoch, skip, aligned=self.pairs.aligned)

    def _loader(self):
        sampler = self._sampler(self.batch_size, self.seed, self.epoch, self.batches_done)
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
        sampler = self._sampler(1, int(torch.randint(0, 2**31 - 1, (), generator=generator)), 0, 0)
        items = [batch[0] for _, batch in zip(range(n), iter(sampler))]
        a, b = zip(*(self.pairs[item] for item in items))
        out = {"A": torch.stack(a).to(self.device), "B": torch.stack(b).to(self.device)}
        if self.pairs.aligned:  # the true output of each input, for transform_error and psnr
            out["A_transformed"] = out["B"]
        return out

    def state_dict(self):
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state):
        self.epoch, self.batches_done, self._iterator = int(state["epoch"]), int(state["batches_done"]), None


def _check_jitter(load_size: int, crop_size: int) -> None:
    if crop_size > load_size:
        raise GanzooError(f"data.crop_size: {crop_size} is larger than data.load_size {load_size}")


class FolderDataset(_ImageFiles):
    """Unpaired image files: <root>/<split>A/ and <root>/<split>B/."""

    def __init__(self, root: Path, split: str, channels: int, load_size: int, crop_size: int, flip: bool,
                 workers: int, batch_size: int, device, seed: int):
        _check_jitter(load_size, crop_size)
        if crop_size % 4:
            raise GanzooError(f"data.crop_size: {crop_size} must be a multiple of 4 for the ResNet generator")
        files_a, files_b = (list_images(root / f"{split}{d}", FOLDER_LAYOUT) for d in "AB")
        for path in files_a + files_b:  # fail before training, naming the file, not at step 10,000
            check_image(path)
        items = _FolderPairs(files_a, files_b, channels, Jitter(load_size, crop_size, flip))
        super().__init__(items, channels, crop_size, workers, batch_size, device, seed)


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


PAIRED_LAYOUTS = {"side_by_side": "expected <split>/ under data.root, each file A | B side by side",
                  "two_folders": "expected A/<split>/ and B/<split>/ under data.root, with matching file names"}


def _by_stem(files: list[Path]) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for path in files:
        if path.stem in named:
            raise GanzooError(f"{path}: same name as {named[path.stem].name}; two-folder pairs are matched by the "
                              "file name without its suffix")
        named[path.stem] = path
    return named


def paired_files(root: Path, split: str, layout: str) -> list[tuple[Path, Path | None]]:
    """The pairs of a paired folder: (file, None) side by side, or (file in A/, file in B/)
    matched by name; a file without its pair is a one-line error naming it."""
    if layout == "side_by_side":
        return [(path, None) for path in list_images(root / split, PAIRED_LAYOUTS[layout])]
    folders = {d: root / d / split for d in "AB"}
    a, b = (_by_stem(list_images(folders[d], PAIRED_LAYOUTS[layout])) for d in "AB")
    for mine, other, folder in ((a, b, folders["B"]), (b, a, folders["A"])):
        lonely = sorted(set(mine) - set(other))
        if lonely:
            raise GanzooError(f"{mine[lonely[0]]}: no file named {lonely[0]}.* in {folder} to pair it with"
                              + (f" ({len(lonely) - 1} more without a pair)" if len(lonely) > 1 else ""))
    return [(a[stem], b[stem]) for stem in sorted(a)]


def _check_side_by_side(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:  # the header only
        if image.width < 2:
            raise GanzooError(f"{path}: {image.width} px wide, too narrow to hold A | B side by side")


class PairedFolderDataset(_ImageFiles):
    """Paired image files (pix2pix's datasets); the train split is jittered, val and test centre-cropped."""

    def __init__(self, root: Path, split: str, layout: str, direction: str, channels: int, load_size: int,
                 crop_size: int, flip: bool, workers: int, batch_size: int, device, seed: int):
        _check_jitter(load_size, crop_size)
        pairs = paired_files(root, split, layout)
        for first, second in pairs:  # fail before training, naming the file, not at step 10,000
            check_image(first)
            if second is None:
                _check_side_by_side(first)
            else:
                check_image(second)
        jitter = Jitter(load_size, crop_size, flip, random=split == "train")
        items = _AlignedPairs(pairs, channels, jitter, swap=direction == "BtoA")
        super().__init__(items, channels, crop_size, workers, batch_size, device, seed)


@dataclass(frozen=True)
class PairedFolderOptions:
    root: str = option("", "folder holding <split>/ (side_by_side) or A/<split>/ and B/<split>/ (two_folders)")
    layout: Literal["side_by_side", "two_folders"] = option(
        "side_by_side", "side_by_side: each file is A | B (pix2pix's datasets); two_folders: A/ and B/ files "
                        "with matching names (the suffix may differ)")
    split: Literal["train", "val", "test"] = option("train", "which subfolder")
    direction: Literal["AtoB", "BtoA"] = option("AtoB", "AtoB: the left half (or A/) is the input; BtoA: the right "
                                                        "half (or B/)")
    channels: int = option(3, "1 (grey) or 3 (RGB); every image is converted", min=1, max=3)
    load_size: int = option(286, "pairs are resized to this square side first (the paper: 286)", min=1)
    crop_size: int = option(256, "then cropped to this side, both halves at the same place (the paper: 256)", min=1)
    flip: bool = option(True, "random horizontal flips, both halves together")
    workers: int = option(2, "DataLoader worker processes", min=0)


def _paired_folder(o: PairedFolderOptions, ctx):
    if not o.root:
        raise GanzooError(f"data.root: missing; give the folder of the pairs ({PAIRED_LAYOUTS[o.layout]})")
    if o.channels == 2:
        raise GanzooError("data.channels: expected 1 or 3, got 2")
    return PairedFolderDataset(Path(o.root).expanduser(), o.split, o.layout, o.direction, o.channels, o.load_size,
                               o.crop_size, o.flip, o.workers, ctx.recipe.train.batch_size, ctx.device,
                               ctx.recipe.seed + 1)


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
    """Test images of both domains with their translations, and reconstructions when the
    objective translates both ways (cached)."""
    key = ("translations", n)
    if key not in ev.cache:
        test = ev.real("test", n)
        G_AB = ev.nets[translator(ev.objective, "AB", ev.recipe.source)]
        G_BA = ev.nets[translator(ev.objective, "BA", ev.recipe.source)] if two_way(ev.objective) else None
        for net in ev.nets.values():
            net.eval()
        out = dict(test)
        with torch.no_grad():
            out["AB"] = torch.cat([G_AB(x) for x in test["A"].split(100)])
            if G_BA is not None:
                out["BA"] = torch.cat([G_BA(x) for x in test["B"].split(100)])
                out["ABA"] = torch.cat([G_BA(x) for x in out["AB"].split(100)])
                out["BAB"] = torch.cat([G_AB(x) for x in out["BA"].split(100)])
        ev.cache[key] = out
    return ev.cache[key]


def two_way(objective) -> bool:
    return "BA" in (getattr(objective, "translators", None) or {})


class CycleL1(Metric):
    """Mean |G_BA(G_AB(a)) - a| and |G_AB(G_BA(b)) - b|, in [0, 1] pixel units."""

    goals = {"cycle_l1": "min"}

    def __init__(self, o: TranslationOptions, ctx):
        self.o = o

    def __call__(self, ev):
        if not two_way(ev.objective):
            raise GanzooError(f"cycle_l1: objective {ev.recipe.objective.name!r} translates A -> B only; "
                              "a cycle needs both directions")
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


class PSNR(Metric):
    """Mean over test images of 10·log10(1 / MSE(G_AB(a), T(a))), pixels in [0, 1] (capped at 100 dB)."""

    goals = {"psnr": "max"}

    def __init__(self, o: TranslationOptions, ctx):
        self.o = o

    def __call__(self, ev):
        t = _translations(ev, self.o.samples)
        if "A_transformed" not in t:
            raise GanzooError(f"psnr: dataset {ev.recipe.data.name!r} has no known true output")
        mse = ((t["AB"].clamp(-1, 1) - t["A_transformed"]) / 2).pow(2).flatten(1).mean(1)
        return {"psnr": float((10 * torch.log10(1 / mse.clamp(min=1e-10))).mean())}

    def fingerprint(self, ev):
        return {"samples": self.o.samples, "reference": "test", "units": "dB, [0, 1] pixels", "ganzoo": __version__}


@dataclass(frozen=True)
class TranslationFIDOptions(TranslationOptions):
    features: str | None = option(None, "feature network (default: the dataset's)")


class TranslationFID(Metric):
    """FID of G_AB(test A) against test B, and of G_BA(test B) against test A (when the
    objective translates both ways)."""

    goals = {"fid_ab": "min", "fid_ba": "min"}

    def __init__(self, o: TranslationFIDOptions, ctx):
        self.o = o

    def __call__(self, ev):
        t = _translations(ev, self.o.samples)
        net = ev.feature_net(self.o.features)
        if "BA" not in t:
            return {"fid_ab": fid(net.features(t["AB"]).cpu(), net.features(t["B"]).cpu())}
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
        Component("dataset", "mnist_paired", _mnist_paired, PairedDigitOptions,
                  "paired digits: edge map (or digit with a square masked out) -> the digit (exact answer known)"),
        Component("dataset", "paired_folder", _paired_folder, PairedFolderOptions,
                  "paired image files: A | B side by side (pix2pix's datasets) or A/ and B/ (DataLoader)"),
        Component("metric", "cycle_l1", CycleL1, TranslationOptions, "mean L1 of A -> B -> A and B -> A -> B"),
        Component("metric", "label_preservation", LabelPreservation, LabelOptions,
                  "classifier label of G_AB(a) equals a's (or B's) label"),
        Component("metric", "transform_error", TransformError, TranslationOptions,
                  "mean L1 between G_AB(a) and the true transform T(a) (derived tasks, paired data)"),
        Component("metric", "psnr", PSNR, TranslationOptions,
                  "mean PSNR of G_AB(a) against the true output, [0, 1] pixels (derived tasks, paired data)"),
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
    return [Command("translate", "translate a folder of images with an image-to-image run (CycleGAN, pix2pix)",
                    _translate_arguments, _translate)]
