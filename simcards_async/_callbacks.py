"""A caller's callbacks (hooks, progress callbacks, an exporter's state): checked, called.

Callbacks are called, never awaited: an ``async`` one, or a generator function, would run
none of its body. Each is refused by its name alone (its repr may hold the API key), and
what it raises or returns is checked as it is called.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

from ._errors import FIELD_LIMIT, InvalidParameterError, cut, shown

__all__ = ["callback_refused", "called_back", "check_callback", "is_plain_function"]


def is_plain_function(value: object) -> bool:
    """Whether ``value`` is callable and does its work when called.

    Not ``async`` (it returns a coroutine), nor a generator function, ``async`` or not
    (it returns a generator whose body runs only when iterated): callbacks are called,
    what they return is dropped.
    """
    call = getattr(value, "__call__", None)  # noqa: B004  (an async __call__ counts)
    return callable(value) and not any(map(_defers, (value, call)))


def _defers(function: object) -> bool:
    """Whether calling ``function`` runs none of its body: a coroutine or generator function."""
    return function is not None and (
        inspect.iscoroutinefunction(function)
        or inspect.isasyncgenfunction(function)
        or inspect.isgeneratorfunction(function)
    )


def callback_refused(parameter: str, allowed: str, callback: object) -> InvalidParameterError:
    """The refusal of ``callback`` as ``parameter``: shown, and kept as its ``value``, by name.

    By ``_callback_shown``'s text, not its repr, which may hold the API key.
    """
    name = _callback_shown(callback)
    return InvalidParameterError(parameter, allowed, name, shown_as=name)


def _callback_shown(value: object) -> str:
    """A callback (or what was given as one) for a refusal, by its name alone.

    Its repr may show what it is bound to: a ``functools.partial``'s arguments, a bound
    method's object, an object's settings; the API key among them, as the client's
    refusal of ``on_response=partial(notify, key)`` showed it. The refusal's ``value`` is
    this text too: the callback itself would keep what it holds in a pickle of the error.
    """
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return shown(value)
    if isinstance(value, functools.partial):
        return f"functools.partial({_callback_shown(value.func)}, ...)"
    name = getattr(value, "__qualname__", None)
    if isinstance(name, str) and callable(value):
        return f"<{type(value).__name__} {cut(name, FIELD_LIMIT)}>"
    return f"<{type(value).__qualname__} object>"


def check_callback(parameter: str, value: object, allowed: str) -> None:
    """Refuse what is not a plain function: not callable, ``async``, or a generator function.

    Callbacks are called, not awaited: an ``async`` one returned a coroutine that was
    dropped, its body never run (a "never awaited" warning the only trace).
    """
    if not is_plain_function(value):
        raise callback_refused(
            parameter, f"{allowed} (a plain function: called, never awaited)", value
        )


#: What a callback is called with (a ``ResponseEvent``, a ``Progress``).
A = TypeVar("A")


def called_back(parameter: str, what: str, callback: Callable[[A], object], argument: A) -> None:
    """Call a caller's plain callback with ``argument``, and check what it returned.

    ``what`` says which callback it is, ``parameter`` names it (``_check_returned``). A
    ``CancelledError`` it raises is its own (a plain function cannot be cancelled): a
    ``RuntimeError`` saying so. Raised on, in a task of the library's it ended that task
    alone: a request's lost its page, a merge's reader ended its stream as if read whole.
    So for ``StopIteration`` (``next()`` on an exhausted iterator) and
    ``StopAsyncIteration``, which Python turns into an anonymous ``RuntimeError`` ("coroutine
    raised StopIteration") where it does not end a loop as if the loop were done.
    """
    try:
        result = callback(argument)
    except (asyncio.CancelledError, StopIteration, StopAsyncIteration) as exc:
        name = type(exc).__name__
        msg = f"the {what} raised {name}; raise another exception"
        raise RuntimeError(msg) from exc
    _check_returned(parameter, callback, result)


def _check_returned(parameter: str, callback: object, result: object) -> None:
    """Refuse, once called, a callback that returned a coroutine or a generator: never run.

    ``check_callback`` cannot see it coming: a plain function (``lambda e: notify(e)``)
    that returns a coroutine ran nothing of it, a "never awaited" warning the only trace.
    A task or a future it returns is fine: that work was scheduled, and runs.
    """
    if inspect.iscoroutine(result):
        result.close()  # no "never awaited" warning on top of this error
        raise callback_refused(
            parameter,
            "a function that does its work when called (this one returned a coroutine, "
            "which is never awaited: callbacks are called, not awaited; schedule it with "
            "asyncio.create_task() if it must run)",
            callback,
        )
    if inspect.isgenerator(result) or inspect.isasyncgen(result):
        raise callback_refused(
            parameter,
            "a function that does its work when called (this one returned a generator, "
            "whose body runs only when iterated: callbacks are called, what they return "
            "is dropped)",
            callback,
        )
