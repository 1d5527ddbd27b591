"""Built-in loggers: TensorBoard (the default), Weights & Biases and MLflow (optional extras).

Each is a Logger (ganzoo.contract): for the run's duration the loop registers it as a plugin,
so it receives the training notification hooks. W&B and MLflow are installed only on request
(pip install "ganzoo[wandb]" / "ganzoo[mlflow]"); selecting one that is not installed is a
one-line error naming the extra.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal

from ganzoo import Component, GanzooError, Logger, NoOptions, hookimpl, option
from ganzoo import flatten as flatten_keys


def flatten(recipe: dict) -> dict:
    """The recipe as flat {"a.b": value} with lists as strings (hyperparameter tables want scalars)."""
    return {k: str(v) if isinstance(v, (list, tuple)) else v for k, v in flatten_keys(recipe).items()}


def _require(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise GanzooError(f"logger {extra}: the {module!r} package is not installed; "
                          f"install it with: pip install \"ganzoo[{extra}]\"") from None


class TensorBoard(Logger):
    """Event files in RUN_DIR/tensorboard: scalars, sample grids, the recipe as text, hparams."""

    def __init__(self, options, ctx):
        _require("tensorboard", "tensorboard")
        self.writer = None

    def start(self, run):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: on resume, events logged after the checkpoint are dropped, as in metrics.jsonl
        self.writer = SummaryWriter(str(run.dir / "tensorboard"), purge_step=run.step or None)
        self.recipe = run.recipe.to_dict()
        self.writer.add_text("recipe", "```yaml\n" + run.recipe.to_yaml() + "```", run.step)

    def scalars(self, step, scalars):
        for key, value in scalars.items():
            if value is not None:
                self.writer.add_scalar(key, value, step)

    def image(self, step, tag, path):
        import numpy as np
        from PIL import Image

        with Image.open(path) as image:
            self.writer.add_image(tag, np.asarray(image.convert("RGB")), step, dataformats="HWC")
        self.writer.flush()

    def end(self, run, scores):
        params = {k: v for k, v in flatten(self.recipe).items() if isinstance(v, (int, float, str, bool))}
        metrics = {f"hparam/{k}": v for k, v in scores.items() if isinstance(v, (int, float))}
        if metrics:
            self.writer.add_hparams(params, metrics, run_name=".", global_step=run.step)
        self.writer.close()


@dataclass(frozen=True)
class WandbOptions:
    project: str = option("ganzoo", "W&B project")
    entity: str | None = option(None, "W&B entity (team or user)")
    mode: Literal["online", "offline", "disabled"] = option("offline", "offline keeps everything local until "
                                                                        "`wandb sync`")


class Wandb(Logger):
    def __init__(self, o: WandbOptions, ctx):
        self.wandb, self.o = _require("wandb", "wandb"), o

    def start(self, run):
        self.run = self.wandb.init(project=self.o.project, entity=self.o.entity, mode=self.o.mode,
                                   dir=str(run.dir), name=run.dir.name, config=run.recipe.to_dict(),
                                   resume="allow", id=run.dir.name,
                                   settings=self.wandb.Settings(silent=True))  # ganzoo's lines, not its banner

    def scalars(self, step, scalars):
        self.run.log({k: v for k, v in scalars.items() if v is not None}, step=step)

    def image(self, step, tag, path):
        self.run.log({tag: self.wandb.Image(str(path))}, step=step)

    def end(self, run, scores):
        self.run.summary.update(scores)
        self.run.finish()


@dataclass(frozen=True)
class MLflowOptions:
    tracking_uri: str | None = option(None, "MLflow tracking URI; default: $MLFLOW_TRACKING_URI, else a SQLite "
                                            "store in the run directory (RUN_DIR/mlflow.db, artifacts in "
                                            "RUN_DIR/mlartifacts)")
    experiment: str = option("ganzoo", "MLflow experiment name")


class MLflow(Logger):
    def __init__(self, o: MLflowOptions, ctx):
        self.mlflow, self.o = _require("mlflow", "mlflow"), o

    def start(self, run):
        import os

        # MLflow 3 refuses its old file store: a local default is a SQLite file beside the run's own
        uri = self.o.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        local = uri is None
        self.mlflow.set_tracking_uri(uri or f"sqlite:///{(run.dir / 'mlflow.db').resolve()}")
        if local and self.mlflow.get_experiment_by_name(self.o.experiment) is None:
            self.mlflow.create_experiment(self.o.experiment,
                                          artifact_location=(run.dir / "mlartifacts").resolve().as_uri())
        self.mlflow.set_experiment(self.o.experiment)
        self.mlflow.start_run(run_name=run.dir.name)
        self.mlflow.log_params({k: v for k, v in flatten(run.recipe.to_dict()).items()})

    def scalars(self, step, scalars):
        self.mlflow.log_metrics({k.replace("/", "."): v for k, v in scalars.items() if v is not None}, step=step)

    def image(self, step, tag, path):
        self.mlflow.log_artifact(str(path), artifact_path=tag)

    def end(self, run, scores):
        self.mlflow.end_run()


@hookimpl
def ganzoo_add_components():
    return [
        Component("logger", "tensorboard", TensorBoard, NoOptions,
                  "TensorBoard event files: scalars, sample grids, recipe, hparams (the default)"),
        Component("logger", "wandb", Wandb, WandbOptions, "Weights & Biases (pip install \"ganzoo[wandb]\")"),
        Component("logger", "mlflow", MLflow, MLflowOptions, "MLflow (pip install \"ganzoo[mlflow]\")"),
    ]
