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
