"""ganzoo: a pluggable zoo of GAN variants with one training loop.

The extension surface is `ganzoo.hookspecs` (the hooks) plus the types exported here.
"""
from .errors import GanzooError
from .hookspecs import hookimpl
from .objective import GANObjective, GANOptions, Objective, Phase, Regularizer
from .options import NoOptions, option
from .registry import BuildContext, Component

__version__ = "0.1.0"

from .api import load, sample, train  # noqa: E402 - the notebook API: ganzoo.train / load / sample

__all__ = [
    "BuildContext", "Component", "GANObjective", "GANOptions", "GanzooError", "NoOptions", "Objective", "Phase",
    "Regularizer", "load", "sample", "train",
    "hookimpl", "option", "__version__",
]
