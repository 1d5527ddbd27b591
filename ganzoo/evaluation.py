"""Evaluation: metric components scored on samples from a run's networks.

The same Evaluator runs during training (at `eval.every`) and in `ganzoo eval`, with the
same seed, so a checkpoint scores the same in both. Samples come from a generator of their
own: evaluating never touches the training random state.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .contract import Metric  # noqa: F401 - its older import path
from .errors import GanzooError
from .contract import BuildContext


class EvalContext:
    """Shared, cached inputs of the metrics of one evaluation: samples, real data, features.

    recipe, registry, objective, nets (the sampling networks), data_info, device, seed, world;
    fake(n), fake_labels(n) (the classes asked for, when conditional), real(split, n),
    dataset(split) (the recipe's dataset built for that split, for metrics that need more than
    images),
    feature_net(name), features(name, source, n): cached per evaluation;
    cache: a dict metrics may share further results through (e.g. translations of test images).
    lasting: what does not change during a run (feature networks, features of real data), kept
    across the evaluations of one Evaluator, so an Inception network is loaded and the reference
    set passed through it once per run, not once per evaluation.
    """

    def __init__(self, recipe, registry, objective, nets, data_info, device, seed: int, world=None,
                 lasting: dict | None = None):
        from .distributed import SINGLE

        self.recipe, self.registry, self.objective, self.nets = recipe, registry, objective, nets
        self.data_info, self.device, self.seed = data_info, device, seed
        self.world = world or SINGLE
        self._fake: Tensor | None = None
        self._fake_labels: Tensor | None = None
        self.cache: dict = {}
        self.lasting: dict = {} if lasting is None else lasting

    # --- samples ----------------------------------------------------------------------------
    def fake(self, n: int) -> Tensor:
        """n generated samples in [-1, 1] (the same ones for every metric of this evaluation)."""
        if self._fake is None or len(self._fake) < n:
            from .distributed import all_gather_cat

            generator = torch.Generator().manual_seed(self.seed)
            per_rank = -(-n // self.world.size)  # every rank makes its share of the same global set
            inputs = self.objective.fixed_inputs(self.nets, per_rank * self.world.size, generator)
            self._fake_labels = inputs["y"][:n] if "y" in inputs else None  # every rank draws the whole set
            mine = slice(self.world.rank * per_rank, (self.world.rank + 1) * per_rank)
            for net in self.nets.values():
                net.eval()
            chunks = []
            with torch.no_grad():
                for start in range(mine.start, mine.stop, 500):
                    part = {k: v[start:min(start + 500, mine.stop)] for k, v in inputs.items()}
                    chunks.append(self.objective.sample(self.nets, part).float())
            self._fake = all_gather_cat(torch.cat(chunks))[:n]
        return self._fake[:n]

    def fake_labels(self, n: int) -> Tensor | None:
        """The class labels the n samples of fake(n) were made for (None for an unconditional run)."""
        self.fake(n)
        return None if self._fake_labels is None else self._fake_labels[:n]

    def dataset(self, split: str, where: str = "eval"):
        """The recipe's dataset built anew for a split (e.g. "test"); callers keep what they need
        of it, not the whole set."""
        choice = self.recipe.data
        if not any(f.name == "split" for f in dataclasses.fields(choice.options)):
            raise GanzooError(f"{where}: dataset {choice.name!r} has no `split` option, so no {split} reference")
        options = dataclasses.replace(choice.options, split=split)
        return choice.component.build(options, BuildContext(device=self.device, recipe=self.recipe))

    def real(self, split: str, n: int) -> Tensor:
        """Up to n real examples of a split, in [-1, 1], the same for a given seed."""
        key = ("real", split, n)
        if key not in self.cache:
            self.cache[key] = self.dataset(split).examples(n, torch.Generator().manual_seed(self.seed + 1))
        return self.cache[key]

    # --- features ---------------------------------------------------------------------------
    def feature_net(self, name: str | None):
        name = name or self.data_info.features
        if not name:
            raise GanzooError(f"eval: dataset {self.recipe.data.name!r} has no default feature network; "
                              "set the metric's `features` option")
        key = ("net", name)
        if key not in self.lasting:
            component = self.registry.get("features", name, "features")
            options = component.options()
            self.lasting[key] = component.build(options, BuildContext(device=self.device, recipe=self.recipe))
        return self.lasting[key]

    def features(self, net_name: str | None, source: str, n: int) -> Tensor:
        """Features of n samples: source "fake", or a real split ("train", "test")."""
        net = self.feature_net(net_name)
        key = ("features", net.name, source, n)
        store = self.cache if source == "fake" else self.lasting
        if key not in store:
            images = self.fake(n) if source == "fake" else self.real(source, n)
            store[key] = net.features(images).cpu()
        return store[key]


class Evaluator:
    """Runs a recipe's metrics; keeps floors so each is computed once per run."""

    def __init__(self, recipe, registry, metrics: list[tuple[str, Metric]], world=None):
        from .distributed import SINGLE

        self.recipe, self.registry, self.world = recipe, registry, world or SINGLE
        self.metrics = metrics
        self._floors: dict[str, float] | None = None
        self._lasting: dict = {}  # feature networks and real features, for every evaluation of the run

    def goals(self) -> dict[str, str]:
        return {k: v for _, m in self.metrics for k, v in m.goals.items()}

    def evaluate(self, objective, nets, data_info, device) -> tuple[dict[str, float], dict]:
        """({score: value, score_floor: value}, {metric name: fingerprint})."""
        ev = EvalContext(self.recipe, self.registry, objective, nets, data_info, device, self.recipe.eval.seed,
                         self.world, self._lasting)
        scores, fingerprints = {}, {}
        try:
            if self.world.distributed:  # the one collective step: samples made on every rank
                ev.fake(max(m.samples_needed() for _, m in self.metrics))
                if not self.world.main:
                    return {}, {}
            subset = self._training_subset(data_info)
            for name, metric in self.metrics:
                scores.update(metric(ev))
                fingerprints[name] = {**metric.fingerprint(ev), **subset}
            if self._floors is None:
                self._floors = {}
                for name, metric in self.metrics:
                    self._floors.update(metric.floor(ev))
        finally:
            for net in nets.values():
                net.train()
        return {**scores, **self._floors}, fingerprints


    def _training_subset(self, data_info) -> dict:
        """A model trained on part of the data (data.limit / fraction) says so in every fingerprint:
        its scores are not comparable with a model trained on all of it."""
        settings = self.recipe.data.settings
        if settings is None or (settings.limit is None and settings.fraction is None):
            return {}
        return {"train_examples": data_info.size, "subset_seed": settings.subset_seed}


def build_evaluator(recipe, registry, device, metrics: list[dict] | None = None, world=None) -> Evaluator | None:
    """The recipe's metrics, or the listed ones: `[{"name": "fid"}, {"name": "cas", "samples": 60000}]`.

    A listed metric keeps the recipe's options for it, where the recipe has it, and takes the
    options given beside its name over them, validated as recipe keys are."""
    from .options import validate
    from .recipe import Choice

    choices = list(recipe.metrics)
    if metrics:
        by_name = {c.name: c for c in choices}
        choices = []
        for entry in metrics:
            given = dict(entry)
            name = given.pop("name")
            component = registry.get("metric", name, "--metrics")
            base = by_name[name].options if name in by_name else component.options()
            if given:  # checked as a recipe's metric entry would be, then laid over the base options
                checked = validate(component.options, given, f"--metrics {name}")
                base = dataclasses.replace(base, **{key: getattr(checked, key) for key in given})
            choices.append(Choice("metric", name, base, component))
    if not choices:
        return None
    ctx = BuildContext(device=device, recipe=recipe)
    return Evaluator(recipe, registry, [(c.name, c.component.build(c.options, ctx)) for c in choices], world)


def is_better(goal: str, new: float, old: float | None) -> bool:
    return old is None or (new < old if goal == "min" else new > old)
