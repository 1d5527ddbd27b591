"""Makes the built-in recipes (recipes/, installed as `ganzoo_recipes`) findable by name."""
from __future__ import annotations

from pathlib import Path

from ganzoo import hookimpl


@hookimpl
def ganzoo_add_recipe_dirs():
    import ganzoo_recipes

    return [Path(p) for p in ganzoo_recipes.__path__]
