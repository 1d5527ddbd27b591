"""ganzoo: a pluggable zoo of GAN variants with one training loop.

Everything a plugin needs is importable from here: the hooks are in ``ganzoo.hookspecs``, the
interface of every kind of component in ``ganzoo.contract``, and the helpers below (datasets
held on the device, image files, the metric maths, atomic writes). The built-in plugins
import nothing else from ganzoo. Names marked "lazy" import their module on first use, so
that ``import ganzoo`` stays quick.
"""
from .contract import (KINDS, Augmentation, BuildContext, Command, Component, DataInfo, Dataset, FeatureNet, Logger,
                       Metric, Objective, Phase, Regularizer, StepContext)
from .errors import GanzooError
from .hookspecs import hookimpl
from .objective import GANObjective, GANOptions
from .options import NoOptions, option

__version__ = "0.1.0"

from .api import load, sample, train  # noqa: E402 - the notebook API: ganzoo.train / load / sample

#: name -> module, imported on first use (PEP 562)
_LAZY = {
    # datasets held on the device, read from IDX files
    "DeviceDataset": "data", "IdxSource": "data", "MNIST": "data", "FASHION_MNIST": "data",
    "load_idx_images": "data", "user_cache_dir": "data",
    "candidate_roots": "data", "DATA_ENV": "data",
    # image files and grids
    "list_images": "images", "load_image": "images", "check_image": "images", "save_grid": "images", "IMAGE_SUFFIXES": "images",
    "RESAMPLE": "images", "scan_image_folder": "images", "DecodedImages": "images", "decode_images": "images",
    "worker_count": "images", "loader_error": "images", "LmdbRecord": "images",
    # evaluation: the context metrics get, and the maths on features
    "EvalContext": "evaluation", "fid": "metrics", "kid": "metrics", "inception_score": "metrics",
    "precision_recall": "metrics", "density_coverage": "metrics", "frechet_distance": "metrics", "feature_statistics": "metrics",
    "save_statistics": "metrics", "load_statistics": "metrics",
    "kl_to_uniform": "metrics", "stacked_mnist_modes": "metrics", "modes_2d": "metrics",
    "auroc": "metrics", "average_precision": "metrics", "nearest_neighbour_distance": "metrics",
    # feature networks' files: the cache folder, weights hashes, atomic writes
    "cache_dir": "features", "weights_hash": "features", "save_atomic": "checkpoint",
    "save_if_possible": "files",
    # the run the notification hooks receive; a run's checkpoint with its networks rebuilt
    "Run": "loop", "load_checkpoint": "api",
    # a value that follows the run: from start to end along half a cosine
    "cosine": "schedules",
    # recipe values flattened to "a.b" keys, and dataclasses to plain values
    "flatten": "options", "to_plain": "options",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ganzoo' has no attribute {name!r}")


__all__ = [
    "KINDS", "Augmentation", "BuildContext", "Command", "Component", "DataInfo", "Dataset", "FeatureNet",
    "GANObjective", "GANOptions", "GanzooError", "Logger", "Metric", "NoOptions", "Objective", "Phase",
    "Regularizer", "StepContext", "hookimpl", "load", "option", "sample", "train", "__version__", *_LAZY,
]
