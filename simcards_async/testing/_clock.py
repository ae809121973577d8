"""A clock that moves only when told to: deterministic time for the mock server's rate limit."""

from __future__ import annotations

from . import _checks


class ManualClock:
    """Seconds as a float that change only by `advance` (or by ``step`` on every read).

    Give it to ``MockTelnyxServer(clock=...)`` and the rate limit's token buckets refill only
    when the test says so, whatever the machine's load. ``step`` (default 0) is added after
    every read, i.e. once per rate-limited request the server answers, so "one request per
    1/rate seconds" can be simulated exactly; it may be changed at any time.
    """

    __slots__ = ("_now", "step")

    def __init__(self, start: float = 0.0, *, step: float = 0.0) -> None:
        _checks.require(_checks.number(start), "start", "a finite number of seconds", start)
        _checks.require(_checks.seconds(step), "step", "a finite number of seconds >= 0", step)
        self._now = float(start)
        self.step = step

    def __call__(self) -> float:
        """The current time; then move it on by ``step``."""
        now = self._now
        self._now += self.step
        return now

    @property
    def now(self) -> float:
        """The current time, without moving it."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        # Nor to nan or inf: every refill after would be nan.
        allowed = "a finite number of seconds >= 0 (a clock never goes backwards)"
        _checks.require(_checks.seconds(seconds), "advance", allowed, seconds)
        self._now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r}, step={self.step!r})"
