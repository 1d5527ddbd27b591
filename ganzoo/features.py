"""Files of feature networks: the cache folder they live in, and the hash every score carries.

The networks themselves are components of kind ``features`` (see ganzoo.contract.FeatureNet);
the built-ins are in ganzoo_plugins.classifiers (LeNet on MNIST / Fashion-MNIST, shipped
with ganzoo) and ganzoo_plugins.metrics (Inception-v3 from a local weights file).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path



def cache_dir() -> Path:
    """$GANZOO_CACHE, else the user cache directory (~/.cache/ganzoo on Linux)."""
    if os.environ.get("GANZOO_CACHE"):
        return Path(os.environ["GANZOO_CACHE"]).expanduser()
    from .data import user_cache_dir
    return user_cache_dir()


def weights_hash(state_dict: dict) -> str:
    """SHA-256 of the weights, in state_dict order (names, shapes and raw bytes)."""
    h = hashlib.sha256()
    for name, tensor in state_dict.items():
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()
