"""Plugin discovery: built-ins by name, then third-party packages from entry points.

Environment variables:
  GANZOO_DISABLE_PLUGIN_AUTOLOAD=1  load only the built-in plugins (no entry points).
  GANZOO_PLUGINS_STRICT=1           a plugin that fails to load is a fatal error.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from . import hookspecs
from .errors import GanzooError
from .registry import Registry

ENTRY_POINT_GROUP = "ganzoo.plugins"
BUILTIN_PLUGINS = ("vanilla", "dcgan", "wgan", "losses", "cyclegan", "toy2d", "datasets", "metrics", "optimizers",
                   "loggers", "recipes")


def _ganzoo_version() -> str:
    from . import __version__
    return __version__


@dataclass
class PluginInfo:
    name: str
    package: str
    version: str
    error: str | None = None  # why it failed to load, or None


@dataclass
class Plugins:
    """The loaded plugins, their component registry and any load failures."""

    manager: pluggy.PluginManager
    registry: Registry
    infos: list[PluginInfo] = field(default_factory=list)

    @property
    def hook(self):
        return self.manager.hook

    @property
    def failures(self) -> list[PluginInfo]:
        return [i for i in self.infos if i.error]

    def versions(self) -> dict[str, str]:
        """{plugin name: version} of the loaded plugins, as recorded in checkpoints."""
        return {i.name: i.version for i in self.infos if not i.error}

    def call(self, hook_name: str, **kwargs) -> list:
        """Call a notification hook on every plugin; a plugin that raises is named in a one-line
        error (its package and version), so a bug in a third-party logger is not a ganzoo bug."""
        results = []
        for impl in reversed(getattr(self.hook, hook_name).get_hookimpls()):  # pluggy's order: last registered first
            try:
                result = impl.function(**{k: kwargs[k] for k in impl.argnames})
            except GanzooError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of foreign code
                info = next((i for i in self.infos if i.name == impl.plugin_name), None)
                origin = f"{info.package} {info.version}" if info else impl.plugin_name
                raise GanzooError(f"plugin {impl.plugin_name!r} ({origin}) failed in {hook_name}: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
            if result is not None:
                results.append(result)
        return results

    def recipe_dirs(self) -> list[Path]:
        dirs = []
        for result in self.hook.ganzoo_add_recipe_dirs():
            dirs.extend(Path(d) for d in result or ())
        return dirs


def _fail(infos: list[PluginInfo], info: PluginInfo) -> None:
    infos.append(info)
    message = f"plugin {info.name!r} from package {info.package} {info.version} failed to load: {info.error}"
    if os.environ.get("GANZOO_PLUGINS_STRICT", "") not in ("", "0"):
        raise GanzooError(message + " (GANZOO_PLUGINS_STRICT is set)")
    print(f"ganzoo: warning: {message}; continuing without it", file=sys.stderr)


def load_plugins(extra: tuple = (), autoload: bool | None = None) -> Plugins:
    """Register the built-in plugins, third-party entry points (unless `autoload` is False or
    GANZOO_DISABLE_PLUGIN_AUTOLOAD is set) and `extra` plugin objects, then collect every
    component into a fresh registry."""
    pm = pluggy.PluginManager("ganzoo")
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    version = _ganzoo_version()
    packages: dict[str, tuple[str, str]] = {}

    for name in BUILTIN_PLUGINS:
        module = importlib.import_module(f"ganzoo_plugins.{name}")
        pm.register(module, name=name)
        packages[name] = ("ganzoo", version)
        infos.append(PluginInfo(name, "ganzoo", version))

    if autoload is None:
        autoload = os.environ.get("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    if autoload:
        seen = set()
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            package = dist.metadata["Name"] if dist is not None else ep.value.split(":")[0]
            dist_version = dist.version if dist is not None else "?"
            if ep.name in seen or pm.get_plugin(ep.name) is not None:
                continue  # the same distribution visible twice on sys.path
            seen.add(ep.name)
            # Each entry point is loaded on its own: one broken package must not take
            # the host (and every other plugin) down with it.
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as exc:  # noqa: BLE001 - any import failure is reported by name
                _fail(infos, PluginInfo(ep.name, package, dist_version, f"{type(exc).__name__}: {exc}"))
                continue
            packages[ep.name] = (package, dist_version)
            infos.append(PluginInfo(ep.name, package, dist_version))

    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register(plugin, name=name)
        packages[name] = (name, "local")
        infos.append(PluginInfo(name, name, "local"))

    registry = Registry()
    for impl in pm.hook.ganzoo_add_components.get_hookimpls():
        package, dist_version = packages.get(impl.plugin_name, (impl.plugin_name, "?"))
        try:
            components = impl.function() or []
        except Exception as exc:  # noqa: BLE001
            info = next(i for i in infos if i.name == impl.plugin_name)
            info.error = f"ganzoo_add_components raised {type(exc).__name__}: {exc}"
            _fail([], info)
            pm.unregister(name=impl.plugin_name)
            continue
        for component in components:
            registry.add(component, impl.plugin_name, package, dist_version)
    return Plugins(pm, registry, infos)
