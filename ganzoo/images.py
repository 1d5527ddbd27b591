"""Sample grids as PNG files."""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torchvision.utils import save_image


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """Save images in [-1, 1], shape (N, C, H, W), as one PNG grid (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_image(images.detach().float().cpu(), tmp, nrow=nrow, normalize=True, value_range=(-1, 1), format="png")
    os.replace(tmp, path)
    return path
