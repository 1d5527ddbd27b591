"""Component tables by kind, filled only through the `ganzoo_add_components` hook."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import GanzooError, did_you_mean
from .options import NoOptions

#: The kinds of component a plugin can add. Each kind's `build` is called as:
#:   generator, discriminator: build(options, ctx) -> torch.nn.Module
#:   objective:                build(options, ctx) -> ganzoo.Objective
#:   dataset:                  build(options, ctx) -> ganzoo.data.Dataset
#:   optimizer:                build(options, ctx, params) -> torch.optim.Optimizer
#:   regularizer:              build(options, ctx) -> ganzoo.Regularizer
#:   metric:                   build(options, ctx) -> ganzoo.evaluation.Metric (its class has `goals`)
#:   features:                 build(options, ctx) -> ganzoo.features.FeatureNet
#:   logger:                   build(options, ctx) -> ganzoo.loggers.Logger
KINDS = ("generator", "discriminator", "objective", "regularizer", "dataset", "optimizer", "metric", "features",
         "logger")


@dataclass(frozen=True)
class Component:
    """A named, buildable part that a recipe can select.

    kind:    one of KINDS.
    name:    the name recipes use (unique within its kind).
    build:   factory; its signature depends on the kind (see KINDS above).
    options: a frozen dataclass whose fields are the recipe keys this component takes.
    help:    one line for `ganzoo list`.
    """

    kind: str
    name: str
    build: Callable[..., Any]
    options: type = NoOptions
    help: str = ""


@dataclass(frozen=True)
class BuildContext:
    """What is known when components are built: the device, the data, the whole recipe, and
    the data-parallel world (rank and number of ranks; one rank unless run under torchrun)."""

    device: Any
    recipe: Any
    data: Any = None  # ganzoo.data.DataInfo once the dataset is built
    world: Any = None  # ganzoo.distributed.World


@dataclass(frozen=True)
class Entry:
    component: Component
    plugin: str   # plugin name as registered with the plugin manager
    package: str  # distribution that provides it ("ganzoo" for the built-ins)
    version: str


@dataclass
class Registry:
    tables: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def add(self, component: Component, plugin: str, package: str, version: str) -> None:
        if not isinstance(component, Component):
            raise GanzooError(f"plugin {plugin!r} ({package}): ganzoo_add_components returned "
                              f"{type(component).__name__}, expected ganzoo.Component")
        if component.kind not in self.tables:
            raise GanzooError(f"plugin {plugin!r} ({package}): component {component.name!r} has unknown kind "
                              f"{component.kind!r}; allowed: {', '.join(self.tables)}")
        table = self.tables[component.kind]
        if component.name in table:
            other = table[component.name]
            raise GanzooError(
                f"duplicate {component.kind} {component.name!r}: registered by plugin {other.plugin!r} "
                f"({other.package}) and by plugin {plugin!r} ({package}); uninstall or rename one")
        table[component.name] = Entry(component, plugin, package, version)

    def get(self, kind: str, name: str, path: str = "") -> Component:
        table = self.tables[kind]
        if not isinstance(name, str) or name not in table:
            where = f"{path}: " if path else ""
            available = ", ".join(sorted(table)) or "(none)"
            raise GanzooError(f"{where}unknown {kind} {name!r}; available: {available}{did_you_mean(name, table)}")
        return table[name].component

    def entry(self, kind: str, name: str) -> Entry:
        return self.tables[kind][name]

    def list(self, kind: str | None = None, pattern: str = "*") -> list[Entry]:
        kinds = [kind] if kind else list(self.tables)
        return [e for k in kinds for n, e in sorted(self.tables[k].items()) if fnmatch.fnmatch(n, pattern)]
