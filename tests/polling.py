"""Wait for a condition instead of sleeping: poll with short yields under a generous deadline.

A fixed sleep is a guess about how fast the machine is; on a busy CI machine the guess is
wrong and the test flakes. ``eventually`` returns as soon as the condition holds and fails
with a clear message only after ``timeout`` seconds, far more than any healthy run needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: Seconds after which a test's guard against a hang fires (a child process killed, a
#: ``fifo_never_blocks_for_ever`` FIFO's other end opened, a wait failed): reached by a hang
#: only. A child that starts the interpreter and a 25,000-card demo took 60 s, the guard
#: it had, on a starved machine (``nice 19`` beside busy processes).
HANG_GUARD = 600.0


async def eventually(
    predicate: Callable[[], object], *, timeout: float = HANG_GUARD, what: str = ""
) -> None:
    """Return once ``predicate()`` is true; fail the test after ``timeout`` seconds.

    By default a hang's guard: what it waits for may be a whole listing read (100 pages),
    which a starved machine took more than ten seconds for.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {what or predicate}")
        await asyncio.sleep(0.001)


def eventually_sync(
    predicate: Callable[[], object], *, timeout: float = HANG_GUARD, what: str = ""
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


@contextlib.contextmanager
def fifo_never_blocks_for_ever(path: Path) -> Iterator[None]:
    """Should the code under test open the FIFO at ``path`` and block (the bug such a test
    looks for), open its other end after ``HANG_GUARD`` seconds: the test then fails on
    what the code did next instead of hanging the suite. Harmless when nothing blocks.
    """

    def unblock() -> None:
        with contextlib.suppress(OSError):  # not a FIFO, or gone: nothing to unblock
            if stat.S_ISFIFO(path.lstat().st_mode):
                os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK))

    timer = threading.Timer(HANG_GUARD, unblock)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@contextlib.contextmanager
def killed_if_hung(process: subprocess.Popen[Any]) -> Iterator[None]:
    """Kill ``process`` if the block has not ended after ``HANG_GUARD`` seconds: a read of
    its output that blocks (a child that hangs before it prints) then ends, and the test
    fails instead of hanging the suite. Harmless when nothing blocks.
    """
    timer = threading.Timer(HANG_GUARD, process.kill)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class LoopClock:
    """The running event loop's clock, moved on by the test instead of by the wall clock.

    asyncio's timers, aiohttp's timeouts and anyio's deadlines all read ``loop.time()``: a
    test sets them far out (an hour), waits for the state it means (a request held by the
    server), then moves the clock past them. A busy machine can stall the test anywhere
    without a timeout firing early, as a five-second one did after a stall of five seconds.
    """

    def __init__(self, monkeypatch: Any) -> None:
        loop = asyncio.get_running_loop()
        real = loop.time
        self.offset = 0.0
        monkeypatch.setattr(loop, "time", lambda: real() + self.offset)

    def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds``: every timer due by then fires at the next turn."""
        self.offset += seconds
