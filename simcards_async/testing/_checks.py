"""Checks of the mock server's options: one home for what each takes and how a refusal reads.

Every option is checked where it is given (a constructor, or a setter at run time). One taken
unchecked failed later: a bare TypeError deep inside, or every answer a bare 500. A refusal is
a ``OptionError`` (a ValueError) ``NAME must be ALLOWED; got VALUE``; its ``option`` is
``NAME``, which the ``simcards mock-server`` command says as its flag.
"""

from __future__ import annotations

import math
import sys
from typing import NoReturn, TypeGuard

#: The longest repr a refusal shows whole.
_SHOWN = 80
#: Past this many bits an int is said by its size: ``str()`` of ``10 ** 5000`` raises.
_SHOWN_BITS = 64


def integer(value: object) -> TypeGuard[int]:
    """An int, not a bool (``True`` is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def count(value: object, low: int = 0) -> TypeGuard[int]:
    """An int (not a bool) of ``low`` or more."""
    return integer(value) and value >= low


def int64(value: object) -> TypeGuard[int]:
    """An int (not a bool) that 64 bits hold, signed: a seed, a page number's offset.

    A larger one was taken and failed later: its ``str()`` (a seed made into text, a
    ``repr``) raised Python's "Exceeds the limit (4300 digits)", a meta of it every answer
    a 500.
    """
    return integer(value) and -MOST - 1 <= value <= MOST


#: The largest integer an option takes (a signed 64-bit one's).
MOST = (1 << 63) - 1


def number(value: object) -> TypeGuard[float]:
    """A finite int (not a bool) or float: nan and inf are no quantity.

    An int too large for a float is none either: every use of it as seconds or a rate
    (``math.isfinite`` included) raises ``OverflowError``.
    """
    if integer(value):
        return abs(value) <= sys.float_info.max
    return isinstance(value, float) and math.isfinite(value)


def seconds(value: object) -> TypeGuard[float]:
    """A finite number of seconds, 0 or more."""
    return number(value) and value >= 0


def shown(value: object) -> str:
    """``value`` as a refusal shows it: its repr, cut; an int past 64 bits by its size."""
    if integer(value) and value.bit_length() > _SHOWN_BITS:
        return f"{value.bit_length():,} bits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001  (a caller's class whose repr fails)
        return f"<a {type(value).__name__}>"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class OptionError(ValueError):
    """An option of the mock server's refused: ``option`` names it, ``reason`` says why.

    The message is ``{owner}{option}{reason}`` (``reason`` starts with its own separator:
    `` must be ...``); a reader naming the option otherwise (the command line, by its flag)
    puts that name before ``reason``.
    """

    def __init__(self, option: str, reason: str, *, owner: str = "") -> None:
        self.option = option
        self.reason = reason
        self.owner = owner
        super().__init__(f"{owner}{option}{reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuilt, (self.option, self.reason, self.owner))


def require(ok: bool, name: str, allowed: str, value: object, *, owner: str = "") -> None:
    """Refuse ``value`` unless ``ok``."""
    if not ok:
        refuse(name, allowed, value, owner=owner)


def refuse(name: str, allowed: str, value: object, *, owner: str = "") -> NoReturn:
    """Raise ``OptionError``: ``{owner}{name} must be {allowed}; got {value}``."""
    raise OptionError(name, f" must be {allowed}; got {shown(value)}", owner=owner)


def _rebuilt(option: str, reason: str, owner: str) -> OptionError:
    return OptionError(option, reason, owner=owner)
