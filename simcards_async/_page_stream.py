"""``PageStream``: one listing, read by the engine and yielded in order, with its checkpoints.

It joins three parts that each have one job: the engine (``_pagination``) that
reads the pages, the consumer side (``_stream``) that hands them over, and the
``Checkpointer`` (``_checkpoint``) that records how far the consumer got.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import os
import time
import warnings
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from anyio.streams.memory import MemoryObjectSendStream

from ._checkpoint import Checkpoint, Checkpointer, check_state
from ._errors import APIError, DriftWarning
from ._models import Page, RawRecord
from ._observe import Instruments
from ._pagination import (
    HANDOVER_PAGES,
    Delivery,
    Engine,
    FetchPage,
    Resume,
    SharedWindow,
    Turn,
)
from ._query import ListQuery
from ._stats import Progress, StreamStats, at_most
from ._stream import (
    CANCELLED_ELSEWHERE,
    CLIENT_CLOSED,
    Producer,
    ReadOnce,
    StateProvider,
    Stream,
)
from ._throttle import AdaptiveLimiter
from ._wording import Call, keywords

__all__ = ["CHECKPOINT_EVERY", "CHECKPOINT_SECONDS", "PageStream", "Pages", "query_shown"]

#: Seconds between two checkpoints saved as a stream's pages are finished: a killed process
#: resumes from the last save and reads again about this long's pages at most (an export
#: cuts its output back to it). The first page, a failure, a stop and the end are always
#: saved. A bound in time, not in pages, since what a re-read costs is time: a save flushes
#: an exporter's output and writes two files from a worker thread, which takes turns with
#: the loop's thread for the interpreter's lock, so fast pages are not each worth one.
CHECKPOINT_SECONDS = 1.0
#: Pages finished between two checkpoints at most, however fast they come: this bounds
#: the pages a resume reads again, and the ids held for the next save (32,000 at most at
#: the largest page size, ~3 MB).
CHECKPOINT_EVERY = 128

T = TypeVar("T")


class PageStream(Stream[Delivery[T], T]):
    """An async stream of the items of one listing, read concurrently and yielded in order.

    ``async for item in stream`` works directly; ``async with stream:`` fetches nothing
    before the first read and cleans up deterministically on exit; ``stream.pages()``
    yields whole pages instead; ``stream.raw_chunks()`` each record as the API sent it
    (``RawRecord``); ``stream.stats`` counts what happened so far. A stream is read once.
    """

    def __init__(
        self,
        query: ListQuery,
        fetch: FetchPage[Any],
        *,
        item_type: type[T],
        read_ahead: int,
        limiter: AdaptiveLimiter,
        deadline: float | None = None,
        rescan: bool = False,
        checkpointer: Checkpointer | None = None,
        on_start: Callable[[asyncio.Task[None]], None] | None = None,
        raw_fetch: FetchPage[RawRecord] | None = None,
        instruments: Instruments | None = None,
        client_closed: Callable[[], bool] | None = None,
        base_url: str = "",
        window: SharedWindow | None = None,
    ) -> None:
        super().__init__()
        self._client_closed = client_closed
        # A filter's value may be the key, and a server may echo it in a record.
        self._redact = redact = str if instruments is None else instruments.secrets.text
        self._base_url = base_url
        self.query = query
        self.item_type = item_type
        self.stats = StreamStats()
        self._checkpointer = checkpointer
        self._fetch = _Fetch(fetch, raw_fetch)
        point = checkpointer.resumed if checkpointer is not None else None
        self._resumed: Checkpoint | None = point
        # Items and pages the consumer finished (a resumed scan's count first).
        self._items_done = point.items_done if point else 0
        self._pages_done = point.pages_done if point else 0
        #: Ids of a page already yielded, not yet in _items_done: those of the resumed page
        #: yielded before the stop, or those of the page ``limit`` cut short.
        self._carry: tuple[str, ...] = point.page_ids if point else ()
        self._carry_page = point.next_page if point else 0  # ... and the page they are of
        #: Whether a reader took the page ``limit`` cut (the scan's last) and no save says
        #: so yet (an exporter's is not: it resumes from its last save).
        self._cut_taken = False
        self._resumed_items = self._items_done + len(self._carry)
        self._page_start = 0  # items_yielded when the page being consumed was handed over
        self._page: Page[T] | None = None  # ... and that page
        self._page_number = 0
        #: Whether a whole-page reader (``pages()``, ``chunks()``) holds a page it was
        #: handed: got whole, as ``items`` counts it, though not finished.
        self._in_hand = False
        self._saved_once = False
        #: Whether collect() is the reader: its list is all or nothing, so no save counts a
        #: record past the reading's start until it ends (a failed collect() returns none).
        self._whole = False
        #: Whether the scan was read to its end (or its limit): its totals are then what it got.
        self._complete = False
        #: The last page the consumer finished (its number, the ids carried before it, its
        #: ids); None before one is.
        self._finished: tuple[int, tuple[str, ...], list[str]] | None = None
        #: The last page the consumer finished since the last save (its number, the ids
        #: carried before it, the ids of its items) and the state to save with it; None when saved.
        self._unsaved: tuple[int, tuple[str, ...], list[str]] | None = None
        self._unsaved_state: StateProvider | None = None
        self._unsaved_pages = 0
        #: When (``time.monotonic``) finished pages are saved next, the page cap aside.
        self._save_due = 0.0
        #: Ids of the records finished since the last save: the next save appends them.
        self._unsaved_ids: list[str] = []
        self.stats.items_yielded = self._resumed_items
        self.stats.pages_fetched = self._pages_done
        resume = None
        if point is not None:
            resume = Resume(
                next_page=point.next_page,
                delivered=self._resumed_items,
                total_results=point.total_results,
                last_ids=point.last_ids,
                page_ids=point.page_ids,
                complete=point.complete,
                page_size=point.page_size,
                earlier_ids=checkpointer.earlier_ids if checkpointer is not None else None,
            )
        self._engine: Engine[Any] = Engine(
            query,
            self._fetch,
            read_ahead=read_ahead,
            limiter=limiter,
            stats=self.stats,
            deadline=deadline,
            rescan=rescan,
            resume=resume,
            # Not a method of this stream's: the engine holds no reference to the stream.
            url_of=lambda target: redact(base_url + target),
            window=window,
        )
        run = self._engine.run if instruments is None else _observed(self._engine, instruments)
        self._producer = Producer(run, buffer=HANDOVER_PAGES, on_start=on_start)

    def __repr__(self) -> str:
        query = self.query
        where = "" if query.start_page == 1 else f" from page {query.start_page}"
        cap = "" if query.limit is None else f" limit={query.limit}"
        return f"<PageStream {query_shown(self)}{where}{cap} {self.stats}>"

    # --- what it yields ----------------------------------------------------------------

    def matches(self, item: T) -> bool:
        """Whether ``item`` passes this listing's filters, with the API's meaning."""
        return self.query.matches(item)

    @property
    def checkpointing(self) -> bool:
        """Whether this stream saves checkpoints as it is consumed."""
        return self._checkpointer is not None and self._checkpointer.path is not None

    @property
    def base_url(self) -> str:
        """The API's base URL the listing is read from: a ``PaginationError``'s url starts so."""
        return self._base_url

    @property
    def rescan(self) -> bool:
        """Whether this stream reads the listing again after drift (those records come last)."""
        return self._engine.drift.rescan

    def _merged_in_order(self) -> None:
        """A merge in sort order reads it, which refuses a rescan: its drift warning says so."""
        self._engine.drift.in_order = True

    @property
    def checkpoint(self) -> str | os.PathLike[str] | None:
        """The file this stream writes its checkpoints to, if any."""
        return self._checkpointer.path if self._checkpointer is not None else None

    @property
    def resumed_state(self) -> Mapping[str, Any] | None:
        """The exporter's state kept in the checkpoint this stream continues, if it does."""
        return None if self._resumed is None else self._resumed.extra

    @property
    def resumed_items(self) -> int:
        """Items the checkpoint this stream continues had counted as consumed."""
        return self._resumed_items

    @property
    def resumed_from(self) -> str | os.PathLike[str] | None:
        """The checkpoint file this stream continues, if it does."""
        cp = self._checkpointer
        return cp.resume_from if self._resumed is not None and cp is not None else None

    @property
    def resumed_finished(self) -> bool:
        """Whether the checkpoint this stream continues says its scan had finished.

        To the listing's end (resuming yields nothing), or to the scan's ``limit`` (a
        larger one goes on).
        """
        point = self._resumed
        return point is not None and (point.complete or point.limited)

    @property
    def resumable_from(self) -> str | os.PathLike[str] | None:
        """The checkpoint file a new run could continue this stream from, if there is one."""
        cp = self._checkpointer
        return None if cp is None else cp.resumable

    @property
    def finish_saved(self) -> bool:
        """Whether this run's checkpoint now says the scan finished (its end, or its limit)."""
        cp = self._checkpointer
        return cp is not None and cp.done

    # --- reading -----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        self._check_typed()
        stats = self.stats
        pages = self._receive()
        try:
            async with contextlib.aclosing(pages):
                async for _, page, _ in pages:
                    # Counted by where the iterator is, not per item: stats stay exact
                    # whenever they are read, at no cost per item.
                    items = iter(page.data)
                    stats.reading = (len(page.data), items)
                    for item in items:
                        yield item
                    stats.settle()
        finally:
            stats.settle()

    async def collect(self) -> list[T]:
        """Read the whole stream into a list (bounded by its ``limit``, if one was given).

        With a checkpoint it is all or nothing: the items it gathered are lost with its
        exception, so until it returns, saves keep the position the reading started from
        (a resume reads them again); it used to save them as delivered, and a resume
        skipped them.
        """
        self.check_unread()  # a refused collect() must not hold back another reader's saves
        self._whole = self._checkpointer is not None
        return await super().collect()

    def pages(self) -> Pages[T]:
        """Yield whole pages (items and meta) in order, repeats already removed."""
        self._check_typed()
        return Pages(self._pages(), self)

    async def _pages(self) -> AsyncGenerator[Page[T], None]:
        pages = self._receive()
        async with contextlib.aclosing(pages):  # a stop is saved when the reader stops
            async for _, page, _ in pages:
                self.stats.items_yielded += len(page.data)
                self._in_hand = True
                yield page

    def chunks(self, *, state: StateProvider | None = None) -> AsyncGenerator[Sequence[T], None]:
        """Yield each page's items, for exporters; ``state`` is kept in each checkpoint.

        ``state``: None, or an async function returning a dict, awaited before each save.
        """
        check_state(state)
        self._check_typed()
        return self._chunks(state)

    def raw_chunks(
        self, *, state: StateProvider | None = None
    ) -> AsyncGenerator[Sequence[RawRecord], None] | None:
        """Yield each page's records as the API sent them (``RawRecord``), like ``chunks``.

        Only the envelope, the meta and each record's ``id`` are decoded, which costs
        less than decoding Structs; dedupe, drift, limits, errors and checkpoints
        are as for ``chunks``. Ask before the stream is read (``async with stream:``
        fetches nothing); None when it cannot give them: then read it with ``chunks``.
        Once asked, the stream yields nothing else. A stream being read or read already,
        or one whose ``pages()`` or ``chunks()`` was handed out, raises ``RuntimeError``,
        as any second reader.
        """
        check_state(state)
        self.check_unread()  # read already: say so, not None (a bare TypeError in a loop)
        if not self._fetch.choose_raw():
            return None
        return self._chunks(state)

    def _handed_out(self) -> bool:
        """Whether ``pages()``, ``chunks()`` or ``raw_chunks()`` was handed out.

        The items' reader too, once it started (it has read already by then).
        """
        return self._fetch.typed or self._fetch.raw

    @property
    def raw_available(self) -> bool:
        """Whether ``raw_chunks()`` would give raw records now (nothing fetched yet)."""
        return self._fetch.raw_possible

    async def _chunks(self, state: StateProvider | None) -> AsyncGenerator[Sequence[Any], None]:
        pages = self._receive(state)
        async with contextlib.aclosing(pages):
            async for _, page, _ in pages:
                self.stats.items_yielded += len(page.data)
                self._in_hand = True
                yield page.data

    def _check_typed(self) -> None:
        """Refuse a reader of Structs: a second reader, or one after raw_chunks() was asked."""
        self.check_unread()  # first: once read, that is what to say
        self._fetch.check_typed()

    @property
    def progress(self) -> Progress:
        """A snapshot of pages and items done, retries, throttling, a pause under way, the ETA.

        Once the scan has been read to its end (or its limit), its totals are the pages
        and items it got, so a bar ends at 100%, as a merge's does.
        """
        stats, limit = self.stats, self.query.limit
        # What this scan reads of the listing: from its start page (the pages before it are
        # not read), at most its limit; and a listing that grew, or pages read again
        # (drift), make more pages than the first one said.
        per_page = self._engine.plan.full_page  # a server's cap, if any
        skipped = self.query.start_page - 1
        total_pages = total_results = None
        if stats.total_pages is not None:
            pages = max(stats.total_pages - skipped, 0)
            if limit is not None:
                pages = min(pages, -(-limit // per_page))
            total_pages = max(pages, stats.pages_fetched)
        if stats.total_results is not None:
            counted = max(stats.total_results - skipped * per_page, 0)
            # A listing that grew while it was read (or shrank since the run resumed): more
            # items than the first page counted, never a bar past 100%.
            total_results = max(at_most(counted, limit) or 0, stats.items_yielded)
        # The pages the reader is done with, as ``items`` counts what it got: the pages
        # fetched ran ahead of it (8 of 10 with 100 items read), and a resume counted these.
        # A whole page handed to pages() or chunks() is got, its items counted: so is it
        # (a pages() reader that broke at page 3 was left at 30 items and 2 pages).
        pages_done = self._pages_done + self._in_hand
        if self._complete:
            # Read to its end: what it got is the whole of it, whatever the first page said
            # (a listing that shrank left a bar short of 100% and an ETA for good).
            total_pages, total_results = stats.pages_fetched, stats.items_yielded
            pages_done = total_pages
        # The client's pause, while this stream is still reading (its requests wait too).
        ended = self._complete or self._closed or stats.ended_at is not None
        pause_left = 0.0 if ended else self._engine.limiter.pause_left()
        return Progress(
            pages_done=pages_done,
            total_pages=total_pages,
            items=stats.items_yielded,
            total_results=total_results,
            retries=stats.retries,
            throttled_seconds=stats.throttled_seconds,
            elapsed=stats.elapsed(),
            resumed_items=self._resumed_items,
            pause_left=pause_left,
        )

    async def aclose(self) -> None:
        """Stop every request still in flight, release the connections, close the checkpoint."""
        cp = self._checkpointer
        try:
            await super().aclose()
            if cp is not None:
                await cp.settled()
        finally:
            if cp is not None:
                cp.close()  # cancelled (a timeout around aclose()): closed all the same

    # --- the consumer loop's hooks -------------------------------------------------------

    async def _received(self, message: Delivery[T], state: StateProvider | None) -> None:
        self._flush_warnings()
        number, page, _ = message
        if state is None and self._checkpointer is not None:
            # What the reader takes of it counts as delivered should it stop: the items
            # yielded, or the whole page from pages() and chunks(). An exporter (state)
            # resumes from its last save instead, its output cut back to it.
            self._page_number, self._page = number, page
            self._page_start = self.stats.items_yielded
        point = self._resumed
        if point is not None and self._carry and number != point.next_page:
            # The resumed page had nothing left to yield (inserts moved what it had left
            # onward): finished.
            self._carried_page_done(point)
        if self._checkpointer is not None and not self._saved_once:
            # A first checkpoint as soon as the listing is known: resumable from here.
            # The ids that guard the seam: those of the last page the consumer finished.
            if point is None:
                seam: tuple[str, ...] = ()
            elif point.next_page == number:
                seam = point.last_ids
            else:
                seam = point.page_ids or point.last_ids
            await self._save(self._point(number, seam, self._carry), state)

    async def _consumed(self, message: Delivery[T], state: StateProvider | None) -> None:
        number, page, ids = message
        self._page = None
        self._in_hand = False
        carry, self._carry = self._carry, ()
        if page is self._engine.plan.cut:
            # ``limit`` ended the scan in this page: a run with a larger limit reads it again
            # (its rest, or records deletes moved into it), so it is not finished; its ids
            # are carried like a resumed page's.
            self._carry, self._carry_page = carry + tuple(ids), number
            self._cut_taken = state is None
            return
        self._items_done += len(carry) + len(page.data)
        self._pages_done += 1
        if self._checkpointer is None:
            return
        self._unsaved_ids += carry
        self._unsaved_ids += ids  # read once, by the engine's dedupe
        # Saved every CHECKPOINT_SECONDS (or CHECKPOINT_EVERY pages), not each: a save
        # flushes an exporter's output and writes two files from a worker thread.
        self._unsaved = self._finished = (number, carry, ids)
        self._unsaved_state = state
        self._unsaved_pages += 1
        if self._whole:
            return
        if self._unsaved_pages >= CHECKPOINT_EVERY or time.monotonic() >= self._save_due:
            await self._save_unsaved()

    async def _save_unsaved(self) -> None:
        if self._unsaved is not None:
            number, carry, ids = self._unsaved
            await self._save(self._point(number + 1, _ids(carry, ids)), self._unsaved_state)

    async def _failed(self, state: StateProvider | None) -> None:  # noqa: ARG002  (saved with the page's)
        cp = self._checkpointer
        if cp is not None:
            try:
                if not self._whole:
                    await self._end_save(cp, self._save_unsaved())
            finally:
                cp.release()  # the reading is over: a resume may save to it now

    def _stopped(self) -> None:
        self.stats.end()
        cp = self._checkpointer
        reading = self.stats.reading
        try:
            if cp is not None:
                try:
                    self._save_stop(cp)
                finally:
                    cp.release()  # the reading is over: a resume may save to it now
        finally:
            # Stopped under a reader (``aclose()`` or the client's, in another task), it gets
            # none of the rest of the page in its hands: it went on through up to 249 items
            # after the close returned. With a checkpoint, the position saved is final: the
            # resume yields them.
            self.stats.settle()
            if reading is not None:
                for _ in reading[1]:
                    pass

    def _why_cancelled(self) -> str:
        if self._client_closed is None or self._client_closed():
            return CLIENT_CLOSED
        return CANCELLED_ELSEWHERE  # an on_response hook's task.cancel(), say

    def _save_stop(self, cp: Checkpointer) -> None:
        """Save where the reader stopped: the pages it finished, and what it took of the next."""
        if self._whole:
            return  # collect() stopped: its caller holds none of it
        if self._cut_taken:
            # It took the page ``limit`` cut, the scan's last, and stopped before the end's
            # save: save what that would have (the scan done at its limit), or a resume
            # would yield that page again.
            done, self._unsaved_ids = self._unsaved_ids, []
            cp.save_now(self._limited_point(), done)
            self._unsaved, self._cut_taken = None, False
            return
        if self._unsaved is not None:
            if self._unsaved_state is not None:
                # An exporter's state cannot be awaited here: the last save stands (its
                # output is cut back to that save's size on resume), with no position.
                return
            number, carry, finished = self._unsaved
            done, self._unsaved_ids = self._unsaved_ids, []
            cp.save_now(self._point(number + 1, _ids(carry, finished)), done)
            self._unsaved = None
        # The consumer stopped in the middle of a page: say which of its items it got.
        page = self._page
        if page is None:
            return
        taken = self.stats.items_yielded - self._page_start
        ids = tuple(map(_get_id, page.data[:taken]))
        cp.save_position(self._page_number, ids)

    def _ended(self) -> None:
        self.stats.end()
        self._flush_warnings()

    async def _completed(self, state: StateProvider | None) -> None:
        self._complete = True
        cp = self._checkpointer
        if cp is not None and self._whole:
            # collect() returns its list in this same step, with nothing between: a save
            # awaited (in a thread) could be written and the reader cancelled before it
            # returned, or a progress callback raise after it, the list lost with a
            # checkpoint saying the scan was done (the resume yielded nothing).
            self._report()
            ids, self._unsaved_ids = self._unsaved_ids, []
            cp.save_now(self._end_point(), ids)
            cp.close()
            return
        if cp is not None:
            try:
                await self._end_save(cp, self._save(self._end_point(), state))
            finally:
                cp.release()  # the reading is over
            if state is None:
                # Read to its end by its reader (collect(), a plain async for): done with,
                # so deleted now unless kept, not when (if ever) the stream is closed; else
                # the next run resumed a finished scan and got nothing. An exporter's stays
                # until its output is in place.
                cp.close()
        self._report()

    async def _end_save(self, cp: Checkpointer, save: Awaitable[None]) -> None:
        """Await the save at the reading's end (complete, at the limit, or failed)."""
        saves = cp.saves
        try:
            await save
        except BaseException:
            if cp.saves == saves:
                # It did not stand (cancelled, or failed), and no stop comes after the end:
                # save where the reader got as a stop does, or a resume would yield again
                # what it took since the last save. Its own failure (the same full disk)
                # leaves the first to raise.
                with contextlib.suppress(OSError):
                    self._save_stop(cp)
            raise

    def _carried_page_done(self, point: Checkpoint) -> None:
        """The resumed page, which had nothing left to yield, is finished.

        Its start counts as done (items and a page), its ids go to the next save with the
        others delivered (or a later resume would yield them again), and they guard the
        seam as the last page finished. Left carried, a scan that then reached its limit
        saved the ids of the page before it as its last (a resume then read the page the
        limit ended in as replayed, for good), and one whose resumed page was the listing's
        last saved its end short of those items.
        """
        carry, self._carry = self._carry, ()
        self._items_done += len(carry)
        self._pages_done += 1
        self._unsaved_ids += carry
        self._finished = (point.next_page, carry, [])

    def _end_point(self) -> Checkpoint:
        """The checkpoint at the reading's end: the listing's, or the scan's ``limit``.

        A resumed scan that had ended stays ended, whatever its ``limit``: one counting its
        items already was saved as stopped by it, at page 0, a checkpoint no resume took.
        """
        point = self._resumed
        if point is not None and point.complete:
            return self._point(0, (), complete=True)
        if not self._engine.plan.reached_limit():
            if point is not None and self._carry and self._carry_page == point.next_page:
                self._carried_page_done(point)  # the listing ended in it: nothing after
            return self._point(0, (), complete=True)
        return self._limited_point()

    def _limited_point(self) -> Checkpoint:
        """``limit`` stopped the scan, not the listing, in the page its ids are carried of.

        (See ``_consumed``; the resumed one, if this run reached no other.) A run with a
        larger limit reads that page again and goes on.
        """
        return self._point(self._carry_page, self._last_ids(), self._carry, limited=True)

    def _last_ids(self) -> tuple[str, ...]:
        """The ids of the last page the consumer finished, which guard a resume's seam."""
        if self._finished is None:
            return self._resumed.last_ids if self._resumed is not None else ()
        _, carry, ids = self._finished
        return _ids(carry, ids)

    async def _save(self, point: Checkpoint, state: StateProvider | None) -> None:
        assert self._checkpointer is not None  # noqa: S101  (callers check)
        self._saved_once = True
        unsaved = self._unsaved, self._unsaved_state, self._unsaved_pages
        self._unsaved, self._unsaved_state, self._unsaved_pages = None, None, 0
        ids, self._unsaved_ids = self._unsaved_ids, []
        cp = self._checkpointer
        saves = cp.saves
        try:
            await cp.save(point, state, ids)
        except BaseException:
            if cp.saves == saves:
                # Not saved (it failed, or was cancelled first): the pages stay unsaved, for
                # the stop to save (their ids are held by the checkpointer).
                self._unsaved, self._unsaved_state, self._unsaved_pages = unsaved
            raise
        # From the save's end: a save as slow as CHECKPOINT_SECONDS (an exporter's flush, a
        # slow disk) must not make every page after it save.
        self._save_due = time.monotonic() + CHECKPOINT_SECONDS

    def _point(
        self,
        next_page: int,
        last_ids: tuple[str, ...],
        page_ids: tuple[str, ...] = (),
        *,
        complete: bool = False,
        limited: bool = False,
    ) -> Checkpoint:
        """A checkpoint of how far the consumer got, its next page and last ids given."""
        assert self._checkpointer is not None  # noqa: S101  (callers check)
        return self._checkpointer.point(
            next_page=next_page,
            items_done=self._items_done,
            pages_done=self._pages_done,
            total_results=self.stats.drift.first_total_results,
            last_ids=last_ids,
            page_ids=page_ids,
            complete=complete,
            limited=limited,
            page_size=self._engine.plan.per_page,
        )

    def _flush_warnings(self) -> None:
        pending = self._engine.warnings
        while pending:
            warnings.warn(DriftWarning(pending.pop(0)), stacklevel=5)


def query_shown(stream: PageStream[Any]) -> str:
    """The stream's path and parameters, for a message: the API key removed from them."""
    query = stream.query
    return stream._redact(f"{query.path} {query.params}")  # noqa: SLF001  (this module's)


class Pages(ReadOnce[Page[T]]):
    """What ``pages()`` returns: the stream's pages in order, read once, and ``aclose()``.

    Its ``item_type`` says it yields ``Page``s, so that ``export()`` (which writes records)
    refuses it before anything is sent: the stream itself is what to export.
    """

    __slots__ = ()

    item_type = Page


class _Fetch:
    """The engine's fetch: Structs, or raw records once ``choose_raw`` said so in time.

    The choice holds from the first fetch on, so a stream's pages are all of one kind.
    Holds no reference to the stream (the engine must not keep it alive).
    """

    __slots__ = ("begun", "raw", "raw_fetch", "typed", "typed_fetch")

    def __init__(self, typed_fetch: FetchPage[Any], raw_fetch: FetchPage[RawRecord] | None) -> None:
        self.typed_fetch = typed_fetch
        self.raw_fetch = raw_fetch
        self.raw = False
        self.begun = False
        #: A reader of Structs was handed out (``pages()``, ``chunks()``, the items).
        self.typed = False

    @property
    def raw_possible(self) -> bool:
        return self.raw_fetch is not None and not self.begun and not self.typed

    def choose_raw(self) -> bool:
        """Fetch raw records from now on, unless a page was fetched already; whether so."""
        if not self.raw_possible:
            return False
        self.raw = True
        return True

    def check_typed(self) -> None:
        if self.raw:
            raise RuntimeError("this stream was asked for raw_chunks(): it yields nothing else")
        self.typed = True

    async def __call__(
        self,
        target: str,
        on_retry: Callable[[APIError], None],
        turn: Turn | None = None,
        sent: Callable[[], None] | None = None,
        /,
    ) -> Page[Any]:
        self.begun = True
        fetch = self.raw_fetch if self.raw and self.raw_fetch is not None else self.typed_fetch
        return await fetch(target, on_retry, turn, sent)


_get_id = operator.attrgetter("id")


def _ids(carry: tuple[str, ...], ids: list[str]) -> tuple[str, ...]:
    """The ids a finished page leaves in a checkpoint: those carried before it, then its own."""
    return carry + tuple(ids)


def _observed(
    engine: Engine[Any], instruments: Instruments
) -> Callable[[MemoryObjectSendStream[Delivery[Any]]], Coroutine[Any, Any, None]]:
    """``engine.run`` inside the listing's log lines and span.

    A function of the engine alone: the producer must hold no reference to the stream.
    """
    query, plan = engine.query, engine.plan
    # A filter's value may be the key.
    call = Call(query.path, query.params).redacted(instruments.secrets.text)
    asked = keywords(call, but=("page_size",))  # said apart

    async def run(send: MemoryObjectSendStream[Delivery[Any]]) -> None:
        counted = engine.stats, lambda: plan.delivered
        with instruments.listing(query.path, query.page_size, asked, *counted):
            await engine.run(send)

    return run
