"""The whole plugin contract of ganzoo, in one file.

A plugin is a module (or object) with functions named like the hooks below, marked
with ``@ganzoo.hookimpl``. Built-in plugins (``ganzoo_plugins.*``) use exactly the
same hooks as third-party packages, which are found through the entry-point group
``ganzoo.plugins``:

    # pyproject.toml of a plugin package
    [project.entry-points."ganzoo.plugins"]
    myplugin = "myplugin"

Hooks are grouped by stage: registration (once per process), then training
notifications (once per run, or at the logging / sampling / checkpoint cadence; never
on every step, so that plugins cannot add per-step cost to the loop).
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")


# --- registration ---------------------------------------------------------------------

@hookspec
def ganzoo_add_components():
    """Return a list of :class:`ganzoo.Component` this plugin provides.

    Kinds: generator, discriminator, objective, dataset, optimizer. A name may be used
    once per kind across all plugins; a duplicate is an error naming both plugins.
    """


@hookspec
def ganzoo_add_recipe_dirs():
    """Return a list of directories (``pathlib.Path``) holding ``*.yaml`` recipes.

    ``ganzoo run NAME`` finds ``NAME.yaml`` in these directories when NAME is not a path.
    """


# --- training notifications ------------------------------------------------------------

@hookspec
def ganzoo_train_start(run):
    """A run is about to train. ``run`` is the :class:`ganzoo.loop.Run`: its directory,
    resolved recipe, device, networks, and the step it starts from (non-zero on resume)."""


@hookspec
def ganzoo_log(run, step, scalars):
    """Scalars were logged at ``step`` (a dict of floats: losses averaged over the logging
    window, throughput, metrics). Called at the recipe's ``train.log_every`` cadence."""


@hookspec
def ganzoo_sample_grid(run, step, path):
    """A sample grid PNG was written to ``path`` at ``step``."""


@hookspec
def ganzoo_checkpoint(run, step, path):
    """A checkpoint was written (atomically) to ``path`` at ``step``."""


@hookspec
def ganzoo_evaluate(run, step):
    """Return a dict of metric name -> float for the current networks, or None.

    Called at the recipe's evaluation cadence and at the end of training. Results from
    all plugins are merged and logged to ``metrics.jsonl``.
    """


@hookspec
def ganzoo_train_end(run, step):
    """Training stopped at ``step`` (finished or interrupted); files are flushed."""
