"""The one exception type that reaches users as a one-line message (exit code 2)."""


class GanzooError(Exception):
    """Bad input: a recipe key or value, a path, a checkpoint, a plugin failure.

    The CLI prints ``ganzoo: error: <message>`` on one line and exits with code 2,
    without a traceback. The message names what is wrong and what is allowed.
    """


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' when `word` is close to one of `choices`, else ''."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def out_of_memory(exc: BaseException) -> str | None:
    """For an allocation failure (CPU, CUDA or MPS), how much was asked for, in words ("39.2 GB"
    where the allocator says, else "an allocation"); None for any other error."""
    import re

    text = str(exc)
    if isinstance(exc, MemoryError):
        return "an allocation"
    if not (type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in text
            or "out of memory" in text.lower()):
        return None
    match = re.search(r"tried to allocate (\d+) bytes", text, re.IGNORECASE)
    if match:
        size = int(match.group(1))
        for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
            if size >= scale:
                return f"{size / scale:.1f} {unit}"
        return f"{size} bytes"
    match = re.search(r"tried to allocate ([\d.]+ [KMGT]i?B)", text, re.IGNORECASE)  # CUDA's and MPS's wording
    return match.group(1) if match else "an allocation"
