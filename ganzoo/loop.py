"""The one training loop. Every variant trains here; read it top to bottom.

    1. device and seeds
    2. build the components the recipe selects (data, networks, objective, optimisers, ...)
    3. start the run: its state, the recipe's loggers, a checkpoint to resume from
    4. the step loop: phases in order, each with its own optimisers; no host sync
    5. at the cadences: log (the only host sync), sample grid, evaluate, checkpoint
    6. end: files flushed, hooks told

Plugins see the run through the notification hooks (ganzoo.hookspecs), with the Run below.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from . import distributed, files
from .contract import Augmentation, BuildContext, Dataset, Logger, Objective, Phase, StepContext, check_built
from .data import DataInfo, info_to_dict
from .distributed import SINGLE, World
from .ema import EMA
from .errors import GanzooError, out_of_memory
from .evaluation import build_evaluator, is_better
from .images import save_samples
from .plugins import PluginError, Plugins
from .recipe import Recipe
from .report import write_report
from .schedules import make_scheduler


@dataclass
class Run:
    """A training run: what the notification hooks and the Python API see.

    dir, recipe, plugins, device, world: where, what, with which plugins, on which device and ranks.
    data:          the dataset component (batches; ``data.info`` its shape and classes).
    nets:          {role: network}: the plain networks (checkpoints, EMA, sampling).
    step_nets:     what the steps call: the same networks, DDP-wrapped or compiled when asked.
    objective, optimizers, regularizers [(phase name, Regularizer)], augmentation (or None),
    schedulers {role: LR scheduler}, ema {role: EMA copy}, scaler (a GradScaler, enabled for fp16).
    evaluator:     the recipe's metrics (or None); can_evaluate: metrics or an evaluate hook.
    fixed_inputs:  the latents (or inputs) of every sample grid.
    step, total_steps, elapsed: steps done and to do; training seconds so far, across resumes.
    last:          the latest logged scalars; scores: the latest evaluation's finite scores;
    best:          {"key", "value", "step"} of the best evaluation; stopped_by: the signal, if any.
    """

    dir: Path
    recipe: Recipe
    plugins: Plugins
    device: torch.device
    data: Dataset
    nets: dict[str, nn.Module]
    objective: Objective
    optimizers: dict[str, torch.optim.Optimizer]
    fixed_inputs: dict[str, torch.Tensor]
    total_steps: int
    step_nets: dict[str, nn.Module] = field(default_factory=dict)
    regularizers: list = field(default_factory=list)
    augmentation: Augmentation | None = None
    scaler: torch.amp.GradScaler | None = None
    precision: object = field(default_factory=contextlib.nullcontext)  # autocast context of the steps
    world: World = SINGLE
    schedulers: dict = field(default_factory=dict)
    ema: dict = field(default_factory=dict)
    evaluator: object = None
    can_evaluate: bool = False
    best: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    step: int = 0
    elapsed: float = 0.0
    stopped_by: str | None = None
    last: dict = field(default_factory=dict)

    @property
    def epoch(self) -> float:
        """Passes over the training data so far."""
        return self.step * batches_per_step(self.objective) / max(1, self.data.batches_per_epoch())

    @property
    def sampling_nets(self) -> dict[str, nn.Module]:
        """The networks samples and evaluation use: the EMA copies where there are some."""
        return {role: self.ema[role].module if role in self.ema else net for role, net in self.nets.items()}

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.jsonl"

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / "checkpoints"


# --- 1. device and seeds ----------------------------------------------------------------------------

def pick_device(name: str) -> torch.device:
    """'auto' is CUDA, then MPS, then CPU; a named device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanzooError(f"device: {name!r} asked for, but PyTorch sees no CUDA device; use device: auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise GanzooError(f"device: {name!r} asked for, but only {torch.cuda.device_count()} CUDA devices exist")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GanzooError(f"device: {name!r} asked for, but MPS is not available; use device: auto or cpu")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # CPU and every CUDA device


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])


# --- 2. build ---------------------------------------------------------------------------------------

def build(recipe: Recipe, device: torch.device, world: World = SINGLE) -> Run:
    """Every component of a recipe, on `device`, seeded, as a Run at step 0 (not yet started)."""
    seed_everything(recipe.seed)  # the same seed on every rank: identical initial weights
    ctx = BuildContext(device=device, recipe=recipe, world=world)
    with _naming_out_of_memory(f"data ({recipe.data.name})", "loading it", device,
                               "use data.load: stream where the dataset has it, or a smaller data.limit"):
        data = check_built("dataset", recipe.data.component.build(recipe.data.options, ctx), "data")
    _limit_data(recipe, data)
    if world.distributed:
        data.shard(world)
    nets, objective = build_models(recipe, device, data.info, world)
    trained = _check_optimizers(recipe, objective)
    if recipe.train.channels_last:
        nets = {role: net.to(memory_format=torch.channels_last) for role, net in nets.items()}
    step_nets = distributed.wrap(nets, trained, world, device, recipe.train.sync_batchnorm)
    nets = {role: net.module if isinstance(net, distributed.DDP) else net for role, net in step_nets.items()}
    if recipe.train.compile:  # the steps call compiled networks; checkpoints keep the plain ones
        step_nets = {role: torch.compile(net) for role, net in step_nets.items()}
    ctx = BuildContext(device=device, recipe=recipe, data=data.info, world=world)
    optimizers = {role: check_built("optimizer", choice.component.build(choice.options, ctx, nets[role].parameters()),
                                    f"optimizers.{role}")
                  for role, choice in recipe.optimizers.items()}
    fixed = objective.fixed_inputs(nets, recipe.train.grid_size, torch.Generator().manual_seed(recipe.seed), data=data)
    run = Run(Path(), recipe, None, device, data, nets, objective, optimizers, fixed,
              total_steps(recipe, objective, data), step_nets=step_nets, world=world,
              regularizers=_build_regularizers(recipe, objective, ctx),
              augmentation=_build_augmentation(recipe, objective, ctx))
    _training_state(run)
    return run


def _limit_data(recipe: Recipe, data: Dataset) -> None:
    """data.limit / data.fraction: a fixed subset, drawn by data.subset_seed (not the run's seed)."""
    settings = recipe.data.settings
    if settings is None or (settings.limit is None and settings.fraction is None):
        return
    size = data.info.size
    n = settings.limit if settings.limit is not None else max(1, round(settings.fraction * size))
    key = "limit" if settings.limit is not None else "fraction"
    if n > size:
        raise GanzooError(f"{recipe.source}: data.limit: {n} is more than the dataset's {size} examples")
    if n < recipe.train.batch_size:
        raise GanzooError(f"{recipe.source}: data.{key}: {n} examples are fewer than train.batch_size "
                          f"{recipe.train.batch_size}")
    try:
        data.subset(n, torch.Generator().manual_seed(settings.subset_seed))
    except NotImplementedError:
        raise GanzooError(f"{recipe.source}: data.{key}: dataset {recipe.data.name!r} cannot train on a subset "
                          "(it does not implement Dataset.subset)") from None


def build_models(recipe: Recipe, device: torch.device, data_info: DataInfo, world: World = SINGLE):
    """(nets, objective): what sampling needs, without the dataset or optimisers."""
    ctx = BuildContext(device=device, recipe=recipe, data=data_info, world=world)
    objective = check_built("objective", recipe.objective.component.build(recipe.objective.options, ctx),
                            "objective")
    nets = {}
    for role, choice in recipe.networks.items():
        net_ctx = BuildContext(device=device, recipe=recipe, data=objective.network_input(role, data_info),
                               world=world)
        with _naming_out_of_memory(f"networks.{role} ({choice.name}{_sizes(choice.options)})", "building it",
                                   device, "make it smaller"):
            net = check_built(choice.kind, choice.component.build(choice.options, net_ctx),
                              f"networks.{role} ({choice.kind} {choice.name!r})")
            if choice.settings.spectral_norm:
                add_spectral_norm(net)
            nets[role] = net.to(device)
    with _naming_out_of_memory(f"train.batch_size {recipe.train.batch_size}", "checking the networks on a batch",
                               device, "lower it"):
        objective.check(nets, data_info, recipe)
    return nets, objective


def _sizes(options) -> str:
    """A network's numeric options, e.g. ": width 64, latent_dim 100", for out-of-memory messages."""
    import dataclasses
    numbers = [f"{f.name} {getattr(options, f.name)}" for f in dataclasses.fields(options)
               if isinstance(getattr(options, f.name), int) and not isinstance(getattr(options, f.name), bool)]
    return f": {', '.join(numbers)}" if numbers else ""


@contextlib.contextmanager
def _naming_out_of_memory(what: str, doing: str, device: torch.device, advice: str):
    """An allocation failure inside becomes one line naming what was being allocated."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        size = out_of_memory(exc)
        if size is None:
            raise
        raise GanzooError(f"{what}: out of memory {doing} on {device} ({size} asked for); {advice}") from None


def _check_optimizers(recipe: Recipe, objective: Objective) -> set[str]:
    """The roles the objective trains; each must have an optimiser."""
    trained = {role for phase in objective.phases for role in phase.trains}
    for role in sorted(trained - set(recipe.optimizers)):
        phase = next(p.name for p in objective.phases if role in p.trains)
        raise GanzooError(f"{recipe.source}: optimizers.{role}: missing; phase {phase!r} trains network {role}")
    return trained


def _build_regularizers(recipe: Recipe, objective: Objective, ctx: BuildContext) -> list:
    """[(phase name, Regularizer)]: each added to the phase that trains its network."""
    out = []
    for i, choice in enumerate(recipe.regularizers):
        where = f"regularizers[{i}] ({choice.name})"
        reg = check_built("regularizer", choice.component.build(choice.options, ctx), where)
        phase = next((p.name for p in objective.phases if reg.network in p.trains), None)
        if phase is None:
            raise GanzooError(f"{recipe.source}: {where}: objective {recipe.objective.name!r} trains no network "
                              f"{reg.network!r}")
        out.append((phase, reg))
    return out


def _build_augmentation(recipe: Recipe, objective: Objective, ctx: BuildContext) -> Augmentation | None:
    """The recipe's augmentation, handed to the objective, which applies it to every D input."""
    if recipe.augmentation is None:
        return None
    choice = recipe.augmentation
    augmentation = check_built("augmentation", choice.component.build(choice.options, ctx),
                               f"augmentation ({choice.name})").to(ctx.device)
    objective.augment = augmentation
    return augmentation


def _training_state(run: Run) -> None:
    """LR schedules, EMA copies, the gradient scaler and the precision context of the steps."""
    recipe, device = run.recipe, run.device
    for role, choice in recipe.optimizers.items():
        scheduler = make_scheduler(run.optimizers[role], choice.settings, run.total_steps)
        if scheduler is not None:
            run.schedulers[role] = scheduler
    for role, choice in recipe.networks.items():
        settings = choice.settings
        if settings.ema_decay is not None or settings.ema_halflife is not None:
            run.ema[role] = EMA(run.nets[role], settings.ema_decay, settings.ema_halflife, settings.ema_rampup)
    # fp16 scales the loss; elsewhere the scaler is disabled and passes everything through.
    # The default first scale, 2^16, overflows the gradients of small GAN networks and skips
    # their first updates while it falls; from 2^10 it only grows (x2 per 2000 clean steps).
    precision = resolve_precision(recipe.train.precision, device)
    run.scaler = torch.amp.GradScaler(device.type, init_scale=2.0 ** 10, enabled=precision == "fp16")
    if precision != "fp32":
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        run.precision = torch.autocast(device.type, dtype=dtype)


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` is bf16 where the hardware computes it natively (a CUDA GPU with bf16; a CPU with AMX
    or AVX512-BF16, where it ran the DCGAN recipes 1.8-2.4x faster than fp32), else fp32: emulated
    bf16 is slower than fp32, and MPS autocast is not worth it for networks this small."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        native = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)() or \
            getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        return "bf16" if native else "fp32"
    return "fp32"


def add_spectral_norm(net: nn.Module) -> None:
    """Spectral normalisation (one power iteration per forward) on every weight layer."""
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Embedding)
    for module in list(net.modules()):
        if isinstance(module, layers):
            nn.utils.parametrizations.spectral_norm(module)


def batches_per_step(objective: Objective) -> float:
    """Real batches one training step consumes (n_critic for WGAN, 1 for most)."""
    return sum(p.repeats / p.every * (p.during[1] - p.during[0]) for p in objective.phases if p.reads_data) or 1


def total_steps(recipe: Recipe, objective: Objective, data: Dataset) -> int:
    """train.steps, or train.epochs converted to steps."""
    if recipe.train.steps is not None:
        return recipe.train.steps
    return math.ceil(recipe.train.epochs * data.batches_per_epoch() / batches_per_step(objective))


# --- 3. start the run -------------------------------------------------------------------------------

def train(recipe: Recipe, run_dir: Path, plugins: Plugins, resume: dict | None = None,
          progress: bool | None = None) -> Run:
    """Train `recipe` in `run_dir` (created), or continue from a loaded checkpoint `resume`.

    Under torchrun every rank calls this; only rank 0 writes files and tells the hooks."""
    world, device = distributed.setup(pick_device(recipe.device))
    run = build(recipe, device, world)
    run.dir, run.plugins = Path(run_dir), plugins
    run.evaluator = build_evaluator(recipe, plugins.registry, device, world=world)
    run.can_evaluate = run.evaluator is not None or bool(plugins.hook.ganzoo_evaluate.get_hookimpls())
    lock = ckpt.RunLock(run.dir)
    if world.main:  # before anything is written: a second writer on this directory stops here
        try:
            run.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GanzooError(f"{run.dir}: cannot create the run directory ({exc.strerror or exc})") from None
        lock.acquire()
    loggers = []
    try:
        loggers = _add_loggers(run) if world.main else []
        if world.main:
            files.write_text(run.dir / "recipe.yaml", recipe.to_yaml(), "the resolved recipe")
        if resume is not None:
            _restore(run, resume)
        _train_and_finish(run, progress, resumed=resume is not None)
    except PluginError as exc:  # keep what was trained, then stop with the plugin's one line
        if world.main and run.step > 0:
            _checkpoint(run, notify=False)
            raise GanzooError(f"{exc}; checkpoint of step {run.step} written: continue with "
                              f"ganzoo resume {run.dir}") from None
        raise
    finally:
        for name in loggers:
            plugins.remove_run_plugin(name)
        lock.release()
    return run


def _add_loggers(run: Run) -> list[str]:
    """The recipe's loggers, registered as plugins for this run: they get the notification hooks."""
    ctx = BuildContext(device=run.device, recipe=run.recipe, world=run.world)
    names = []
    for i, choice in enumerate(run.recipe.loggers):
        logger = check_built("logger", choice.component.build(choice.options, ctx), f"loggers[{i}] ({choice.name})")
        entry = run.plugins.registry.entry("logger", choice.name)
        name = f"logger {choice.name}" + (f" {i}" if i else "")
        if choice.settings is not None and choice.settings.on_error == "warn":
            logger = _SwitchedOffOnError(logger, f"loggers[{i}] ({choice.name})")
        run.plugins.add_run_plugin(logger, name, entry.package, entry.version)
        names.append(name)
    return names


class _SwitchedOffOnError(Logger):
    """A logger with `on_error: warn`: its first failure is one line of warning, then it is off."""

    def __init__(self, inner: Logger, where: str):
        self.inner, self.where, self.failed = inner, where, False

    def _call(self, method: str, *args) -> None:
        if self.failed:
            return
        try:
            getattr(self.inner, method)(*args)
        except Exception as exc:  # noqa: BLE001 - whatever the logger's library raises
            self.failed = True
            _print(f"warning: {self.where} failed in {method} ({type(exc).__name__}: "
                   f"{str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}); it is switched off "
                   "and training goes on (on_error: warn)")

    def start(self, run):
        self._call("start", run)

    def scalars(self, step, scalars):
        self._call("scalars", step, scalars)

    def image(self, step, tag, path):
        self._call("image", step, tag, path)

    def end(self, run, scores):
        self._call("end", run, scores)


def _train_and_finish(run: Run, progress: bool | None, resumed: bool) -> None:
    start_step, start_time, start_elapsed = run.step, time.perf_counter(), run.elapsed
    if run.world.main:
        run.plugins.notify("ganzoo_train_start", run=run)
        ranks = f" x {run.world.size} ranks" if run.world.distributed else ""
        where = f"{run.dir} on {run.device}{ranks}"  # a resumed run's recipe is its own recipe.yaml
        what = f"resume {where}:" if resumed else f"run {where}: {run.recipe.stem},"
        sizes = ", ".join(f"{role} {count / 1e6:.2f} M" for role, count in parameter_counts(run).items())
        _print(f"{what} step {run.step} -> {run.total_steps} ({sizes} parameters)")
    bar = _progress_bar(run, progress) if run.world.main else None
    with StopRequest(run.device) as stop:
        _train_steps(run, bar, stop)
    _finish(run, stop, bar, run.step - start_step, time.perf_counter() - start_time, run.elapsed - start_elapsed)


def _restore(run: Run, state: dict) -> None:
    """Put every piece of state back, so the continued run is bit-identical on CPU."""
    try:
        for role, net in run.nets.items():
            net.load_state_dict(state["networks"][role])
        for role, opt in run.optimizers.items():
            opt.load_state_dict(state["optimizers"][role])
        for role, scheduler in run.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][role])
        for role, ema in run.ema.items():
            ema.load_state_dict(state["ema"][role])
        run.objective.load_state_dict(state.get("objective", {}))
        if run.augmentation is not None:
            run.augmentation.load_state_dict(state["augmentation"])
        for (_, reg), reg_state in zip(run.regularizers, state.get("regularizers") or [{}] * len(run.regularizers)):
            reg.load_state_dict(reg_state)
        if run.scaler is not None and state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
        run.data.load_state_dict(state["data"])
        set_rng_state(state["rng"], run.device)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise GanzooError(f"checkpoint does not match the recipe's networks ({str(exc).splitlines()[0][:200]})") \
            from None
    run.fixed_inputs = {k: v for k, v in state["fixed_inputs"].items()}
    run.step = int(state["step"])
    run.elapsed = float(state.get("elapsed", 0.0))
    run.best = dict(state.get("best") or {})
    _truncate_metrics(run.metrics_path, run.step)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
    if len(kept) != len(lines):
        files.write_text(path, "".join(kept), "the log, cut back to the checkpoint's step")


# --- 4. the step loop -------------------------------------------------------------------------------

def _train_steps(run: Run, bar, stop: StopRequest) -> None:
    """Steps until the end or a stop request, with the cadences after each. Nothing in a step
    reads a value back from the device: the loss window reads once per log window."""
    window, clock = LossWindow(), TrainingClock(run)
    while run.step < run.total_steps:
        try:
            _train_step(run, window)
        except (RuntimeError, MemoryError) as exc:
            size = out_of_memory(exc)
            if size is None:
                raise
            raise GanzooError(_out_of_memory_in_step(run, size)) from None
        run.step += 1
        if bar is not None:
            bar.update(1)
        stopping = _stop_now(run, stop, clock)
        _cadences(run, window, clock, bar, stop, stopping)
        if stopping:
            return


def _out_of_memory_in_step(run: Run, size: str) -> str:
    """Half-done steps are not saved: the last checkpoint is what a smaller batch continues from."""
    batch = run.recipe.train.batch_size
    saved = ckpt.list_checkpoints(run.dir / "checkpoints")
    where = f"out of memory in step {run.step + 1} on {run.device} ({size} asked for, train.batch_size {batch})"
    if not saved:
        return f"{where}; no checkpoint yet: lower train.batch_size (e.g. --set train.batch_size={max(1, batch // 2)})"
    return (f"{where}; the last checkpoint, step {saved[-1][0]}, is kept: continue with ganzoo resume {run.dir} "
            f"--set train.batch_size={max(1, batch // 2)} --allow-changes train.batch_size")


def _train_step(run: Run, window: LossWindow) -> None:
    """One step: each phase in order, with its own optimisers; then augmentation and schedules."""
    step = StepContext(step=run.step, epoch=run.epoch, total=run.total_steps)
    for index, phase in enumerate(run.objective.phases):
        if phase.runs_at(run.step, run.total_steps):
            _train_phase(run, phase, index, step, window)
    if run.augmentation is not None:
        window.add_terms(run.augmentation.update(step))
    for scheduler in run.schedulers.values():
        scheduler.step()


def _train_phase(run: Run, phase: Phase, index: int, step: StepContext, window: LossWindow) -> None:
    nets = run.step_nets
    for role, net in nets.items():
        net.requires_grad_(role in phase.grad_networks)
    optimizers = [run.optimizers[role] for role in phase.trains]
    regularizers = [reg for name, reg in run.regularizers if name == phase.name]
    penalties = [reg for reg in regularizers if run.step % reg.every == 0]
    skip_nonfinite = run.recipe.train.nonfinite == "skip"
    with _frozen_ddp(nets, phase) if run.world.distributed else contextlib.nullcontext():
        for _ in range(phase.repeats):
            if phase.reads_data:
                step.batch = _next_batch(run)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss, terms = _phase_loss(run, phase, step, penalties)
            if skip_nonfinite and not _all_finite(loss):  # opt-in: one host sync per phase
                window.skipped += 1
                continue
            run.scaler.scale(loss).backward()  # fp16: steps with inf/nan gradients are skipped by the scaler
            for opt in optimizers:
                run.scaler.step(opt)
            run.scaler.update()
            for reg in regularizers:
                reg.after_step(nets)
            window.add(terms, loss, run.step, index)
    for role in phase.trains:
        if role in run.ema:  # images seen: the real images drawn in the steps so far, this one included
            seen = (run.step + 1) * run.recipe.train.batch_size * batches_per_step(run.objective)
            run.ema[role].update(run.nets[role], seen, run.recipe.train.batch_size)


def _next_batch(run: Run) -> dict:
    batch = run.data.next_batch()
    if run.recipe.train.channels_last:
        batch = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in batch.items()}
    return batch


def _phase_loss(run: Run, phase: Phase, step: StepContext, penalties: list):
    """The objective's loss for the phase plus its regularisers' penalties, and the terms to log."""
    with run.precision:
        loss, terms = run.objective.loss(phase, run.step_nets, step)
        for reg in penalties:
            extra = reg.penalty(run.objective, run.step_nets, step)
            if extra is not None:
                loss = loss + extra[0]
                terms = {**terms, **extra[1]}
    return loss, terms


def _frozen_ddp(nets: dict, phase: Phase) -> contextlib.ExitStack:
    """no_sync() for the DDP networks a phase does not train: they must not wait for gradients."""
    stack = contextlib.ExitStack()
    for role, net in nets.items():
        if role not in phase.trains and isinstance(net, distributed.DDP):
            stack.enter_context(net.no_sync())
    return stack


def _all_finite(loss: torch.Tensor) -> bool:
    flag = torch.isfinite(loss.detach()).all().to(torch.int32)
    return bool(distributed.all_reduce(flag, torch.distributed.ReduceOp.MIN).item())


# --- 5. the cadences --------------------------------------------------------------------------------

class TrainingClock:
    """Training seconds, evaluations excluded: `lap` adds the seconds since the last lap (or
    restart) to the run's total and to the current log window's, for its images/s."""

    def __init__(self, run: Run):
        self.started, self.window_step, self.window_seconds = time.perf_counter(), run.step, 0.0

    def running(self) -> float:
        return time.perf_counter() - self.started

    def lap(self, run: Run) -> None:
        now = time.perf_counter()
        run.elapsed += now - self.started
        self.window_seconds += now - self.started
        self.started = now

    def restart(self) -> None:
        self.started = time.perf_counter()

    def images_per_s(self, run: Run) -> float:
        """Real images drawn per training second in the window (n_critic batches per step for WGAN)."""
        images = (run.step - self.window_step) * run.recipe.train.batch_size * batches_per_step(run.objective)
        rate = images / max(self.window_seconds, 1e-9)
        self.window_step, self.window_seconds = run.step, 0.0
        return rate


def _stop_now(run: Run, stop: StopRequest, clock: TrainingClock) -> bool:
    """A signal or the time budget ends the run after this step; under torchrun every rank
    stops at the same step, agreed at a log step."""
    budget = run.recipe.train.max_seconds
    if budget is not None and run.elapsed + clock.running() >= budget:
        stop.budget_spent = True
    wanted = stop.signal_name is not None or stop.budget_spent
    return wanted and (not run.world.distributed or _agreed(stop, run.step % run.recipe.train.log_every == 0))


def _cadences(run: Run, window: LossWindow, clock: TrainingClock, bar, stop: StopRequest, stopping: bool) -> None:
    """Log, sample, evaluate and checkpoint when due; all of them after the last step."""
    train, last = run.recipe.train, run.step == run.total_steps or stopping

    def due(every: int | None) -> bool:
        return last or (every is not None and run.step % every == 0)

    log_now, sample_now, checkpoint_now = due(train.log_every), due(train.sample_every), due(train.checkpoint_every)
    # A signal stop checkpoints at once: a scheduler's grace period is too short for an
    # evaluation, and the resumed run evaluates at its end anyway.
    evaluate_now = run.can_evaluate and due(run.recipe.eval.every) and stop.signal_name is None
    if log_now or sample_now or evaluate_now or checkpoint_now:
        scalars, bad = window.read(run.world)  # the one host sync of a window
        _stop_if_nonfinite(run, bad, scalars)  # before anything is written from broken weights
        clock.lap(run)
        if scalars:
            scalars["images_per_s"] = clock.images_per_s(run)
            if run.world.main:
                _log(run, scalars, bar)
    if sample_now and run.world.main:
        _sample_grid(run)
    improved = evaluate_now and _evaluate_keeping_work(run, bar)
    if evaluate_now:
        clock.restart()  # evaluation time is not training time
    if (checkpoint_now or improved) and run.world.main:
        _checkpoint(run, best=improved)


def _agreed(stop: StopRequest, at_cadence: bool) -> bool:
    """Under torchrun: stop only at a log step, when any rank was signalled (one collective)."""
    if not at_cadence:
        return False
    flag = torch.tensor(1 if stop.signal_name or stop.budget_spent else 0, device=stop.device)
    return bool(distributed.all_reduce(flag, torch.distributed.ReduceOp.MAX).item())


def _stop_if_nonfinite(run: Run, bad: tuple[int, int] | None, scalars: dict[str, float]) -> None:
    """Stop at the first non-finite loss or weight, before any checkpoint could store it."""
    broken = [role for role, net in run.nets.items()
              if not all(torch.isfinite(p).all() for p in net.parameters())] if bad is None else []
    if bad is None and not broken:
        return
    good = ckpt.list_checkpoints(run.checkpoint_dir)
    kept = f"the last good checkpoint is {good[-1][1]}" if good else "no checkpoint was written yet"
    if bad is not None:
        step, phase_index = bad
        phase = run.objective.phases[phase_index].name
        terms = [k.removeprefix("loss/") for k, v in scalars.items() if k.startswith("loss/") and not math.isfinite(v)]
        raise GanzooError(f"non-finite loss at step {step + 1}, phase {phase!r} (terms: {', '.join(terms) or '?'}); "
                          f"{kept}; set train.nonfinite: skip to skip such steps")
    raise GanzooError(f"non-finite weights in network {', '.join(broken)} by step {run.step} (a non-finite "
                      f"gradient); {kept}")


def _log(run: Run, scalars: dict[str, float], bar, fingerprints: dict | None = None) -> None:
    scalars = {k: (v if math.isfinite(v) else None) for k, v in scalars.items()}  # strict JSON: inf/nan -> null
    record = {"step": run.step, "epoch": round(run.epoch, 4), "time": round(run.elapsed, 3), **scalars}
    if fingerprints:
        record["fingerprints"] = fingerprints
    files.append_line(run.metrics_path, json.dumps(record), "the log line")
    run.last.update(scalars)
    if isinstance(bar, ProgressLines):
        bar.show(run.step, scalars)
    elif bar is not None:
        bar.set_postfix({k.removeprefix("loss/"): "nan" if v is None else f"{v:.3g}"
                         for k, v in scalars.items() if k.startswith("loss/")}, refresh=False)
    run.plugins.notify("ganzoo_log", run=run, step=run.step, scalars=scalars)


def _sample_grid(run: Run) -> Path:
    nets = run.sampling_nets
    for net in nets.values():
        net.eval()  # BatchNorm uses running statistics; sampling changes no state
    try:
        images = run.objective.sample(nets, run.fixed_inputs)
    finally:
        for net in run.nets.values():
            net.train()
    path = save_samples(images, run.dir / "samples" / f"step-{run.step:08d}.png", run.data.info, run.plugins,
                        nrow=run.objective.grid_columns)
    run.plugins.notify("ganzoo_sample_grid", run=run, step=run.step, path=path)
    return path


def _evaluate_keeping_work(run: Run, bar) -> bool:
    """_evaluate; a metric that cannot score (wrong feature network, missing weights) stops the
    run with one line, after a checkpoint of the steps trained so far."""
    try:
        try:
            return _evaluate(run, bar)
        except (RuntimeError, MemoryError) as exc:  # e.g. 10,000 samples at once on a small GPU
            size = out_of_memory(exc)
            if size is None:
                raise
            raise GanzooError(f"out of memory scoring on {run.device} ({size} asked for); score fewer samples")
    except PluginError:
        raise  # train() checkpoints and names the plugin
    except GanzooError as exc:
        if run.world.main:
            _checkpoint(run, notify=False)
        raise GanzooError(f"evaluation at step {run.step}: {exc}; checkpoint of step {run.step} written: "
                          f"continue with ganzoo resume {run.dir} --set eval.metrics=[...] --allow-changes eval") \
            from None


def _evaluate(run: Run, bar) -> bool:
    """Score the sampling networks; log the scores with fingerprints; True if this is the best so far.
    Under torchrun every rank makes its share of the samples; rank 0 scores and writes."""
    scores, fingerprints = {}, {}
    if run.evaluator is not None:
        scores, fingerprints = run.evaluator.evaluate(run.objective, run.sampling_nets, run.data.info, run.device)
    if not run.world.main:
        return False
    for result in run.plugins.notify("ganzoo_evaluate", run=run, step=run.step):
        scores.update(result or {})  # plugins may add scores of their own
    _log(run, {f"eval/{k}": v for k, v in scores.items()}, bar, fingerprints=fingerprints)
    goals = run.evaluator.goals() if run.evaluator is not None else {}
    key = run.recipe.eval.best or next(iter(goals), None)
    improved = (key in scores and math.isfinite(scores[key])
                and is_better(goals.get(key, "min"), scores[key], run.best.get("value")))
    if improved:
        run.best = {"key": key, "value": scores[key], "step": run.step}
    run.scores = {k: (v if math.isfinite(v) else None) for k, v in scores.items()}
    summary = {"final": {"step": run.step, **run.scores}, "best": run.best, "fingerprints": fingerprints}
    files.write_text(run.dir / "scores.json", json.dumps(summary, indent=2), "the scores")
    write_report(run.dir)
    return improved


def checkpoint_payload(run: Run) -> dict:
    from . import __version__

    return {
        "format": ckpt.FORMAT,
        "ganzoo": __version__,
        "step": run.step,
        "elapsed": run.elapsed,
        "recipe": run.recipe.to_dict(),
        "plugins": run.plugins.versions(),
        "networks": {role: net.state_dict() for role, net in run.nets.items()},
        "optimizers": {role: opt.state_dict() for role, opt in run.optimizers.items()},
        "schedulers": {role: s.state_dict() for role, s in run.schedulers.items()},
        "ema": {role: e.state_dict() for role, e in run.ema.items()},
        "objective": run.objective.state_dict(),
        "augmentation": run.augmentation.state_dict() if run.augmentation is not None else {},
        "regularizers": [reg.state_dict() for _, reg in run.regularizers],
        "scaler": run.scaler.state_dict() if run.scaler is not None else {},
        "rng": rng_state(run.device),
        "data": run.data.state_dict(),
        "data_info": info_to_dict(run.data.info),
        "best": run.best,
        "fixed_inputs": run.fixed_inputs,
    }


def _checkpoint(run: Run, best: bool = False, notify: bool = True) -> Path:
    path = ckpt.checkpoint_path(run.checkpoint_dir, run.step)
    payload = checkpoint_payload(run)
    ckpt.save_atomic(payload, path)
    if best:
        ckpt.save_atomic(payload, run.checkpoint_dir / "best.pt")
    ckpt.prune(run.checkpoint_dir, run.recipe.train.keep_checkpoints)
    if notify:
        run.plugins.notify("ganzoo_checkpoint", run=run, step=run.step, path=path)
    return path


# --- 6. end -----------------------------------------------------------------------------------------

def _finish(run: Run, stop: StopRequest, bar, trained: int, seconds: float, training: float) -> None:
    """A signal stops after a finished step, with a checkpoint to resume from. `trained` steps
    took `training` seconds of training (evaluations excluded) and `seconds` in all."""
    for net in run.nets.values():
        net.requires_grad_(True)
    if bar is not None:
        bar.close()
    if stop.signal_name is not None and run.step < run.total_steps:
        run.stopped_by = stop.signal_name
    if not run.world.main:
        return
    if run.stopped_by:
        _print(f"stopped by {run.stopped_by} at step {run.step}; continue with: ganzoo resume {run.dir}")
    elif stop.budget_spent:
        _print(f"train.max_seconds reached at step {run.step}")
    images = trained * run.recipe.train.batch_size * batches_per_step(run.objective)
    if trained:
        _print(f"done: {trained} steps in {training:.1f} s of training ({images / training:,.0f} images/s), "
               f"{seconds:.1f} s in all; samples in {run.dir / 'samples'}, checkpoints in {run.checkpoint_dir}")
    _write_summary(run, images / max(training, 1e-9) if trained else None)
    scores_file = run.dir / "scores.json"
    if not run.scores and scores_file.exists():  # a resumed run that did not evaluate yet
        final = json.loads(scores_file.read_text())["final"]
        run.scores = {k: v for k, v in final.items() if k != "step"}
    write_report(run.dir, {"plugins": ", ".join(f"{k} {v}" for k, v in run.plugins.versions().items())})
    run.plugins.notify("ganzoo_train_end", run=run, step=run.step)


def parameter_counts(run: Run) -> dict[str, int]:
    """Trainable parameters of each network, by role (a spectral norm's u and v are buffers)."""
    return {role: sum(p.numel() for p in net.parameters()) for role, net in run.nets.items()}


def _write_summary(run: Run, images_per_s: float | None) -> None:
    """summary.json: length, time, throughput and peak memory of this run (for `ganzoo bench`)."""
    import platform
    import resource

    from . import __version__

    peak_device = None
    if run.device.type == "cuda":
        peak_device = torch.cuda.max_memory_allocated(run.device) / 2**20
    summary = {
        "steps": run.step, "total_steps": run.total_steps, "train_seconds": round(run.elapsed, 3),
        "images_per_s": images_per_s, "stopped_by": run.stopped_by,
        "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_device_mb": peak_device, "device": str(run.device),
        "device_name": (torch.cuda.get_device_name(run.device) if run.device.type == "cuda"
                        else f"{platform.machine()} CPU, {os.cpu_count()} cores"),
        "ranks": run.world.size, "ganzoo": __version__, "torch": torch.__version__,
        "parameters": parameter_counts(run), "precision": resolve_precision(run.recipe.train.precision, run.device),
    }
    files.write_text(run.dir / "summary.json", json.dumps(summary, indent=2), "the run summary")


# --- helpers: messages, the progress bar, the loss window, stop signals -----------------------------

def _print(message: str) -> None:
    print(f"ganzoo: {message}", file=sys.stderr, flush=True)


def _progress_bar(run: Run, progress: bool | None):
    """A tqdm bar (it/s, ETA, latest losses) on a terminal; one plain line per log window when
    stderr is a file (nohup, a batch scheduler); nothing when progress is False (--quiet)."""
    if progress is False:
        return None
    if progress is None and not sys.stderr.isatty():
        return ProgressLines(run)
    from tqdm import tqdm

    return tqdm(total=run.total_steps, initial=run.step, unit="step", dynamic_ncols=True, file=sys.stderr)


class ProgressLines:
    """The progress bar of a log file: `ganzoo: step 400/4000 (10%), 121 images/s, ETA 0:24:50,
    D 0.295, G 1.69` at every log window, from the window's own throughput."""

    def __init__(self, run: Run):
        self.total, self.images_per_step = run.total_steps, run.recipe.train.batch_size * batches_per_step(run.objective)

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass

    def show(self, step: int, scalars: dict) -> None:
        rate = scalars.get("images_per_s")
        if not rate:  # an evaluation's record
            scores = ", ".join(f"{k.removeprefix('eval/')} {'nan' if v is None else f'{v:.4g}'}"
                               for k, v in scalars.items() if k.startswith("eval/"))
            if scores:
                _print(f"evaluation at step {step}: {scores}")
            return
        eta = round((self.total - step) * self.images_per_step / rate)
        losses = ", ".join(f"{k.removeprefix('loss/')} {'nan' if v is None else f'{v:.3g}'}"
                           for k, v in scalars.items() if k.startswith("loss/"))
        _print(f"step {step}/{self.total} ({100 * step / max(1, self.total):.0f}%), {rate:,.0f} images/s, "
               f"ETA {eta // 3600}:{eta % 3600 // 60:02d}:{eta % 60:02d}" + (f", {losses}" if losses else ""))


class LossWindow:
    """Loss terms of the steps between two log lines, and a watch for non-finite losses.

    `add` launches no device work at all: it keeps the detached scalar tensors in lists.
    `read` stacks them, averages, finds the first step (and phase) whose loss was not
    finite, and is the one host sync per log window.
    """

    def __init__(self):
        self.values: dict[str, list[torch.Tensor]] = {}
        self.losses: list[torch.Tensor] = []
        self.codes: list[int] = []  # step * 16 + phase index, for each entry of self.losses
        self.skipped = 0

    def add(self, terms: dict[str, torch.Tensor], loss: torch.Tensor, step: int, phase_index: int) -> None:
        for name, value in terms.items():
            self.values.setdefault(name, []).append(value.detach())
        self.losses.append(loss.detach())
        self.codes.append(step * 16 + phase_index)

    def add_terms(self, terms: dict[str, torch.Tensor]) -> None:
        """Terms to average that are no loss (e.g. an augmentation's probability)."""
        for name, value in terms.items():
            self.values.setdefault(name, []).append(value.detach())

    def read(self, world=None) -> tuple[dict[str, float], tuple[int, int] | None]:
        """({"loss/<term>": mean}, (step, phase index) of the first non-finite loss, or None).
        Under torchrun the means are over all ranks, and a bad step on any rank counts."""
        names = list(self.values)
        if not names:
            return {}, None
        means = torch.stack([torch.stack(self.values[n]).double().mean() for n in names])
        losses = torch.stack(self.losses)
        codes = torch.tensor(self.codes, dtype=torch.float64).to(losses.device, non_blocking=True)
        first_bad = torch.where(torch.isfinite(losses), _NO_BAD_STEP, codes).min().view(1)
        if world is not None and world.distributed:
            means = distributed.all_reduce(means) / world.size
            first_bad = distributed.all_reduce(first_bad, torch.distributed.ReduceOp.MIN)
        values = torch.cat([means, first_bad]).tolist()
        bad = divmod(int(values[-1]), 16) if values[-1] < _NO_BAD_STEP else None
        scalars = {f"loss/{n}": v for n, v in zip(names, values)}
        if self.skipped:
            scalars["skipped_steps"] = float(self.skipped)
        self.__init__()
        return scalars, bad


_NO_BAD_STEP = 2.0 ** 62


class StopRequest:
    """SIGINT / SIGTERM finish the current step, then the loop checkpoints and stops.
    A second SIGINT stops at once (KeyboardInterrupt)."""

    def __init__(self, device: torch.device = torch.device("cpu")):
        self.signal_name: str | None = None
        self.budget_spent = False  # train.max_seconds reached
        self.device = device  # for the flag the ranks agree on under torchrun
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        _print(f"{self.signal_name} received: finishing this step and writing a checkpoint "
               "(press Ctrl-C again to stop at once)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
