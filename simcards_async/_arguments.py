"""The checks every argument passes, whichever module takes it: one rule, one message each.

An int in a range, a number of seconds, a bool, and a string's own characters. A value of a
subclass (an ``IntEnum`` or ``(str, Enum)`` member) is taken as its plain value: its class's
``__str__``, ``__int__`` or ``<`` may say otherwise (``Tag.IOT`` for "89").
"""

from __future__ import annotations

import math

from ._errors import InvalidParameterError

__all__ = ["checked_bool", "checked_int", "checked_seconds", "plain_str"]


def plain_str(value: str) -> str:
    """``value``'s characters as a plain ``str``, whatever its class's ``__str__`` says."""
    return str.__str__(value)


def checked_bool(name: str, value: object) -> bool:
    """``value`` if it is a ``bool``, else refused (``1`` and ``"true"`` too)."""
    if not isinstance(value, bool):
        raise InvalidParameterError(name, "True or False", value)
    return value


def checked_seconds(name: str, value: object, *, zero: bool) -> float:
    """``value`` as a finite number of seconds (> 0, or >= 0 with ``zero``), else refused.

    ``InvalidParameterError`` names ``name``. NaN, infinity and an int past the largest
    float are refused: asyncio cannot time them.
    """
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int past the largest float
            seconds = math.inf
        if (seconds >= 0 if zero else seconds > 0) and seconds < math.inf:
            return seconds
    low = ">= 0" if zero else "> 0"
    raise InvalidParameterError(name, f"a finite number of seconds {low}", value)


def checked_int(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """``value`` as a plain ``int`` from ``low`` to ``high`` (no top: None), else refused.

    ``InvalidParameterError`` names ``name`` and the whole range, whichever bound was
    crossed. A subclass's (an ``IntEnum`` member's) plain value is taken, and compared as
    itself: not by the subclass's own ``<``. A ``bool`` is refused.
    """
    plain = int.__index__(value) if isinstance(value, int) else None
    if (
        isinstance(value, bool)
        or plain is None
        or plain < low
        or (high is not None and plain > high)
    ):
        allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high:,}"
        raise InvalidParameterError(name, allowed, value)
    return plain
