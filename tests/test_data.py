"""IDX reading from read-only roots, root resolution, and the device-resident sampler."""
import gzip
import shutil

import numpy as np
import pytest
import torch

from ganzoo import GanzooError
from ganzoo.data import FASHION_MNIST, MNIST, DeviceDataset, IdxSource, load_idx_images, read_idx


def test_mnist_from_the_read_only_root(data_root, fashion_root, monkeypatch):
    monkeypatch.setenv("GANZOO_DATA", str(data_root))
    images, labels = load_idx_images(MNIST, "train", None, download=False)
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and set(labels.unique().tolist()) == set(range(10))
    test_images, _ = load_idx_images(FASHION_MNIST, "test", str(data_root), download=False)
    assert test_images.shape == (10000, 1, 28, 28)


def test_uncompressed_files_and_debian_flat_layout(fashion_root, tmp_path, monkeypatch):
    # Debian's dataset-fashion-mnist installs the .gz files flat in one folder.
    flat = tmp_path / "fashion-mnist"
    flat.mkdir()
    for name in FASHION_MNIST.files["test"]:
        with gzip.open(fashion_root / "FashionMNIST" / "raw" / f"{name}.gz") as src, open(flat / name, "wb") as dst:
            shutil.copyfileobj(src, dst)  # uncompressed this time
    source = IdxSource("FashionMNIST", FASHION_MNIST.files, system_dirs=(str(flat),))
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images, labels = load_idx_images(source, "test", None, download=False, classes=(7, 9))
    assert images.shape[1:] == (1, 28, 28) and set(labels.unique().tolist()) == {7, 9}
    assert len(images) == 2000  # 1,000 sneakers and 1,000 ankle boots


def test_truncated_idx_file_is_named(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100)
    with pytest.raises(GanzooError, match="truncated or corrupt IDX file"):
        read_idx(bad)


def test_batches_match_torchvision_normalisation_and_cover_each_epoch(data_root):
    from torchvision import transforms

    images, labels = load_idx_images(MNIST, "test", str(data_root), download=False)
    images, labels = images[:1000], labels[:1000]
    data = DeviceDataset(images, labels, batch_size=100, device=torch.device("cpu"), seed=0, num_classes=10)
    assert data.info.image_shape == (1, 28, 28) and data.batches_per_epoch() == 10

    seen = []
    for _ in range(10):
        batch = data.next_batch()
        assert batch["image"].shape == (100, 1, 28, 28) and batch["label"].shape == (100,)
        seen.append(data.perm[data.cursor - 100:data.cursor])
    assert sorted(torch.cat(seen).tolist()) == list(range(1000))  # without replacement

    # Same float values as the seed's ToTensor() + Normalize((0.5,), (0.5,)).
    index = seen[-1]
    seed_transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    expected = torch.stack([seed_transform(img[0].numpy()) for img in images[index]])
    assert torch.equal(batch["image"], expected)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert np.array_equal(batch["label"].numpy(), labels[index].numpy())
