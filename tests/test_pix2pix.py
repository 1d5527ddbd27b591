"""pix2pix on the real MNIST files: the paired digit tasks, a short run, its metrics, translate, errors."""
import json

import pytest
import torch
from PIL import Image

from conftest import RECIPES, quick
from ganzoo import BuildContext
from ganzoo.recipe import load_recipe
from ganzoo_plugins.image_to_image import PairedDigitOptions, _mnist_paired, edge_map

SMALL = ("--set", "networks.G.width=8", "--set", "networks.D.width=8", "--set", "train.batch_size=4")


def _uint8(images):
    return torch.round((images + 1) / 2 * 255).to(torch.uint8)


@pytest.mark.parametrize("task", ["edges", "inpaint"])
def test_digit_pairs_are_the_known_transform_of_the_digit(data_root, task):
    recipe = load_recipe(RECIPES / "pix2pix_mnist_edges.yaml", [f"data.task={task}"])
    ctx = BuildContext(device=torch.device("cpu"), recipe=recipe)
    for split in ("train", "test"):
        data = _mnist_paired(PairedDigitOptions(split=split, task=task, root=str(data_root)), ctx)
        examples = data.examples(64, torch.Generator().manual_seed(0))
        digits = _uint8(examples["B"])
        assert torch.equal(examples["A_transformed"], examples["B"]) and examples["A_label"].shape == (64,)
        if task == "edges":
            assert torch.equal(_uint8(examples["A"]), edge_map(digits))
        else:
            hole = _uint8(examples["A"]) != digits
            assert (hole.flatten(1).sum(1) <= 100).all() and ((_uint8(examples["A"]) == 128) | ~hole).all()
            assert hole.flatten(1).sum(1).float().mean() > 20  # the squares mostly cover some of the digit
        batch = data.next_batch()
        assert batch["A"].shape == batch["B"].shape == (recipe.train.batch_size, 1, 28, 28)


def test_mnist_recipe_trains_scores_samples_and_translates(cli, tmp_path):
    run = tmp_path / "run"
    metrics = ("[{name: label_preservation, samples: 100}, {name: transform_error, samples: 100}, "
               "{name: psnr, samples: 100}, {name: translation_fid, samples: 100}]")
    code, _, err = cli("run", RECIPES / "pix2pix_mnist_edges.yaml", "--out", run, *quick(3), *SMALL,
                       "--set", f"eval.metrics={metrics}")
    assert code == 0, err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = {k: v for r in records for k, v in r.items() if k.startswith("loss/")}
    assert {"loss/G", "loss/G/adversarial", "loss/G/l1", "loss/D"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    scores = records[-1]
    for key in ("label_kept", "transform_error", "psnr", "fid_ab", "label_kept_floor"):
        assert f"eval/{key}" in scores, key
    assert "eval/fid_ba" not in scores and "eval/cycle_l1" not in scores  # one direction only
    assert 0 < scores["eval/transform_error"] < 1 and 0 < scores["eval/psnr"] < 100
    grid = Image.open(run / "samples" / "step-00000003.png")
    assert grid.size == (3 * 30 + 2, 16 * 30 + 2)  # 16 rows of edge map | translated | true digit, 28 px + 2
    assert (run / "checkpoints" / "step-00000003.pt").is_file()

    inputs, out = tmp_path / "inputs", tmp_path / "translated"
    inputs.mkdir()
    Image.new("L", (30, 26), 0).save(inputs / "odd.png")
    code, stdout, err = cli("translate", run, "--input", inputs, "--output", out)
    assert code == 0, err
    assert Image.open(out / "odd.png").size == (30, 26) and "A -> B" in stdout
    code, _, err = cli("translate", run, "--direction", "BA", "--input", inputs, "--output", out)
    assert code == 2 and "no BA translation (its directions are AB)" in err and err.count("\n") == 1, err


def test_cycle_l1_on_a_one_way_run_is_one_line(cli, tmp_path):
    code, _, err = cli("run", RECIPES / "pix2pix_mnist_edges.yaml", "--out", tmp_path / "run", *quick(1), *SMALL,
                       "--set", "eval.metrics=[{name: cycle_l1, samples: 10}]", "--set", "eval.best=cycle_l1",
                       "--quiet")
    errors = [line for line in err.splitlines() if line.startswith("ganzoo: error:")]
    assert code == 2 and len(errors) == 1 and "cycle_l1: objective 'pix2pix' translates A -> B only" in errors[0], err


def test_a_d_that_sees_no_pairs_is_told_to(cli, tmp_path):
    code, _, err = cli("run", RECIPES / "pix2pix_mnist_edges.yaml", "--out", tmp_path / "run", *quick(1), *SMALL,
                       "--set", "networks.D.pairs=false")
    assert code == 2 and "set networks.D.pairs: true" in err and err.count("\n") == 1, err


def test_folder_recipe_names_a_file_without_its_pair(cli, tmp_path):
    root = tmp_path / "pairs"
    for domain, names in (("A", ("x", "y", "lonely")), ("B", ("x", "y"))):
        (root / domain / "train").mkdir(parents=True)
        for name in names:
            Image.new("RGB", (20, 20)).save(root / domain / "train" / f"{name}.png")
    code, _, err = cli("run", RECIPES / "pix2pix_folder.yaml", "--out", tmp_path / "run", *quick(1),
                       "--set", f"data.root={root}", "--set", "data.layout=two_folders")
    assert code == 2 and str(root / "A" / "train" / "lonely.png") in err and err.count("\n") == 1, err
