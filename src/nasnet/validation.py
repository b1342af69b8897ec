"""Integer and range checks shared by every layer, so that each refusal reads the same way.

Each check takes the name to show (an option with its command-line flag, e.g. ``"trials (--trials)"``)
and the error class to raise, so that a layer keeps its own error type. Booleans are never numbers
here: ``True`` for a count is a mistake, not a 1.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from nasnet.errors import NasnetError, short_repr


def is_integer(value: Any) -> bool:
    """An int (or NumPy integer), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None if it is not a finite real number (bools excluded)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def check_int(
    name: str, value: Any, low: int, high: int | None = None, error: type[Exception] = NasnetError, shown: str = ""
) -> int:
    """``value`` as an int if it is an integer in [low, high]; else ``error`` naming ``name``.

    With ``high`` None there is no upper bound. ``shown`` replaces the range in the message
    (e.g. ``"in [0, 2**63)"``).
    """
    if is_integer(value) and low <= value and (high is None or value <= high):
        return int(value)
    if not shown:
        shown = f"from {_show(low)} to {_show(high)}" if high is not None else f">= {low}"
    raise error(f"{name} must be an integer {shown}, got {short_repr(value)}")


def _show(bound: int) -> str:
    """A bound as people write it: thousands separated only where the number is long enough to need it."""
    return f"{bound:,}" if abs(bound) >= 100_000 else str(bound)


def check_number(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    low: float | None = None,
    high: float | None = None,
    error: type[Exception] = NasnetError,
) -> float:
    """``value`` as a float if it is a finite number in range; else ``error`` naming ``name``.

    ``positive`` asks for > 0; otherwise ``low`` and ``high`` are inclusive bounds (``low`` 0 by default
    when neither is given: most quantities here cannot be negative).
    """
    number = finite_number(value)
    if not positive and low is None and high is None:
        low = 0.0
    ok = number is not None and (not positive or number > 0) and (low is None or number >= low)
    ok = ok and (high is None or number <= high)  # type: ignore[operator]
    if ok:
        return number  # type: ignore[return-value]
    if positive:
        bound = "> 0"
    elif high is None:
        bound = f">= {low:g}"
    elif low is None:
        bound = f"<= {high:g}"
    else:
        bound = f"in [{low:g}, {high:g}]"
    raise error(f"{name} must be a finite number {bound}, got {short_repr(value)}")
