"""Image files: sample grids written as PNG, folders of images read and decoded."""
from __future__ import annotations

import contextlib

import math
import os
import sys
import time
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
def _reading(path):
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # PIL warns between MAX_IMAGE_PIXELS and twice that, and refuses above: both stop here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = path.open_bytes() if isinstance(path, LmdbRecord) else path
            with Image.open(source) as image:
                yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise GanzooError(f"{path}: image too large to decode safely (over PIL's limit of "
                          f"{Image.MAX_IMAGE_PIXELS:,} pixels: a decompression bomb, or a file that "
                          "needs resizing first)") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise GanzooError(f"{path}: unreadable image file ({str(exc).splitlines()[0][:100]})") from None


class LmdbRecord:
    """One encoded image stored in an LMDB database (LSUN's distribution format), read like a
    file: `load_image`, `check_image` and `DecodedImages` take it where they take a path, and an
    error names it as `DB[key]`. A DataLoader worker opens the database once, read-only and
    unlocked, and keeps it; the main process opens it for each read and closes it again, as an
    LMDB handle must not be open when the workers fork."""

    _worker_handles: dict = {}  # database folder -> lmdb.Environment, in a worker process

    def __init__(self, database: Path, key: bytes):
        self.database, self.key = database, key

    def __str__(self):
        return f"{self.database}[{self.key.decode(errors='replace')}]"

    def open_bytes(self):
        import io

        in_worker = torch.utils.data.get_worker_info() is not None
        env = self._worker_handles.get(str(self.database)) if in_worker else None
        if env is None:
            env = self.environment(self.database)
            if in_worker:
                self._worker_handles[str(self.database)] = env
        try:
            with env.begin(buffers=False) as txn:
                value = txn.get(self.key)
        finally:
            if not in_worker:
                env.close()
        if value is None:
            raise OSError("no such key")
        return io.BytesIO(value)

    @staticmethod
    def environment(database: Path):
        try:
            import lmdb
        except ImportError:
            raise GanzooError(f"{database}: reading LMDB databases needs the lmdb package "
                              "(pip install 'ganzoo[lsun]')") from None
        try:
            return lmdb.open(str(database), readonly=True, lock=False, readahead=False, meminit=False)
        except lmdb.Error as exc:
            raise GanzooError(f"{database}: not a readable LMDB database ({str(exc).splitlines()[0][:100]})") from None

    @classmethod
    def all(cls, database: Path) -> list["LmdbRecord"]:
        """Every record of the database, in key order."""
        env = cls.environment(database)
        try:
            with env.begin() as txn:
                return [cls(database, bytes(key)) for key in txn.cursor().iternext(keys=True, values=False)]
        finally:
            env.close()


# --- folders of images -------------------------------------------------------------------------------

RESAMPLE = {"bicubic": 3, "bilinear": 2, "lanczos": 1, "box": 4, "nearest": 0}  # PIL.Image.Resampling



def scan_image_folder(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """(files, labels or None, class names) of a flat folder or a folder of class subfolders."""
    if not root.is_dir():
        raise GanzooError(f"data.root: {root} is not a folder (expected image files, or one subfolder of "
                          "images per class)")
    entries = sorted(root.iterdir())
    images = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if images:
        return images, None, []
    classes = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    files, labels = [], []
    for label, folder in enumerate(classes):
        inside = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not inside:
            raise GanzooError(f"{folder}: class folder without image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files += inside
        labels += [label] * len(inside)
    if not files:
        raise GanzooError(f"{root}: no image files, and no subfolders of them "
                          f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files, labels, [p.name for p in classes]


class DecodedImages(torch.utils.data.Dataset):
    """File i as uint8 (C, size, size): the centre square of side `crop` first when given (e.g.
    CelebA's 108 px face region), then the shorter side resized to `size` and the centre crop.
    An image already of that size keeps its exact pixels."""

    def __init__(self, files: list[Path], channels: int, size: int, resample: str, crop: int | None = None):
        self.files, self.channels, self.size, self.resample = files, channels, size, RESAMPLE[resample]
        self.crop = crop

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        import numpy as np

        image = load_image(self.files[i], self.channels)
        w, h = image.size
        if self.crop is not None and min(w, h) > self.crop:
            left, top = (w - self.crop) // 2, (h - self.crop) // 2
            image = image.crop((left, top, left + self.crop, top + self.crop))
            w, h = image.size
        if (w, h) != (self.size, self.size):
            scale = self.size / min(w, h)
            image = image.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))),
                                 self.resample)
            w, h = image.size
            left, top = (w - self.size) // 2, (h - self.size) // 2
            image = image.crop((left, top, left + self.size, top + self.size))
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
        return pixels.unsqueeze(0) if pixels.dim() == 2 else pixels.permute(2, 0, 1).contiguous()


def worker_count(wanted: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(wanted, cpus)


def loader_error(exc: Exception) -> GanzooError:
    """A DataLoader worker's failure (a damaged file) as the one line that names the file."""
    last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    prefix = f"{GanzooError.__module__}.{GanzooError.__name__}: "  # as a worker's traceback ends
    return GanzooError(last.removeprefix(prefix)[:300])


def decode_images(decoded: DecodedImages, workers: int, what: str) -> torch.Tensor:
    """Every file decoded once, in parallel, into one (N, C, size, size) uint8 tensor."""
    out = torch.empty((len(decoded), decoded.channels, decoded.size, decoded.size), dtype=torch.uint8)
    loader = torch.utils.data.DataLoader(decoded, batch_size=256, num_workers=worker_count(workers))
    start, done, shown = time.perf_counter(), 0, -1
    tty = sys.stderr.isatty()
    try:
        for batch in loader:
            out[done:done + len(batch)] = batch
            done += len(batch)
            percent = 100 * done // len(decoded)
            if tty and percent != shown:  # a progress bar where someone watches; one line in logs
                shown = percent
                bar = "#" * (percent // 4)
                print(f"\rganzoo: decoding {what}: [{bar:<25}] {percent}%", end="", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - a worker's error, already naming its file
        raise loader_error(exc) from None
    finally:
        if tty and shown >= 0:
            print(file=sys.stderr)
    print(f"ganzoo: decoded {len(decoded):,} images of {what} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    return out
