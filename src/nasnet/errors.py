"""The base of every error nasnet raises on bad input; the CLI prints these without a traceback."""

import traceback


class NasnetError(Exception):
    """Bad input or a failed operation, with a message that says what and where."""


class Interrupted(NasnetError):
    """Ctrl-C or SIGTERM stopped a command; the message says how to continue."""


def exception_summary(err: BaseException) -> str:
    """``Type: message`` of ``err``, without a traceback (for failure reasons and worker reports)."""
    return "".join(traceback.format_exception_only(type(err), err)).strip()


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so that an error never echoes a huge input."""
    try:
        text = repr(value)
    except Exception:  # e.g. ints too long to convert to text
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: str, limit: int = 200) -> str:
    """``text`` with control characters (terminal escapes) shown as escapes, cut to ``limit`` characters."""
    cleaned = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
