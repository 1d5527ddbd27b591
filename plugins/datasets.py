"""Built-in datasets: MNIST and Fashion-MNIST, read from IDX files and held on the device."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ganzoo import Component, hookimpl, option
from ganzoo.data import FASHION_MNIST, MNIST, DeviceImageDataset, IdxSource, load_idx_images


@dataclass(frozen=True)
class IdxDatasetOptions:
    root: str | None = option(None, "folder holding <Name>/raw/*-ubyte[.gz]; default: $GANZOO_DATA, "
                                    "then the user cache directory")
    download: bool = option(False, "download through torchvision when the files are missing (needs network)")
    split: Literal["train", "test"] = option("train", "which split to train on")
    classes: tuple[int, ...] | None = option(None, "keep only these class labels (0-9); default: all")


def _idx_dataset(source: IdxSource):
    def build(options: IdxDatasetOptions, ctx):
        images, labels = load_idx_images(source, options.split, options.root, options.download, options.classes)
        return DeviceImageDataset(images, labels, ctx.recipe.train.batch_size, ctx.device,
                                  seed=ctx.recipe.seed + 1, num_classes=10)
    return build


@hookimpl
def ganzoo_add_components():
    return [
        Component("dataset", "mnist", _idx_dataset(MNIST), IdxDatasetOptions,
                  "MNIST digits, 28x28x1, 60k train / 10k test (LeCun et al. 1998)"),
        Component("dataset", "fashion_mnist", _idx_dataset(FASHION_MNIST), IdxDatasetOptions,
                  "Fashion-MNIST clothing, 28x28x1, 60k train / 10k test (Xiao et al. 2017)"),
    ]
