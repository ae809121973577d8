"""Wait for a condition instead of sleeping: poll with short yields under a generous deadline.

A fixed sleep is a guess about how fast the machine is; on a busy CI machine the guess is
wrong and the test flakes. ``eventually`` returns as soon as the condition holds and fails
with a clear message only after ``timeout`` seconds, far more than any healthy run needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEADLINE = 10.0  # seconds: only a hang comes near it; a busy machine does not


async def eventually(
    predicate: Callable[[], object], *, timeout: float = DEADLINE, what: str = ""
) -> None:
    """Return once ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {what or predicate}")
        await asyncio.sleep(0.001)


def eventually_sync(
    predicate: Callable[[], object], *, timeout: float = DEADLINE, what: str = ""
) -> None:
    """``eventually`` for synchronous tests (a subprocess, a file appearing)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {what or predicate}")
        time.sleep(0.005)


async def loop_turns(turns: int = 50) -> None:
    """Let the event loop run ``turns`` iterations, a count and not a duration.

    Client and server share the loop, and loopback bytes are readable by the time
    ``send()`` returns, so a few turns let a request already written reach its handler:
    afterwards a "nothing more arrived" assertion is not a race with the wall clock.
    """
    for _ in range(turns):
        await asyncio.sleep(0)
