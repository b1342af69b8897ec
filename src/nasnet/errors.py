"""The base of every error nasnet raises on bad input; the CLI prints these without a traceback."""

import traceback


class NasnetError(Exception):
    """Bad input or a failed operation, with a message that says what and where."""


def exception_summary(err: BaseException) -> str:
    """``Type: message`` of ``err``, without a traceback (for failure reasons and worker reports)."""
    return "".join(traceback.format_exception_only(type(err), err)).strip()
