"""The client's shared concurrency limit: AIMD on rate-limit signals, and one pause gate.

Every request of every stream of one client takes a slot here. The limit
halves when the server answers 429 (once per round of requests, so a burst of
429s from one round counts once), and grows back by about one slot per round of
healthy answers, up to ``maximum``. A 429, or an answer saying no requests
remain in the rate-limit window, closes the gate for the whole client until the
window resets: every stream waits, not only the request that was refused.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["AdaptiveLimiter"]


class AdaptiveLimiter:
    """A capacity limiter whose size adapts to the server's rate-limit signals."""

    def __init__(self, maximum: int, *, minimum: int = 1) -> None:
        self.maximum = maximum
        self.minimum = min(minimum, maximum)
        self._target = float(maximum)
        self._limit = maximum
        self._in_flight = 0
        # Waiting requests, first come first served. asyncio futures rather than an anyio
        # CapacityLimiter: that one yields to the loop on every acquire, once per request.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._epoch = 0  # bumped on each decrease; a 429 from an older round is not counted
        self._resume_at = 0.0  # monotonic time until which the gate is closed
        self.throttled_seconds = 0.0
        self.decreases = 0

    @property
    def limit(self) -> int:
        """How many requests may be in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """How many requests are in flight now."""
        return self._in_flight

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """Wait for the gate and a free slot; yields the round the request belongs to."""
        await self.wait_gate()
        await self._acquire()
        try:
            # The gate may have closed while this request queued for a slot.
            await self.wait_gate()
            yield self._epoch
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # _wake takes the slot on this request's behalf before waking it
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # woken and cancelled at once: hand the slot on
            elif waiter in self._waiters:  # _wake drops a cancelled waiter it comes to
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self._in_flight < self._limit:
            waiter = waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    async def wait_gate(self) -> None:
        """Sleep until the pause (if any) is over."""
        # A sleep, not an Event: a later 429 may push the end of the pause further out.
        while (delay := self._resume_at - time.monotonic()) > 0:  # noqa: ASYNC110
            await anyio.sleep(delay)

    def pause(self, seconds: float) -> bool:
        """Close the gate for ``seconds`` from now (extends, never shortens, a pause).

        Whether it did: False when a pause already lasts as long.
        """
        now = time.monotonic()
        resume = now + seconds
        if resume > self._resume_at:
            self.throttled_seconds += resume - max(self._resume_at, now)
            self._resume_at = resume
            return True
        return False

    def pause_left(self) -> float:
        """Seconds until the pause under way ends (0.0 when the gate is open)."""
        return max(0.0, self._resume_at - time.monotonic())

    def throttled_so_far(self) -> float:
        """``throttled_seconds`` less what is still ahead of the pause under way, if any.

        The pauses as far as they have run: a pause set by a listing's last answer, which
        nothing waits for, counted whole made a listing "throttled" for longer than it ran.
        """
        return self.throttled_seconds - self.pause_left()

    def on_throttled(self, epoch: int, reset: float | None) -> None:
        """A 429 came back for a request of round ``epoch``: shrink, and pause everyone."""
        if epoch == self._epoch:
            self._epoch += 1
            self.decreases += 1
            self._set_target(self._target / 2)
        if reset is not None:
            self.pause(reset)

    def on_healthy(self, remaining: int | None, reset: float | None) -> bool:
        """A usable answer came back: grow about a slot per round, or pause if none remain.

        Whether it paused the client (or made a pause longer).
        """
        spent = _window_spent(remaining, reset)
        if spent is not None:
            return self.pause(spent)
        if remaining is not None and remaining < self.in_flight:
            # More requests are in flight than the window has room for: stop growing.
            return False
        self._set_target(self._target + 1 / self._target)
        return False

    def on_refused(self, remaining: int | None, reset: float | None) -> bool:
        """An answer that is no page (an error, not a 429): pause if none remain, never grow.

        An error counts against the window too: one saying it is spent closed no gate, and
        every other stream sent into it, drew a 429 and halved the limit. Whether it paused
        the client (or made a pause longer).
        """
        spent = _window_spent(remaining, reset)
        return spent is not None and self.pause(spent)

    def _set_target(self, target: float) -> None:
        self._target = min(float(self.maximum), max(float(self.minimum), target))
        self._limit = max(1, int(self._target))
        self._wake()  # a larger limit lets waiting requests go now


def _window_spent(remaining: int | None, reset: float | None) -> float | None:
    """The seconds to pause when an answer says no request remains in its window, else None.

    ``reset``: when the window resets, if the answer says.
    """
    return reset if remaining is not None and remaining <= 0 else None
