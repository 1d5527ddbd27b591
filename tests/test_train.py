"""The vanilla recipe end to end, and exact resume."""
import json
import os

import pytest
import torch
import yaml

from conftest import RECIPES, quick, run_subprocess

VANILLA = RECIPES / "vanilla_mnist.yaml"


def test_one_epoch_from_the_cli_writes_a_complete_run(tmp_path, data_root):
    # As a new user would: the console entry point, a read-only data root, one epoch.
    assert not os.access(data_root / "MNIST" / "raw", os.W_OK) or os.geteuid() == 0
    run = tmp_path / "run"
    result = run_subprocess("run", VANILLA, "--set", "train.epochs=1", "--out", run,
                            env={"GANZOO_DATA": str(data_root)})
    assert result.returncode == 0, result.stderr
    assert "done: 600 steps" in result.stderr

    resolved = yaml.safe_load((run / "recipe.yaml").read_text())
    assert resolved["train"]["epochs"] == 1 and resolved["networks"]["G"] == {
        "name": "mlp", "latent_dim": 100, "hidden": 256, "spectral_norm": False, "ema_decay": None,
        "ema_halflife": None, "ema_rampup": None}
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(100, 601, 100))
    assert lines[-1]["epoch"] == 1.0
    for record in lines:
        assert all(torch.isfinite(torch.tensor(record[k])) for k in ("loss/D", "loss/G", "images_per_s"))
    assert (run / "samples" / "step-00000600.png").is_file()
    state = torch.load(run / "checkpoints" / "step-00000600.pt", weights_only=True)
    assert state["step"] == 600 and state["recipe"] == resolved
    assert set(state["networks"]) == {"G", "D"} and set(state["optimizers"]) == {"G", "D"}
    assert state["networks"]["G"]["fc3.weight"].shape == (784, 256)
    assert state["plugins"]["vanilla"] == state["ganzoo"]

    # Sampling from the run uses the checkpoint alone.
    grid = tmp_path / "grid.png"
    result = run_subprocess("sample", run, "-n", "16", "-o", grid)
    assert result.returncode == 0, result.stderr
    from PIL import Image
    assert Image.open(grid).size == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2)  # 4x4 grid, 2-px padding


def _final_state(run):
    path = sorted((run / "checkpoints").glob("step-*.pt"))[-1]
    return torch.load(path, weights_only=True)


def test_resume_is_bit_identical_to_an_uninterrupted_run(cli, tmp_path):
    # An 80-step run checkpoints at 40 and 80; resuming from its step-40 checkpoint (as after a
    # crash) must give the same step 80, with every piece of state a run keeps: 3,000 of the threes
    # at batch 200 (15 batches an epoch, so the data order crosses epoch boundaries), ADA's
    # adaptive p (fast enough to move in 80 steps), LeCam's anchors, a cosine schedule of lr and
    # beta2 over the 80 steps, and an EMA of G with a ramped half-life.
    common = ["--set", "data={name: mnist, classes: [3], limit: 3000}", "--set", "train.batch_size=200",
              "--set", "augmentation={name: ada, p: 0.2, speed_kimg: 5}",
              "--set", "regularizers=[{name: lecam, start: 0}]",
              "--set", "optimizers.G={name: adam, schedule: cosine, lr_end: 1.0e-5, beta2_end: 0.99}",
              "--set", "networks.G.ema_halflife=2000", "--set", "networks.G.ema_rampup=0.05"]
    run = tmp_path / "run"
    assert cli("run", VANILLA, "--out", run, *quick(80, **{"train.checkpoint_every": 40}), *common)[0] == 0
    straight = run / "checkpoints" / "step-00000080.pt"
    a = torch.load(straight, weights_only=True)
    straight.unlink()

    code, _, err = cli("resume", run, "--set", "train.steps=90")
    assert code == 2 and "differs from the checkpoint's in train.steps; pass --allow-changes train.steps" in err
    assert cli("resume", run)[0] == 0  # from step 40, the newest checkpoint left

    b = _final_state(run)
    assert a["step"] == b["step"] == 80
    assert a["augmentation"]["p"].item() == b["augmentation"]["p"].item() != 0.2  # p moved, and alike
    assert torch.equal(a["regularizers"][0]["anchors"], b["regularizers"][0]["anchors"])
    assert a["optimizers"]["G"]["param_groups"][0]["betas"] == b["optimizers"]["G"]["param_groups"][0]["betas"]
    for role in ("G", "D"):
        for key, tensor in a["networks"][role].items():
            assert torch.equal(tensor, b["networks"][role][key]), (role, key)
        assert all(torch.equal(x, y) for x, y in zip(a["optimizers"][role]["state"][0].values(),
                                                        b["optimizers"][role]["state"][0].values()))
    assert all(torch.equal(v, b["ema"]["G"][k]) for k, v in a["ema"]["G"].items())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60, 70, 80]  # 50-80 once: the redone ones
    assert all("loss/augment/p" in r and "loss/D/lecam" in r for r in records)


def test_device_auto_is_cpu_here_and_cuda_is_refused_without_a_gpu(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code, _, err = cli("run", VANILLA, "--set", "device=cuda", "--out", tmp_path / "r", *quick(2))
    assert code == 2 and "device: 'cuda' asked for, but PyTorch sees no CUDA device" in err


def test_progress_goes_to_log_files_as_lines_and_quiet_silences_it(cli, tmp_path):
    # stderr here is not a terminal, as under nohup or a batch scheduler: a line per log window
    code, _, err = cli("run", VANILLA, "--out", tmp_path / "a", *quick(20))
    assert code == 0, err
    lines = [line for line in err.splitlines() if " images/s, ETA " in line]
    assert [line.split(" (")[0] for line in lines] == ["ganzoo: step 10/20", "ganzoo: step 20/20"]
    assert "(50%)" in lines[0] and ", D " in lines[0] and ", G " in lines[0]
    code, _, err = cli("run", VANILLA, "--out", tmp_path / "b", *quick(20), "--quiet")
    assert code == 0 and "ETA" not in err
