"""Helpers for testing ganzoo and its plugins with pytest (as pytest's own `pytester`).

    from ganzoo import testing

    def test_my_recipe_trains(tmp_path):
        testing.require_data()                      # skips when no MNIST files are found
        run = testing.train("my_gan_mnist", steps=5, out=tmp_path / "run")
        assert run.step == 5
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path


def data_root() -> Path | None:
    """The data root holding MNIST's files, as ganzoo would find them ($GANZOO_DATA, then the
    user cache directory), or None."""
    from .data import MNIST, candidate_roots

    for root in candidate_roots(None):
        folder = root / MNIST.folder / "raw"
        if any((folder / (name + suffix)).is_file() for name in MNIST.files["train"][:1] for suffix in ("", ".gz")):
            return root
    return None


def require_data() -> Path:
    """The data root, or skip the calling test (with the reason) when there is none."""
    import pytest

    root = data_root()
    if root is None:
        pytest.skip("no MNIST files: set GANZOO_DATA to a folder holding MNIST/raw/*-ubyte.gz")
    return root


def quick(steps: int = 20, **extra) -> list[str]:
    """--set overrides for a short run that logs, samples and checkpoints only at the end."""
    sets = {"train.steps": steps, "train.log_every": 10, "train.sample_every": 10_000,
            "train.checkpoint_every": 10_000, "train.grid_size": 16, **extra}
    out = []
    for key, value in sets.items():
        out += ["--set", f"{key}={value}"]
    return out


def train(recipe, steps: int, out, **overrides):
    """ganzoo.train for `steps` steps, logging and sampling at the end; returns its RunHandle."""
    from .api import train as train_api

    settings = {"train.steps": steps, "train.log_every": max(1, min(10, steps)), "train.sample_every": 10 ** 9,
                "train.checkpoint_every": 10 ** 9, "train.grid_size": 16, **overrides}
    return train_api(recipe, out=out, **settings)


def run_cli(*args) -> tuple[int, str, str]:
    """Run `ganzoo ARGS...` in this process: (exit code, stdout, stderr)."""
    from .cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def run_subprocess(*args, env: dict | None = None, cwd: Path | None = None,
                   timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m ganzoo ARGS...` in a fresh process (entry points, exit codes, stderr)."""
    return subprocess.run([sys.executable, "-m", "ganzoo", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


def make_distribution(site: Path, name: str, module_source: str, version: str = "1.2.3") -> Path:
    """Lay out an installed distribution by hand in `site` (put it on PYTHONPATH): the module and
    a dist-info with an entry point in the ganzoo.plugins group, as `pip install` would."""
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganzoo.plugins]\n{name} = {name}\n")
    (info / "RECORD").write_text("")
    return site
