"""What a plugin builds: every component kind's interface, in one file.

`ganzoo.hookspecs` lists the hooks; this module is everything those hooks hand over or get
back. A plugin's ``ganzoo_add_components`` returns :class:`Component` objects; each has a
``kind`` from :data:`KINDS` and a ``build`` factory that the loop calls with the component's
validated options and a :class:`BuildContext`. What ``build`` must return, and what the loop
then calls on it, is in the kind's entry of :data:`KINDS` and in the base class named there.

A training step, as the loop runs it (``ganzoo/loop.py``, section 4):

    step = StepContext(step=i, epoch=...)
    for phase in objective.phases:                      # e.g. D (n_critic times), then G
        # (only the phases that phase.runs_at(i, total_steps): `every`, `during`)
        step.batch = dataset.next_batch()               # if phase.reads_data
        loss, terms = objective.loss(phase, nets, step)
        loss += regularizer.penalty(objective, nets, step)   # those of the phase's network
        loss.backward(); optimizer.step()               # the loop's job, not the objective's
        regularizer.after_step(nets)
    augmentation.update(step)                           # e.g. ADA adjusts its probability

Everything here is importable from top-level ``ganzoo``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from .errors import GanzooError
from .options import NoOptions

# --- registration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """A named, buildable part that a recipe can select.

    kind:    one of KINDS.
    name:    the name recipes use (unique within its kind).
    build:   factory, called as the kind's entry in KINDS says; objectives and metrics are
             classes (the recipe reads their ``networks`` / ``goals`` before building).
    options: a frozen dataclass whose fields are the recipe keys this component takes.
    help:    one line for ``ganzoo list``.
    """

    kind: str
    name: str
    build: Callable[..., Any]
    options: type = NoOptions
    help: str = ""


@dataclass(frozen=True)
class BuildContext:
    """What is known when components are built: the device, the whole recipe, the data (a
    DataInfo, once the dataset is built; for a network, the data as that network sees it) and
    the data-parallel world (rank and number of ranks; one rank unless run under torchrun)."""

    device: torch.device
    recipe: Any                 # ganzoo.recipe.Recipe
    data: "DataInfo | None" = None
    world: Any = None           # ganzoo.distributed.World


@dataclass(frozen=True)
class Command:
    """A ``ganzoo NAME ...`` subcommand a plugin adds (hook ``ganzoo_add_commands``).

    add_arguments(parser) declares its arguments on an argparse parser; run(args) does the
    work and returns an exit code (None means 0). Bad input: raise GanzooError (one line,
    exit 2)."""

    name: str
    help: str
    add_arguments: Callable[[Any], None]
    run: Callable[[Any], "int | None"]


# --- data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataInfo:
    """What networks, metrics and sample writers need to know about the data.

    extras: dataset-specific facts that its own plugins read (e.g. the mode centres of a toy
    mixture); plain numbers, strings and tuples, since they are stored in checkpoints.
    """

    image_shape: tuple[int, ...]  # (C, H, W), or (D,) for points
    num_classes: int | None
    size: int                     # examples in the split
    features: str | None = None   # default feature network for metrics (e.g. "mnist_lenet")
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class Dataset:
    """Kind ``dataset``: a stream of batches with resumable state.

    Batches are dicts of tensors on the training device: ``{"image": float (B, C, H, W) in
    [-1, 1], "label": long (B,)}`` for the GAN objectives; other objectives name their keys
    (CycleGAN: "A", "B").
    """

    info: DataInfo

    def next_batch(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def batches_per_epoch(self) -> int:
        raise NotImplementedError

    def shard(self, world) -> None:
        """Under data parallelism: keep only this rank's part of each global batch. A dataset
        that does not override this gives every rank the whole batch (correct, but redundant)."""

    def examples(self, n: int, generator: torch.Generator):
        """Up to n examples as the model sees them, chosen by `generator` (for metrics and grids)."""
        raise NotImplementedError

    def subset(self, n: int, generator: torch.Generator) -> None:
        """Keep only n examples, chosen by `generator`, for the rest of the run (the recipe's
        ``data.limit`` / ``data.fraction``); ``info.size`` becomes n. Called once, before
        training. A dataset that cannot do this leaves it unimplemented and the recipe gets
        a one-line error."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


# --- one training step --------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One update within a training step.

    name:       label used in logs ("D", "G").
    trains:     the networks whose optimisers step in this phase.
    repeats:    how many times the phase runs per step (n_critic), each on a fresh batch.
    every:      run only on steps divisible by this (lazy regularisation).
    reads_data: draw a real batch for this phase.
    needs_grad: networks that must record gradients in this phase (default: `trains`).
                All other networks are frozen (requires_grad=False), so no weight
                gradients are computed for them.
    during:     (start, stop): the part of the run, as fractions of its steps, in which the
                phase runs (a stage, e.g. f-AnoGAN's GAN stage, then its encoder stage).
    """

    name: str
    trains: tuple[str, ...]
    repeats: int = 1
    every: int = 1
    reads_data: bool = True
    needs_grad: tuple[str, ...] | None = None
    during: tuple[float, float] = (0.0, 1.0)

    @property
    def grad_networks(self) -> tuple[str, ...]:
        return self.trains if self.needs_grad is None else self.needs_grad

    def runs_at(self, step: int, total: int) -> bool:
        """Whether the phase runs in step `step` (0-based) of a run of `total` steps."""
        start, stop = self.during
        return step % self.every == 0 and start * total <= step < stop * total


@dataclass
class StepContext:
    """What the phases of one training step share; the loop makes a fresh one every step.

    The loop fills step, epoch, total (the run's length in steps) and batch (the latest real
    batch drawn in this step; phases that do not read data see the previous phase's). A
    generator-vs-discriminator objective fills the rest in its D phase, for regularisers and
    augmentations: the real images D saw (before augmentation), the detached fakes, their
    labels, and D's outputs on both. The outputs keep their graph, so a regulariser may build
    its penalty on them (LeCam); detach them to only read them (ADA).
    """

    step: int
    epoch: float
    total: int = 0
    batch: dict[str, Tensor] | None = None
    real: Tensor | None = None
    fake: Tensor | None = None
    real_labels: Tensor | None = None
    fake_labels: Tensor | None = None
    real_out: Tensor | None = None
    fake_out: Tensor | None = None

    @property
    def progress(self) -> float:
        """The share of the run done before this step, in [0, 1]: what schedules follow."""
        return self.step / self.total if self.total else 0.0


def identity(images: Tensor) -> Tensor:
    return images


class Objective:
    """Kind ``objective``: the GAN maths of one step. ``build(options, ctx)`` is the class itself.

    networks: {role: kind}, e.g. {"G": "generator", "D": "discriminator"}; the recipe's
              ``networks:`` section must name exactly these roles (read before building).
    phases:   the phases of one training step, in order (set in __init__ or as a class value).
    augment:  set by the loop to the recipe's augmentation (identity without one). Apply it to
              every input of a discriminator, real and fake, in every phase.

    The loop owns zero_grad, requires_grad toggles, backward, optimiser steps, logging and
    checkpoints. An objective only says which networks it needs and returns losses. For the
    usual G-against-D case, subclass ``ganzoo.GANObjective`` and write d_loss / g_loss.
    """

    networks: Mapping[str, str] = {"G": "generator", "D": "discriminator"}
    phases: tuple[Phase, ...] = ()
    augment: Callable[[Tensor], Tensor] = staticmethod(identity)

    def loss(self, phase: Phase, nets: dict[str, nn.Module], step: StepContext) -> tuple[Tensor, dict[str, Tensor]]:
        """(total loss to backpropagate, {term name: scalar tensor to log}) for one phase."""
        raise NotImplementedError

    def network_input(self, role: str, info: DataInfo) -> DataInfo:
        """The data as network `role` sees it, for building it (PacGAN's D sees m stacked samples)."""
        return info

    def check(self, nets: dict[str, nn.Module], info: DataInfo, recipe) -> None:
        """Raise GanzooError, naming the components, if the networks cannot work together."""

    def state_dict(self) -> dict:
        """State the objective keeps across steps (e.g. CycleGAN's image pools), for checkpoints."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    # --- sampling (grids, `ganzoo sample`, evaluation) ---------------------------------------
    grid_columns: int | None = None  # images per grid row (None: a square grid)

    def fixed_inputs(self, nets: dict[str, nn.Module], n: int, generator: torch.Generator,
                     label: int | None = None, data: Dataset | None = None) -> dict[str, Tensor]:
        """Inputs drawn once per run (on the CPU, so grids match across devices). `data` is the
        training dataset when there is one (image-to-image objectives sample real inputs)."""
        if label is not None:
            raise GanzooError("--class: this objective is not class-conditional")
        return {"z": torch.randn(n, nets["G"].latent_dim, generator=generator)}

    @torch.no_grad()
    def sample(self, nets: dict[str, nn.Module], inputs: dict[str, Tensor]) -> Tensor:
        """Samples for the given fixed inputs: images in [-1, 1] (N, C, H, W), or points (N, D)."""
        G = nets["G"]
        device = next(G.parameters()).device
        return G(*(inputs[k].to(device) for k in ("z", "y") if k in inputs))

    # --- anomaly scores (metric anomaly_auroc, `ganzoo score-anomaly`) -----------------------
    @torch.no_grad()
    def anomaly_scores(self, nets: dict[str, nn.Module], images: Tensor) -> Tensor:
        """One score per image in [-1, 1] (N, C, H, W), higher meaning more anomalous. The
        default for a model trained on normal data only: how fake D finds it, -D(x)."""
        if "D" not in nets:
            raise GanzooError("anomaly scores: this objective has no discriminator D and defines no score")
        return -nets["D"](images).flatten(1).mean(1)


class Regularizer:
    """Kind ``regularizer``: a term added to the phase that trains `network`, and/or an action
    right after that network's optimiser step. ``build(options, ctx)`` returns one.

    penalty() reads what the step's D phase left in the StepContext: ``step.real`` (R1),
    ``step.fake`` (R2), or both (WGAN-GP's interpolates), with their labels, and calls
    ``objective.critic(D, images, labels)`` to run D the way the objective does (packing,
    labels, augmentation).
    """

    network: str = "D"
    every: int = 1  # lazy regularisation: applied on steps divisible by this

    def penalty(self, objective: Objective, nets: dict[str, nn.Module], step: StepContext):
        """(loss term, {name: tensor}) to add to the phase's loss, or None."""
        return None

    def after_step(self, nets: dict[str, nn.Module]) -> None:
        """Called right after the network's optimiser stepped (e.g. weight clipping)."""

    def state_dict(self) -> dict:
        """State kept across steps (e.g. LeCam's moving averages), for checkpoints."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Augmentation(nn.Module):
    """Kind ``augmentation``: applied to every input of the discriminators, real and fake, in
    every phase (through ``Objective.augment``). ``build(options, ctx)`` returns one; ctx.data
    is the data as the generator makes it.

    forward(images) must be differentiable, so that G's gradient flows through it. State kept
    in buffers (e.g. an adaptive probability) is checkpointed with the run.
    """

    def forward(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, step: StepContext) -> dict[str, Tensor]:
        """After every training step (e.g. ADA adjusts p from ``step.real_out``); returns scalar
        tensors to log, such as the probability. Reading a value back to the host here would
        stall the step, so keep the arithmetic on tensors."""
        return {}


# --- networks and optimisers --------------------------------------------------------------
#
# Kind ``generator``: ``build(options, ctx) -> torch.nn.Module``. For the GAN objectives it
# maps z (N, latent_dim) [and labels (N,) when conditional] to samples shaped like
# ctx.data.image_shape, in [-1, 1] for images, and has an int attribute ``latent_dim``.
# Image-to-image objectives (CycleGAN) map images to images of the same shape.
#
# Kind ``discriminator``: ``build(options, ctx) -> torch.nn.Module`` mapping samples shaped
# like ctx.data.image_shape [and labels] to raw scores (logits or critic values), (N, 1) or
# a map of patch scores.
#
# Kind ``optimizer``: ``build(options, ctx, params) -> torch.optim.Optimizer``.


# --- evaluation ---------------------------------------------------------------------------


class FeatureNet:
    """Kind ``features``: a network that metrics compute on. ``build(options, ctx)`` returns one.

    features(images) -> (N, D) float; for classifiers also probabilities(images) -> (N, K)
    and predict(images) -> (N,) class indices. fingerprint() names the network and its
    weights, and is stored beside every score computed on it.
    """

    name: str = ""
    weights_hash: str = ""
    layer: str = ""
    num_classes: int | None = None

    def features(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def probabilities(self, images: Tensor) -> Tensor:
        raise GanzooError(f"feature network {self.name} is not a classifier")

    def predict(self, images: Tensor) -> Tensor:
        return self.probabilities(images).argmax(dim=1)

    def fingerprint(self) -> dict:
        return {"features": self.name, "weights_sha256": self.weights_hash, "layer": self.layer}


class Metric:
    """Kind ``metric``: ``build(options, ctx)`` is the class itself (the recipe reads ``goals``).

    goals:  {score key: "min" or "max"}: which way is better, for picking the best checkpoint.
    __call__(ev) -> {score key: value} on the run's samples; `ev` is a ganzoo.EvalContext
                    (samples, real data and features, cached across the metrics of one
                    evaluation; ``ev.cache`` is a dict metrics may share results through).
    floor(ev)    -> {score key + "_floor": value} for real data against real data (train vs
                    test) where that means something, or for a model-free baseline (the
                    anomaly metric's nearest-neighbour score), else {}.
    fingerprint(ev) -> what the score depends on: feature network and weights hash, layer,
                    sample counts, reference split. Stored next to every score.
    samples_needed() -> how many generated samples it will ask for (made before scoring,
                    shared out across ranks under torchrun).
    """

    goals: Mapping[str, str] = {}

    def samples_needed(self) -> int:
        return int(getattr(getattr(self, "o", None), "samples", 0) or 0)

    def __call__(self, ev) -> dict[str, float]:
        raise NotImplementedError

    def floor(self, ev) -> dict[str, float]:
        return {}

    def fingerprint(self, ev) -> dict:
        return {}


# --- loggers ------------------------------------------------------------------------------


class Logger:
    """Kind ``logger``: where a run's numbers and images go besides metrics.jsonl (always written).

    ``build(options, ctx)`` returns one for each entry of the recipe's ``loggers:`` list. For
    the run's duration the loop registers it as a plugin, so it receives the training
    notification hooks (on rank 0); write the four methods below, not the hooks.
    """

    def start(self, run) -> None:
        """The run begins (or resumes at run.step): e.g. record the resolved recipe."""

    def scalars(self, step: int, scalars: dict[str, float | None]) -> None:
        """Losses, throughput and scores; values may be None (not finite)."""

    def image(self, step: int, tag: str, path) -> None:
        """A sample grid PNG was written."""

    def end(self, run, scores: dict[str, float]) -> None:
        """The run stopped; `scores` are the latest evaluation's (may be empty)."""

    # the notification hooks, routed to the methods above
    from .hookspecs import hookimpl as _hookimpl

    @_hookimpl
    def ganzoo_train_start(self, run):
        self.start(run)

    @_hookimpl
    def ganzoo_log(self, run, step, scalars):
        self.scalars(step, scalars)

    @_hookimpl
    def ganzoo_sample_grid(self, run, step, path):
        self.image(step, "samples", path)

    @_hookimpl
    def ganzoo_train_end(self, run, step):
        self.end(run, {k: v for k, v in run.scores.items() if v is not None})

    del _hookimpl


# --- the kinds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of component: how its build is called, and what it must return."""

    name: str
    build: str          # the call, as documentation
    returns: type       # what build must return (checked when it is built)
    doc: str            # what the loop does with it


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("dataset", "build(options, ctx)", Dataset, "batches for the phases that read data; examples for metrics"),
    Kind("generator", "build(options, ctx)", nn.Module, "z [, labels] -> samples; has latent_dim"),
    Kind("discriminator", "build(options, ctx)", nn.Module, "samples [, labels] -> raw scores"),
    Kind("encoder", "build(options, ctx)", nn.Module, "images -> latent codes (N, latent_dim); has latent_dim"),
    Kind("objective", "build(options, ctx) (a class)", Objective, "phases and losses of a step"),
    Kind("regularizer", "build(options, ctx)", Regularizer, "penalty added to a phase; action after a step"),
    Kind("augmentation", "build(options, ctx)", Augmentation, "applied to every input of D"),
    Kind("optimizer", "build(options, ctx, params)", torch.optim.Optimizer, "steps a network's parameters"),
    Kind("metric", "build(options, ctx) (a class)", Metric, "scores samples at the evaluation cadence"),
    Kind("features", "build(options, ctx)", FeatureNet, "feature network that metrics compute on"),
    Kind("logger", "build(options, ctx)", Logger, "receives the notification hooks during a run"),
)}


def check_built(kind: str, built: Any, where: str) -> Any:
    """`built` if it is what kind `kind` must build; else a one-line error naming `where`."""
    wanted = KINDS[kind].returns
    if not isinstance(built, wanted):
        name = {nn.Module: "torch.nn.Module", torch.optim.Optimizer: "torch.optim.Optimizer"}.get(
            wanted, f"ganzoo.{wanted.__qualname__}")
        raise GanzooError(f"{where}: built a {type(built).__name__}, expected a {name} (kind {kind})")
    return built
