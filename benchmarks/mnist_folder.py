"""MNIST as a user's folder of PNG files, one subfolder per digit: the `folder` dataset's trial.

    python benchmarks/mnist_folder.py OUT [--limit 6000]

writes OUT/train/<digit>/<index>.png (the same `--limit` training digits that `data.limit` with
`data.subset_seed: 0` keeps, so a folder run and a built-in run see the same images) and
OUT/test/<digit>/<index>.png (the whole test split, the built-in recipes' FID reference). Then:

    ganzoo run recipes/dcgan_folder_mnist.yaml --set data.root=OUT/train --set data.test_root=OUT/test
    ganzoo run recipes/dcgan_mnist.yaml --set data.limit=6000        # the same digits, built in
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganzoo import MNIST, load_idx_images


def write(images: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, folder: Path) -> None:
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
    for i in index.tolist():
        Image.fromarray(images[i, 0].numpy().astype(np.uint8), mode="L").save(
            folder / str(int(labels[i])) / f"{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--limit", type=int, default=6000, help="training digits (default 6000)")
    parser.add_argument("--root", default=None, help="MNIST root (default: $GANZOO_DATA)")
    args = parser.parse_args()
    train, train_labels = load_idx_images(MNIST, "train", args.root, download=False)
    keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:args.limit].sort().values
    write(train, train_labels, keep, args.out / "train")
    test, test_labels = load_idx_images(MNIST, "test", args.root, download=False)
    write(test, test_labels, torch.arange(len(test)), args.out / "test")
    print(f"{args.out}: {len(keep)} training and {len(test)} test digits as PNG files")


if __name__ == "__main__":
    main()
