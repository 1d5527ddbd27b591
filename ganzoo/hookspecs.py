"""The whole plugin contract of ganzoo: the hooks, here; what they hand over, in ganzoo.contract.

A plugin is a module (or object) with functions named like the hooks below, marked with
``@ganzoo.hookimpl``. Built-in plugins (``ganzoo_plugins.*``) use exactly the same hooks as
third-party packages, which are found through the entry-point group ``ganzoo.plugins``:

    # pyproject.toml of a plugin package
    [project.entry-points."ganzoo.plugins"]
    myplugin = "myplugin"

Every kind of component (dataset, generator, discriminator, objective, regularizer,
augmentation, optimizer, metric, features, logger), the build signature of each and what
the loop calls on it, is in :mod:`ganzoo.contract`; every name a plugin needs is importable
from top-level ``ganzoo``.

Hooks are grouped by stage: registration (once per process, checked when plugins load),
then training notifications (once per run, or at the logging / sampling / checkpoint
cadence; never on every step, so that plugins cannot add per-step cost to the loop), then
output.

Checked at load time, each failure disabling that one plugin with a one-line warning (fatal
with GANZOO_PLUGINS_STRICT=1): a function named ``ganzoo_*`` that is no hook below, a hook
whose arguments are not the spec's, a registration hook returning the wrong type, a
component of an unknown kind, options that are not a dataclass. A hook that raises during
a run stops the run with one line naming the plugin and its package, after a checkpoint.
Hooks are called through pluggy, so ``@ganzoo.hookimpl(wrapper=True)`` wrappers work.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")


# --- registration ---------------------------------------------------------------------

@hookspec
def ganzoo_add_components():
    """Return a list of :class:`ganzoo.Component` this plugin provides.

    A name may be used once per kind across all plugins; a duplicate is an error naming
    both plugins. Kinds and their interfaces: :data:`ganzoo.contract.KINDS`.
    """


@hookspec
def ganzoo_add_recipe_dirs():
    """Return a list of directories (``pathlib.Path`` or str) holding ``*.yaml`` recipes.

    ``ganzoo run NAME`` finds ``NAME.yaml`` in these directories when NAME is not a path;
    ``ganzoo recipe list`` lists them with the package that provides each.
    """


@hookspec
def ganzoo_add_commands():
    """Return a list of :class:`ganzoo.Command`: extra ``ganzoo`` subcommands (e.g. the
    image-to-image plugin's ``translate``). A name already taken is a load error."""


# --- training notifications ------------------------------------------------------------

@hookspec
def ganzoo_train_start(run):
    """A run is about to train. ``run`` is the :class:`ganzoo.Run`: its directory,
    resolved recipe, device, networks, and the step it starts from (non-zero on resume)."""


@hookspec
def ganzoo_log(run, step, scalars):
    """Scalars were logged at ``step`` (a dict of floats, None where not finite: losses
    averaged over the logging window, throughput, metrics). Called at the recipe's
    ``train.log_every`` cadence and after each evaluation."""


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


# --- output ----------------------------------------------------------------------------

@hookspec(firstresult=True)
def ganzoo_save_samples(samples, path, info, nrow):
    """Write ``samples`` (what ``Objective.sample`` returned) as a PNG at ``path`` and return
    the path, or return None to leave it to another plugin. ``info`` is the data's
    :class:`ganzoo.DataInfo`; ``nrow`` the objective's images per row (None: square).
    The first plugin to return a path wins; the built-in writes image batches (N, C, H, W)
    as a grid."""
