"""Variants end to end for a few steps: update counts, mixed plugins, packing, layouts, classes, EMA."""
import json

import pytest
import torch

from conftest import RECIPES, quick


def test_n_critic_and_g_steps_count_updates_per_step(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("run", RECIPES / "wgan_mnist.yaml", "--out", run, *quick(3), "--set", "train.batch_size=8",
               "--set", "objective.g_steps=2")[0] == 0
    state = torch.load(run / "checkpoints" / "step-00000003.pt", weights_only=True)
    assert state["optimizers"]["D"]["state"][0]["step"].item() == 15  # 5 critic steps per step
    assert state["optimizers"]["G"]["state"][0]["step"].item() == 6  # 2 G updates per step
    # Weight clipping held for the whole run.
    assert max(v.abs().max().item() for k, v in state["networks"]["D"].items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) <= 0.01


def test_mixing_plugins_mlp_generator_dcgan_discriminator_hinge(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", run, *quick(3),
                       "--set", "networks.D={name: dcgan, width: 16, spectral_norm: true}",
                       "--set", "objective={name: hinge}")
    assert code == 0, err
    state = torch.load(run / "checkpoints" / "step-00000003.pt", weights_only=True)
    assert "features.0.parametrizations.weight.original" in state["networks"]["D"]


@pytest.mark.parametrize("sets, message", [
    (["networks.D={name: dcgan, channels: 3}"],
     "networks.D (dcgan) cannot take networks.G (mlp)'s images of shape (1, 28, 28)"),
    (["networks.G={name: mlp}", "objective={name: bce, pack: 3}"],
     "objective.pack: 3 does not divide train.batch_size 100; PacGAN needs whole packs"),
    (["objective={name: bce, conditional: true}"],
     "networks.G (mlp) failed on a test batch with class labels"),
])
def test_incompatible_combinations_name_both_parts(cli, tmp_path, sets, message):
    args = [a for s in sets for a in ("--set", s)]
    code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", tmp_path / "run", *quick(2), *args)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_pacgan_discriminator_sees_stacked_samples(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", run, *quick(2),
                       "--set", "objective.pack=2", "--set", "train.batch_size=16")
    assert code == 0, err
    state = torch.load(run / "checkpoints" / "step-00000002.pt", weights_only=True)
    assert state["networks"]["D"]["features.0.weight"].shape[1] == 2  # 2 packed grey images


def test_dcgan_paper_layout_on_28px_and_impossible_layout(cli, tmp_path):
    # PacGAN's Stacked MNIST networks: 5x5 kernels, sides 28-14-7-4-2, G 512-256-128-64, D 64-128-256-512.
    run = tmp_path / "run"
    paper = ["--set", "networks.G={name: dcgan, depth: 4, kernel: 5}",
             "--set", "networks.D={name: dcgan, depth: 4, kernel: 5}"]
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", run, *quick(2), "--set", "train.batch_size=16",
                       *paper)
    assert code == 0, err
    state = torch.load(run / "checkpoints" / "step-00000002.pt", weights_only=True)
    assert state["networks"]["G"]["net.0.weight"].shape == (100, 512, 2, 2)    # z -> a 2x2 map
    assert state["networks"]["G"]["net.12.weight"].shape == (64, 1, 5, 5)     # 14 -> 28 px
    assert state["networks"]["D"]["out.weight"].shape == (1, 512, 2, 2)       # over the 2x2 map
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", tmp_path / "bad", *quick(2),
                       "--set", "networks.D.depth=3")
    assert code == 2 and err.count("\n") == 1, err
    assert "networks.D: kernel 4 halves each side exactly, and 28-px images at depth 3 give maps of " \
           "[28, 14, 7, 4]; use kernel 5 or a smaller depth" in err


def test_conditional_sampling_by_class(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("run", RECIPES / "cdcgan_mnist.yaml", "--out", run, *quick(2), "--set", "train.batch_size=16")[0] == 0
    for label in (3, 7):
        code, out, err = cli("sample", run, "-n", "8", "--class", str(label), "-o", tmp_path / f"{label}.png")
        assert code == 0, err
    assert (tmp_path / "3.png").read_bytes() != (tmp_path / "7.png").read_bytes()
    code, _, err = cli("sample", run, "--class", "12")
    assert code == 2 and "--class: expected a class in [0, 9], got 12" in err


def test_unconditional_run_refuses_a_class(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("run", RECIPES / "vanilla_mnist.yaml", "--out", run, *quick(2))[0] == 0
    code, _, err = cli("sample", run, "--class", "3")
    assert code == 2 and "not class-conditional" in err


def test_ema_generator_is_what_samples_come_from(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("run", RECIPES / "vanilla_mnist.yaml", "--out", run, *quick(5),
                       "--set", "networks.G.ema_decay=0.5")
    assert code == 0, err
    state = torch.load(run / "checkpoints" / "step-00000005.pt", weights_only=True)
    assert not torch.equal(state["ema"]["G"]["fc3.weight"], state["networks"]["G"]["fc3.weight"])


def test_rpgan_with_r1_r2_lecam_bcr_and_diffaugment_trains(cli, tmp_path):
    # R3GAN's combination: the relativistic pairing loss, zero-centred penalties on real and fake
    # data; here with LeCam, bCR and DiffAugment on every D input besides.
    run = tmp_path / "run"
    code, _, err = cli("run", RECIPES / "dcgan_mnist.yaml", "--out", run, *quick(4, **{"train.log_every": 2}),
                       "--set", "train.batch_size=16", "--set", "objective.name=rpgan",
                       "--set", "regularizers=[{name: r1, gamma: 1}, {name: r2, gamma: 1}, {name: lecam, start: 0}, "
                                "{name: bcr}]",
                       "--set", "augmentation={name: diffaugment}")
    assert code == 0, err
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    terms = ("loss/D/r1", "loss/D/r2", "loss/D/lecam", "loss/D/bcr_real", "loss/D/bcr_fake")
    assert all(line[t] > 0 for line in lines for t in terms), lines
