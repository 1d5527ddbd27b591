"""Sample grids as PNG files."""
from __future__ import annotations

import contextlib

import math
import os
from pathlib import Path

import torch

from .errors import GanzooError


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """Save images in [-1, 1], shape (N, C, H, W), as one PNG grid (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    from PIL import Image

    from .files import temporary, writing

    tmp = temporary(path)
    with writing(path, "the sample grid", tmp):
        Image.fromarray(grid_pixels(images, nrow).numpy()).save(tmp, format="png")
        os.replace(tmp, path)
    return path


def grid_pixels(images: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """(H, W, 3) uint8: images in [-1, 1] tiled `nrow` to a row with `padding` black pixels
    around each, grey images as RGB; the pixels torchvision's save_image writes, without
    importing torchvision (which costs a second of start-up)."""
    x = images.detach().float().cpu().clamp(-1, 1).add(1).div(2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, c, h, w = x.shape
    columns, rows = min(nrow, n), math.ceil(n / min(nrow, n))
    grid = torch.zeros(c, rows * (h + padding) + padding, columns * (w + padding) + padding)
    for i in range(n):
        top, left = (i // columns) * (h + padding) + padding, (i % columns) * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = x[i]
    return grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8)


def save_samples(samples: torch.Tensor, path: Path, info, plugins=None, nrow: int | None = None) -> Path:
    """Samples as a PNG: a plugin's writer where one claims them (hook ganzoo_save_samples, e.g.
    scatter plots of 2D points), else image batches (N, C, H, W) as a grid."""
    if plugins is None:
        from .plugins import load_plugins
        plugins = load_plugins()
    written = plugins.notify("ganzoo_save_samples", samples=samples, path=Path(path), info=info, nrow=nrow)
    if written is not None:
        return Path(written)
    if samples.dim() != 4:
        raise GanzooError(f"{path}: no plugin writes samples of shape {tuple(samples.shape)}; the built-in "
                          "writer takes images (N, C, H, W)")
    return save_grid(samples, path, nrow=nrow)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def list_images(folder: Path, expected: str = "") -> list[Path]:
    """The image files of a folder, sorted; a missing or empty folder is a one-line error
    (`expected` says what the folder should be, e.g. which layout a dataset reads)."""
    if not folder.is_dir():
        raise GanzooError(f"{folder}: folder not found{f' ({expected})' if expected else ''}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanzooError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def load_image(path: Path, channels: int):
    """A PIL image converted to grey (1 channel) or RGB; an unreadable file is a one-line error."""
    with _reading(path) as image:
        return image.convert("L" if channels == 1 else "RGB")


def check_image(path: Path) -> None:
    """A one-line error, naming the file, unless it is an image PIL can decode within its
    decompression-bomb limit (checked from the header, before any pixel is decoded)."""
    with _reading(path) as image:
        image.verify()


@contextlib.contextmanager
def _reading(path: Path):
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # PIL warns between MAX_IMAGE_PIXELS and twice that, and refuses above: both stop here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise GanzooError(f"{path}: image too large to decode safely (over PIL's limit of "
                          f"{Image.MAX_IMAGE_PIXELS:,} pixels: a decompression bomb, or a file that "
                          "needs resizing first)") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise GanzooError(f"{path}: unreadable image file ({str(exc).splitlines()[0][:100]})") from None
