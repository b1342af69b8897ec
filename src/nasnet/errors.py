"""The base of every error nasnet raises on bad input; the CLI prints these without a traceback."""


class NasnetError(Exception):
    """Bad input or a failed operation, with a message that says what and where."""
