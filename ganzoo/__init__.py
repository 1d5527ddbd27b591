"""ganzoo: a pluggable zoo of GAN variants with one training loop.

The extension surface is `ganzoo.hookspecs` (the hooks) plus the types exported here.
"""
from .errors import GanzooError
from .hookspecs import hookimpl
from .objective import GANObjective, Objective, Phase
from .options import NoOptions, option
from .registry import BuildContext, Component

__version__ = "0.1.0"

__all__ = [
    "BuildContext", "Component", "GANObjective", "GanzooError", "NoOptions", "Objective", "Phase",
    "hookimpl", "option", "__version__",
]
