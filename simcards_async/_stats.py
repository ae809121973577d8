"""What a stream counts: ``StreamStats`` (live counters), ``DriftReport``, ``Progress`` snapshots.

Plain data, no I/O: the engine and the consumer side fill them in, callers read them.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields

__all__ = ["DriftReport", "Progress", "StreamStats", "at_most"]


@dataclass
class DriftReport:
    """What the stream saw of the listing changing under it."""

    #: ``total_results`` of the first page read, and of the latest one.
    first_total_results: int | None = None
    last_total_results: int | None = None
    #: Records seen twice (shifted forward by inserts) and dropped.
    duplicates_dropped: int = 0
    #: Pages that came back empty or short before the planned end (records deleted).
    short_pages: int = 0
    #: Pages read again because they were served before the page ahead of them while the
    #: listing changed, which would leave a gap between the two; or because they came back
    #: empty before the planned end (one glitched answer must not end the listing); or, on
    #: a resume whose first page repeats only records already delivered, the checkpoint's
    #: last page, to tell a replay from records moved back across the resume point.
    rereads: int = 0
    #: With ``rescan=True``: passes made after the first, and the records they delivered
    #: that the first pass had not (shifted past it by deletions, or inserted behind it).
    rescans: int = 0
    gaps_filled: int = 0

    @property
    def detected(self) -> bool:
        """Whether anything suggests the listing changed during the scan."""
        return bool(
            self.duplicates_dropped
            or self.short_pages
            or self.first_total_results != self.last_total_results
        )


@dataclass(repr=False)
class StreamStats:
    """Counters of one stream, readable at any time.

    A stream resumed from a checkpoint starts ``pages_fetched`` and ``items_yielded``
    at the checkpoint's counts, so progress continues where the first run stopped.
    """

    pages_fetched: int = 0
    #: Items yielded, but those of the page being read item by item (see ``reading``).
    items_counted: int = field(default=0, repr=False)
    retries: int = 0
    #: Answers with status 429 (too many requests) met, retried or not.
    rate_limited: int = 0
    #: ``meta.total_results`` and ``meta.total_pages`` of the first page that counts the
    #: listing (the first page read, unless it had no count).
    total_results: int | None = None
    total_pages: int | None = None
    #: The client's shared concurrency limit, and the seconds of pause it has scheduled so far
    #: (429s, answers with no requests remaining), as of this stream's latest page: the
    #: client's total, pauses before this stream began included (all its streams pause).
    concurrency_limit: int = 0
    throttled_seconds: float = 0.0
    #: ``time.monotonic()`` when the stream began to read (its first request), and when it
    #: ended (done, failed or stopped); None before. ``elapsed()`` is the time between.
    started_at: float | None = None
    ended_at: float | None = None
    drift: DriftReport = field(default_factory=DriftReport)
    #: The page being read item by item, as its size and the iterator over it: what the
    #: iterator has passed counts as yielded, at no cost per item.
    reading: tuple[int, Iterator[object]] | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        shown = (f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"StreamStats(items_yielded={self.items_yielded}, {', '.join(shown)})"

    @property
    def items_yielded(self) -> int:
        """Items handed to the consumer so far: exact whenever read, even within a page."""
        reading = self.reading
        if reading is None:
            return self.items_counted
        size, rest = reading
        return self.items_counted + size - operator.length_hint(rest)

    @items_yielded.setter
    def items_yielded(self, value: int) -> None:
        self.settle()
        self.items_counted = value

    def start(self) -> None:
        """The stream begins to read now (its first request)."""
        self.started_at, self.ended_at = time.monotonic(), None

    def end(self) -> None:
        """The stream is done reading (at its end, a failure or a stop): its clock stops."""
        if self.started_at is not None and self.ended_at is None:
            self.ended_at = time.monotonic()

    def elapsed(self) -> float:
        """Seconds the stream has been reading (0 before its first request)."""
        if self.started_at is None:
            return 0.0
        end = time.monotonic() if self.ended_at is None else self.ended_at
        return end - self.started_at

    def settle(self) -> None:
        """Count what ``reading`` passed into ``items_counted``, and stop following it."""
        if self.reading is not None:
            self.items_counted, self.reading = self.items_yielded, None


@dataclass(frozen=True)
class Progress:
    """A snapshot of how far a stream has got, for progress bars and logs."""

    pages_done: int
    total_pages: int | None
    items: int
    total_results: int | None
    retries: int
    throttled_seconds: float
    elapsed: float
    #: Of ``items``, those a checkpoint counted before this run (not part of its rate).
    resumed_items: int = 0
    #: Seconds left of the rate-limit pause under way (the server answered 429, or said no
    #: requests remain in its window, and every request waits until it resets); 0.0 when
    #: requests may go.
    pause_left: float = 0.0

    @property
    def items_per_second(self) -> float:
        """Items yielded per second since the stream started (this run's only)."""
        done = self.items - self.resumed_items
        return done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or ``None`` while it cannot be told."""
        rate = self.items_per_second
        if self.total_results is None or rate <= 0:
            return None  # nothing yielded yet, or no time measured (a coarse clock's tick)
        left = max(0, self.total_results - self.items)
        try:
            seconds = left / rate
        except OverflowError:  # a total no float holds (JSON integers have no bound)
            return None
        return seconds if math.isfinite(seconds) else None

    @property
    def fraction(self) -> float | None:
        """Share of ``total_results`` yielded so far, from 0 to 1; None with no total.

        A total of 0 is all done (an empty listing read to its end said None, never 100%).
        """
        if self.total_results is None:
            return None
        if not self.total_results:
            return 1.0
        return min(1.0, self.items / self.total_results)


def at_most(total: int | None, limit: int | None) -> int | None:
    """``total`` cut at ``limit`` (a stream's or a merge's), as it is when either is None."""
    return total if total is None or limit is None else min(total, limit)
