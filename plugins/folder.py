"""Your own images: a folder of image files, flat or with one subfolder per class.

dataset  folder: every image PIL reads, grey or RGB, resized (shorter side) and centre-cropped
         to data.size. A set that fits data.memory_mb is decoded once, by DataLoader workers,
         held on the training device as one uint8 tensor (the MNIST fast path) and cached as a
         tensor file, so the next run of the same folder starts in a second; a larger one
         streams through the workers, decoding each batch.

dataset  celeba, lsun: the same path for CelebA's files and LSUN's LMDB databases, in the layouts
         they are distributed in.

Layouts (the first one that matches):
  root/*.png                  unconditional: no labels
  root/<class>/*.png          one class per subfolder, labels 0..K-1 in sorted name order
Metrics compare against `test_root` when given (e.g. a held-out folder), else the training
folder itself, the usual protocol for CelebA- and FFHQ-style data.
"""
from __future__ import annotations

import dataclasses
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ganzoo import (DATA_ENV, Component, DataInfo, Dataset, DecodedImages, DeviceDataset, GanzooError, LmdbRecord,
                    cache_dir, candidate_roots, check_image, decode_images, hookimpl, loader_error, option,
                    save_if_possible, scan_image_folder, worker_count)

CACHE_FORMAT = "ganzoo-folder/1"


# --- the cache --------------------------------------------------------------------------------------

def cache_key(root: Path, files: list[Path], transform: dict) -> str:
    """The files' names, sizes and modification times and the transform: any edit, addition or
    removal of a file, or another size or filter, is another key."""
    h = hashlib.sha256(f"{CACHE_FORMAT}\n{root.resolve()}\n{sorted(transform.items())}\n".encode())
    for path in files:
        if isinstance(path, LmdbRecord):  # the database file's size and time are hashed once, below
            h.update(path.key + b"\n")
            continue
        stat = path.stat()
        h.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    if files and isinstance(files[0], LmdbRecord):
        stat = (files[0].database / "data.mdb").stat()
        h.update(f"data.mdb\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def read_cache(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged cache is decoded again, not an error
        return None
    return payload if isinstance(payload, dict) and payload.get("format") == CACHE_FORMAT else None


def write_cache(path: Path, payload: dict) -> None:
    """Best effort: a cache that cannot be written (full or read-only disk) costs the next run a
    decode, so it is one line of warning, not a failed run."""
    failure = save_if_possible(payload, path)
    if failure:
        print(f"ganzoo: warning: {path}: decoded images not cached ({failure})", file=sys.stderr)


# --- streaming ---------------------------------------------------------------------------------------

class _EpochSampler(torch.utils.data.Sampler):
    """The batches of one epoch, from a permutation drawn in the main process (seed, epoch), so
    the worker count changes nothing and a resumed run skips the batches it has seen."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, skip: int):
        self.n, self.batch_size, self.seed, self.epoch, self.skip = n, batch_size, seed, epoch, skip

    def __len__(self):
        return self.n // self.batch_size - self.skip

    def __iter__(self):
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))
        for k in range(self.skip, self.n // self.batch_size):
            yield order[k * self.batch_size:(k + 1) * self.batch_size].tolist()


class StreamingFolder(Dataset):
    """Images decoded batch by batch in DataLoader workers, for sets larger than memory."""

    def __init__(self, decoded: DecodedImages, labels: list[int] | None, info: DataInfo, batch_size: int, device,
                 seed: int, workers: int):
        self.decoded, self.info = decoded, info
        self.labels = None if labels is None else torch.tensor(labels, dtype=torch.long)
        self.batch_size, self.device, self.seed, self.workers = batch_size, device, seed, worker_count(workers)
        self.epoch, self.batches_done, self._iterator = 0, 0, None

    def batches_per_epoch(self):
        return len(self.decoded) // self.batch_size

    def _loader(self):
        sampler = _EpochSampler(len(self.decoded), self.batch_size, self.seed, self.epoch, self.batches_done)
        indexed = _Indexed(self.decoded)
        return iter(torch.utils.data.DataLoader(indexed, batch_sampler=sampler, num_workers=self.workers,
                                                pin_memory=self.device.type == "cuda",
                                                persistent_workers=False))

    def next_batch(self):
        if self._iterator is None:
            self._iterator = self._loader()
        try:
            try:
                index, images = next(self._iterator)
            except StopIteration:
                self.epoch, self.batches_done = self.epoch + 1, 0
                self._iterator = self._loader()
                index, images = next(self._iterator)
        except Exception as exc:  # noqa: BLE001
            raise loader_error(exc) from None
        self.batches_done += 1
        batch = {"image": DeviceDataset.normalise(images.to(self.device, non_blocking=True))}
        if self.labels is not None:
            batch["label"] = self.labels[index].to(self.device)
        return batch

    def examples(self, n, generator):
        index = torch.randperm(len(self.decoded), generator=generator)[:n]
        images = torch.stack([self.decoded[i] for i in index.tolist()])
        return DeviceDataset.normalise(images.to(self.device))

    def subset(self, n, generator):
        keep = torch.randperm(len(self.decoded), generator=generator)[:n].sort().values.tolist()
        self.decoded.files = [self.decoded.files[i] for i in keep]
        if self.labels is not None:
            self.labels = self.labels[keep]
        self.info = dataclasses.replace(self.info, size=n)

    def state_dict(self):
        return {"epoch": self.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state):
        self.epoch, self.batches_done, self._iterator = int(state["epoch"]), int(state["batches_done"]), None


class _Indexed(torch.utils.data.Dataset):
    def __init__(self, decoded):
        self.decoded = decoded

    def __len__(self):
        return len(self.decoded)

    def __getitem__(self, i):
        return i, self.decoded[i]


# --- the component ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageOptions:
    """How image files become training images, for every dataset of image files."""

    size: int = option(64, "side of the square images: the shorter side is resized to it, then centre-cropped",
                       min=4)
    channels: Literal[1, 3] = option(3, "1 (grey) or 3 (RGB); every image is converted")
    crop: int | None = option(None, "centre square of this side cut first, before resizing (none: the shorter "
                                    "side)", min=1)
    resample: Literal["bicubic", "bilinear", "lanczos", "box", "nearest"] = option(  # keys of RESAMPLE
        "bicubic", "PIL filter for resizing (antialiased when shrinking)")
    load: Literal["auto", "memory", "stream"] = option(
        "auto", "memory: decode once, hold on the training device; stream: decode every batch in workers; "
                "auto: memory when the decoded set fits memory_mb")
    memory_mb: float = option(4096, "largest decoded set (N x C x size x size bytes) held in memory", min=0)
    cache: bool = option(True, "in memory mode, keep the decoded set as a tensor file in the cache folder "
                               "($GANZOO_CACHE/folders), keyed by the files' names, sizes, times and the transform")
    workers: int = option(2, "DataLoader worker processes that decode (0: in the main process)", min=0)
    features: str | None = option(None, "feature network of the metrics (e.g. mnist_lenet for digits); "
                                        "default: inception_fid")


@dataclass(frozen=True)
class FolderOptions(ImageOptions):
    root: str = option("", "folder of image files, or of one subfolder of images per class (the labels)")
    test_root: str | None = option(None, "held-out folder of the same layout that metrics compare against; "
                                         "default: the training folder")
    split: Literal["train", "test"] = option("train", "train: root; test: test_root (else root)")


def image_dataset(root: Path, files: list, labels: list[int] | None, classes: list[str], o, ctx,
                  check_first: bool = True):
    """The files (paths, or LmdbRecords) as a training set, with a folder-style options object
    `o`: in memory (decoded once, cached) or streamed. Other image datasets (CelebA, LSUN) are
    built through this. check_first: a streamed set checks every file before training (LSUN's
    millions of records are instead named by the worker that meets a damaged one)."""
    crop = getattr(o, "crop", None)
    decoded = DecodedImages(files, o.channels, o.size, o.resample, crop)
    batch_size, seed = ctx.recipe.train.batch_size, ctx.recipe.seed + 1
    info = DataInfo((o.channels, o.size, o.size), len(classes) or None, len(files), o.features or "inception_fid",
                    {"classes": tuple(classes)} if classes else {})
    if batch_size > len(files) and o.split == "train":
        raise GanzooError(f"train.batch_size: {batch_size} is larger than the {len(files)} images in {root}")
    megabytes = len(files) * o.channels * o.size * o.size / 2**20
    stream = o.load == "stream" or (o.load == "auto" and megabytes > o.memory_mb)
    if stream:
        if o.split == "train":
            why = "data.load: stream" if o.load == "stream" else f"over data.memory_mb {o.memory_mb:,.0f}"
            print(f"ganzoo: streaming {len(files):,} images of {root} ({megabytes:,.1f} MB decoded, {why}); "
                  f"{worker_count(o.workers)} workers decode", file=sys.stderr)
            if check_first:  # a damaged file fails now, naming it, not at step 10,000
                for path in files:
                    check_image(path)
        return StreamingFolder(decoded, labels, info, batch_size, ctx.device, seed, o.workers)

    transform = {"size": o.size, "channels": o.channels, "resample": o.resample, "crop": crop}
    path = cache_dir() / "folders" / f"{cache_key(root, files, transform)[:32]}.pt"
    payload = read_cache(path) if o.cache else None
    if payload is None:
        images = decode_images(decoded, o.workers, str(root))
        if o.cache:
            write_cache(path, {"format": CACHE_FORMAT, "root": str(root), "images": images,
                               "transform": transform})
    else:
        images = payload["images"]
        print(f"ganzoo: {len(images):,} decoded images of {root} read from the cache {path}", file=sys.stderr)
    return DeviceDataset(images, None if labels is None else torch.tensor(labels), max(1, min(batch_size, len(files))),
                         ctx.device, seed=seed, num_classes=info.num_classes, features=info.features,
                         extras=info.extras)


def _folder(o: FolderOptions, ctx):
    if not o.root:
        raise GanzooError("data.root: missing; give the folder of images (or of one subfolder per class)")
    root = Path(o.test_root if o.split == "test" and o.test_root else o.root).expanduser()
    files, labels, classes = scan_image_folder(root)
    return image_dataset(root, files, labels, classes, o, ctx)


# --- CelebA, as it is distributed ------------------------------------------------------------------

CELEBA_SPLITS = {"train": "0", "valid": "1", "test": "2"}  # list_eval_partition.txt's codes


@dataclass(frozen=True)
class CelebAOptions(ImageOptions):
    root: str = option("", "data root holding celeba/img_align_celeba/ and celeba/list_eval_partition.txt (the "
                           "layout torchvision and the authors' archive use); default: $GANZOO_DATA, then the "
                           "user cache directory")
    split: Literal["train", "valid", "test"] = option("train", "the official partition (162,770 / 19,867 / 19,962)")
    crop: int | None = option(108, "centre square cut first: 108, the face region of the DCGAN TensorFlow code; "
                                   "none: the PyTorch DCGAN example's resize and centre crop", min=1)
    download: bool = option(False, "download through torchvision (needs network and the gdown package)")


def locate_distributed(root: str, top: str, marker: str, download) -> Path:
    """<data root>/<top> for the first candidate root (data.root, $GANZOO_DATA, the user cache)
    holding <top>/<marker>; else, with `download` (data root -> error or None), fetched into the
    first; else one line naming every folder tried."""
    roots = candidate_roots(root or None)
    found = next((r / top for r in roots if (r / top / marker).exists()), None)
    if found is not None:
        return found
    tried = ", ".join(str(r / top) for r in roots)
    if download is None:
        raise GanzooError(f"{top}: {marker} not found in {tried}; set {DATA_ENV} or data.root to the folder "
                          f"holding {top}/, or set data.download: true")
    error = download(roots[0])
    if error:
        raise GanzooError(f"{top}: {marker} not found in {tried}; download into {roots[0]} failed ({error})")
    return roots[0] / top


def _celeba(o: CelebAOptions, ctx):
    base = locate_distributed(o.root, "celeba", "img_align_celeba/", _download_celeba if o.download else None)
    partition = base / "list_eval_partition.txt"
    if not partition.is_file():
        raise GanzooError(f"{partition}: missing (it names each image's split)")
    code = CELEBA_SPLITS[o.split]
    names = []
    for number, line in enumerate(partition.read_text().splitlines(), 1):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in CELEBA_SPLITS.values():
            raise GanzooError(f"{partition}:{number}: expected 'FILE.jpg 0|1|2', got {line[:60]!r}")
        if fields[1] == code:
            names.append(fields[0])
    files = [base / "img_align_celeba" / n for n in names]
    missing = next((f for f in files if not f.is_file()), None)
    if missing is not None:
        raise GanzooError(f"{missing}: listed in {partition.name} but not there")
    return image_dataset(base / "img_align_celeba", files, None, [], o, ctx)


def _download_celeba(root: Path) -> str | None:
    import socket

    import torchvision
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)
    try:
        torchvision.datasets.CelebA(str(root), split="all", download=True)
        return None
    except Exception as exc:  # noqa: BLE001 - network, quota and missing-gdown errors alike
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    finally:
        socket.setdefaulttimeout(previous)


# --- LSUN, as it is distributed -------------------------------------------------------------------

LSUN_SCENES = ("bedroom", "bridge", "church_outdoor", "classroom", "conference_room", "dining_room", "kitchen",
               "living_room", "restaurant", "tower")
LSUN_URL = "http://dl.yf.io/lsun/scenes/{name}.zip"  # the LSUN authors' download script's address


@dataclass(frozen=True)
class LSUNOptions(ImageOptions):
    root: str = option("", "data root holding lsun/<category>_<split>_lmdb/ (the distributed LMDB databases); "
                           "default: $GANZOO_DATA, then the user cache directory")
    category: str = option("bedroom", f"a scene category: {', '.join(LSUN_SCENES)}")
    split: Literal["train", "val", "test"] = option(
        "train", "train; val (300 images per category); test, the metrics' reference, is the train database, "
                 "as LSUN papers score against training images")
    download: bool = option(False, "download the category's zip from the LSUN site (bedroom train: 43 GB)")
    workers: int = option(4, "DataLoader worker processes that decode (0: in the main process)", min=0)


def _lsun(o: LSUNOptions, ctx):
    if o.category not in LSUN_SCENES:
        raise GanzooError(f"data.category: {o.category!r} is not an LSUN scene; expected one of {', '.join(LSUN_SCENES)}")
    name = f"{o.category}_{'val' if o.split == 'val' else 'train'}_lmdb"
    download = (lambda root: _download_lsun(root / "lsun", name)) if o.download else None
    database = locate_distributed(o.root, "lsun", f"{name}/data.mdb", download) / name
    records = LmdbRecord.all(database)
    if not records:
        raise GanzooError(f"{database}: the database holds no images")
    return image_dataset(database, records, None, [], o, ctx, check_first=False)


def _download_lsun(folder: Path, name: str) -> str | None:
    """Fetch <name>.zip into `folder` (a .part file renamed when complete) and extract it."""
    import socket
    import urllib.request
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    target, part = folder / f"{name}.zip", folder / f"{name}.zip.part"
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        if not target.is_file():
            with urllib.request.urlopen(LSUN_URL.format(name=name)) as response, open(part, "wb") as out:
                while chunk := response.read(1 << 22):
                    out.write(chunk)
            part.rename(target)
        with zipfile.ZipFile(target) as archive:
            archive.extractall(folder)
        return None
    except (OSError, zipfile.BadZipFile) as exc:
        part.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    finally:
        socket.setdefaulttimeout(previous)


@hookimpl
def ganzoo_add_components():
    return [Component("dataset", "folder", _folder, FolderOptions,
                      "your images: a flat folder or one subfolder per class, resized and centre-cropped; "
                      "decoded once and cached, or streamed"),
            Component("dataset", "celeba", _celeba, CelebAOptions,
                      "CelebA aligned faces (Liu et al. 2015) in their distributed layout, official splits, "
                      "108-px face crop"),
            Component("dataset", "lsun", _lsun, LSUNOptions,
                      "LSUN scenes (Yu et al. 2015) from their distributed LMDB databases, e.g. bedroom, "
                      "church_outdoor; decoded once and cached, or streamed")]
