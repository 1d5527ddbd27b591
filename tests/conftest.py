"""Shared fixtures. Tests train on the real MNIST files, found where ganzoo finds them."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.testing import quick, run_subprocess  # noqa: F401 - the tests import them from here

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The read-only data root (<root>/MNIST/raw/*-ubyte.gz), found as the product finds it:
    $GANZOO_DATA, then the user cache directory. The suite needs real data."""
    from ganzoo.data import candidate_roots
    from ganzoo.testing import data_root as find_root

    root = find_root()
    if root is None:
        tried = ", ".join(str(r / "MNIST" / "raw") for r in candidate_roots(None))
        pytest.exit(f"no MNIST files in {tried}: run `ganzoo run recipes/vanilla_mnist.yaml` once online "
                    "(it downloads them), or set GANZOO_DATA to a folder holding MNIST/raw/*-ubyte.gz", returncode=1)
    return root


def require_fashion(data_root: Path) -> Path:
    """The root holding Fashion-MNIST too, or skip: the README's run command downloads MNIST only."""
    from ganzoo.data import FASHION_MNIST, GanzooError, locate_idx

    try:
        locate_idx(FASHION_MNIST, "test", str(data_root), download=False)
    except GanzooError:
        pytest.skip(f"no Fashion-MNIST files in {data_root / 'FashionMNIST' / 'raw'} (CI's GANZOO_DATA has them)")
    return data_root


@pytest.fixture
def fashion_root(data_root) -> Path:
    return require_fashion(data_root)


@pytest.fixture
def cli(capsys, data_root):
    """Run `ganzoo ...` in-process: returns (exit code, stdout, stderr)."""
    from ganzoo.cli import main

    def run(*args: str):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def make_tree(root: Path, missing: str | None = None) -> Path:
    """trainA/trainB of small PNGs: odd sizes, RGB and greyscale mixed."""
    g = torch.Generator().manual_seed(0)
    for domain, count in (("trainA", 5), ("trainB", 3), ("testA", 2), ("testB", 2)):
        if domain == missing:
            continue
        (root / domain).mkdir(parents=True)
        for i in range(count):
            w, h = 33 + 7 * i, 41 - 3 * i
            mode = "RGB" if i % 2 else "L"
            pixels = torch.randint(0, 256, (h, w, 3) if mode == "RGB" else (h, w), generator=g, dtype=torch.uint8)
            Image.fromarray(pixels.numpy(), mode).save(root / domain / f"img{i}.png")
    return root


def make_side_by_side(root: Path, count: int = 4) -> Path:
    """train/ and test/ of A | B PNGs as pix2pix's datasets are distributed: odd sizes, RGB and grey."""
    g = torch.Generator().manual_seed(3)
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        for i in range(count):
            w, h = 2 * (30 + 5 * i) + i % 2, 31 + 3 * i
            mode = "RGB" if i % 2 else "L"
            pixels = torch.randint(0, 256, (h, w, 3) if mode == "RGB" else (h, w), generator=g, dtype=torch.uint8)
            Image.fromarray(pixels.numpy(), mode).save(root / split / f"{i}.png")
    return root


def make_class_folders(root: Path, side: int = 28, per_class: int = 6, classes: int = 3) -> Path:
    """root/<class>/*.png: small images of mixed sizes and modes, for the `folder` dataset."""
    g = torch.Generator().manual_seed(1)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            w, h = side + 3 * i, side + 5 * (i % 2)
            mode = "RGB" if i % 2 else "L"
            pixels = torch.randint(0, 256, (h, w, 3) if mode == "RGB" else (h, w), generator=g, dtype=torch.uint8)
            Image.fromarray(pixels.numpy(), mode).save(root / f"class{c}" / f"img{i}.png")
    return root


def make_cifar_archive(path: Path, source, per_file: int = 4) -> dict:
    """An archive laid out as the official one (top folder, .bin files of records), random pixels."""
    g = np.random.default_rng(0)
    truth = {}
    with tarfile.open(path, "w:gz") as archive:
        for name in (*source.train, source.test):
            labels = g.integers(0, source.classes, (per_file, source.label_bytes), dtype=np.uint8)
            pixels = g.integers(0, 256, (per_file, 3 * 32 * 32), dtype=np.uint8)
            raw = np.concatenate([labels, pixels], axis=1).tobytes()
            info = tarfile.TarInfo(f"{source.folder}/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
            truth[name] = (labels, pixels.reshape(-1, 3, 32, 32))
    return truth


def make_celeba(root: Path, count: int = 9) -> Path:
    """root/celeba/ as distributed: img_align_celeba/*.jpg (178x218) and list_eval_partition.txt."""
    g = np.random.default_rng(2)
    (root / "celeba" / "img_align_celeba").mkdir(parents=True)
    lines = []
    for i in range(1, count + 1):
        name = f"{i:06d}.jpg"
        Image.fromarray(g.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(root / "celeba" / "img_align_celeba" / name)
        lines.append(f"{name} {0 if i <= count - 3 else (1 if i == count - 2 else 2)}")
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def make_lsun(root: Path, name: str = "bedroom_train_lmdb", count: int = 5, damaged: int | None = None) -> Path:
    """root/lsun/<name>/ as distributed: an LMDB database of WebP images keyed by hex strings."""
    import lmdb

    g = np.random.default_rng(4)
    database = root / "lsun" / name
    database.mkdir(parents=True)
    with lmdb.open(str(database), map_size=1 << 26) as env, env.begin(write=True) as txn:
        for i in range(count):
            w, h = 48 + 5 * i, 40 + 3 * i  # LSUN's images have 256 px on the shorter side; these are small
            buffer = io.BytesIO()
            Image.fromarray(g.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buffer, "WEBP", quality=90)
            txn.put(f"{i:040x}".encode(), b"not an image" if i == damaged else buffer.getvalue())
    return database
