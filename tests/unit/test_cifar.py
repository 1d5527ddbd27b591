"""CIFAR readers on test-made archives in the official binary layout: no pickle on the path."""
from __future__ import annotations

import ast
import hashlib
import tarfile
from pathlib import Path

import pytest
import torch

from ganzoo import BuildContext, GanzooError
from ganzoo.recipe import load_recipe

from conftest import make_cifar_archive

REPO = Path(__file__).resolve().parents[2]


def build(recipe_sets):
    recipe = load_recipe(REPO / "recipes" / "sngan_resnet_cifar10.yaml", ["train.batch_size=2", *recipe_sets])
    return recipe.data.component.build(recipe.data.options, BuildContext(device=torch.device("cpu"), recipe=recipe))


def test_reads_the_binary_layout_in_place(tmp_path):
    from ganzoo_plugins.cifar import CIFAR10, CIFAR100

    truth = make_cifar_archive(tmp_path / CIFAR10.archive, CIFAR10)
    train = build([f"data.root={tmp_path}", "data.verify=false"])
    assert train.info.image_shape == (3, 32, 32) and train.info.size == 20 and train.info.num_classes == 10
    assert torch.equal(train.data[4:8], torch.from_numpy(truth["data_batch_2.bin"][1]))
    assert train.labels[4:8].tolist() == truth["data_batch_2.bin"][0][:, 0].tolist()
    test = build([f"data.root={tmp_path}", "data.verify=false", "data.split=test"])
    assert torch.equal(test.data, torch.from_numpy(truth["test_batch.bin"][1]))
    # CIFAR-100: two label bytes, coarse then fine
    truth = make_cifar_archive(tmp_path / CIFAR100.archive, CIFAR100)
    fine = build([f"data.root={tmp_path}", "data.verify=false", "data.name=cifar100"])
    coarse = build([f"data.root={tmp_path}", "data.verify=false", "data.name=cifar100", "data.labels=coarse"])
    assert fine.labels.tolist() == truth["train.bin"][0][:, 1].tolist() and fine.info.num_classes == 100
    assert coarse.labels.tolist() == truth["train.bin"][0][:, 0].tolist() and coarse.info.num_classes == 20
    # the extracted folder, as distributed, reads the same
    with tarfile.open(tmp_path / CIFAR10.archive) as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    folder = build([f"data.root={tmp_path / 'extracted'}"])
    assert torch.equal(folder.data, train.data)


def test_checksum_offline_and_damage_are_one_line(tmp_path, monkeypatch):
    from ganzoo_plugins import cifar

    make_cifar_archive(tmp_path / cifar.CIFAR10.archive, cifar.CIFAR10)
    digest = hashlib.md5((tmp_path / cifar.CIFAR10.archive).read_bytes()).hexdigest()
    with pytest.raises(GanzooError, match=f"MD5 {digest} is not the published c32a1d4a"):
        build([f"data.root={tmp_path}"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanzooError, match="cifar-10-binary.tar.gz .or its folder cifar-10-batches-bin/. not found"):
        build([f"data.root={empty}", "data.download=false"])
    # offline: the real download code, against a port where nothing listens
    monkeypatch.setattr(cifar.CifarSource, "url", property(lambda self: "http://127.0.0.1:9/" + self.archive))
    with pytest.raises(GanzooError) as error:
        build([f"data.root={empty}", "data.download=true"])
    assert "downloading http://127.0.0.1:9/cifar-10-binary.tar.gz failed (URLError" in str(error.value)
    assert "\n" not in str(error.value) and not list(empty.glob("*.part"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / cifar.CIFAR10.archive).write_bytes(b"not gzip")
    with pytest.raises(GanzooError, match="unreadable archive"):
        build([f"data.root={tmp_path / 'bad'}", "data.verify=false"])


def test_a_download_is_checked_before_it_is_kept(tmp_path):
    from ganzoo_plugins.cifar import fetch

    source = tmp_path / "served.bin"
    source.write_bytes(b"x" * 1000)
    target = tmp_path / "root" / "archive.tar.gz"
    assert "is not the published" in fetch(source.as_uri(), target, "0" * 32)
    assert not target.exists() and not list(target.parent.glob("*.part"))
    assert fetch(source.as_uri(), target, hashlib.md5(b"x" * 1000).hexdigest()) is None
    assert target.read_bytes() == b"x" * 1000


def test_no_pickle_on_the_path():
    tree = ast.parse((REPO / "plugins" / "cifar.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {"pickle", "torchvision"} & imported
