"""Checkpoints: plain tensors and primitives only, written atomically, loaded with weights_only=True.

Nothing in a ganzoo checkpoint is a pickled class, so loading one never runs code and
never needs the classes that produced it.
"""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import torch

from .errors import GanzooError

FORMAT = "ganzoo-checkpoint/1"
_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"step-{step:08d}.pt"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoints in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _STEP_FILE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def newest(run_dir: Path) -> Path:
    """The newest checkpoint of a run directory; a missing run or an empty one is a one-line error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanzooError(f"{run_dir}: run directory not found")
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise GanzooError(f"{run_dir}: no checkpoints in {run_dir / 'checkpoints'}")
    return found[-1][1]


def save_atomic(payload: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, fsync it, then rename over `path`.

    A crash at any point leaves either the old file or the new one, never half a file.
    """
    from .files import temporary, writing

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    with writing(path, "checkpoint; earlier checkpoints are kept", tmp):
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load(path: Path) -> dict:
    """Load a checkpoint safely; any unreadable or foreign file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise GanzooError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, pickled objects, wrong format
        reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it contains pickled Python objects, which ganzoo refuses to load"
        raise GanzooError(f"{path}: not a readable ganzoo checkpoint (truncated, corrupt or foreign: {reason[:160]})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanzooError(f"{path}: not a ganzoo checkpoint (expected format {FORMAT!r})")
    return payload


def prune(directory: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints."""
    for _, p in list_checkpoints(directory)[:-keep]:
        p.unlink(missing_ok=True)


class RunLock:
    """One writer per run directory: an exclusive advisory lock on `<run>/.lock`, holding the
    writer's process id. The operating system drops the lock when its process ends however it
    ends, so a lock left by a killed run is simply taken over."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform (Windows): one writer is on the user
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise GanzooError(f"{self.path.parent}: in use by process {holder} (a ganzoo run, resume or bench "
                              "writing there); wait for it to end or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock; the file stays, harmless, for the next writer
            self.fd = None
