"""Shared fixtures. Tests train on the real MNIST files found through $GANZOO_DATA."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The read-only data root (<root>/MNIST/raw/*-ubyte.gz); the suite needs real data."""
    root = os.environ.get("GANZOO_DATA")
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.fail("set GANZOO_DATA to a folder holding MNIST/raw/*-ubyte.gz (see README)")
    return Path(root)


@pytest.fixture
def cli(capsys, data_root):
    """Run `ganzoo ...` in-process: returns (exit code, stdout, stderr)."""
    from ganzoo.cli import main

    def run(*args: str):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def run_subprocess(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    """Run the real `ganzoo` console script (or python -m) in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ganzoo", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def quick(steps: int = 20, **extra) -> list[str]:
    """--set overrides for a short run that logs, samples and checkpoints at the end."""
    sets = {"train.steps": steps, "train.log_every": 10, "train.sample_every": 10_000,
            "train.checkpoint_every": 10_000, "train.grid_size": 16, **extra}
    out = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


@pytest.fixture(scope="session")
def mnist_classifier(data_root, tmp_path_factory):
    """The MNIST classifier, trained once per test session into a private cache (GANZOO_CACHE)."""
    cache = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("GANZOO_CACHE")
    os.environ["GANZOO_CACHE"] = str(cache)
    from ganzoo_plugins.classifiers import train_classifier

    record = train_classifier("mnist", root=str(data_root))
    yield record
    if previous is None:
        os.environ.pop("GANZOO_CACHE", None)
    else:
        os.environ["GANZOO_CACHE"] = previous
