"""Loggers: where a run's numbers and images go besides metrics.jsonl (which is always written).

A logger is a component (kind "logger") selected in the recipe's `loggers:` list; TensorBoard
is the default. The loop calls it only at the logging, sampling and evaluation cadences, on
rank 0. Built-ins (plugins/loggers.py): tensorboard, wandb and mlflow (optional extras).
"""
from __future__ import annotations

from pathlib import Path


class Logger:
    def start(self, run) -> None:
        """The run begins (or resumes at run.step): e.g. record the resolved recipe."""

    def scalars(self, step: int, scalars: dict[str, float]) -> None:
        """Losses, throughput and scores; values may be None (not finite)."""

    def image(self, step: int, tag: str, path: Path) -> None:
        """A sample grid PNG was written."""

    def end(self, run, scores: dict[str, float]) -> None:
        """The run stopped; `scores` are the final evaluation's (may be empty)."""


def flatten(d: dict) -> dict:
    """The recipe as flat {"a.b": value} with lists as strings (hyperparameter tables want scalars)."""
    from .options import flatten as flat

    return {k: str(v) if isinstance(v, (list, tuple)) else v for k, v in flat(d).items()}
