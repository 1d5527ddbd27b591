"""The one training loop. Every variant trains here; read it top to bottom.

    1. device and seeds
    2. build the components the recipe selects (data, networks, objective, optimisers)
    3. resume from a checkpoint, if asked
    4. the step loop: phases in order, each with its own optimisers; no host sync
    5. at the cadences: log (the only host sync), sample grid, checkpoint
    6. end: final evaluation, files flushed, hooks told
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
from . import distributed
from .data import DataInfo, Dataset, info_to_dict
from .distributed import SINGLE, World
from .ema import EMA
from .errors import GanzooError
from .evaluation import build_evaluator, is_better
from .images import save_samples
from .report import write_report
from .objective import Objective, Phase
from .plugins import Plugins
from .recipe import Recipe
from .registry import BuildContext


@dataclass
class Run:
    """A training run: what hooks and the Python API see."""

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
    regularizers: list = field(default_factory=list)   # (phase name, Regularizer)
    ddp_nets: dict = field(default_factory=dict)       # what the steps call (DDP-wrapped when distributed)
    scaler: object = None                              # torch.amp.GradScaler for fp16
    world: World = SINGLE
    schedulers: dict = field(default_factory=dict)     # role -> LR scheduler
    ema: dict = field(default_factory=dict)            # role -> EMA copy
    evaluator: object = None                           # ganzoo.evaluation.Evaluator, if the recipe has metrics
    loggers: list = field(default_factory=list)        # ganzoo.loggers.Logger components (rank 0)
    best: dict = field(default_factory=dict)           # {"key", "value", "step"} of the best evaluation
    step: int = 0
    elapsed: float = 0.0  # training seconds so far, across resumes
    stopped_by: str | None = None  # the signal that stopped the run early, if one did
    last: dict = field(default_factory=dict)  # the latest logged scalars

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


# --- 1. device and seeds ------------------------------------------------------------------

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


# --- 2. build -------------------------------------------------------------------------------

def build(recipe: Recipe, device: torch.device, world: World = SINGLE):
    """(data, nets, ddp_nets, objective, optimizers, regularizers) for a recipe, on `device`, seeded.

    `nets` are the plain networks (sampling, checkpoints, EMA); `ddp_nets` are what the steps
    call: the same networks, wrapped in DDP for the trained ones when running on several ranks.
    """
    seed_everything(recipe.seed)  # the same seed on every rank: identical initial weights
    data = recipe.data.component.build(recipe.data.options, BuildContext(device=device, recipe=recipe, world=world))
    if world.distributed:
        data.shard(world)
    nets, objective = build_models(recipe, device, data.info, world)
    trained = {role for phase in objective.phases for role in phase.trains}
    for role in sorted(trained - set(recipe.optimizers)):
        phase = next(p.name for p in objective.phases if role in p.trains)
        raise GanzooError(f"{recipe.source}: optimizers.{role}: missing; phase {phase!r} trains network {role}")
    if recipe.train.channels_last:
        nets = {role: net.to(memory_format=torch.channels_last) for role, net in nets.items()}
    ddp_nets = distributed.wrap(nets, trained, world, device, recipe.train.sync_batchnorm)
    nets = {role: getattr(net, "module", net) if isinstance(net, distributed.DDP) else net
            for role, net in ddp_nets.items()}
    if recipe.train.compile:  # the steps call compiled networks; checkpoints keep the plain ones
        ddp_nets = {role: torch.compile(net) for role, net in ddp_nets.items()}
    ctx = BuildContext(device=device, recipe=recipe, data=data.info, world=world)
    optimizers = {role: choice.component.build(choice.options, ctx, nets[role].parameters())
                  for role, choice in recipe.optimizers.items()}
    regularizers = []
    for i, choice in enumerate(recipe.regularizers):
        reg = choice.component.build(choice.options, ctx)
        phase = next((p.name for p in objective.phases if reg.network in p.trains), None)
        if phase is None:
            raise GanzooError(f"{recipe.source}: regularizers[{i}] ({choice.name}): objective "
                              f"{recipe.objective.name!r} trains no network {reg.network!r}")
        regularizers.append((phase, reg))
    return data, nets, ddp_nets, objective, optimizers, regularizers


def build_models(recipe: Recipe, device: torch.device, data_info: DataInfo, world: World = SINGLE):
    """(nets, objective): what sampling needs, without the dataset or optimisers."""
    ctx = BuildContext(device=device, recipe=recipe, data=data_info, world=world)
    objective = recipe.objective.component.build(recipe.objective.options, ctx)
    nets = {}
    for role, choice in recipe.networks.items():
        net_ctx = BuildContext(device=device, recipe=recipe, data=objective.network_input(role, data_info),
                               world=world)
        net = choice.component.build(choice.options, net_ctx)
        if not isinstance(net, nn.Module):
            raise GanzooError(f"networks.{role}: {choice.kind} {choice.name!r} built a {type(net).__name__}, "
                              "not a torch.nn.Module")
        if choice.settings.spectral_norm:
            add_spectral_norm(net)
        nets[role] = net.to(device)
    objective.check(nets, data_info, recipe)
    return nets, objective


def add_spectral_norm(net: nn.Module) -> None:
    """Spectral normalisation (one power iteration per forward) on every weight layer."""
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Embedding)
    for module in list(net.modules()):
        if isinstance(module, layers):
            nn.utils.parametrizations.spectral_norm(module)


def make_scheduler(optimizer: torch.optim.Optimizer, settings, total: int):
    """LR factor per training step: 1, or 1 until decay_start then linearly to 0 at `total`."""
    if settings.schedule == "constant":
        return None
    start = int(settings.decay_start * total)

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, (total - step) / max(1, total - start))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batches_per_step(objective: Objective) -> float:
    """Real batches one training step consumes (n_critic for WGAN, 1 for most)."""
    return sum(p.repeats / p.every for p in objective.phases if p.reads_data) or 1


def total_steps(recipe: Recipe, objective: Objective, data: Dataset) -> int:
    """train.steps, or train.epochs converted to steps."""
    if recipe.train.steps is not None:
        return recipe.train.steps
    return math.ceil(recipe.train.epochs * data.batches_per_epoch() / batches_per_step(objective))


# --- 3. the run -------------------------------------------------------------------------------

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


def train(recipe: Recipe, run_dir: Path, plugins: Plugins, resume: dict | None = None,
          progress: bool | None = None) -> Run:
    """Train `recipe` in `run_dir` (created), or continue from a loaded checkpoint `resume`.

    Under torchrun every rank calls this; only rank 0 writes files."""
    world, device = distributed.setup(pick_device(recipe.device))
    data, nets, ddp_nets, objective, optimizers, regularizers = build(recipe, device, world)
    grid_rng = torch.Generator().manual_seed(recipe.seed)
    fixed = objective.fixed_inputs(nets, recipe.train.grid_size, grid_rng, data=data)
    run = Run(Path(run_dir), recipe, plugins, device, data, nets, objective, optimizers, fixed,
              total_steps(recipe, objective, data), regularizers=regularizers, ddp_nets=ddp_nets, world=world)
    for role, choice in recipe.optimizers.items():
        scheduler = make_scheduler(optimizers[role], choice.settings, run.total_steps)
        if scheduler is not None:
            run.schedulers[role] = scheduler
    for role, choice in recipe.networks.items():
        if choice.settings.ema_decay is not None:
            run.ema[role] = EMA(nets[role], choice.settings.ema_decay)
    if recipe.train.precision == "fp16":
        # The default first scale, 2^16, overflows the gradients of small GAN networks and skips
        # their first updates while it falls; from 2^10 it only grows (x2 per 2000 clean steps).
        run.scaler = torch.amp.GradScaler(device.type, init_scale=2.0 ** 10)
    run.evaluator = build_evaluator(recipe, plugins.registry, device, world=world)
    can_evaluate = run.evaluator is not None or bool(plugins.hook.ganzoo_evaluate.get_hookimpls())
    if world.main:
        ctx = BuildContext(device=device, recipe=recipe, world=world)
        run.loggers = [choice.component.build(choice.options, ctx) for choice in recipe.loggers]
        run.dir.mkdir(parents=True, exist_ok=True)
        (run.dir / "recipe.yaml").write_text(recipe.to_yaml())

    if resume is not None:
        _restore(run, resume)
    if world.main:
        for logger in run.loggers:
            logger.start(run)
        plugins.call("ganzoo_train_start", run=run)
        ranks = f" x {world.size} ranks" if world.distributed else ""
        # a resumed run's recipe is its own recipe.yaml, so its file name says nothing
        where = f"{run.dir} on {device}{ranks}"
        what = f"resume {where}:" if resume is not None else f"run {where}: {recipe.stem},"
        _print(f"{what} step {run.step} -> {run.total_steps}")

    bar = _progress_bar(run, progress) if world.main else None
    start_step, start_time, start_elapsed = run.step, time.perf_counter(), run.elapsed
    with StopRequest(device) as stop:
        _run_steps(run, bar, stop, can_evaluate)

    # 6. end: a signal stops after a finished step, with a checkpoint to resume from
    for net in nets.values():
        net.requires_grad_(True)
    if bar is not None:
        bar.close()
    if stop.signal_name is not None and run.step < run.total_steps:
        run.stopped_by = stop.signal_name
    if world.main:
        if run.stopped_by:
            _print(f"stopped by {run.stopped_by} at step {run.step}; continue with: ganzoo resume {run.dir}")
        elif stop.budget_spent:
            _print(f"train.max_seconds reached at step {run.step}")
        seconds = time.perf_counter() - start_time
        training = run.elapsed - start_elapsed  # this session's training time, evaluations excluded
        trained = run.step - start_step
        images = trained * recipe.train.batch_size * batches_per_step(objective)
        if trained:
            _print(f"done: {trained} steps in {training:.1f} s of training ({images / training:,.0f} images/s), "
                   f"{seconds:.1f} s in all; samples in {run.dir / 'samples'}, checkpoints in {run.checkpoint_dir}")
        _write_summary(run, images / max(training, 1e-9) if trained else None)
        final = json.loads((run.dir / "scores.json").read_text())["final"] if (run.dir / "scores.json").exists() else {}
        for logger in run.loggers:
            logger.end(run, {k: v for k, v in final.items() if k != "step" and v is not None})
        write_report(run.dir, {"plugins": ", ".join(f"{k} {v}" for k, v in plugins.versions().items())})
        plugins.call("ganzoo_train_end", run=run, step=run.step)
    return run


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
    }
    (run.dir / "summary.json").write_text(json.dumps(summary, indent=2))


def _run_steps(run: Run, bar, stop: StopRequest, can_evaluate: bool) -> None:
    """4. the step loop, then 5. the cadences. Nothing in a step reads a value back from the
    device: the loss window keeps the losses and reads them once per log window."""
    recipe, nets, objective, optimizers, data = run.recipe, run.ddp_nets, run.objective, run.optimizers, run.data
    train_cfg = recipe.train
    images_per_step = train_cfg.batch_size * batches_per_step(objective)
    skip_nonfinite = train_cfg.nonfinite == "skip"
    autocast = (torch.autocast(run.device.type, dtype=torch.bfloat16 if train_cfg.precision == "bf16" else torch.float16)
                if train_cfg.precision != "fp32" else contextlib.nullcontext())
    scaler = run.scaler
    window = LossWindow()
    scratch: dict = {}
    # Training time excludes evaluations: `clock` is where the current stretch of training
    # started; each log window's images/s uses only the training seconds inside it.
    clock = time.perf_counter()
    window_step, window_seconds = run.step, 0.0

    while run.step < run.total_steps:
        # 4. one step: each phase in order, with its own optimisers
        scratch["epoch"] = run.epoch  # for schedules inside an objective (top-k)
        for phase_index, phase in enumerate(objective.phases):
            if run.step % phase.every:
                continue
            for role, net in nets.items():
                net.requires_grad_(role in phase.grad_networks)
            phase_optimizers = [optimizers[role] for role in phase.trains]
            phase_regularizers = [r for name, r in run.regularizers if name == phase.name]
            with _frozen_ddp(nets, phase) if run.world.distributed else contextlib.nullcontext():
                for _ in range(phase.repeats):
                    batch = data.next_batch() if phase.reads_data else None
                    if batch is not None and train_cfg.channels_last:
                        batch = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                                 for k, v in batch.items()}
                    for opt in phase_optimizers:
                        opt.zero_grad(set_to_none=True)
                    with autocast:
                        loss, terms = objective.loss(phase, nets, batch, scratch)
                        for reg in phase_regularizers:
                            extra = reg.penalty(objective, nets, scratch) if run.step % reg.every == 0 else None
                            if extra is not None:
                                loss = loss + extra[0]
                                terms = {**terms, **extra[1]}
                    if skip_nonfinite and not _all_finite(loss):  # opt-in: one host sync per phase
                        window.skipped += 1
                        continue
                    if scaler is None:
                        loss.backward()
                        for opt in phase_optimizers:
                            opt.step()
                    else:  # fp16: scaled backward; steps with inf/nan gradients are skipped by the scaler
                        scaler.scale(loss).backward()
                        for opt in phase_optimizers:
                            scaler.step(opt)
                        scaler.update()
                    for reg in phase_regularizers:
                        reg.after_step(nets)
                    window.add(terms, loss, run.step, phase_index)
            for role in phase.trains:
                if role in run.ema:
                    run.ema[role].update(run.nets[role])
        scratch.clear()
        for scheduler in run.schedulers.values():
            scheduler.step()
        run.step += 1
        if bar is not None:
            bar.update(1)

        # 5. cadences; a stop signal ends the run here, after a whole step (on every rank
        # at the same step: under torchrun the ranks agree at the cadence steps)
        cadence = lambda every: every is not None and run.step % every == 0  # noqa: E731
        if train_cfg.max_seconds is not None and run.elapsed + time.perf_counter() - clock >= train_cfg.max_seconds:
            stop.budget_spent = True
        stopping = (stop.signal_name is not None or stop.budget_spent) and (
            not run.world.distributed or _agreed(stop, cadence(train_cfg.log_every)))
        last_step = run.step == run.total_steps or stopping
        log_now = cadence(train_cfg.log_every) or last_step
        sample_now = cadence(train_cfg.sample_every) or last_step
        # A signal stop checkpoints at once: a scheduler's grace period is too short for an
        # evaluation, and the resumed run evaluates at its end anyway.
        evaluate_now = can_evaluate and (cadence(recipe.eval.every) or last_step) and stop.signal_name is None
        checkpoint_now = cadence(train_cfg.checkpoint_every) or last_step
        if log_now or sample_now or evaluate_now or checkpoint_now:
            scalars, bad = window.read(run.world)  # the one host sync of a window
            _stop_if_nonfinite(run, bad, scalars)  # before anything is written from broken weights
            now = time.perf_counter()
            run.elapsed += now - clock
            window_seconds += now - clock
            clock = now
            if scalars:
                # images/s counts the real images drawn (n_critic batches per step for WGAN)
                scalars["images_per_s"] = (run.step - window_step) * images_per_step / max(window_seconds, 1e-9)
                window_step, window_seconds = run.step, 0.0
                if run.world.main:
                    _log(run, scalars, bar)
        if sample_now and run.world.main:
            _sample_grid(run)
        improved = False
        if evaluate_now:
            improved = _evaluate(run, bar)
            clock = time.perf_counter()  # evaluation time is not training time
        if (checkpoint_now or improved) and run.world.main:
            _checkpoint(run, best=improved)
        if stopping:
            return


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


def _agreed(stop: StopRequest, at_cadence: bool) -> bool:
    """Under torchrun: stop only at a log step, when any rank was signalled (one collective)."""
    if not at_cadence:
        return False
    flag = torch.tensor(1 if stop.signal_name or stop.budget_spent else 0, device=stop.device)
    return bool(distributed.all_reduce(flag, torch.distributed.ReduceOp.MAX).item())


# --- helpers, in the order the loop uses them ----------------------------------------------

def _print(message: str) -> None:
    print(f"ganzoo: {message}", file=sys.stderr, flush=True)


def _progress_bar(run: Run, progress: bool | None):
    """A tqdm bar (it/s, ETA, latest losses) on a terminal; nothing otherwise."""
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=run.total_steps, initial=run.step, unit="step", dynamic_ncols=True, file=sys.stderr)


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
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    run.last.update(scalars)
    if bar is not None:
        bar.set_postfix({k.removeprefix("loss/"): "nan" if v is None else f"{v:.3g}"
                         for k, v in scalars.items() if k.startswith("loss/")}, refresh=False)
    for logger in run.loggers:
        logger.scalars(run.step, scalars)
    run.plugins.call("ganzoo_log", run=run, step=run.step, scalars=scalars)


def _sample_grid(run: Run) -> Path:
    nets = run.sampling_nets
    for net in nets.values():
        net.eval()  # BatchNorm uses running statistics; sampling changes no state
    try:
        images = run.objective.sample(nets, run.fixed_inputs)
    finally:
        for net in run.nets.values():
            net.train()
    path = save_samples(images, run.dir / "samples" / f"step-{run.step:08d}.png", run.data.info,
                        nrow=run.objective.grid_columns)
    for logger in run.loggers:
        logger.image(run.step, "samples", path)
    run.plugins.call("ganzoo_sample_grid", run=run, step=run.step, path=path)
    return path


def _evaluate(run: Run, bar) -> bool:
    """Score the sampling networks; log the scores with fingerprints; True if this is the best so far.
    Under torchrun every rank makes its share of the samples; rank 0 scores and writes."""
    scores, fingerprints = {}, {}
    if run.evaluator is not None:
        scores, fingerprints = run.evaluator.evaluate(run.objective, run.sampling_nets, run.data.info, run.device)
    if not run.world.main:
        return False
    for result in run.plugins.call("ganzoo_evaluate", run=run, step=run.step):
        scores.update(result or {})  # plugins may add scores of their own
    _log(run, {f"eval/{k}": v for k, v in scores.items()}, bar, fingerprints=fingerprints)
    goals = run.evaluator.goals() if run.evaluator is not None else {}
    key = run.recipe.eval.best or next(iter(goals), None)
    improved = (key in scores and math.isfinite(scores[key])
                and is_better(goals.get(key, "min"), scores[key], run.best.get("value")))
    if improved:
        run.best = {"key": key, "value": scores[key], "step": run.step}
    finite = {k: (v if math.isfinite(v) else None) for k, v in scores.items()}
    summary = {"final": {"step": run.step, **finite}, "best": run.best, "fingerprints": fingerprints}
    tmp = run.dir / ".scores.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(run.dir / "scores.json")
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
        "scaler": run.scaler.state_dict() if run.scaler is not None else {},
        "rng": rng_state(run.device),
        "data": run.data.state_dict(),
        "data_info": info_to_dict(run.data.info),
        "best": run.best,
        "fixed_inputs": run.fixed_inputs,
    }


def _checkpoint(run: Run, best: bool = False) -> Path:
    path = ckpt.checkpoint_path(run.checkpoint_dir, run.step)
    payload = checkpoint_payload(run)
    ckpt.save_atomic(payload, path)
    if best:
        ckpt.save_atomic(payload, run.checkpoint_dir / "best.pt")
    ckpt.prune(run.checkpoint_dir, run.recipe.train.keep_checkpoints)
    run.plugins.call("ganzoo_checkpoint", run=run, step=run.step, path=path)
    return path


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
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        tmp.replace(path)
