"""Blocking steps in a worker thread, which nothing that unwinds a cancellation runs beside.

anyio's ``to_thread.run_sync`` stops waiting for its thread when the task is cancelled the
asyncio way (``task.cancel()``, ``asyncio.timeout``): the thread goes on, and what the
task did next as it unwound ran beside it. A Parquet export closed pyarrow's writer and
its file under a ``write_table`` still running, and the process crashed (a segmentation
fault, or "pure virtual method called"); a resumed stream closed its id set while a thread
was still loading the checkpoint's ids into it.

``Steps`` runs an owner's steps one at a time, and its cleanup (``then``) never beside
one: a step that had not started when the wait for it was given up never starts, and a
step under way is either waited for (``wait=True``: a write to a regular file, an fsync,
loading ids, all of which end) or left to end on its own, the cleanup deferred to its end
(``wait=False``: a write to a caller's pipe that nobody reads may never end, and a
cancellation must not wait for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

__all__ = ["Steps", "StepsStoppedError"]

R = TypeVar("R")


class StepsStoppedError(RuntimeError):
    """A step asked for after the cleanup began, or whose wait was given up before it began."""


class Steps:
    """Blocking steps in a worker thread, one at a time; a cleanup that never runs beside one."""

    def __init__(self, *, wait: bool) -> None:
        #: Whether a cancellation waits for the step under way (else leaves it running).
        self.wait = wait
        #: Held by a step's thread while it runs: one step at a time, even after a step
        #: left running by a cancellation (``wait=False``).
        self._one = threading.Lock()
        #: Guards the fields below; held for moments, never across a step or a cleanup.
        self._lock = threading.Lock()
        self._running = False
        self._cleaning = False
        self._stopped = False
        self._cleanups: list[Callable[[], object]] = []
        #: Set from the thread (through the loop) when the step under way ends, if waited on.
        self._ended: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(
        self, func: Callable[..., R], *args: object, stop: threading.Event | None = None
    ) -> R:
        """``func(*args)`` in a worker thread; on cancellation, see the module docstring.

        ``stop``, if given, is set when the wait is given up (any cancellation, asyncio's
        or anyio's): a step that looks at it between pieces of its work ends sooner.
        """
        call = _Call()
        try:
            # Never anyio's own wait: it does not let ``stop`` be set. Waited for below.
            return await anyio.to_thread.run_sync(
                self._step, call, func, *args, abandon_on_cancel=True
            )
        except BaseException:
            with self._lock:
                call.given_up = True  # not started yet: it never will
                running = call.running
            if stop is not None:
                stop.set()
            if running and self.wait:
                await self._settled()
            raise

    def then(self, cleanup: Callable[[], object]) -> None:
        """Run ``cleanup`` now, or when the step under way ends (in its thread); no step after.

        Cleanups run in the order given, each once, never two at a time; one that raises
        an ``Exception`` does not stop the next.
        """
        with self._lock:
            self._stopped = True
            if self._running or self._cleaning:
                self._cleanups.append(cleanup)
                return
            self._cleaning = True
        _quietly(cleanup)
        self._clean_up()

    def _step(self, call: _Call, func: Callable[..., R], *args: object) -> R:
        with self._one:
            with self._lock:
                if self._stopped or call.given_up:
                    raise StepsStoppedError("given up, or cleaned up already")
                self._running = call.running = True
            try:
                return func(*args)
            finally:
                with self._lock:
                    self._running = call.running = False
                    self._cleaning = bool(self._cleanups)
                    ended, loop = self._ended, self._loop
                    self._ended = self._loop = None
                if self._cleaning:
                    self._clean_up()
                if ended is not None and loop is not None:
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                        loop.call_soon_threadsafe(_set, ended)

    def _clean_up(self) -> None:
        """Run the cleanups given meanwhile, in order, until none is left."""
        while True:
            with self._lock:
                if not self._cleanups:
                    self._cleaning = False
                    return
                cleanup = self._cleanups.pop(0)
            _quietly(cleanup)

    async def _settled(self) -> None:
        """Wait, shielded from every cancellation, until the step under way has ended."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._running:
                return
            self._ended = ended = self._ended or loop.create_future()
            self._loop = loop
        with anyio.CancelScope(shield=True):  # anyio's; asyncio's own are caught below
            while not ended.done():
                try:
                    await asyncio.shield(ended)
                except asyncio.CancelledError:
                    continue


class _Call:
    """One step's state, read and written under its ``Steps``'s lock."""

    __slots__ = ("given_up", "running")

    def __init__(self) -> None:
        self.given_up = False
        self.running = False


def _set(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _quietly(cleanup: Callable[[], object]) -> None:
    """Run a cleanup: it lets go of what a failure left held, and must not hide the failure."""
    with contextlib.suppress(Exception):  # the failure being unwound is what is raised
        cleanup()
