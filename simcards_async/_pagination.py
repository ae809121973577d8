"""The page-stream engine: first page, ``total_pages``, a bounded read-ahead window, order.

How a listing is read::

    fetch start_page -> meta.total_pages
    keep up to ``read_ahead`` later pages in flight (the client's limiter decides
    how many of them actually run at once), hand them over strictly in page order
    through a memory stream that holds at most a few pages (``_HANDOVER_PAGES``),
    and start the next page each time one is handed over. Memory is bounded by
    ``read_ahead + _HANDOVER_PAGES + 1`` pages, whatever the listing's size.

The engine runs in a task of its own that owns the task group, so nothing ever
yields from inside a task group or cancel scope: the consumer only receives from
a memory stream. ``async with stream`` cancels that task deterministically on
exit; a stream that is dropped mid-way (``break`` without ``async with``) is
cancelled when it is garbage collected, which CPython does at once.

Why no id is yielded twice with memory bounded by the window: pages are numbered
over live data, so a record inserted ahead of the scan pushes every later record
one place on, and the record at the end of page *n* shows up again at the start
of page *n + 1*. A record can only come back from a page that was read while the
listing moved under it, and pages more than ``read_ahead`` apart are never read at
the same time, so the engine remembers the ids of the last ``read_ahead + 2``
pages only, and drops any id seen there. A shift of more than that many pages
between two reads is reported (``DriftWarning``) rather than hidden. Deletions move
records the other way, so one may be missed: drift is counted in ``stats.drift``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import operator
import os
import time
import warnings
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.lowlevel
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from typing_extensions import Self

from ._checkpoint import Checkpoint, fingerprint, save_checkpoint
from ._errors import APIError, APITimeoutError, DriftWarning
from ._models import Page
from ._query import ListQuery
from ._throttle import AdaptiveLimiter

__all__ = ["DriftReport", "PageStream", "Progress", "StreamStats"]

_get_id = operator.attrgetter("id")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)

#: Fetch one page: (target, on_retry) -> the decoded page.
FetchPage = Callable[[str, Callable[[APIError], None]], Awaitable[Page[T]]]


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
    #: listing changed, which would leave a gap between the two.
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


@dataclass
class StreamStats:
    """Counters of one stream, readable at any time."""

    pages_fetched: int = 0
    items_yielded: int = 0
    retries: int = 0
    #: ``meta.total_results`` and ``meta.total_pages`` of the first page read.
    total_results: int | None = None
    total_pages: int | None = None
    #: The client's shared concurrency limit now, and seconds it has spent paused by 429s.
    concurrency_limit: int = 0
    throttled_seconds: float = 0.0
    started_at: float = field(default_factory=time.monotonic)
    drift: DriftReport = field(default_factory=DriftReport)


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

    @property
    def items_per_second(self) -> float:
        """Items yielded per second since the stream started."""
        return self.items / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or ``None`` while it cannot be told."""
        if self.total_results is None or not self.items:
            return None
        left = max(0, self.total_results - self.items)
        return left / self.items_per_second

    @property
    def fraction(self) -> float | None:
        """Share of ``total_results`` yielded so far, from 0 to 1."""
        if not self.total_results:
            return None
        return min(1.0, self.items / self.total_results)


#: Pages the engine may hand over ahead of the consumer. With none (a rendezvous) the
#: engine waits for the consumer at every page, and each page costs a loop turn more.
_HANDOVER_PAGES = 4


class _Slot(Generic[T]):
    """One page being fetched: its result or error, and a future done when either is in."""

    __slots__ = ("done", "error", "number", "page", "served")

    def __init__(self, number: int, done: asyncio.Future[None]) -> None:
        self.number = number
        self.done = done
        self.page: Page[T] | None = None
        self.error: BaseException | None = None
        self.served = 0  # the order in which the server's answers came in


class _Engine(Generic[T]):
    """Reads a listing page by page and sends the pages, in order, to a memory stream.

    Holds no reference to the ``PageStream`` that started it, so that dropping the
    stream lets it be collected and cancel this engine.
    """

    def __init__(
        self,
        query: ListQuery,
        fetch: FetchPage[T],
        *,
        read_ahead: int,
        limiter: AdaptiveLimiter,
        stats: StreamStats,
        deadline: float | None,
        rescan: bool = False,
        resume: Checkpoint | None = None,
    ) -> None:
        self.query = query
        self.rescan = rescan
        self.resume = resume
        self.fetch = fetch
        self.read_ahead = read_ahead
        self.limiter = limiter
        self.stats = stats
        self.deadline = deadline
        self.error: BaseException | None = None
        self.warnings: list[str] = []
        self._recent: deque[list[str]] = deque()
        self._seen: set[str] = set()
        # With rescan every id is kept (the re-scan must know what was read); else a window.
        self._horizon = math.inf if rescan else read_ahead + 2
        self._delivered = 0
        self._warned = False
        self._start_page = query.start_page
        self._rescanning = False
        self._served = 0  # answers received so far: a clock for "which view is older"
        self._last_served = 0  # ... of the page delivered last, and its total_results
        self._last_total: int | None = None
        self._planned_end: float = math.inf  # the last page as far as the answers tell
        if resume is not None:
            # Continue after the last page the consumer finished; its ids guard the seam.
            self._start_page = resume.next_page
            self._delivered = resume.items_done
            self._remember(list(resume.last_ids))
            stats.drift.first_total_results = resume.total_results

    async def run(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> None:
        """Read the whole listing into ``send``; a failure is kept in ``self.error``."""
        with send:
            try:
                if self.deadline is None:
                    await self._read_all(send)
                else:
                    with anyio.fail_after(self.deadline):
                        await self._read_all(send)
            except anyio.BrokenResourceError:
                pass  # the consumer went away: nothing more to do
            except TimeoutError as exc:
                msg = f"the listing did not finish within the {self.deadline} s deadline"
                self.error = APITimeoutError(msg)
                self.error.__cause__ = exc
            except Exception as exc:  # noqa: BLE001  (handed to the consumer, raised there)
                self.error = exc

    async def _read_all(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> None:
        if self.resume is not None and self.resume.complete:
            return
        if not await self._read(send) or not self.rescan or not self.stats.drift.detected:
            return
        # Opt-in: records deleted during the scan may have shifted others past it.
        # Read the listing once more and deliver only what was never seen.
        drift = self.stats.drift
        drift.rescans += 1
        before = self._delivered
        self._rescanning = True  # repeats are the point of a second pass: not drift
        await self._read(send)
        drift.gaps_filled += self._delivered - before

    async def _read(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> bool:
        """Read the listing once; False when ``limit`` was reached."""
        start = self._start_page
        self._start_page = self.query.start_page  # a re-scan reads from the start
        first = await self._fetch(start)
        meta = first.meta
        self._planned_end = meta.total_pages if meta else math.inf
        stats = self.stats
        if stats.total_results is None and stats.total_pages is None:
            stats.total_results = meta.total_results if meta else None
            stats.total_pages = meta.total_pages if meta else None
            if self.resume is None:
                stats.drift.first_total_results = stats.total_results
        if not await self._deliver(send, start, first, self._served):
            return False
        if self._at_end(first):
            return True
        # Without meta the total is unknown: read one page at a time until a short one.
        window = self.read_ahead if meta else 1
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            try:
                more = await self._read_rest(tg, send, start + 1, window)
            except Exception as exc:  # noqa: BLE001
                # Raised below, outside the group, so it is not wrapped in an ExceptionGroup.
                error, more = exc, False
            tg.cancel_scope.cancel()
        if error is not None:
            raise error
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
        while True:
            while (
                len(slots) < window and number <= self._planned_end and self._wants_more(len(slots))
            ):
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
            if self._is_stale(page, served):
                # Served before the page delivered just now, and the listing changed in
                # between: records inserted since would fall between the two. Read it again.
                self.stats.drift.rereads += 1
                page = await self._fetch(slot.number)
                served = self._served
            if page.meta is not None:
                # The listing may have grown since the first page: read its new end too.
                self._planned_end = max(self._planned_end, page.meta.total_pages)
            if not await self._deliver(send, slot.number, page, served):
                return False
            if self._at_end(page):
                return True

    def _is_stale(self, page: Page[T], served: int) -> bool:
        return (
            page.meta is not None
            and self._last_total is not None
            and served < self._last_served
            and page.meta.total_results != self._last_total
        )

    def _at_end(self, page: Page[T]) -> bool:
        """Whether a page ends the listing early.

        An empty page does (records were deleted: stop rather than spin), and so
        does a short one when the server sent no meta to count pages by.
        """
        if not page.data:
            return True
        return page.meta is None and len(page.data) < self.query.page_size

    def _wants_more(self, in_flight: int) -> bool:
        limit = self.query.limit
        return limit is None or self._delivered + in_flight * self.query.page_size < limit

    async def _worker(self, todo: asyncio.Queue[_Slot[T]]) -> None:
        while True:
            slot = await todo.get()
            try:
                slot.page = await self._fetch(slot.number)
                slot.served = self._served
            except Exception as exc:  # noqa: BLE001  (raised in page order by _read_rest)
                slot.error = exc
            if not slot.done.done():  # cancelled along with an engine that was waiting on it
                slot.done.set_result(None)

    async def _fetch(self, number: int) -> Page[T]:
        page = await self.fetch(self.query.target(number), self._on_retry)
        self._served += 1
        stats = self.stats
        stats.pages_fetched += 1
        stats.concurrency_limit = self.limiter.limit
        stats.throttled_seconds = self.limiter.throttled_seconds
        if page.meta is not None:
            stats.drift.last_total_results = page.meta.total_results
        return page

    def _on_retry(self, _exc: APIError) -> None:
        self.stats.retries += 1

    async def _deliver(
        self,
        send: MemoryObjectSendStream[tuple[int, Page[T]]],
        number: int,
        page: Page[T],
        served: int,
    ) -> bool:
        """Drop ids already seen, cut to ``limit``, send; False when the listing is done."""
        self._check_drift(page, number)
        if page.meta is not None:
            self._last_served, self._last_total = served, page.meta.total_results
        items = self._dedupe(page.data)
        limit = self.query.limit
        if limit is not None and self._delivered + len(items) > limit:
            items = items[: limit - self._delivered]
        if items is not page.data:
            page = msgspec.structs.replace(page, data=items)
        if items:
            try:  # no checkpoint when the consumer is already waiting: one loop pass less
                send.send_nowait((number, page))
            except anyio.WouldBlock:
                await send.send((number, page))
            self._delivered += len(items)
        return limit is None or self._delivered < limit

    def _dedupe(self, items: tuple[T, ...]) -> tuple[T, ...]:
        """The page's items not yielded before, each once; remembers their ids."""
        ids = list(map(_get_id, items))
        if self._is_new_page(ids):
            return items
        seen, fresh = self._seen, set()
        kept = []
        for item in items:
            if item.id not in seen and item.id not in fresh:
                fresh.add(item.id)
                kept.append(item)
        if not self._rescanning:  # a second pass repeats the first by design
            self.stats.drift.duplicates_dropped += len(items) - len(kept)
            if not kept:
                self._warn(
                    "a whole page repeated records already read: the listing shifted by a page "
                    "or more during the scan, so a repeat beyond the dedupe window is possible"
                )
        kept_ids = list(map(_get_id, kept))
        seen.update(kept_ids)
        self._track(kept_ids)
        return tuple(kept)

    def _is_new_page(self, ids: list[str]) -> bool:
        """Remember a page's ids if all are new (the common case), in C; else change nothing."""
        seen = self._seen
        if self._horizon == math.inf:
            # With rescan every id is kept, too many to rebuild from: look before adding.
            if not seen.isdisjoint(ids) or len(set(ids)) != len(ids):
                return False
            seen.update(ids)
            return True
        # One update: if the set grew by as many ids as the page has, none was there.
        size = len(seen)
        seen.update(ids)
        if len(seen) - size == len(ids):
            self._track(ids)
            return True
        # Undo it: the set as it was is the union of the pages remembered.
        self._seen = set().union(*self._recent)
        return False

    def _remember(self, ids: list[str]) -> None:
        """Remember ids read before (a resumed scan's last page)."""
        self._seen.update(ids)
        self._track(ids)

    def _track(self, ids: list[str]) -> None:
        """Note one page's ids (already in the set); forget the oldest page's past the horizon."""
        if self._horizon == math.inf:
            return  # a rescan keeps every id: no need to know which page it came from
        self._recent.append(ids)
        if len(self._recent) > self._horizon:
            self._seen.difference_update(self._recent.popleft())

    def _check_drift(self, page: Page[T], number: int) -> None:
        drift = self.stats.drift
        size, end = len(page.data), self._planned_end
        # Short or empty before the end planned from the answers so far: records deleted.
        # (Not the page's own total_pages, which shrinks with the data.)
        if page.meta is not None and (
            (size < self.query.page_size and number < end) or (not size and number <= end)
        ):
            drift.short_pages += 1
        if drift.detected:
            self._warn(
                f"the listing changed while it was read (total_results "
                f"{drift.first_total_results} -> {drift.last_total_results}, "
                f"{drift.duplicates_dropped} repeats dropped, {drift.short_pages} short pages); "
                "records deleted during the scan may have been missed"
            )

    def _warn(self, message: str) -> None:
        # Warned from the consumer's task (see PageStream.pages), where a filter that
        # turns warnings into errors raises to the caller, not inside the engine.
        if not self._warned:
            self._warned = True
            self.warnings.append(message)


M = TypeVar("M")
R = TypeVar("R", bound="_Reader")


class _Background(Generic[M]):
    """A producer running in a task of its own, handing its output over a memory stream.

    The task owns whatever task group the producer opens, so the consumer never yields from
    inside one: it only receives. ``stop`` cancels without waiting (from sync code, a
    ``finally`` or ``__del__``), ``aclose`` cancels and waits. Holds no reference to the
    stream object that made it, so dropping that object collects this one and stops the task.
    """

    def __init__(
        self,
        run: Callable[[MemoryObjectSendStream[M]], Coroutine[Any, Any, None]],
        *,
        buffer: int,
        on_start: Callable[[asyncio.Task[None]], None] | None = None,
    ) -> None:
        self._run = run
        self._buffer = buffer
        self._on_start = on_start
        self.task: asyncio.Task[None] | None = None
        self.receive: MemoryObjectReceiveStream[M] | None = None

    def start(self) -> MemoryObjectReceiveStream[M]:
        """Start the producer, once; the receiving end of its output."""
        if self.receive is None:
            send, self.receive = anyio.create_memory_object_stream[M](self._buffer)
            self.task = asyncio.get_running_loop().create_task(self._run(send))
            if self._on_start is not None:
                self._on_start(self.task)
        return self.receive

    async def wait(self) -> bool:
        """Wait for the producer to end; whether something other than ``stop`` cancelled it."""
        task = self.task
        if task is None:
            return False
        await asyncio.wait([task])
        return task.cancelled()

    def stop(self) -> None:
        """Cancel the producer without waiting for it, and close the receiving end."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                task.cancel()
        if self.receive is not None:
            self.receive.close()

    async def aclose(self) -> None:
        """Cancel the producer and wait until it has let go of everything."""
        task = self.task
        self.stop()
        if task is not None:
            await asyncio.wait([task])

    def __del__(self) -> None:
        # Dropped mid-way without ``async with``: stop, silently.
        self.stop()


class _Reader:
    """What ``PageStream`` and ``MergedStream`` share: start on ``async with``, stop on exit."""

    _background: _Background[Any]

    async def __aenter__(self) -> Self:
        self._background.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every request still in flight and release the connections."""
        await self._background.aclose()


class PageStream(_Reader, Generic[T]):
    """An async stream of the items of one listing, read concurrently and yielded in order.

    ``async for item in stream`` works directly; ``async with stream:`` cleans up
    deterministically on exit; ``stream.pages()`` yields whole pages instead;
    ``stream.stats`` counts what happened so far. A stream is read once.
    """

    def __init__(
        self,
        query: ListQuery,
        fetch: FetchPage[T],
        *,
        read_ahead: int,
        limiter: AdaptiveLimiter,
        deadline: float | None = None,
        rescan: bool = False,
        checkpoint: str | os.PathLike[str] | None = None,
        resume: Checkpoint | None = None,
        on_start: Callable[[asyncio.Task[None]], None] | None = None,
    ) -> None:
        self.query = query
        self.stats = StreamStats()
        #: The checkpoint this stream continues from, if any (exporters read its ``extra``).
        self.resumed = resume
        #: Called before each checkpoint is written; returns state to keep in its ``extra``.
        #: An exporter flushes its output here, so the checkpoint never runs ahead of it.
        self.before_checkpoint: Callable[[], Awaitable[dict[str, Any]]] | None = None
        #: The file this stream writes its checkpoints to, if any.
        self.checkpoint = checkpoint
        self._fingerprint = fingerprint(query)
        self._items_done = resume.items_done if resume else 0
        self._checkpointed = False
        self._progress_callbacks: list[Callable[[Progress], object]] = []
        self._engine = _Engine(
            query,
            fetch,
            read_ahead=read_ahead,
            limiter=limiter,
            stats=self.stats,
            deadline=deadline,
            rescan=rescan,
            resume=resume,
        )
        self._background: _Background[tuple[int, Page[T]]] = _Background(
            self._engine.run, buffer=_HANDOVER_PAGES, on_start=on_start
        )

    def __repr__(self) -> str:
        return f"<PageStream {self.query.path} {self.query.params} {self.stats}>"

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        stats = self.stats
        async for page in self._received():
            for item in page.data:
                stats.items_yielded += 1  # per item: stats are exact whenever they are read
                yield item

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield whole pages (items and meta) in order, repeats already removed."""
        async for page in self._received():
            self.stats.items_yielded += len(page.data)
            yield page

    @property
    def progress(self) -> Progress:
        """A snapshot of pages and items done, retries, throttling and the ETA."""
        stats = self.stats
        return Progress(
            pages_done=stats.pages_fetched,
            total_pages=stats.total_pages,
            items=stats.items_yielded,
            total_results=stats.total_results,
            retries=stats.retries,
            throttled_seconds=stats.throttled_seconds,
            elapsed=time.monotonic() - stats.started_at,
        )

    def on_progress(self, callback: Callable[[Progress], object]) -> None:
        """Call ``callback(progress)`` in the consumer's task after each page is handed over."""
        self._progress_callbacks.append(callback)

    async def _received(self) -> AsyncGenerator[Page[T], None]:
        receive = self._background.start()
        finished = False
        try:
            while True:
                try:
                    # Pages may wait in the hand-over buffer: a cancelled consumer must still
                    # stop at the next page, though taking one from there needs no loop turn.
                    await anyio.lowlevel.checkpoint_if_cancelled()
                    try:  # as for send: skip the checkpoint when a page is there already
                        number, page = receive.receive_nowait()
                    except anyio.WouldBlock:
                        number, page = await receive.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    receive.close()  # now, not whenever the stream is collected
                    break
                self._flush_warnings()
                if self.checkpoint is not None and not self._checkpointed:
                    # A first checkpoint as soon as the listing is known: resumable from here.
                    seam = self.resumed.last_ids if self.resumed is not None else ()
                    await self._save_checkpoint(number, seam, complete=False)
                yield page
                # The consumer is done with this page: only now may a checkpoint say so.
                self._items_done += len(page.data)
                if self.checkpoint is not None:
                    ids = tuple(item.id for item in page.data)
                    await self._save_checkpoint(number + 1, ids, complete=False)
                self._report()
            finished = True
        finally:
            if not finished:
                # The consumer stopped early (break, exception, cancellation): so do we.
                self._background.stop()
        await self._finish()
        if self.checkpoint is not None:
            await self._save_checkpoint(0, (), complete=True)
        self._report()

    async def _save_checkpoint(
        self, next_page: int, last_ids: tuple[str, ...], *, complete: bool
    ) -> None:
        assert self.checkpoint is not None  # noqa: S101  (callers check)
        self._checkpointed = True
        extra = await self.before_checkpoint() if self.before_checkpoint is not None else {}
        point = Checkpoint(
            fingerprint=self._fingerprint,
            path=self.query.path,
            params=self.query.params,
            next_page=next_page,
            items_done=self._items_done,
            total_results=self.stats.drift.first_total_results,
            last_ids=last_ids,
            complete=complete,
            extra=extra,
        )
        # A write and an fsync: in a thread, not on the loop every other task shares.
        await anyio.to_thread.run_sync(save_checkpoint, self.checkpoint, point)

    def _report(self) -> None:
        if self._progress_callbacks:
            snapshot = self.progress
            for callback in self._progress_callbacks:
                callback(snapshot)

    def _flush_warnings(self) -> None:
        pending = self._engine.warnings
        while pending:
            warnings.warn(pending.pop(0), DriftWarning, stacklevel=4)

    async def collect(self) -> list[T]:
        """Read the whole listing into a list (bounded by ``limit`` if one was given)."""
        return [item async for item in self]

    async def _finish(self) -> None:
        """The pages ran out: wait for the engine and raise its failure, if any."""
        if await self._background.wait():
            # Cancelled, and not by this stream (stop forgets the task): the client closed.
            msg = "the client was closed while this stream was being read"
            raise RuntimeError(msg)
        self._flush_warnings()
        error = self._engine.error
        if error is not None:
            self._engine.error = None
            raise error
