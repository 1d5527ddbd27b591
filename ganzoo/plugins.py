"""Plugin discovery and checking: built-ins by name, then third-party packages from entry points.

Every plugin is checked when it loads (see ganzoo.hookspecs); one that fails a check is
disabled with a one-line warning naming its package, and the others load.

Environment variables:
  GANZOO_DISABLE_PLUGIN_AUTOLOAD=1  load only the built-in plugins (no entry points).
  GANZOO_PLUGINS_STRICT=1           a plugin that fails to load is a fatal error.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata as md
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from . import hookspecs
from .contract import KINDS, Command, Component
from .errors import GanzooError, did_you_mean
from .registry import Registry

ENTRY_POINT_GROUP = "ganzoo.plugins"
BUILTIN_PLUGINS = ("vanilla", "dcgan", "resnet", "r3gan", "wgan", "losses", "relativistic", "lecam", "consistency",
                   "augment", "diffaugment", "ada", "cyclegan", "pix2pix", "image_to_image", "toy2d", "datasets",
                   "cifar", "folder", "anomaly", "metrics", "inception", "dinov2", "classifiers", "optimizers", "loggers",
                   "recipes")
HOOKS = {name for name in dir(hookspecs) if name.startswith("ganzoo_")}


class PluginFailure(Exception):
    """A plugin's hook raised during a run; carries who, where and what, for a one-line message."""

    def __init__(self, plugin: str, hook: str, error: BaseException):
        super().__init__(plugin, hook, error)
        self.plugin, self.hook, self.error = plugin, hook, error


class PluginError(GanzooError):
    """A plugin's hook raised during a run: the one-line message names the plugin and package."""


@dataclass
class PluginInfo:
    name: str
    package: str
    version: str
    error: str | None = None            # why it failed to load, or None
    recipes: list[str] = field(default_factory=list)  # recipes it provides (or would have)


@dataclass
class Plugins:
    """The loaded plugins, their components, recipe directories and commands, and load failures."""

    manager: pluggy.PluginManager
    registry: Registry
    infos: list[PluginInfo] = field(default_factory=list)
    recipe_sources: list[tuple[Path, str]] = field(default_factory=list)   # (directory, plugin name)
    commands: dict[str, tuple[Command, str]] = field(default_factory=dict)  # name -> (command, plugin)

    @property
    def hook(self):
        return self.manager.hook

    @property
    def failures(self) -> list[PluginInfo]:
        return [i for i in self.infos if i.error]

    def info(self, name: str) -> PluginInfo | None:
        return next((i for i in self.infos if i.name == name), None)

    def versions(self) -> dict[str, str]:
        """{plugin name: version} of the loaded plugins, as recorded in checkpoints."""
        return {i.name: i.version for i in self.infos if not i.error}

    def recipe_dirs(self) -> list[Path]:
        return [d for d, _ in self.recipe_sources]

    def describe(self, failure: PluginFailure) -> str:
        """One line: which plugin (package and version) failed in which hook, and how."""
        info = self.info(failure.plugin)
        origin = f"{info.package} {info.version}" if info else failure.plugin
        text = str(failure.error).strip().splitlines()
        return (f"plugin {failure.plugin!r} ({origin}) failed in {failure.hook}: "
                f"{type(failure.error).__name__}{': ' + text[0][:200] if text else ''}")

    def notify(self, hook_name: str, **kwargs) -> list:
        """Call a hook through pluggy (so hookwrappers work); a plugin that raises becomes a
        one-line GanzooError naming it, so a bug in a third-party logger is not a ganzoo bug."""
        try:
            return getattr(self.hook, hook_name)(**kwargs)
        except PluginFailure as failure:
            raise PluginError(self.describe(failure)) from None

    # --- plugins that live for one run (the recipe's loggers) ---------------------------------
    def add_run_plugin(self, plugin, name: str, package: str, version: str) -> None:
        error = _register(self.manager, plugin, name)
        if error:
            raise GanzooError(f"{name} ({package}): {error}")
        self.infos.append(PluginInfo(name, package, version))

    def remove_run_plugin(self, name: str) -> None:
        if self.manager.get_plugin(name) is not None:
            self.manager.unregister(name=name)
        self.infos = [i for i in self.infos if i.name != name]


# --- checks ----------------------------------------------------------------------------------

def _tagged(function, plugin: str, hook: str):
    """The hook function, with any exception it raises tagged with the plugin's name."""
    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (GanzooError, PluginFailure):
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of foreign code
            raise PluginFailure(plugin, hook, exc) from exc
    return call


def _register(pm: pluggy.PluginManager, plugin, name: str) -> str | None:
    """Register `plugin`; the reason it cannot be, or None. Catches misspelled hooks and
    unmarked ones before pluggy would silently ignore or reject them."""
    for attr in dir(plugin):
        if not attr.startswith("ganzoo_") or not callable(getattr(plugin, attr, None)):
            continue
        if attr not in HOOKS:
            return f"unknown hook {attr}{did_you_mean(attr, HOOKS)}; hooks: {', '.join(sorted(HOOKS))}"
        if not hasattr(getattr(plugin, attr), "ganzoo_impl"):
            return f"{attr} is not marked with @ganzoo.hookimpl"
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        return str(exc).splitlines()[0].replace(f"Plugin {name!r} for hook ", "")
    for caller in pm.get_hookcallers(pm.get_plugin(name)) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin_name == name and not (impl.hookwrapper or impl.wrapper):
                impl.function = _tagged(impl.function, name, caller.name)
    return None


def _component_error(item) -> str | None:
    """Why `item` is not a valid Component, or None."""
    if not isinstance(item, Component):
        return f"ganzoo_add_components returned a {type(item).__name__} in its list, expected ganzoo.Component"
    where = f"component {item.name!r}"
    if not isinstance(item.name, str) or not item.name:
        return f"component name {item.name!r}: expected a non-empty string"
    if item.kind not in KINDS:
        return f"{where} has unknown kind {item.kind!r}; kinds: {', '.join(KINDS)}{did_you_mean(item.kind, KINDS)}"
    if not callable(item.build):
        return f"{where}: build is a {type(item.build).__name__}, not callable"
    if not (isinstance(item.options, type) and dataclasses.is_dataclass(item.options)):
        return f"{where}: options {getattr(item.options, '__name__', item.options)!r} is not a dataclass " \
               "(declare it with @dataclass(frozen=True))"
    needs = {"objective": "networks", "metric": "goals"}.get(item.kind)
    if needs and not isinstance(getattr(item.build, needs, None), Mapping):
        return f"{where}: a {item.kind}'s build must be a class with a `{needs}` mapping (subclass ganzoo." \
               f"{'Objective' if item.kind == 'objective' else 'Metric'})"
    return None


def _listed(result, hook: str, allowed: tuple, what: str) -> tuple[list, str | None]:
    """A registration hook's result as a list, or the reason it is not a list of `allowed`."""
    if result is None:
        return [], None
    if not isinstance(result, (list, tuple)):
        return [], f"{hook} returned a {type(result).__name__}, expected a list of {what}"
    bad = next((x for x in result if not isinstance(x, allowed)), None)
    if bad is not None and hook != "ganzoo_add_components":
        return [], f"{hook} returned a {type(bad).__name__} in its list, expected {what}"
    return list(result), None


def _registration(plugin, name: str, taken: set[str]) -> tuple[dict, str | None]:
    """Call one plugin's registration hooks and check what they return."""
    out = {"components": [], "recipe_dirs": [], "commands": []}
    hooks = (("ganzoo_add_components", "components", (Component,), "ganzoo.Component"),
             ("ganzoo_add_recipe_dirs", "recipe_dirs", (Path, str), "pathlib.Path"),
             ("ganzoo_add_commands", "commands", (Command,), "ganzoo.Command"))
    for hook, key, allowed, what in hooks:
        function = getattr(plugin, hook, None)
        if function is None:
            continue
        try:
            result = function()
        except Exception as exc:  # noqa: BLE001
            return out, f"{hook} raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        out[key], error = _listed(result, hook, allowed, what)
        if error:
            return out, error
    for component in out["components"]:
        error = _component_error(component)
        if error:
            return out, error
    for command in out["commands"]:
        if command.name in taken:
            return out, f"command {command.name!r} is already a ganzoo command"
    return out, None


def _recipe_names(dirs) -> list[str]:
    return sorted({p.stem for d in dirs if Path(d).is_dir() for p in Path(d).glob("*.yaml")})


def _fail(info: PluginInfo) -> None:
    message = f"plugin {info.name!r} from package {info.package} {info.version} failed to load: {info.error}"
    if info.recipes:
        message += f" (its recipes {', '.join(info.recipes)} are unavailable)"
    if os.environ.get("GANZOO_PLUGINS_STRICT", "") not in ("", "0"):
        raise GanzooError(message + " (GANZOO_PLUGINS_STRICT is set)")
    print(f"ganzoo: warning: {message}; continuing without it", file=sys.stderr)


# --- loading ---------------------------------------------------------------------------------

def _candidates(extra: tuple, autoload: bool, version: str) -> list:
    """(plugin object or None, PluginInfo) for the built-ins, entry points and `extra`, in order."""
    out = [(importlib.import_module(f"ganzoo_plugins.{n}"), PluginInfo(n, "ganzoo", version))
           for n in BUILTIN_PLUGINS]
    seen = set(BUILTIN_PLUGINS)
    for ep in md.entry_points(group=ENTRY_POINT_GROUP) if autoload else ():
        if ep.name in seen:
            continue  # the same distribution visible twice on sys.path
        seen.add(ep.name)
        dist = getattr(ep, "dist", None)
        info = PluginInfo(ep.name, dist.metadata["Name"] if dist is not None else ep.value.split(":")[0],
                          dist.version if dist is not None else "?")
        try:  # each on its own: one broken package must not take the others down
            out.append((ep.load(), info))
        except Exception as exc:  # noqa: BLE001 - any import failure is reported by name
            info.error = f"{type(exc).__name__}: {exc}"
            info.recipes = sorted(Path(str(f)).stem for f in (dist.files or []) if str(f).endswith(".yaml")) \
                if dist is not None else []
            out.append((None, info))
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        out.append((plugin, PluginInfo(name, name, "local")))
    return out


def load_plugins(extra: tuple = (), autoload: bool | None = None) -> Plugins:
    """Register and check the built-in plugins, third-party entry points (unless `autoload` is
    False or GANZOO_DISABLE_PLUGIN_AUTOLOAD is set) and `extra` plugin objects, then collect
    their components, recipe directories and commands."""
    from . import __version__

    if autoload is None:
        autoload = os.environ.get("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    pm = pluggy.PluginManager("ganzoo")
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm, Registry())
    from .cli import BUILTIN_COMMANDS

    taken = set(BUILTIN_COMMANDS)
    for plugin, info in _candidates(extra, autoload, __version__):
        plugins.infos.append(info)
        if plugin is not None and info.error is None:
            found, info.error = _registration(plugin, info.name, taken)
            info.recipes = _recipe_names(found["recipe_dirs"])
            info.error = info.error or _register(pm, plugin, info.name)
        if info.error:
            _fail(info)
            if pm.get_plugin(info.name) is not None:
                pm.unregister(name=info.name)
            continue
        for component in found["components"]:
            plugins.registry.add(component, info.name, info.package, info.version)
        plugins.recipe_sources += [(Path(d), info.name) for d in found["recipe_dirs"]]
        for command in found["commands"]:
            plugins.commands[command.name] = (command, info.name)
            taken.add(command.name)
    return plugins
