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
        "name": "mlp", "latent_dim": 100, "hidden": 256, "spectral_norm": False, "ema_decay": None}
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
    # 40 steps, stop, resume to 80 == 80 steps straight. Only the 6,131 threes at batch 200:
    # 30 batches an epoch, so the data order crosses two epoch boundaries. Random flips of every
    # D input draw from the run's random state too.
    common = ["--set", "data.classes=[3]", "--set", "train.batch_size=200", "--set", "augmentation={name: flip}"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert cli("run", VANILLA, "--out", straight, *quick(80), *common)[0] == 0
    assert cli("run", VANILLA, "--out", stopped, *quick(40), *common)[0] == 0

    code, _, err = cli("resume", stopped, "--set", "train.steps=80")
    assert code == 2 and "differs from the checkpoint's in train.steps; pass --allow-changes train.steps" in err
    assert cli("resume", stopped, "--set", "train.steps=80", "--allow-changes", "train.steps")[0] == 0

    a, b = _final_state(straight), _final_state(stopped)
    assert a["step"] == b["step"] == 80
    assert a["augmentation"]["p"].item() == b["augmentation"]["p"].item() == 0.5
    for role in ("G", "D"):
        for key, tensor in a["networks"][role].items():
            assert torch.equal(tensor, b["networks"][role][key]), (role, key)
        assert all(torch.equal(x, y) for x, y in zip(a["optimizers"][role]["state"][0].values(),
                                                        b["optimizers"][role]["state"][0].values()))
    steps = [json.loads(line)["step"] for line in (stopped / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80]


def test_device_auto_is_cpu_here_and_cuda_is_refused_without_a_gpu(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code, _, err = cli("run", VANILLA, "--set", "device=cuda", "--out", tmp_path / "r", *quick(2))
    assert code == 2 and "device: 'cuda' asked for, but PyTorch sees no CUDA device" in err
