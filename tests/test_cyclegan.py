"""CycleGAN: the digit task in the shared loop, folder datasets, the pool, identity loss, errors."""
import json
import os
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from conftest import RECIPES, make_tree, quick
from ganzoo.loop import make_scheduler
from ganzoo.recipe import OptimizerSettings
from ganzoo_plugins.cyclegan import CycleGANObjective, CycleGANOptions, ImagePool
from ganzoo_plugins.image_to_image import FolderDataset


def test_digit_task_trains_in_the_shared_loop_and_writes_grids_and_metrics(cli, tmp_path):
    run = tmp_path / "run"
    metrics = ("[{name: cycle_l1, samples: 100}, {name: label_preservation, samples: 100}, "
               "{name: transform_error, samples: 100}, {name: translation_fid, samples: 100}]")
    code, _, err = cli("run", RECIPES / "cyclegan_mnist_thick.yaml", "--out", run, *quick(4),
                       "--set", "train.batch_size=4", "--set", f"eval.metrics={metrics}")
    assert code == 0, err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = {k: v for r in records for k, v in r.items() if k.startswith("loss/")}
    assert {"loss/G/cycle", "loss/G/identity", "loss/D_A", "loss/D_B"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    scores = records[-1]
    for key in ("cycle_l1", "label_kept", "transform_error", "fid_ab", "fid_ba", "label_kept_floor"):
        assert f"eval/{key}" in scores, key
    grid = Image.open(run / "samples" / "step-00000004.png")
    # 8 + 8 rows of input | translated | reconstructed, 28 px with 2 px padding
    assert grid.size == (3 * 30 + 2, 16 * 30 + 2)
    state = torch.load(run / "checkpoints" / "step-00000004.pt", weights_only=True)
    assert state["objective"]["A"]["images"].shape == (16, 1, 28, 28)  # the pool is checkpointed

    out = tmp_path / "translated"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.new("L", (30, 26), 0).save(inputs / "odd.png")
    code, stdout, err = cli("translate", run, "--direction", "AB", "--input", inputs, "--output", out)
    assert code == 0, err
    assert Image.open(out / "odd.png").size == (30, 26)


def folder(root, **kw):
    args = dict(split="train", channels=3, load_size=36, crop_size=32, flip=True, workers=2, batch_size=2,
                device=torch.device("cpu"), seed=0)
    args.update(kw)
    return FolderDataset(root, **args)


def test_folder_dataset_batches(tmp_path):
    data = folder(make_tree(tmp_path / "d"))
    assert data.info.image_shape == (3, 32, 32) and data.batches_per_epoch() == 2
    for _ in range(5):  # crosses epoch boundaries
        batch = data.next_batch()
        assert batch["A"].shape == batch["B"].shape == (2, 3, 32, 32)
        assert batch["A"].min() >= -1 and batch["A"].max() <= 1
    grey = folder(tmp_path / "d", channels=1, workers=0).next_batch()
    assert grey["A"].shape == (2, 1, 32, 32)
    assert folder(tmp_path / "d", workers=1024).workers <= (os.cpu_count() or 1)  # capped: torch warns past it
    # Resuming mid-epoch gives the same next batch.
    a, b = folder(tmp_path / "d", workers=0), folder(tmp_path / "d", workers=0)
    a.next_batch()
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.next_batch()["A"], b.next_batch()["A"])


@pytest.mark.parametrize("case", ["missing trainB", "empty folder", "unreadable image"])
def test_folder_errors_name_the_path(cli, tmp_path, case):
    root = make_tree(tmp_path / "d", missing="trainB" if case == "missing trainB" else None)
    if case == "empty folder":
        for p in (root / "trainA").iterdir():
            p.unlink()
        expected = f"{root / 'trainA'}: no image files"
    elif case == "unreadable image":
        (root / "trainB" / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
        expected = f"{root / 'trainB' / 'img1.png'}: unreadable image file"
    else:
        expected = f"{root / 'trainB'}: folder not found"
    code, _, err = cli("run", RECIPES / "cyclegan_folder.yaml", "--out", tmp_path / "run", *quick(2),
                       "--set", f"data.root={root}", "--set", "data.load_size=36", "--set", "data.crop_size=32")
    assert code == 2 and expected in err and err.count("\n") == 1, err


def test_image_pool_by_hand(monkeypatch):
    pool = ImagePool(2)
    first = torch.arange(2.0).view(2, 1)
    assert torch.equal(pool.query(first), first)  # filling: images pass through and are stored
    draws = iter([0.3, 0.7])  # swap the first new image, keep the second
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.tensor(next(draws)))
    monkeypatch.setattr(torch, "randint", lambda *a, **k: torch.tensor(1))
    out = pool.query(torch.tensor([[10.0], [11.0]]))
    assert out.flatten().tolist() == [1.0, 11.0]          # stored image 1 came out
    assert [x.item() for x in pool.images] == [0.0, 10.0]  # and 10 took its place
    assert torch.equal(ImagePool(0).query(first), first)


def test_identity_loss_by_hand():
    ctx = SimpleNamespace(recipe=None, data=None)
    objective = CycleGANObjective(CycleGANOptions(lambda_cycle=10.0, lambda_identity=0.5), ctx)
    a = torch.zeros(1, 1, 2, 2)
    b = torch.ones(1, 1, 2, 2)
    shift = lambda x: x + 0.2  # noqa: E731 - a "generator" that adds 0.2 everywhere
    double = lambda x: 2 * x   # noqa: E731
    # 0.5 · 10 · (mean|G_AB(b) - b| + mean|G_BA(a) - a|) = 5 · (0.2 + 0) with G_AB=shift, G_BA=double
    assert objective.identity_loss(shift, double, a, b).item() == pytest.approx(1.0)


def test_cyclegan_lr_schedule_constant_then_linear_to_zero():
    # The paper: constant for the first half (100 epochs), then linearly to 0 over the second.
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    scheduler = make_scheduler(opt, OptimizerSettings(schedule="linear", decay_start=0.5), total=200)
    lrs = []
    for _ in range(200):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert lrs[0] == lrs[99] == 2e-4
    assert lrs[100] == pytest.approx(2e-4) and lrs[150] == pytest.approx(1e-4) and lrs[199] == pytest.approx(2e-6)
