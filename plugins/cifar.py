"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009), read from the official *binary* archives.

The binary version is a plain record format (a label byte, or two for CIFAR-100, then 3,072
pixel bytes, channel-major), so nothing on this path unpickles anything. The archive is read
in place, without extracting it (the data root may be read-only), or the extracted folder is
read as it is distributed. Its MD5 is checked against the published one (`verify`), and when
the files are missing and `download: true`, it is fetched from the authors' page into the
first data root, checked, then renamed into place.

datasets  cifar10   32x32x3, 10 classes, 50k train / 10k test
          cifar100  32x32x3, 100 fine (or 20 coarse) classes, 50k train / 10k test
"""
from __future__ import annotations

import hashlib
import os
import socket
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ganzoo import DATA_ENV, Component, DeviceDataset, GanzooError, candidate_roots, hookimpl, option


@dataclass(frozen=True)
class CifarSource:
    name: str
    archive: str
    md5: str
    folder: str                      # the archive's top folder
    train: tuple[str, ...]
    test: str
    label_bytes: int                 # 1 (CIFAR-10) or 2 (CIFAR-100: coarse, then fine)
    classes: int

    @property
    def url(self) -> str:
        return f"https://www.cs.toronto.edu/~kriz/{self.archive}"


CIFAR10 = CifarSource("CIFAR-10", "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
                      "cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin",
                      1, 10)
CIFAR100 = CifarSource("CIFAR-100", "cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8",
                       "cifar-100-binary", ("train.bin",), "test.bin", 2, 100)
PIXELS = 3 * 32 * 32


def parse_records(raw: bytes, source: CifarSource, where: str, label: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 3, 32, 32), labels (N,)) of one binary file; `label` picks the label byte."""
    record = source.label_bytes + PIXELS
    if not raw or len(raw) % record:
        raise GanzooError(f"{where}: {len(raw)} bytes is not a whole number of {record}-byte {source.name} records")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    return rows[:, source.label_bytes:].reshape(-1, 3, 32, 32), rows[:, label if label >= 0 else source.label_bytes - 1]


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_split(source: CifarSource, location: Path, split: str) -> dict[str, bytes]:
    """The split's binary files, by name, from the archive (read in place) or the extracted folder."""
    names = source.train if split == "train" else (source.test,)
    if location.is_dir():
        missing = [n for n in names if not (location / n).is_file()]
        if missing:
            raise GanzooError(f"{location}: missing {', '.join(missing)} (the {source.archive} layout)")
        return {n: (location / n).read_bytes() for n in names}
    wanted = {f"{source.folder}/{n}": n for n in names}
    found = {}
    try:
        with tarfile.open(location, "r:gz") as archive:
            for member in archive:
                if member.name in wanted and member.isfile():  # only the expected regular files are read
                    found[wanted[member.name]] = archive.extractfile(member).read()
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise GanzooError(f"{location}: unreadable archive ({str(exc).splitlines()[0][:100]})") from None
    missing = [n for n in names if n not in found]
    if missing:
        raise GanzooError(f"{location}: no {', '.join(f'{source.folder}/{n}' for n in missing)} in the archive")
    return found


def locate(source: CifarSource, root: str | None, download: bool, verify: bool) -> Path:
    """The archive (or the extracted folder) under the first data root that has it; else download."""
    roots = candidate_roots(root)
    for r in roots:
        if (r / source.archive).is_file():
            path = r / source.archive
            digest = md5_of(path) if verify else source.md5
            if digest != source.md5:
                raise GanzooError(f"{path}: MD5 {digest} is not the published {source.md5} (a damaged or "
                                  f"partial download: delete it and download again, or set data.verify: false)")
            return path
        if (r / source.folder).is_dir():
            return r / source.folder
    tried = ", ".join(str(r) for r in roots)
    if not download:
        raise GanzooError(f"{source.name}: {source.archive} (or its folder {source.folder}/) not found in: {tried}; "
                          f"set {DATA_ENV} or data.root to the folder holding it, or set data.download: true")
    target = roots[0] / source.archive
    error = fetch(source.url, target, source.md5)
    if error:
        raise GanzooError(f"{source.name}: {source.archive} not found in: {tried}; downloading {source.url} "
                          f"failed ({error}); copy the file there or set {DATA_ENV}")
    return target


def fetch(url: str, target: Path, md5: str, timeout: float = 15) -> str | None:
    """Download to target (through a partial file, MD5 checked, then renamed); the error text or None."""
    partial = target.with_name(target.name + ".part")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # an offline machine fails in seconds, not minutes
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.md5()
        with urllib.request.urlopen(url) as response, open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != md5:
            partial.unlink(missing_ok=True)
            return f"MD5 {h.hexdigest()} of the download is not the published {md5}"
        os.replace(partial, target)
        return None
    except Exception as exc:  # noqa: BLE001 - network, disk and HTTP errors alike
        partial.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    finally:
        socket.setdefaulttimeout(previous)


@dataclass(frozen=True)
class CifarOptions:
    root: str | None = option(None, f"folder holding the binary archive (or its extracted folder); default: "
                                    f"${DATA_ENV}, then the user cache directory")
    download: bool = option(False, "download the archive from the authors' page when it is missing (needs network)")
    split: Literal["train", "test"] = option("train", "which split to train on")
    verify: bool = option(True, "check the archive's MD5 against the published one")


@dataclass(frozen=True)
class Cifar100Options(CifarOptions):
    labels: Literal["fine", "coarse"] = option("fine", "the 100 fine classes or the 20 superclasses")


def _cifar(source: CifarSource):
    def build(o, ctx):
        location = locate(source, o.root, o.download, o.verify)
        files = read_split(source, location, o.split)
        label = 0 if getattr(o, "labels", "fine") == "coarse" else -1
        parts = [parse_records(raw, source, f"{location}:{name}", label) for name, raw in files.items()]
        images = torch.from_numpy(np.concatenate([p[0] for p in parts]).copy())
        labels = torch.from_numpy(np.concatenate([p[1] for p in parts]).astype(np.int64))
        classes = 20 if label == 0 else source.classes
        return DeviceDataset(images, labels, ctx.recipe.train.batch_size, ctx.device, seed=ctx.recipe.seed + 1,
                             num_classes=classes, features="inception_fid")
    return build


@hookimpl
def ganzoo_add_components():
    return [
        Component("dataset", "cifar10", _cifar(CIFAR10), CifarOptions,
                  "CIFAR-10, 32x32x3, 10 classes, 50k train / 10k test, from the binary archive (Krizhevsky 2009)"),
        Component("dataset", "cifar100", _cifar(CIFAR100), Cifar100Options,
                  "CIFAR-100, 32x32x3, 100 (or 20) classes, from the binary archive (Krizhevsky 2009)"),
    ]
