"""Every file a run writes goes through here: written whole or not at all, and a full or
read-only disk is one line naming the file and the reason, never a traceback, with the
temporary file removed and every file written before left as it was."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from .errors import GanzooError


def reason(exc: BaseException, path: Path) -> str:
    """Why a write failed, in words. torch.save reports a full disk as a RuntimeError from its
    zip writer ("unexpected pos ..."), so the free space decides it then."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if code == errno.EFBIG:
        return "the file is larger than this process may write"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return exc.strerror or "not writable"
    try:
        if shutil.disk_usage(Path(path).parent).free < 1 << 20:
            return "the disk is full"
    except OSError:
        pass
    if "unexpected pos" in str(exc):  # torch.save's zip writer, cut short
        return "the write was cut short: the disk is full or a file-size limit was reached"
    return (getattr(exc, "strerror", None) or str(exc).splitlines()[0] or type(exc).__name__)[:160]


@contextlib.contextmanager
def writing(path: Path, what: str, tmp: Path | None = None):
    """Around one write of `path` (through `tmp`, removed on failure): errors become one line."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise GanzooError(f"{path}: could not write {what} ({reason(exc, path)})") from None


def temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_text(path: Path, text: str, what: str) -> None:
    """`path` replaced whole by `text` (a temporary file, then a rename)."""
    path = Path(path)
    tmp = temporary(path)
    with writing(path, what, tmp):
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def write_bytes(path: Path, data: bytes, what: str) -> None:
    """`path` replaced whole by `data` (a temporary file, then a rename)."""
    path = Path(path)
    tmp = temporary(path)
    with writing(path, what, tmp):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)


def append_line(path: Path, line: str, what: str) -> None:
    """One line added to `path`; a failed append is truncated back, so the file holds whole lines."""
    path = Path(path)
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.truncate(path, size)
        raise GanzooError(f"{path}: could not write {what} ({reason(exc, path)})") from None


def save_if_possible(payload, path: Path) -> str | None:
    """torch.save `payload` whole or not at all; the reason it could not (a full or read-only
    disk), or None. For caches, whose loss costs only time."""
    import torch

    path = Path(path)
    tmp = temporary(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, path)
        return None
    except (OSError, RuntimeError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return reason(exc, path)
