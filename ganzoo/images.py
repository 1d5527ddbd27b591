"""Sample grids as PNG files."""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torchvision.utils import save_image

from .errors import GanzooError


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """Save images in [-1, 1], shape (N, C, H, W), as one PNG grid (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_image(images.detach().float().cpu(), tmp, nrow=nrow, normalize=True, value_range=(-1, 1), format="png")
    os.replace(tmp, path)
    return path


def save_scatter(points: torch.Tensor, path: Path, centers=None, std: float | None = None,
                 size: int = 480) -> Path:
    """2D samples (blue) over the true modes (red circles of 3 std) as a PNG."""
    from PIL import Image, ImageDraw

    pts = points.detach().float().cpu()
    ref = torch.tensor(centers, dtype=torch.float32) if centers is not None else pts
    lo = torch.minimum(ref.min(0).values, torch.tensor([-1.0, -1.0])) if len(ref) else torch.tensor([-1.0, -1.0])
    hi = torch.maximum(ref.max(0).values, torch.tensor([1.0, 1.0])) if len(ref) else torch.tensor([1.0, 1.0])
    margin = (hi - lo) * 0.15 + 0.1
    lo, hi = lo - margin, hi + margin
    scale = (size - 1) / (hi - lo)

    def to_pixel(p):
        return float((p[0] - lo[0]) * scale[0]), float((hi[1] - p[1]) * scale[1])

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for p in pts:
        x, y = to_pixel(p)
        draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(40, 90, 200))
    if centers is not None:
        r = float(3 * (std or 0.0) * scale[0])
        for c in ref:
            x, y = to_pixel(c)
            draw.ellipse((x - max(r, 3), y - max(r, 3), x + max(r, 3), y + max(r, 3)), outline=(220, 30, 30), width=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    image.save(tmp, format="png")
    os.replace(tmp, path)
    return path


def save_samples(samples: torch.Tensor, path: Path, info, nrow: int | None = None) -> Path:
    """Images as a grid; points (N, 2) as a scatter plot over the data's modes."""
    if samples.dim() == 2:
        return save_scatter(samples, path, info.centers if info is not None else None,
                            info.center_std if info is not None else None)
    return save_grid(samples, path, nrow=nrow)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def list_images(folder: Path) -> list[Path]:
    """The image files of a folder, sorted; a missing or empty folder is a one-line error."""
    if not folder.is_dir():
        raise GanzooError(f"{folder}: folder not found (expected trainA/, trainB/, testA/, testB/ under data.root)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanzooError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def load_image(path: Path, channels: int):
    """A PIL image converted to grey (1 channel) or RGB; an unreadable file is a one-line error."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("L" if channels == 1 else "RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise GanzooError(f"{path}: unreadable image file ({str(exc).splitlines()[0][:100]})") from None
