"""The Python API, for notebooks and scripts: train, load, sample.

>>> import ganzoo
>>> run = ganzoo.train("vanilla_mnist", out=tmp / "run", **{"train.steps": 20, "train.log_every": 10})
>>> run.step, sorted(run.nets)
(20, ['D', 'G'])
>>> round(run.metrics[-1]["loss/D"], 1) > 0
True
>>> generator = ganzoo.load(tmp / "run")
>>> generator.sample(16, seed=1).shape
torch.Size([16, 1, 28, 28])
>>> ganzoo.sample(tmp / "run", n=4, path=tmp / "grid.png").shape
torch.Size([4, 1, 28, 28])
>>> (tmp / "grid.png").is_file()
True
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import GanzooError


@dataclass
class RunHandle:
    """What `ganzoo.train` returns: the run directory, its logged metrics and its networks."""

    dir: Path
    recipe: object
    step: int
    nets: dict
    sampling_nets: dict
    objective: object

    @property
    def metrics(self) -> list[dict]:
        """Every line of metrics.jsonl (losses, throughput and scores, by step)."""
        return [json.loads(line) for line in (self.dir / "metrics.jsonl").read_text().splitlines()]

    @property
    def scores(self) -> dict:
        """scores.json: the final and the best evaluation ({} without metrics)."""
        path = self.dir / "scores.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def sample(self, n: int = 64, seed: int = 0, label: int | None = None) -> torch.Tensor:
        """n images in [-1, 1] from the sampling networks (the EMA copy where there is one)."""
        return Generator(self.objective, self.sampling_nets, None).sample(n, seed, label)


def _overrides(overrides: dict) -> list[str]:
    """{"train.steps": 10} or {"train__steps": 10} -> ["train.steps=10"] (values as YAML)."""
    import yaml

    items = []
    for key, value in overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip()
        text = text.removesuffix("\n...").removesuffix("...").strip()
        items.append(f"{key.replace('__', '.')}={text}")
    return items


def train(recipe: str | Path, out: str | Path | None = None, progress: bool = False, **overrides) -> RunHandle:
    """Train a recipe (a path, or a name from `ganzoo recipe list`) with overrides, e.g.
    ``ganzoo.train("dcgan_mnist", **{"train.steps": 500})`` or ``train__steps=500``.

    Bad recipes raise ganzoo.GanzooError with the same one-line message the CLI prints."""
    from .loop import train as train_loop
    from .plugins import load_plugins
    from .recipe import load_recipe

    plugins = load_plugins()
    loaded = load_recipe(recipe, _overrides(overrides), plugins)
    out = Path(out) if out else Path("runs") / f"{loaded.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    run = train_loop(loaded, out, plugins, progress=progress)
    return RunHandle(run.dir, run.recipe, run.step, run.nets, run.sampling_nets, run.objective)


class Generator:
    """A trained generator, ready for sampling (see `ganzoo.load`)."""

    def __init__(self, objective, nets: dict, info):
        self.objective, self.nets, self.info = objective, nets, info
        for net in nets.values():
            net.eval()

    @torch.no_grad()
    def sample(self, n: int = 64, seed: int = 0, label: int | None = None) -> torch.Tensor:
        """n samples in [-1, 1] (images N x C x H x W, or points N x D), reproducible by seed."""
        inputs = self.objective.fixed_inputs(self.nets, n, torch.Generator().manual_seed(seed), label=label)
        return self.objective.sample(self.nets, inputs).cpu()


@dataclass
class Loaded:
    """A checkpoint with what it takes to use it: its recipe, networks (EMA weights where kept)
    and objective, built from the installed plugins."""

    path: Path
    state: dict
    recipe: object
    plugins: object
    nets: dict
    objective: object
    info: object
    device: object  # the torch.device the networks are on


def load_checkpoint(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "cpu") -> Loaded:
    """The newest checkpoint of a run (or the named one), with its networks rebuilt and loaded."""
    from . import checkpoint as ckpt
    from .data import info_from_dict
    from .loop import build_models, pick_device
    from .plugins import load_plugins
    from .recipe import resolve

    path = Path(checkpoint) if checkpoint is not None else ckpt.newest(Path(run_dir))
    state = ckpt.load(path)
    plugins = load_plugins()
    recipe = resolve(state["recipe"], plugins.registry, str(path))
    info = info_from_dict(state["data_info"])
    device = pick_device(device)
    nets, objective = build_models(recipe, device, info)
    for role, net in nets.items():
        try:  # the EMA weights where the run kept them: they are what samples are made from
            net.load_state_dict(state.get("ema", {}).get(role) or state["networks"][role])
        except (KeyError, RuntimeError) as exc:
            raise GanzooError(f"{path}: network {role} does not match the recipe ({str(exc).splitlines()[0]})") \
                from None
    return Loaded(path, state, recipe, plugins, nets, objective, info, device)


def load(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "cpu") -> Generator:
    """The generator of a run's newest checkpoint (or the named one), EMA weights where kept."""
    loaded = load_checkpoint(run_dir, checkpoint, device)
    return Generator(loaded.objective, loaded.nets, loaded.info)


def sample(run: str | Path | Generator, n: int = 64, seed: int = 0, label: int | None = None,
           path: str | Path | None = None) -> torch.Tensor:
    """n samples from a run directory (or a loaded Generator); also saved as a grid when `path` is given."""
    generator = run if isinstance(run, Generator) else load(run)
    images = generator.sample(n, seed, label)
    if path is not None:
        from .images import save_samples
        save_samples(images, Path(path), generator.info)
    return images
