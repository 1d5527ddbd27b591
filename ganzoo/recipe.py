"""Recipes: YAML (safe loading only) -> a validated, immutable Recipe.

A recipe selects one component per slot and gives its options:

    seed: 0
    device: auto                      # auto | cpu | cuda | cuda:N | mps
    data:       {name: mnist, ...dataset options}
    networks:   {G: {name: mlp, ...}, D: {name: mlp, spectral_norm: true}}  # roles come from the objective
    objective:  {name: bce, ...}
    regularizers: [{name: gradient_penalty, weight: 10}]      # optional
    augmentation: {name: flip}                                # optional: applied to every D input
    optimizers: {G: {name: adam, lr: 2.0e-4}, D: {...}}      # one per trained network
    train:      {batch_size: 100, epochs: 50, ...}           # see TrainSettings

Every mapping is checked strictly against the schema of the component it selects. The data
entry also takes the keys of DataSettings, network entries those of NetworkSettings and
optimiser entries those of OptimizerSettings, whatever component they name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Mapping

import yaml

from .errors import GanzooError, did_you_mean
from .options import option, schema_fields, to_plain, validate
from .registry import Component, Registry


@dataclass(frozen=True)
class TrainSettings:
    batch_size: int = option(64, "examples per batch; under torchrun the global batch, split across ranks", min=1)
    steps: int | None = option(None, "training steps (one generator update each); set this or epochs", min=1)
    epochs: int | None = option(None, "passes over the training data; set this or steps", min=1)
    log_every: int = option(100, "steps between lines in metrics.jsonl (losses averaged over them)", min=1)
    sample_every: int = option(1000, "steps between sample grids (samples/step-*.png)", min=1)
    checkpoint_every: int = option(5000, "steps between checkpoints (one is always written at the end)", min=1)
    keep_checkpoints: int = option(3, "how many of the newest checkpoints to keep", min=1)
    grid_size: int = option(64, "images per sample grid, from latents fixed for the whole run", min=1, max=1024)
    max_seconds: float | None = option(None, "stop after this much training time (seconds), whatever the "
                                             "length; `ganzoo bench --seconds` uses it", min=0, min_exclusive=True)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = option(
        "fp32", "mixed precision: bf16 autocast, fp16 autocast with a GradScaler, or auto: bf16 where the "
        "hardware has it natively (CUDA with bf16, CPUs with AMX or AVX512-BF16), else fp32")
    compile: bool = option(False, "torch.compile the networks the steps call (slow first steps)")
    channels_last: bool = option(False, "channels-last memory format for image networks and batches")
    sync_batchnorm: bool = option(False, "under torchrun on CUDA: BatchNorm statistics over all ranks (SyncBatchNorm)")
    nonfinite: Literal["stop", "skip"] = option(
        "stop", "a non-finite loss stops the run (the last good checkpoint is kept), or its step is skipped "
                "and counted (costs a host sync per phase)")


@dataclass(frozen=True)
class EvalSettings:
    every: int | None = option(None, "steps between evaluations (and at the end); null: only at the end", min=1)
    best: str | None = option(None, "score that picks the best checkpoint (e.g. fid); default: the first metric's "
                                    "first score")
    seed: int = option(0, "seed of the evaluation samples: the same checkpoint and seed give the same score", min=0)


@dataclass(frozen=True)
class LoggerSettings:
    """Keys every logger entry takes."""

    on_error: Literal["stop", "warn"] = option(
        "stop", "a failure inside the logger: stop (checkpoint, then one line naming it) or warn (one line, the "
                "logger is switched off, training goes on)")


@dataclass(frozen=True)
class NetworkSettings:
    """Keys every network entry takes, applied by the loop to any network component."""

    spectral_norm: bool = option(False, "spectral normalisation on every conv, linear and embedding layer "
                                        "(Miyato et al. 2018)")
    ema_decay: float | None = option(None, "keep an exponential moving average of the weights with this decay "
                                           "(e.g. 0.999); samples and evaluation use it", min=0, max=1)
    ema_halflife: float | None = option(None, "an EMA whose half-life is this many training images, whatever the "
                                              "batch (Karras et al. 2020: 10,000 at batch 32); instead of ema_decay",
                                        min=0, min_exclusive=True)
    ema_rampup: float | None = option(None, "with ema_halflife or ema_decay: the half-life is at most this "
                                            "fraction of the images seen so far, so early weights fade fast "
                                            "(StyleGAN2-ADA: 0.05)",
                                      min=0, min_exclusive=True)


@dataclass(frozen=True)
class OptimizerSettings:
    """Keys every optimiser entry takes: the learning-rate (and Adam beta2) schedule over the run."""

    schedule: Literal["constant", "linear", "cosine"] = option(
        "constant", "constant; linear: constant until decay_start, then linearly to lr_end at the last step; "
                    "cosine: from lr at decay_start to lr_end at the last step along half a cosine (R3GAN)")
    decay_start: float = option(0.0, "fraction of the run after which the decay starts", min=0, max=1)
    lr_end: float = option(0.0, "learning rate at the last step, for the linear and cosine schedules", min=0)
    beta2_end: float | None = option(None, "Adam's beta2 at the last step, from the optimiser's own along the "
                                           "same cosine from step 0 (R3GAN: 0.9 -> 0.99)", min=0, max=1)


@dataclass(frozen=True)
class DataSettings:
    """Keys every dataset entry takes: train on a fixed subset of the data (limited-data studies)."""

    limit: int | None = option(None, "train on only this many examples, a fixed subset drawn by subset_seed",
                               min=1)
    fraction: float | None = option(None, "train on only this fraction of the examples (instead of limit)",
                                    min=0, max=1, min_exclusive=True)
    subset_seed: int = option(0, "seed of the subset; the same subset whatever the run's seed", min=0)


@dataclass(frozen=True)
class _TopLevel:
    seed: int = option(0, "seed of every random number generator in the run", min=0)
    device: str = option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")


SECTIONS = ("seed", "device", "data", "networks", "objective", "regularizers", "augmentation", "optimizers", "train",
            "eval", "loggers")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Choice:
    """A selected component with its validated options."""

    kind: str
    name: str
    options: Any
    component: Component = field(compare=False, repr=False)
    settings: Any = None  # DataSettings / NetworkSettings / OptimizerSettings for data, networks, optimisers

    def to_dict(self) -> dict:
        return {"name": self.name, **to_plain(self.options), **(to_plain(self.settings) if self.settings else {})}


@dataclass(frozen=True)
class Recipe:
    source: str
    seed: int
    device: str
    data: Choice
    networks: Mapping[str, Choice]
    objective: Choice
    regularizers: tuple[Choice, ...]
    optimizers: Mapping[str, Choice]
    train: TrainSettings
    eval: EvalSettings = EvalSettings()
    metrics: tuple[Choice, ...] = ()
    loggers: tuple[Choice, ...] = ()
    augmentation: Choice | None = None

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "device": self.device,
            "data": self.data.to_dict(),
            "networks": {k: v.to_dict() for k, v in self.networks.items()},
            "objective": self.objective.to_dict(),
            "regularizers": [r.to_dict() for r in self.regularizers],
            **({"augmentation": self.augmentation.to_dict()} if self.augmentation is not None else {}),
            "optimizers": {k: v.to_dict() for k, v in self.optimizers.items()},
            "train": to_plain(self.train),
            "eval": {**to_plain(self.eval), "metrics": [m.to_dict() for m in self.metrics]},
            "loggers": [lg.to_dict() for lg in self.loggers],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    @property
    def stem(self) -> str:
        return Path(self.source).stem


# --- reading ----------------------------------------------------------------------------

MAX_RECIPE_BYTES = 1 << 20  # a recipe is a page of YAML; anything near this is not one
MAX_DEPTH = 16               # the deepest recipe key is 4 levels down (eval.metrics[i].name)


def parse_yaml(text: str, where: str):
    """YAML (safe loading) of a recipe or a --set value, refused past MAX_DEPTH levels of nesting
    before the parser's own recursion gives out."""
    depth = deepest = 0
    for char in text:  # a cheap upper bound on flow nesting ([{...}]); block nesting is checked after
        depth += char in "[{"
        depth -= char in "]}"
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise GanzooError(f"{where}: nested {deepest} levels deep; a recipe nests at most {MAX_DEPTH}")
    try:
        value = yaml.safe_load(text)
    except RecursionError:
        raise GanzooError(f"{where}: nested too deeply; a recipe nests at most {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise GanzooError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    return value


def _depth(value) -> int:
    deepest, todo = 0, [(value, 0)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        todo.extend((child, level + 1) for child in children)
    return deepest


def read_yaml(path: Path) -> dict:
    """A recipe file as a plain dict; missing files and invalid YAML are one-line errors."""
    try:
        if Path(path).stat().st_size > MAX_RECIPE_BYTES:
            raise GanzooError(f"{path}: {Path(path).stat().st_size:,} bytes is too large for a recipe "
                              f"(at most {MAX_RECIPE_BYTES:,})")
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GanzooError(f"{path}: recipe file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GanzooError(f"{path}: cannot read recipe ({exc})") from None
    try:
        raw = parse_yaml(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise GanzooError(f"{path}: invalid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise GanzooError(f"{path}: a recipe must be a YAML mapping of sections, got {type(raw).__name__}")
    return raw


def apply_overrides(raw: dict, overrides: tuple[str, ...] | list[str]) -> dict:
    """Apply `a.b=value` overrides (value parsed as YAML) to a copy of `raw`."""
    import copy

    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise GanzooError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. train.steps=1000")
        try:
            value = parse_yaml(text, "the value") if text.strip() else None
        except yaml.YAMLError:
            raise GanzooError(f"--set {item!r}: the value is not valid YAML") from None
        node = raw
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise GanzooError(f"--set {item!r}: {'.'.join(parts[:i + 1])} is not a mapping")
            node = child
        node[parts[-1]] = value
        # The run length is train.steps or train.epochs: overriding one clears the other.
        exclusive = {"train.steps": "epochs", "train.epochs": "steps"}
        if key in exclusive and value is not None and isinstance(raw.get("train"), dict):
            raw["train"].pop(exclusive[key], None)
    return raw


def _choice(registry: Registry, kind: str, raw: Any, path: str, common: type | None = None) -> Choice:
    """Validate one component entry; keys of the `common` settings schema are split off first."""
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise GanzooError(f"{path}: expected a mapping with a 'name' key, got {raw!r}")
    if "name" not in raw:
        available = ", ".join(sorted(registry.tables[kind])) or "(none)"
        raise GanzooError(f"{path}.name: missing; choose a {kind}: {available}")
    name = raw["name"]
    component = registry.get(kind, name, f"{path}.name")
    common_keys = tuple(schema_fields(common)) if common else ()
    own = {k: v for k, v in raw.items() if k not in common_keys}
    try:
        options = validate(component.options, own, path, ignore=("name",))
    except GanzooError as exc:
        if common_keys and "unknown key; allowed: " in str(exc):  # say that the common keys are allowed too
            head, _, tail = str(exc).partition("unknown key; allowed: ")
            key = head.rstrip(": ").rpartition(".")[2]
            allowed = sorted(set(schema_fields(component.options)) | set(common_keys))
            raise GanzooError(f"{head}unknown key; allowed: {', '.join(allowed)}{did_you_mean(key, allowed)}") \
                from None
        raise
    settings = validate(common, {k: raw[k] for k in common_keys if k in raw}, path) if common else None
    return Choice(kind, name, options, component, settings)


def _roles(raw: Any, path: str) -> dict:
    if raw is None:
        raise GanzooError(f"{path}: missing section")
    if not isinstance(raw, dict):
        raise GanzooError(f"{path}: expected a mapping of network roles, got {raw!r}")
    return raw


def resolve(raw: dict, registry: Registry, source: str = "recipe") -> Recipe:
    """Validate a raw recipe mapping into a Recipe (defaults filled in, all options checked)."""
    try:
        for key in raw:
            if key not in SECTIONS:
                raise GanzooError(f"{key}: unknown top-level key; allowed: {', '.join(SECTIONS)}"
                                  f"{did_you_mean(key, SECTIONS)}")
        top = validate(_TopLevel, {k: raw[k] for k in ("seed", "device") if k in raw}, "")
        if not _DEVICE.match(top.device):
            raise GanzooError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {top.device!r}")
        for section in ("data", "objective"):
            if section not in raw:
                raise GanzooError(f"{section}: missing section")
        data = _choice(registry, "dataset", raw["data"], "data", DataSettings)
        if data.settings.limit is not None and data.settings.fraction is not None:
            raise GanzooError("data: set limit or fraction, not both")
        objective = _choice(registry, "objective", raw["objective"], "objective")
        roles: Mapping[str, str] = getattr(objective.component.build, "networks", {})

        raw_nets = _roles(raw.get("networks"), "networks")
        for role in raw_nets:
            if role not in roles:
                raise GanzooError(f"networks.{role}: objective {objective.name!r} has no network {role!r}; "
                                  f"it needs: {', '.join(roles)}{did_you_mean(role, roles)}")
        networks = {}
        for role, kind in roles.items():
            if role not in raw_nets:
                raise GanzooError(f"networks.{role}: missing; objective {objective.name!r} needs a {kind} "
                                  f"named {role}")
            networks[role] = _choice(registry, kind, raw_nets[role], f"networks.{role}", NetworkSettings)
            settings = networks[role].settings
            if settings.ema_halflife is not None and settings.ema_decay is not None:
                raise GanzooError(f"networks.{role}: set ema_decay or ema_halflife, not both")
            if settings.ema_rampup is not None and settings.ema_halflife is None and settings.ema_decay is None:
                raise GanzooError(f"networks.{role}.ema_rampup: needs ema_halflife or ema_decay")

        raw_regs = raw.get("regularizers") or []
        if not isinstance(raw_regs, list):
            raise GanzooError(f"regularizers: expected a list of {{name: ...}} entries, got {raw_regs!r}")
        regularizers = tuple(_choice(registry, "regularizer", r, f"regularizers[{i}]") for i, r in enumerate(raw_regs))

        raw_aug = raw.get("augmentation")
        augmentation = _choice(registry, "augmentation", raw_aug, "augmentation") if raw_aug is not None else None

        raw_opts = _roles(raw.get("optimizers"), "optimizers")
        optimizers = {}
        for role, spec in raw_opts.items():
            if role not in networks:
                raise GanzooError(f"optimizers.{role}: no network {role!r}; networks: {', '.join(networks)}"
                                  f"{did_you_mean(role, networks)}")
            optimizers[role] = _choice(registry, "optimizer", spec, f"optimizers.{role}", OptimizerSettings)

        train = validate(TrainSettings, raw.get("train"), "train")
        if (train.steps is None) == (train.epochs is None):
            raise GanzooError("train: set exactly one of train.steps and train.epochs "
                              f"(got steps={train.steps}, epochs={train.epochs})")

        raw_eval = raw.get("eval") or {}
        if not isinstance(raw_eval, dict):
            raise GanzooError(f"eval: expected a mapping, got {raw_eval!r}")
        eval_settings = validate(EvalSettings, {k: v for k, v in raw_eval.items() if k != "metrics"}, "eval")
        raw_metrics = raw_eval.get("metrics") or []
        if not isinstance(raw_metrics, list):
            raise GanzooError(f"eval.metrics: expected a list of {{name: ...}} entries, got {raw_metrics!r}")
        metrics = tuple(_choice(registry, "metric", m, f"eval.metrics[{i}]") for i, m in enumerate(raw_metrics))
        raw_loggers = raw.get("loggers", [{"name": "tensorboard"}])  # TensorBoard unless the recipe says otherwise
        if raw_loggers is None:
            raw_loggers = []
        if not isinstance(raw_loggers, list):
            raise GanzooError(f"loggers: expected a list of {{name: ...}} entries, got {raw_loggers!r}")
        loggers = tuple(_choice(registry, "logger", lg, f"loggers[{i}]", LoggerSettings)
                        for i, lg in enumerate(raw_loggers))
        goals = {}
        for m in metrics:
            goals.update(getattr(m.component.build, "goals", {}))
        if eval_settings.best is not None and eval_settings.best not in goals:
            raise GanzooError(f"eval.best: {eval_settings.best!r} is not a score of the metrics; scores: "
                              f"{', '.join(goals) or '(no metrics)'}{did_you_mean(eval_settings.best, goals)}")
    except GanzooError as exc:
        raise GanzooError(f"{source}: {exc}") from None
    return Recipe(str(source), top.seed, top.device, data, MappingProxyType(networks), objective, regularizers,
                  MappingProxyType(optimizers), train, eval_settings, metrics, loggers, augmentation)


def find_recipe(arg: str, recipe_dirs: list[Path]) -> Path:
    """A recipe path, or a name found as NAME.yaml in the plugins' recipe directories."""
    path = Path(arg)
    if path.is_file():
        return path
    if path.suffix == "" and len(path.parts) == 1:
        for d in recipe_dirs:
            candidate = d / f"{arg}.yaml"
            if candidate.is_file():
                return candidate
    known = sorted({p.stem for d in recipe_dirs if d.is_dir() for p in d.glob("*.yaml")})
    hint = f"; known recipes: {', '.join(known)}" if known else ""
    raise GanzooError(f"{arg}: recipe file not found{hint}{did_you_mean(path.stem, known)}")


def load_recipe(arg: str | Path, overrides: tuple[str, ...] | list[str] = (), plugins=None) -> Recipe:
    """Read, override and validate a recipe file or built-in recipe name."""
    from .plugins import load_plugins

    plugins = plugins or load_plugins()
    path = find_recipe(str(arg), plugins.recipe_dirs())
    from_file = read_yaml(path)
    try:
        return resolve(apply_overrides(from_file, overrides), plugins.registry, str(path))
    except GanzooError as exc:
        if not overrides:
            raise
        try:  # the file alone is fine: the error is in the overrides, so say --set, not the file
            resolve(from_file, plugins.registry, str(path))
        except GanzooError:
            raise exc from None
        given = " ".join(f"--set {o if len(o) <= 80 else o[:77] + '...'}" for o in overrides)
        raise GanzooError(f"{given}: {str(exc).removeprefix(f'{path}: ')}") from None


@dataclass(frozen=True)
class RecipeEntry:
    name: str
    path: Path
    plugin: str
    package: str
    version: str
    description: str
    status: str  # "ok", or why it cannot be used (a component is missing, its plugin failed)


def describe(path: Path) -> str:
    """The first line of the recipe file's leading comment, or ''."""
    try:
        first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return ""
    return first.lstrip("#").strip() if first.startswith("#") else ""


def list_recipes(plugins) -> list[RecipeEntry]:
    """Every recipe of the loaded plugins, with whether it resolves; then those a failed plugin
    would have provided."""
    out = []
    for directory, plugin in plugins.recipe_sources:
        info = plugins.info(plugin)
        for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else ():
            try:
                resolve(read_yaml(path), plugins.registry, path.name)
                status = "ok"
            except GanzooError as exc:
                status = "unavailable: " + str(exc).removeprefix(f"{path.name}: ")[:80]
            out.append(RecipeEntry(path.stem, path, plugin, info.package, info.version, describe(path), status))
    for info in plugins.failures:
        out += [RecipeEntry(name, Path(), info.name, info.package, info.version, "",
                            f"unavailable: plugin {info.name!r} failed to load") for name in info.recipes]
    return out
