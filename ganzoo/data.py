"""Datasets: IDX files read straight from a (read-only) root, held on the training device.

The fast path for MNIST-sized data: the whole split is one uint8 tensor on the device;
each batch is an index gather from a shuffled permutation, converted to float and
normalised on the device. No DataLoader, no per-sample Python.
"""
from __future__ import annotations

import dataclasses

import gzip
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .contract import DataInfo, Dataset
from .errors import GanzooError

DATA_ENV = "GANZOO_DATA"


def info_to_dict(info: DataInfo) -> dict:
    """DataInfo as plain lists and numbers (for checkpoints)."""
    from .options import to_plain
    return to_plain(info)


def info_from_dict(d: dict) -> DataInfo:
    def tuples(x):
        if isinstance(x, dict):
            return {k: tuples(v) for k, v in x.items()}
        return tuple(tuples(v) for v in x) if isinstance(x, list) else x
    d = dict(d)
    extras = dict(d.pop("extras", None) or {})
    for old in ("centers", "center_std"):  # checkpoints written before DataInfo.extras
        if old in d:
            value = d.pop(old)
            if value is not None:
                extras[old] = value
    return DataInfo(**{k: tuples(v) for k, v in d.items()}, extras=tuples(extras))


class DeviceDataset(Dataset):
    """A whole split as one tensor on the device, sampled without replacement.

    uint8 images (N, C, H, W) are normalised to [-1, 1] per batch, on the device; float
    data (e.g. 2D points) is used as it is. Each epoch is a fresh permutation drawn from
    the dataset's own torch.Generator (its state is checkpointed, so a resumed run sees
    the same batches). A trailing partial batch is dropped so every step has one shape.
    """

    def __init__(self, data: Tensor, labels: Tensor | None, batch_size: int, device: torch.device,
                 seed: int, num_classes: int | None = None, features: str | None = None,
                 extras: dict | None = None):
        n = data.shape[0]
        if batch_size > n:
            raise GanzooError(f"train.batch_size: {batch_size} is larger than the dataset ({n} examples)")
        self.data = data.to(device)
        self.labels = None if labels is None else labels.to(device=device, dtype=torch.long)
        self.batch_size = batch_size
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.perm = torch.empty(0, dtype=torch.long, device=device)
        self.cursor = 0
        self.local = slice(None)  # this rank's part of each global batch
        self.info = DataInfo(tuple(self.sample_shape()), num_classes, n, features, extras or {})

    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    def gather(self, index: Tensor) -> Tensor:
        """The examples at `index`, as the model sees them."""
        return self.normalise(self.data[index])

    def batches_per_epoch(self) -> int:
        return self.info.size // self.batch_size

    def next_batch(self) -> dict[str, Tensor]:
        if self.cursor + self.batch_size > self.perm.numel():
            self.perm = torch.randperm(self.info.size, generator=self.generator, device=self.device)
            self.cursor = 0
        # every rank draws the same global permutation and keeps its own slice of the batch
        index = self.perm[self.cursor:self.cursor + self.batch_size][self.local]
        self.cursor += self.batch_size
        batch = {"image": self.gather(index)}
        if self.labels is not None:
            batch["label"] = self.labels[index]
        return batch

    def shard(self, world) -> None:
        from .distributed import local_slice
        self.local = local_slice(world, self.batch_size)

    @staticmethod
    def normalise(data: Tensor) -> Tensor:
        if data.dtype != torch.uint8:
            return data
        # Same arithmetic as torchvision's ToTensor() + Normalize(0.5, 0.5): x/255, -0.5, /0.5.
        return data.float().div_(255).sub_(0.5).div_(0.5)

    def examples(self, n, generator):
        index = torch.randperm(self.info.size, generator=generator)[:n].to(self.device)
        return self.gather(index)

    def subset(self, n, generator):
        keep = torch.randperm(self.info.size, generator=generator)[:n].sort().values.to(self.device)
        self.keep(keep)
        self.info = dataclasses.replace(self.info, size=len(keep))

    def keep(self, index: Tensor) -> None:
        """Keep only the examples at `index` (a subclass whose examples are not rows of `data`
        overrides this)."""
        self.data = self.data[index]
        if self.labels is not None:
            self.labels = self.labels[index]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm.cpu(), "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm = state["perm"].to(self.device)
        self.cursor = int(state["cursor"])


# --- IDX files -------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise GanzooError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise GanzooError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise GanzooError(f"{path}: truncated or corrupt IDX file ({len(raw)} bytes, expected {expected})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


@dataclass(frozen=True)
class IdxSource:
    """Where a torchvision-layout IDX dataset lives and how to fetch it when online."""

    folder: str                  # torchvision class name: "MNIST", "FashionMNIST"
    files: dict[str, tuple[str, str]]  # split -> (images file, labels file), without .gz
    system_dirs: tuple[str, ...] = ()  # flat folders a distribution package installs to


MNIST = IdxSource("MNIST", {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")})
FASHION_MNIST = IdxSource("FashionMNIST", MNIST.files, system_dirs=("/usr/share/datasets/fashion-mnist",))


def user_cache_dir() -> Path:
    try:
        import platformdirs
    except ImportError:  # a bare environment (e.g. a GPU image): the XDG default
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganzoo"
    return Path(platformdirs.user_cache_dir("ganzoo"))


def candidate_roots(root: str | None) -> list[Path]:
    """The recipe's root if given; else $GANZOO_DATA, then the user cache directory."""
    if root:
        return [Path(root).expanduser()]
    roots = []
    if os.environ.get(DATA_ENV):
        roots.append(Path(os.environ[DATA_ENV]).expanduser())
    roots.append(user_cache_dir() / "data")
    return roots


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def locate_idx(source: IdxSource, split: str, root: str | None, download: bool) -> tuple[Path, Path]:
    """Paths of the split's (images, labels) files, downloading them if allowed."""
    names = source.files[split]
    roots = candidate_roots(root)
    folders = [r / source.folder / "raw" for r in roots] + [Path(d) for d in source.system_dirs]
    for folder in folders:
        found = [_find(folder, n) for n in names]
        if all(found):
            return found[0], found[1]
    tried = ", ".join(str(f) for f in folders)
    wanted = " and ".join(f"{n}[.gz]" for n in names)
    if not download:
        raise GanzooError(f"{source.folder} {split} files {wanted} not found in: {tried}; set {DATA_ENV} or "
                          f"data.root to a folder holding {source.folder}/raw/, or set data.download: true")
    target = roots[0]
    error = _download(source, target)
    found = [_find(target / source.folder / "raw", n) for n in names]
    if error or not all(found):
        raise GanzooError(f"{source.folder} {split} files {wanted} not found in: {tried}; download into "
                          f"{target} failed ({error or 'files missing after download'}); "
                          f"copy the files there or set {DATA_ENV}")
    return found[0], found[1]


def _download(source: IdxSource, target: Path) -> str | None:
    """Download through torchvision; return an error text instead of raising."""
    import torchvision

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # offline machines should fail in seconds, not minutes
    try:
        target.mkdir(parents=True, exist_ok=True)
        getattr(torchvision.datasets, source.folder)(root=str(target), train=True, download=True)
        getattr(torchvision.datasets, source.folder)(root=str(target), train=False, download=True)
        return None
    except Exception as exc:  # noqa: BLE001 - network, disk and checksum errors alike
        return f"{type(exc).__name__}: {exc}".splitlines()[0].rstrip(": ")
    finally:
        socket.setdefaulttimeout(previous)


def load_idx_images(source: IdxSource, split: str, root: str | None, download: bool,
                    classes: tuple[int, ...] | None = None) -> tuple[Tensor, Tensor]:
    """(uint8 images (N, 1, H, W), int64 labels (N,)) of one split, optionally filtered by class."""
    images_path, labels_path = locate_idx(source, split, root, download)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GanzooError(f"{images_path}: expected (N, H, W) images matching {labels_path}'s N labels")
    images = torch.from_numpy(images.copy()).unsqueeze(1)
    labels = torch.from_numpy(labels.astype(np.int64))
    if classes:
        keep = torch.isin(labels, torch.tensor(classes))
        images, labels = images[keep], labels[keep]
    return images, labels
