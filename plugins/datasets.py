"""Built-in datasets: MNIST and Fashion-MNIST, read from IDX files and held on the device."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from ganzoo import FASHION_MNIST, MNIST, Component, DeviceDataset, IdxSource, hookimpl, load_idx_images, option


@dataclass(frozen=True)
class IdxDatasetOptions:
    root: str | None = option(None, "folder holding <Name>/raw/*-ubyte[.gz]; default: $GANZOO_DATA, "
                                    "then the user cache directory")
    download: bool = option(False, "download through torchvision when the files are missing (needs network)")
    split: Literal["train", "test"] = option("train", "which split to train on")
    classes: tuple[int, ...] | None = option(None, "keep only these class labels (0-9); default: all")


def _idx_dataset(source: IdxSource, features: str):
    def build(options: IdxDatasetOptions, ctx):
        images, labels = load_idx_images(source, options.split, options.root, options.download, options.classes)
        return DeviceDataset(images, labels, ctx.recipe.train.batch_size, ctx.device,
                                  seed=ctx.recipe.seed + 1, num_classes=10, features=features)
    return build


class StackedMNIST(DeviceDataset):
    """Three MNIST digits as the three channels of one image: 1000 modes (VEEGAN, PacGAN).

    A fixed set of `size` digit triples is drawn once (from `data_seed`); batches gather the
    digits on the device, so only MNIST itself is held in memory. The label is the mode,
    100·d0 + 10·d1 + d2.
    """

    def __init__(self, digits, digit_labels, size: int, data_seed: int, **kwargs):
        triples = torch.randint(0, len(digits), (size, 3), generator=torch.Generator().manual_seed(data_seed))
        labels = digit_labels[triples] @ torch.tensor([100, 10, 1])
        super().__init__(digits, labels, num_classes=1000, features="mnist_lenet", **kwargs)
        self.triples = triples.to(self.device)
        self.info = dataclasses.replace(self.info, size=size)

    def sample_shape(self):
        return (3, *self.data.shape[2:])

    def keep(self, index):  # an example is a triple of digits: keep triples, not digits
        self.triples, self.labels = self.triples[index], self.labels[index]

    def gather(self, index):
        stacked = self.data[self.triples[index]]  # (B, 3, 1, H, W)
        return self.normalise(stacked.flatten(1, 2))


@dataclass(frozen=True)
class StackedMNISTOptions(IdxDatasetOptions):
    size: int = option(128000, "stacked samples in the fixed training set (PacGAN: 128,000)", min=1)
    data_seed: int = option(0, "seed of the fixed digit triples (the same set whatever the run's seed)", min=0)


def _stacked(options: StackedMNISTOptions, ctx):
    digits, labels = load_idx_images(MNIST, options.split, options.root, options.download, options.classes)
    size = options.size if options.split == "train" else min(options.size, 26000)
    return StackedMNIST(digits, labels, size, options.data_seed + (options.split == "test"),
                        batch_size=ctx.recipe.train.batch_size, device=ctx.device, seed=ctx.recipe.seed + 1)


@hookimpl
def ganzoo_add_components():
    return [
        Component("dataset", "mnist", _idx_dataset(MNIST, "mnist_lenet"), IdxDatasetOptions,
                  "MNIST digits, 28x28x1, 60k train / 10k test (LeCun et al. 1998)"),
        Component("dataset", "fashion_mnist", _idx_dataset(FASHION_MNIST, "fashion_lenet"), IdxDatasetOptions,
                  "Fashion-MNIST clothing, 28x28x1, 60k train / 10k test (Xiao et al. 2017)"),
        Component("dataset", "stacked_mnist", _stacked, StackedMNISTOptions,
                  "Stacked MNIST: 3 digits as RGB channels, 1000 modes, built on the device (VEEGAN 2017)"),
    ]
