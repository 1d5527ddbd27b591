"""Bad input: exit code 2, one line on stderr naming the problem, no traceback, nothing lost."""
from pathlib import Path

import pytest
import torch

from conftest import RECIPES, quick, run_subprocess

VANILLA = RECIPES / "vanilla_mnist.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def recipe_with(tmp_path, old: str, new: str) -> Path:
    text = VANILLA.read_text()
    assert old in text
    return write(tmp_path, text.replace(old, new))


@pytest.mark.parametrize("case, make, expected", [
    ("missing file", lambda t: t / "nope.yaml", "nope.yaml: recipe file not found"),
    ("invalid yaml", lambda t: write(t, "data: {name: mnist\ntrain: [\n"), "invalid YAML at line"),
    ("unknown top-level key", lambda t: recipe_with(t, "seed: 0", "seeed: 0"),
     "seeed: unknown top-level key; allowed: seed, device, data, networks, objective, regularizers, augmentation, "
     "optimizers, train, eval, loggers "
     "(did you mean 'seed'?)"),
    ("unknown nested key", lambda t: recipe_with(t, "hidden: 256}\n  D", "hiden: 256}\n  D"),
     "networks.G.hiden: unknown key; allowed: ema_decay, ema_halflife, ema_rampup, hidden, latent_dim, spectral_norm "
     "(did you mean 'hidden'?)"),
    ("unknown component", lambda t: recipe_with(t, "name: bce", "name: bcee"),
     "objective.name: unknown objective 'bcee'; available: bce, cyclegan, fanogan, ganomaly, hinge, lsgan, pix2pix, ragan, rpgan, wasserstein "
     "(did you mean 'bce'?)"),
    ("wrong type", lambda t: recipe_with(t, "batch_size: 100", "batch_size: lots"),
     "train.batch_size: expected an integer >= 1, got 'lots'"),
    ("out of range", lambda t: recipe_with(t, "lr: 2.0e-4, betas: [0.9", "lr: -1, betas: [0.9"),
     "optimizers.G.lr: expected a number > 0, got -1"),
    ("both lengths", lambda t: recipe_with(t, "epochs: 50", "epochs: 50\n  steps: 10"),
     "train: set exactly one of train.steps and train.epochs"),
    ("subset too large", lambda t: recipe_with(t, "name: mnist", "name: mnist\n  limit: 70000"),
     "data.limit: 70000 is more than the dataset's 60000 examples"),
    ("subset two ways", lambda t: recipe_with(t, "name: mnist", "name: mnist\n  limit: 600\n  fraction: 0.1"),
     "data: set limit or fraction, not both"),
    ("two EMAs", lambda t: recipe_with(t, "hidden: 256}\n  D", "hidden: 256, ema_decay: 0.9, ema_halflife: 10}\n  D"),
     "networks.G: set ema_decay or ema_halflife, not both"),
])
def test_recipe_errors(cli, tmp_path, case, make, expected):
    code, out, err = cli("run", make(tmp_path), "--out", tmp_path / "run")
    assert code == 2, (case, err)
    assert expected in err
    assert err.count("\n") == 1 and err.startswith("ganzoo: error: ") and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_bad_set_override(cli, tmp_path):
    code, _, err = cli("recipe", "show", VANILLA, "--set", "train.batch_size")
    assert code == 2 and "--set 'train.batch_size': expected KEY.PATH=VALUE" in err


def test_missing_dataset_offline_names_files_and_paths(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, _, err = cli("run", VANILLA, "--set", "data.download=false", "--out", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1
    assert "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] not found in:" in err
    assert str(tmp_path / "empty" / "MNIST" / "raw") in err and str(tmp_path / "cache") in err


def test_missing_dataset_download_fails_offline_clearly(tmp_path):
    # The recipe allows the download; with no network the attempt fails fast and says so.
    result = run_subprocess("run", VANILLA, "--out", tmp_path / "run", *quick(),
                            env={"GANZOO_DATA": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path / "c"),
                                 "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"},
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "download into" in result.stderr and "failed" in result.stderr


def test_truncated_checkpoint_for_resume_and_sample(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("run", VANILLA, "--out", run, *quick(10))[0] == 0
    path = sorted((run / "checkpoints").glob("step-*.pt"))[-1]
    path.write_bytes(path.read_bytes()[:5000])
    for command in (["resume", run], ["sample", run, "-n", "4"]):
        code, _, err = cli(*command)
        assert code == 2 and err.count("\n") == 1, err
        assert f"{path}: not a readable ganzoo checkpoint" in err


class _Boom:
    def __reduce__(self):
        return (Path("/tmp/ganzoo-pwned").touch, ())


def test_checkpoint_with_pickled_code_is_refused(cli, tmp_path):
    marker = Path("/tmp/ganzoo-pwned")
    marker.unlink(missing_ok=True)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"format": "ganzoo-checkpoint/1", "payload": _Boom()}, run / "checkpoints" / "step-00000001.pt")
    code, _, err = cli("sample", run)
    assert code == 2 and "contains pickled Python objects" in err
    assert not marker.exists()


def test_run_refuses_to_overwrite_an_existing_run(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("run", VANILLA, "--out", run, *quick(10))[0] == 0
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    code, _, err = cli("run", VANILLA, "--out", run, *quick(10))
    assert code == 2 and "already holds a run; continue it with `ganzoo resume" in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_unknown_command_and_option(cli):
    code, _, err = cli("runn")
    assert code == 2 and err.count("\n") == 1 and "invalid choice: 'runn'" in err
    code, _, err = cli("list", "generatorz")
    assert code == 2 and "unknown kind 'generatorz'" in err and "did you mean 'generator'" in err
