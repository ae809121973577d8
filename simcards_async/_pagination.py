"""The page-stream engine: first page, ``total_pages``, a bounded read-ahead window, order.

A producer (see ``_stream`` for the consumer side): it fetches and raises. How a
listing is read::

    fetch start_page -> meta.total_pages
    keep up to ``read_ahead`` later pages in flight (the client's limiter decides
    how many of them actually run at once), hand them over strictly in page order
    through a memory stream that holds at most a few pages (``HANDOVER_PAGES``),
    and start the next page each time one is handed over. Memory is bounded by
    ``read_ahead + HANDOVER_PAGES + 1`` pages, whatever the listing's size.

The engine takes its pages from ``fetch(target, on_retry) -> Page``, a seam that
tests fill without a socket. It is three parts, each with one job:

- ``ReadPlan``: where the scan starts, where the answers say it ends, how much the
  ``limit`` still allows.
- a dedupe strategy, chosen once: ``WindowedDedupe`` remembers the ids of the last
  ``read_ahead + 2`` pages, ``KeepAllDedupe`` (for ``rescan``) every id.
- ``DriftLog``: which answer came in when (to tell an older view of the listing from
  a newer one), short pages, and the one ``DriftWarning`` to raise in the consumer.

Why no id is yielded twice with the window: pages are numbered over live data, so
a record inserted ahead of the scan pushes every later record one place on, and
the record at the end of page *n* shows up again at the start of page *n + 1*. A
record can only come back from a page that was read while the listing moved under
it, and pages more than ``read_ahead`` apart are never read at the same time. A
shift of more than that many pages between two reads is reported (``DriftWarning``)
rather than hidden. Deletions move records the other way, so one may be missed:
drift is counted in ``stats.drift``.
"""

from __future__ import annotations

import asyncio
import operator
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, Protocol, TypeVar

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from ._errors import APIError, APITimeoutError, RateLimitError
from ._models import Page
from ._query import ListQuery
from ._stats import StreamStats
from ._throttle import AdaptiveLimiter

__all__ = [
    "HANDOVER_PAGES",
    "Engine",
    "FetchPage",
    "KeepAllDedupe",
    "ReadPlan",
    "Resume",
    "WindowedDedupe",
]

_get_id = operator.attrgetter("id")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)

#: Fetch one page: (target, on_retry) -> the decoded page.
FetchPage = Callable[[str, Callable[[APIError], None]], Awaitable[Page[T]]]

#: Pages the engine may hand over ahead of the consumer. With none (a rendezvous) the
#: engine waits for the consumer at every page, and each page costs a loop turn more.
HANDOVER_PAGES = 4


class Resume(msgspec.Struct, frozen=True, kw_only=True):
    """Where a resumed scan starts: what the engine needs of a checkpoint."""

    next_page: int
    #: Items delivered before ``next_page`` plus those of it already yielded.
    delivered: int
    total_results: int | None
    #: Ids of the last page consumed: a record shifted across the seam is still once.
    last_ids: tuple[str, ...] = ()
    #: Ids of ``next_page`` already yielded: dropped from it silently (not drift).
    page_ids: tuple[str, ...] = ()
    complete: bool = False


class ReadPlan:
    """Where the scan is: its first page, its last page as far as the answers tell, its limit."""

    __slots__ = ("delivered", "end", "limit", "page_size", "start")

    def __init__(self, query: ListQuery) -> None:
        self.start = query.start_page
        self.page_size = query.page_size
        self.limit = query.limit
        #: The last page as far as the answers tell (None: not known yet, or no meta).
        self.end: int | None = None
        #: Items handed over so far (across a resume and a re-scan).
        self.delivered = 0

    def within_end(self, number: int) -> bool:
        return self.end is None or number <= self.end

    def wants_more(self, in_flight: int) -> bool:
        """Whether the limit leaves room for another page beyond ``in_flight`` ones."""
        limit = self.limit
        return limit is None or self.delivered + in_flight * self.page_size < limit

    def room(self) -> int | None:
        """Items the limit still allows (None: no limit)."""
        return None if self.limit is None else self.limit - self.delivered

    def reached_limit(self) -> bool:
        return self.limit is not None and self.delivered >= self.limit


class WindowedDedupe:
    """Remembers the ids of the last ``horizon`` pages, in bounded memory."""

    def __init__(self, horizon: int) -> None:
        self._horizon = horizon
        self._recent: deque[list[str]] = deque()
        self.seen: set[str] = set()

    @property
    def remembered(self) -> int:
        """How many ids are held now."""
        return len(self.seen)

    def add_if_all_new(self, ids: list[str]) -> bool:
        """Remember a page's ids if all are new (the common case), in C; else change nothing."""
        seen = self.seen
        # One update: if the set grew by as many ids as the page has, none was there.
        size = len(seen)
        seen.update(ids)
        if len(seen) - size == len(ids):
            self._track(ids)
            return True
        # Undo it: the set as it was is the union of the pages remembered.
        self.seen = set().union(*self._recent)
        return False

    def add(self, ids: list[str]) -> None:
        """Remember ids known to be new (or known from before a resume)."""
        self.seen.update(ids)
        self._track(ids)

    def _track(self, ids: list[str]) -> None:
        self._recent.append(ids)
        if len(self._recent) > self._horizon:
            self.seen.difference_update(self._recent.popleft())


class KeepAllDedupe:
    """Remembers every id (a re-scan must know all that the first pass delivered)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    @property
    def remembered(self) -> int:
        """How many ids are held now."""
        return len(self.seen)

    def add_if_all_new(self, ids: list[str]) -> bool:
        """Remember a page's ids if all are new; else change nothing."""
        # Every id is kept, too many to rebuild from: look before adding.
        seen = self.seen
        if not seen.isdisjoint(ids) or len(set(ids)) != len(ids):
            return False
        seen.update(ids)
        return True

    def add(self, ids: list[str]) -> None:
        """Remember ids known to be new (or known from before a resume)."""
        self.seen.update(ids)


Dedupe = WindowedDedupe | KeepAllDedupe


class DriftLog:
    """The engine's view of the listing changing: answer order, short pages, one warning."""

    __slots__ = ("last_served", "last_total", "served", "stats", "warned", "warnings")

    def __init__(self, stats: StreamStats) -> None:
        self.stats = stats
        self.served = 0  # answers received so far: a clock for "which view is older"
        self.last_served = 0  # ... of the page delivered last, and its total_results
        self.last_total: int | None = None
        self.warned = False
        #: Messages for the consumer to raise as ``DriftWarning`` (from its own task).
        self.warnings: list[str] = []

    def is_stale(self, page: Page[T], served: int) -> bool:
        """Served before the page delivered last, and the listing changed in between."""
        return (
            page.meta is not None
            and self.last_total is not None
            and served < self.last_served
            and page.meta.total_results != self.last_total
        )

    def delivered(self, page: Page[T], served: int) -> None:
        if page.meta is not None:
            self.last_served, self.last_total = served, page.meta.total_results

    def check(self, page: Page[T], number: int, plan: ReadPlan) -> None:
        drift = self.stats.drift
        size, end = len(page.data), plan.end
        # Short or empty before the end planned from the answers so far: records deleted.
        # (Not the page's own total_pages, which shrinks with the data.)
        if (
            page.meta is not None
            and end is not None
            and ((size < plan.page_size and number < end) or (not size and number <= end))
        ):
            drift.short_pages += 1
        if drift.detected:
            self.warn(
                f"the listing changed while it was read (total_results "
                f"{drift.first_total_results} -> {drift.last_total_results}, "
                f"{drift.duplicates_dropped} repeats dropped, {drift.short_pages} short pages); "
                "records deleted during the scan may have been missed"
            )

    def warn(self, message: str) -> None:
        if not self.warned:
            self.warned = True
            self.warnings.append(message)


class _Slot(Generic[T]):
    """One page being fetched: its result or error, and a future done when either is in."""

    __slots__ = ("done", "error", "number", "page", "served")

    def __init__(self, number: int, done: asyncio.Future[None]) -> None:
        self.number = number
        self.done = done
        self.page: Page[T] | None = None
        self.error: BaseException | None = None
        self.served = 0  # the order in which the server's answers came in


class Engine(Generic[T]):
    """Reads a listing page by page and sends ``(number, page)``, in order, to a memory stream.

    Holds no reference to the stream that started it, so that dropping the stream lets
    it be collected and cancel this engine. Fails by raising (``run`` is a producer).
    """

    def __init__(
        self,
        query: ListQuery,
        fetch: FetchPage[T],
        *,
        read_ahead: int,
        limiter: AdaptiveLimiter,
        stats: StreamStats,
        deadline: float | None = None,
        rescan: bool = False,
        resume: Resume | None = None,
    ) -> None:
        self.query = query
        self.fetch = fetch
        self.read_ahead = read_ahead
        self.limiter = limiter
        self.stats = stats
        self.deadline = deadline
        self.rescan = rescan
        self.resume = resume
        self.plan = ReadPlan(query)
        # With rescan every id is kept (the re-scan must know what was read); else a window.
        self.dedupe: Dedupe = KeepAllDedupe() if rescan else WindowedDedupe(read_ahead + 2)
        self.drift = DriftLog(stats)
        self._expected: set[str] = set()  # repeats that are no drift: a resumed page's start
        self._counting_repeats = True  # a second pass repeats the first by design
        if resume is not None:
            # Continue after the last page the consumer finished; its ids guard the seam.
            self.plan.start = resume.next_page
            self.plan.delivered = resume.delivered
            self.dedupe.add(list(resume.last_ids))
            self._expected = set(resume.page_ids)
            self.dedupe.add(list(resume.page_ids))
            stats.drift.first_total_results = resume.total_results

    @property
    def warnings(self) -> list[str]:
        """Drift messages not yet raised in the consumer's task."""
        return self.drift.warnings

    async def run(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> None:
        """Read the whole listing into ``send``; raise what fails."""
        if self.deadline is None:
            await self._read_all(send)
            return
        try:
            with anyio.fail_after(self.deadline):
                await self._read_all(send)
        except TimeoutError as exc:
            msg = f"the listing did not finish within the {self.deadline} s deadline"
            raise APITimeoutError(msg) from exc

    async def _read_all(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> None:
        if self.resume is not None and self.resume.complete:
            return
        if not await self._read(send) or not self.rescan or not self.stats.drift.detected:
            return
        # Opt-in: records deleted during the scan may have shifted others past it.
        # Read the listing once more and deliver only what was never seen.
        drift = self.stats.drift
        drift.rescans += 1
        before = self.plan.delivered
        self._counting_repeats = False
        self.plan.start = self.query.start_page  # a re-scan reads from the start
        await self._read(send)
        drift.gaps_filled += self.plan.delivered - before

    async def _read(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> bool:
        """Read the listing once; False when ``limit`` was reached."""
        plan, stats = self.plan, self.stats
        start = plan.start
        first = await self._fetch(start)
        meta = first.meta
        plan.end = meta.total_pages if meta else None
        if stats.total_results is None and stats.total_pages is None:
            stats.total_results = meta.total_results if meta else None
            stats.total_pages = meta.total_pages if meta else None
            if self.resume is None:
                stats.drift.first_total_results = stats.total_results
        if not await self._deliver(send, start, first, self.drift.served):
            return False
        if self._at_end(first):
            return True
        # Without meta the total is unknown: read one page at a time until a short one.
        window = self.read_ahead if meta else 1
        async with anyio.create_task_group() as tg:
            more = await self._read_rest(tg, send, start + 1, window)
            tg.cancel_scope.cancel()
        return more

    async def _read_rest(
        self,
        tg: TaskGroup,
        send: MemoryObjectSendStream[tuple[int, Page[T]]],
        number: int,
        window: int,
    ) -> bool:
        # A fixed pool of workers takes the pages handed out below: starting an anyio task
        # per page would cost more CPU than decoding it. The group still owns every worker.
        # No more workers than the client may run at once (more would only queue for a
        # slot); the rest of the window is pages queued for the next free worker, so that
        # one slow page does not leave the others idle.
        todo: asyncio.Queue[_Slot[T]] = asyncio.Queue()
        for _ in range(min(window, self.limiter.maximum)):
            tg.start_soon(self._worker, todo)
        loop = asyncio.get_running_loop()
        slots: deque[_Slot[T]] = deque()
        plan, drift = self.plan, self.drift
        while True:
            while len(slots) < window and plan.within_end(number) and plan.wants_more(len(slots)):
                slot = _Slot[T](number, loop.create_future())
                todo.put_nowait(slot)
                slots.append(slot)
                number += 1
            if not slots:
                return True
            slot = slots.popleft()
            await slot.done
            if slot.error is not None:
                raise slot.error
            page, served = slot.page, slot.served
            assert page is not None  # noqa: S101  (set with done, unless error)
            if drift.is_stale(page, served):
                # Served before the page delivered just now, and the listing changed in
                # between: records inserted since would fall between the two. Read it again.
                self.stats.drift.rereads += 1
                page = await self._fetch(slot.number)
                served = drift.served
            if page.meta is not None and plan.end is not None:
                # The listing may have grown since the first page: read its new end too.
                plan.end = max(plan.end, page.meta.total_pages)
            if not await self._deliver(send, slot.number, page, served):
                return False
            if self._at_end(page):
                return True

    def _at_end(self, page: Page[T]) -> bool:
        """Whether a page ends the listing early.

        An empty page does (records were deleted: stop rather than spin), and so
        does a short one when the server sent no meta to count pages by.
        """
        if not page.data:
            return True
        return page.meta is None and len(page.data) < self.plan.page_size

    async def _worker(self, todo: asyncio.Queue[_Slot[T]]) -> None:
        while True:
            slot = await todo.get()
            try:
                slot.page = await self._fetch(slot.number)
                slot.served = self.drift.served
            except Exception as exc:  # noqa: BLE001  (raised in page order by _read_rest)
                slot.error = exc
            if not slot.done.done():  # cancelled along with an engine that was waiting on it
                slot.done.set_result(None)

    async def _fetch(self, number: int) -> Page[T]:
        try:
            page = await self.fetch(self.query.target(number), self._on_retry)
        except RateLimitError:
            self.stats.rate_limited += 1
            raise
        self.drift.served += 1
        stats = self.stats
        stats.pages_fetched += 1
        stats.concurrency_limit = self.limiter.limit
        stats.throttled_seconds = self.limiter.throttled_seconds
        if page.meta is not None:
            stats.drift.last_total_results = page.meta.total_results
        return page

    def _on_retry(self, exc: APIError) -> None:
        self.stats.retries += 1
        if isinstance(exc, RateLimitError):
            self.stats.rate_limited += 1

    async def _deliver(
        self,
        send: MemoryObjectSendStream[tuple[int, Page[T]]],
        number: int,
        page: Page[T],
        served: int,
    ) -> bool:
        """Drop ids already seen, cut to ``limit``, send; False when the listing is done."""
        plan = self.plan
        self.drift.check(page, number, plan)
        self.drift.delivered(page, served)
        items = self._fresh(page.data)
        room = plan.room()
        if room is not None and len(items) > room:
            items = items[:room]
        if items is not page.data:
            page = msgspec.structs.replace(page, data=items)
        if items:
            try:  # no checkpoint when the consumer is already waiting: one loop pass less
                send.send_nowait((number, page))
            except anyio.WouldBlock:
                await send.send((number, page))
            plan.delivered += len(items)
        return not plan.reached_limit()

    def _fresh(self, items: tuple[T, ...]) -> tuple[T, ...]:
        """The page's items not yielded before, each once; remembers their ids."""
        ids = list(map(_get_id, items))
        dedupe = self.dedupe
        if dedupe.add_if_all_new(ids):
            return items
        kept = list(_first_of_each(items, dedupe))
        repeats = len(items) - len(kept)
        expected = self._expected
        if expected:
            # The start of a resumed page, yielded before the stop: no drift.
            repeats -= len(expected.intersection(ids))
            self._expected = set()
        if self._counting_repeats:
            self.stats.drift.duplicates_dropped += repeats
            if not kept and repeats:
                self.drift.warn(
                    "a whole page repeated records already read: the listing shifted by a page "
                    "or more during the scan, so a repeat beyond the dedupe window is possible"
                )
        dedupe.add(list(map(_get_id, kept)))
        return tuple(kept)


def _first_of_each(items: Iterable[T], dedupe: Dedupe) -> Iterable[T]:
    seen, fresh = dedupe.seen, set()
    for item in items:
        if item.id not in seen and item.id not in fresh:
            fresh.add(item.id)
            yield item
