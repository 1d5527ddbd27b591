"""The `folder` dataset on test-made image folders: layouts, resizing, the cache, streaming."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo import BuildContext, GanzooError, LmdbRecord
from ganzoo.recipe import load_recipe

from conftest import make_celeba, make_lsun

REPO = Path(__file__).resolve().parents[2]


def make_folder(root: Path, classes=("cat", "dog", "eel"), per_class=(3, 2, 4)) -> Path:
    """Class subfolders of odd-sized PNG and JPEG files, grey and RGB mixed."""
    g = np.random.default_rng(0)
    for name, count in zip(classes, per_class):
        (root / name).mkdir(parents=True)
        for i in range(count):
            w, h = 20 + 9 * i, 37 - 4 * i
            mode = "RGB" if i % 2 else "L"
            pixels = g.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i}.{'jpg' if i == 2 else 'png'}")
    return root


def build(root: Path, split="train", batch_size=2, **options):
    sets = [f"data.root={root}", f"train.batch_size={batch_size}", f"data.split={split}"]
    sets += [f"data.{k}={v}" for k, v in options.items()]
    recipe = load_recipe(REPO / "recipes" / "dcgan_folder_mnist.yaml", sets)
    return recipe.data.component.build(recipe.data.options, BuildContext(device=torch.device("cpu"), recipe=recipe))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))


def test_class_folders_resize_crop_and_labels(tmp_path):
    root = make_folder(tmp_path / "images")
    data = build(root, size=16, channels=3, features="mnist_lenet")
    assert data.info.image_shape == (3, 16, 16) and data.info.num_classes == 3 and data.info.size == 9
    assert data.info.extras["classes"] == ("cat", "dog", "eel")
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    # file 0 of "dog" is 20x37 grey: shorter side to 16 (bicubic), then the centre crop, as PIL does it
    image = Image.open(root / "dog" / "0.png").convert("RGB").resize((16, round(37 * 16 / 20)), Image.BICUBIC)
    top = (image.size[1] - 16) // 2
    expected = torch.from_numpy(np.array(image.crop((0, top, 16, top + 16)))).permute(2, 0, 1)
    assert torch.equal(data.data[3], expected)
    batch = data.next_batch()
    assert batch["image"].shape == (2, 3, 16, 16) and batch["image"].min() >= -1 and batch["image"].max() <= 1


def test_images_of_the_size_keep_their_pixels_and_a_flat_folder_has_no_labels(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    (tmp_path / "flat").mkdir()
    for i, p in enumerate(pixels):
        Image.fromarray(p, "L").save(tmp_path / "flat" / f"{i}.png")
    data = build(tmp_path / "flat", size=28, channels=1)
    assert data.labels is None and data.info.num_classes is None
    assert torch.equal(data.data[:, 0], torch.from_numpy(pixels))


def test_second_build_reads_the_cache_and_an_edit_invalidates_it(tmp_path, capfd):
    root = make_folder(tmp_path / "images")
    first = build(root, size=12)
    assert "decoded 9 images" in capfd.readouterr().err
    second = build(root, size=12)
    assert "read from the cache" in capfd.readouterr().err
    assert torch.equal(first.data, second.data)
    build(root, size=8)  # another transform: another key
    assert "decoded 9 images" in capfd.readouterr().err
    Image.new("L", (30, 30), 255).save(root / "cat" / "1.png")  # an edited file
    edited = build(root, size=12)
    assert "decoded 9 images" in capfd.readouterr().err
    assert not torch.equal(first.data, edited.data) and (edited.data[1] == 255).all()


def test_unwritable_cache_is_a_warning_not_a_failure(tmp_path, monkeypatch, capfd):
    root = make_folder(tmp_path / "images")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("GANZOO_CACHE", str(blocker))
    data = build(root, size=12)
    assert data.info.size == 9
    err = capfd.readouterr().err
    assert "warning" in err and "not cached" in err and "Traceback" not in err


def test_streaming_matches_memory_and_resumes(tmp_path):
    root = make_folder(tmp_path / "images")
    memory = build(root, size=12, batch_size=3)
    stream = build(root, size=12, batch_size=3, load="stream", workers=0)
    assert stream.info == memory.info and stream.batches_per_epoch() == 3
    seen = []
    for _ in range(3):  # one epoch: every image once, each with its own label
        batch = stream.next_batch()
        assert batch["image"].shape == (3, 1, 12, 12)
        seen += list(zip(batch["label"].tolist(), batch["image"].flatten(1).sum(1).tolist()))
    expected = sorted(zip(memory.labels.tolist(), memory.normalise(memory.data).flatten(1).sum(1).tolist()))
    assert [label for label, _ in sorted(seen)] == [label for label, _ in expected]
    assert [total for _, total in sorted(seen)] == pytest.approx([total for _, total in expected])
    stream.next_batch()
    state = stream.state_dict()
    after = stream.next_batch()["image"]
    resumed = build(root, size=12, batch_size=3, load="stream", workers=0)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.next_batch()["image"], after)
    over_budget = build(root, size=12, batch_size=3, memory_mb=0.0001, workers=0)
    assert hasattr(over_budget, "decoded")  # auto: over data.memory_mb, so streaming


@pytest.mark.parametrize("load", ["memory", "stream"])
def test_damaged_file_is_one_line_naming_it(tmp_path, load):
    root = make_folder(tmp_path / "images")
    (root / "dog" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(GanzooError, match=r"dog/1\.png: unreadable image file") as error:
        build(root, size=12, load=load, workers=1)  # both check every file before training
    assert "\n" not in str(error.value)


def test_bad_layouts_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanzooError, match="no image files, and no subfolders"):
        build(tmp_path / "empty", workers=0)
    with pytest.raises(GanzooError, match="is not a folder"):
        build(tmp_path / "missing", workers=0)
    root = make_folder(tmp_path / "images")
    (root / "empty_class").mkdir()
    with pytest.raises(GanzooError, match="empty_class: class folder without image files"):
        build(root, workers=0)
    with pytest.raises(GanzooError, match="batch_size: 64 is larger than the 9 images"):
        build(make_folder(tmp_path / "small"), batch_size=64, workers=0)


def test_celeba_reads_the_distributed_layout_and_its_splits(tmp_path):
    make_celeba(tmp_path, count=9)  # six train, one valid, two test

    def celeba(*sets):
        recipe = load_recipe(REPO / "recipes" / "dcgan_celeba_64.yaml", [f"data.root={tmp_path}",
                                                                         "train.batch_size=2", *sets])
        return recipe.data.component.build(recipe.data.options, BuildContext(device=torch.device("cpu"),
                                                                             recipe=recipe))

    train, test = celeba(), celeba("data.split=test")
    assert train.info.size == 6 and test.info.size == 2 and train.data.shape[1:] == (3, 64, 64)
    # the 108-px face region of 000001.jpg, then bicubic to 64
    image = Image.open(tmp_path / "celeba" / "img_align_celeba" / "000001.jpg").convert("RGB")
    left, top = (178 - 108) // 2, (218 - 108) // 2
    expected = np.array(image.crop((left, top, left + 108, top + 108)).resize((64, 64), Image.BICUBIC))
    assert torch.equal(train.data[0], torch.from_numpy(expected).permute(2, 0, 1))
    (tmp_path / "celeba" / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(GanzooError, match="000002.jpg: listed in list_eval_partition.txt but not there"):
        celeba()
    with pytest.raises(GanzooError, match="celeba: img_align_celeba/ not found in"):
        celeba(f"data.root={tmp_path / 'nowhere'}")


def test_lsun_reads_the_distributed_databases_in_memory_and_streamed(tmp_path):
    database = make_lsun(tmp_path)
    make_lsun(tmp_path, "kitchen_train_lmdb", damaged=2)

    def lsun(*sets):
        recipe = load_recipe(REPO / "recipes" / "dcgan_lsun_bedroom_64.yaml", [f"data.root={tmp_path}",
                                                                               "train.batch_size=2", *sets])
        return recipe.data.component.build(recipe.data.options, BuildContext(device=torch.device("cpu"),
                                                                             recipe=recipe))

    memory = lsun("data.size=32", "data.workers=0")
    assert memory.info.size == 5 and memory.data.shape == (5, 3, 32, 32)
    first = Image.open(LmdbRecord(database, b"0" * 40).open_bytes()).convert("RGB")  # 48x40
    resized = first.resize((round(48 * 32 / 40), 32), Image.BICUBIC)  # the shorter side to 32, then the centre
    left = (resized.size[0] - 32) // 2
    expected = torch.from_numpy(np.array(resized.crop((left, 0, left + 32, 32)))).permute(2, 0, 1)
    assert torch.equal(memory.data[0], expected)
    streamed = lsun("data.size=32", "data.load=stream", "data.workers=2")
    batch = streamed.next_batch()["image"]
    assert batch.shape == (2, 3, 32, 32) and batch.min() >= -1 and batch.max() <= 1
    assert lsun("data.size=32", "data.split=test", "data.workers=0").info.size == 5  # scored against train

    with pytest.raises(GanzooError, match=r"kitchen_train_lmdb\[0+2\]: unreadable image file"):
        lsun("data.category=kitchen", "data.size=32", "data.workers=0")
    with pytest.raises(GanzooError, match=r"^lsun: church_outdoor_train_lmdb/data.mdb not found in .*data.download"):
        lsun("data.category=church_outdoor")
    with pytest.raises(GanzooError, match=r"^data.category: 'attic' is not an LSUN scene"):
        lsun("data.category=attic")
