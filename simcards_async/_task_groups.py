"""A task group's failures, as a stream hands them to its consumer.

``handing_over`` carries a ``KeyboardInterrupt`` or ``SystemExit`` out of a child task as
an ordinary failure; ``first_error`` unwraps a group's ``ExceptionGroup`` to the failure
that started it, that one given back as it was raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec

__all__ = ["first_error", "handing_over"]


def first_error(exc: BaseException) -> BaseException:
    """Unwrap a task group's ExceptionGroup to the failure that started it.

    And a ``KeyboardInterrupt`` or ``SystemExit`` that ``handing_over`` carried out of a
    child task, to itself.
    """
    # Duck-typed: BaseExceptionGroup is only a builtin from Python 3.11.
    while (inner := getattr(exc, "exceptions", None)) and isinstance(inner[0], BaseException):
        exc = inner[0]
    return exc.exiting if isinstance(exc, _Exiting) else exc


class _Exiting(Exception):  # noqa: N818  (a carrier, never seen by a caller)
    """A ``KeyboardInterrupt`` or ``SystemExit`` on its way out of a task group's child task."""

    def __init__(self, exiting: BaseException) -> None:
        super().__init__(repr(exiting))
        self.exiting = exiting


P = ParamSpec("P")


def handing_over(
    run: Callable[P, Awaitable[None]],
) -> Callable[P, Coroutine[Any, Any, None]]:
    """``run``, for a task group's child task whose failure a stream hands to its consumer.

    asyncio raises a ``KeyboardInterrupt`` or ``SystemExit`` out of a task straight out of
    the event loop: one from a hook (``sys.exit()`` in ``on_response``) cancelled the
    consumer, and ``asyncio.run()`` printed a task group's traceback. Carried as an
    ordinary failure, it ends the group as any other does, and ``first_error`` gives back
    the one raised, for the consumer to raise as it is.
    """

    async def child(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await run(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit) as exc:
            raise _Exiting(exc) from None

    return child
