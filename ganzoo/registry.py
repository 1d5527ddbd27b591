"""Component tables by kind, filled only through the `ganzoo_add_components` hook."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from .contract import KINDS, Component
from .errors import GanzooError, did_you_mean


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
        """Add a checked component (see ganzoo.plugins); a name taken in its kind is fatal."""
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
