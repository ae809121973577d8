"""Fan-out: read several listings at once and yield their union, as pages arrive or in order.

The API can only AND its filters; ``merge`` gives OR across queries (cards tagged
``vip`` *or* in standby). Each stream runs under its own client's shared limit,
so merging streams of one client never exceeds that client's concurrency.

Like ``PageStream``, it is a ``Stream`` (see ``_stream``): the readers run in a
task of their own that owns the task group, the consumer only receives from a
memory stream, and ``async with`` or dropping the merged stream cancels
everything. Which other queries an item matches is asked of each stream
(``PageStream.matches``, from the typed filters ``_query`` validated).

Two ways to merge:

- as pages arrive (``ordered=False``): each reader keeps the ids not seen before and
  hands them straight over;
- in order (the streams' common ``sort``): the server sorts each query, so a k-way
  merge of their heads keeps that order. Equal keys come in query order (the spec
  does not say how the server orders them): the first query's items, in the server's
  order, then the next query's. Each page's order is checked as it is read; a page out of
  its own order raises ``PaginationError`` rather than yield an unsorted union, and a page
  that starts before its listing's previous page ended (two answers, two moments of a live
  listing) is drift: its items come late, counted and warned about. A stream
  with ``rescan=True`` is refused up front: its second pass comes after its end, unsorted.

Exported to JSON lines or JSON, a merge is a copy too (``raw_chunks``): each stream is
switched to raw records (``RawRecord``), merged by the same rules, and written as the API
sent them; an in-order merge of raw records orders them by the ``sort_value`` a sorted
listing's decoder reads, with the meaning ``Ordering.key`` gives the typed field.

Dedupe keeps an item's first occurrence in the union's order. It must remember every id
yielded (an item may come from any query at any time): in a ``DeliveredIds``, as each
stream keeps its own, so its memory grows by about a byte a record past the first
``UNFOLDED`` (a plain set of the ids, ~120 bytes a record, took gigabytes for listings a
server made endless). ``limit`` counts the union's items: the readers stop once it is
reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._arguments import checked_bool
from ._errors import DriftWarning, InvalidParameterError, PaginationError, shown
from ._ids import UNFOLDED, DeliveredIds
from ._models import RawRecord, SimCard, SimCardAction
from ._observe import drift_warning
from ._page_stream import PageStream, query_shown
from ._query import Ordering
from ._stats import Progress, at_most
from ._stream import (
    CANCELLED_ELSEWHERE,
    CLIENT_CLOSED,
    MERGE_HANDED_OUT,
    Producer,
    ReadOnce,
    StateProvider,
    Stream,
)
from ._task_groups import handing_over
from ._wording import Advice, Said

__all__ = [
    "MergeStats",
    "MergedStream",
    "Tagged",
    "TaggedItems",
    "merge",
    "merge_tagged",
]

T = TypeVar("T", bound=SimCard | SimCardAction)

ORDERED_ALLOWED = (
    "True (in the streams' common sort order), False (as their pages arrive) or None "
    "(in order when every stream has the same sort, as they arrive when none has one)"
)


@dataclass(frozen=True)
class Tagged(Generic[T]):
    """An item of a merged listing, with the indexes of the queries it matches.

    Judged from the item's fields (the query that delivered it always counts): a query
    filtering on a field the item does not carry counts only if it delivered the item.
    """

    item: T
    queries: tuple[int, ...]


class TaggedItems(ReadOnce[Tagged[T]]):
    """What ``tagged()`` and ``merge_tagged()`` return: each item once, with its queries.

    Read once, like the merge itself (see ``ReadOnce``); ``aclose()`` stops the merge's
    readers and requests, from any task. Its ``item_type`` says it yields ``Tagged`` pairs,
    so that ``export()`` (which writes records) refuses it before anything is sent.
    """

    __slots__ = ()

    item_type = Tagged


@dataclass
class MergeStats:
    """Counters of a merged stream."""

    items_yielded: int = 0
    duplicates_dropped: int = 0
    #: Pages of a query in sort order whose first item sorts before its previous page's
    #: last (the sort value changed while the listing was read): yielded late, warned about.
    late_pages: int = 0


@dataclass(frozen=True)
class _Batch(Generic[T]):
    """Items handed over at once, with the index of the query each one came from."""

    items: Sequence[T]
    sources: Sequence[int]


class _Readers(Generic[T]):
    """The producer: reads every stream, keeps each id once, stops at the limit.

    It reads Structs, or raw records once ``choose_raw`` said so in time: then the items
    it hands over are ``RawRecord``s (typed as ``T`` here, handed out by ``raw_chunks``).
    """

    def __init__(
        self,
        streams: Sequence[PageStream[T]],
        stats: MergeStats,
        *,
        dedupe: bool,
        limit: int | None,
        ordering: Ordering | None,
    ) -> None:
        self.streams = streams
        self.stats = stats
        # As a plain set up to UNFOLDED ids, then about a byte an id: the union's size
        # is not known before the streams' first pages, and may be of any size.
        self.seen = DeliveredIds(UNFOLDED) if dedupe else None
        self.limit = limit
        self.ordering = ordering
        if ordering is not None:
            for stream in streams:
                stream._merged_in_order()  # noqa: SLF001  (a PageStream's, for its drift advice)
        self.taken = 0  # items handed over, or about to be
        # With a limit, one reader hands over at a time, so that the one that reaches it
        # knows every item counted has been taken: stopping the others then loses nothing.
        self._handing_over = asyncio.Lock()
        #: Each stream's raw records, once ``choose_raw`` switched them all.
        self.raw: list[AsyncGenerator[Sequence[RawRecord], None]] | None = None
        self.begun = False  # reading began (the readers ran, or a consumer asked for items)
        #: Readers that read their stream to its end; and each stream's pages the merge took
        #: items from.
        self.ended = 0
        self.pages_taken = [0] * len(streams)

    def choose_raw(self) -> bool:
        """Read every stream's raw records, unless reading began or one cannot; whether so.

        All or none: a stream that has fetched already keeps the whole merge typed.
        """
        if self.raw is not None:
            return True
        if self.begun or not all(s.raw_available for s in self.streams):
            return False
        raw = []
        for stream in self.streams:
            chunks = stream.raw_chunks()
            assert chunks is not None  # noqa: S101  (raw_available said so, just now)
            raw.append(chunks)
        self.raw = raw
        return True

    def choose_typed(self) -> None:
        """Read Structs: refused once ``choose_raw`` switched the streams."""
        if self.raw is not None:
            raise RuntimeError("this merge was asked for raw_chunks(): it yields nothing else")
        self.begun = True

    def _check_still_ours(self, stream: PageStream[T]) -> None:
        """Refuse a stream read elsewhere since the merge was made (or handed to a reader).

        Before the merge takes it over (to close it at the end), or it closed the stream
        under that reader. A stream whose ``raw_chunks()`` this merge holds has no other
        reader: none can start once one was handed out.
        """
        if self.raw is None:
            try:
                stream.check_unread()
            except RuntimeError as exc:  # which of them: the merge's reader cannot tell
                index = self.streams.index(stream)
                raise RuntimeError(
                    f"stream {index} of the merge ({query_shown(stream)}): {exc}"
                ) from None

    def _runs(self, index: int) -> AsyncGenerator[Sequence[Any], None]:
        """Stream ``index``'s items, a page at a time: Structs or raw records."""
        if self.raw is None:
            return self.streams[index].chunks()
        return self.raw[index]

    async def run(self, send: MemoryObjectSendStream[_Batch[T]]) -> None:
        self.begun = True
        try:
            # A failure raises out of the group; the Producer unwraps it to the first error.
            async with anyio.create_task_group() as tg:
                if self.ordering is None:
                    for index, stream in enumerate(self.streams):
                        tg.start_soon(
                            handing_over(self._read), index, stream, send.clone(), tg.cancel_scope
                        )
                else:
                    await self._merge_in_order(tg, send, self.ordering)
                    tg.cancel_scope.cancel()  # the limit was reached: stop the readers going
            if not self.full and self.ended < len(self.streams):
                # A reader's task cancelled by something else (a stream's on_progress
                # callback, or its client's on_response hook, runs in it): the group took
                # that for its own cancellation and ended quietly (an in-order merge took
                # the reader's closed inbox for its stream's end), and the merge as if its
                # streams had. The merge's task is cancelled so: the merged stream says why.
                raise asyncio.CancelledError
        finally:
            if self.seen is not None:
                self.seen.close()  # its temporary files, now, not when it is collected

    @property
    def full(self) -> bool:
        return self.limit is not None and self.taken >= self.limit

    def pages_read(self, parts: Sequence[Progress]) -> int:
        """The pages a finished merge read, its streams' progress being ``parts``.

        Every page of every stream, empty ones too (a query that matched nothing read one,
        and said 0 pages); when the limit ended it, of a query the limit stopped, the pages
        the merge took items from (it did not finish its last). A query read to its end
        counts every page it read all the same: at a limit the union's size exactly, an
        empty query's page was left out.
        """
        if not self.full:
            return sum(p.pages_done for p in parts)  # each read to its end: every page it read
        return sum(
            part.pages_done if stream._complete else taken  # noqa: SLF001  (a PageStream's)
            for stream, part, taken in zip(self.streams, parts, self.pages_taken, strict=True)
        )

    def _room(self) -> int | None:
        """Items the limit still allows (None: no limit)."""
        return None if self.limit is None else self.limit - self.taken

    @contextlib.contextmanager
    def _unless_full(self) -> Iterator[None]:
        """A reader's failure, unless the limit is reached: then nothing it adds is needed.

        The items that reached it may still wait for a slow consumer: a failure of a query
        the merge no longer reads cancelled that hand-over, and the merge ended short of
        its limit, with that error (a fast consumer got all of them, and no error).
        """
        try:
            yield
        except Exception:
            if not self.full:
                raise

    def _fresh(self, items: Sequence[T], sources: Sequence[int]) -> _Batch[T]:
        """The items not handed over before (all with ``dedupe=False``), cut at the limit.

        With the query each came from (``sources``, one for each item). Checked together: a
        folded id is looked up in C passes once for them all (item by item, as an in-order
        merge did, the look-up and the marking cost five times as much).
        """
        seen, room = self.seen, self._room()
        if seen is None:
            kept, kept_from = list(items[:room]), list(sources[:room])
        else:
            kept, kept_from = [], []
            ids = [item.id for item in items]
            known = seen.known(ids)
            for item, item_id, source in zip(items, ids, sources, strict=True):
                if item_id in known:
                    self.stats.duplicates_dropped += 1
                    continue
                if room is not None and len(kept) >= room:
                    break
                known.add(item_id)  # a repeat later among them is dropped too
                kept.append(item)
                kept_from.append(source)
            seen.add([item.id for item in kept])
        self.taken += len(kept)
        return _Batch(kept, kept_from)

    # --- as pages arrive -------------------------------------------------------------

    async def _read(
        self,
        index: int,
        stream: PageStream[T],
        send: MemoryObjectSendStream[_Batch[T]],
        scope: anyio.CancelScope,
    ) -> None:
        with send, self._unless_full():
            self._check_still_ours(stream)  # before the merge takes it over: see _pages_of
            async with stream:
                runs = self._runs(index)
                async with contextlib.aclosing(runs):
                    async for items in runs:
                        self.pages_taken[index] += 1
                        if self.limit is None:
                            await self._hand_over(index, items, send)
                            continue
                        async with self._handing_over:
                            await self._hand_over(index, items, send)
                        if self.full:
                            break
                    else:
                        self.ended += 1
        if self.full:
            # This stream is closed already; stop the others, once the hand-over that
            # reached the limit (another reader's, maybe, waiting for the consumer) is done.
            async with self._handing_over:
                scope.cancel()

    async def _hand_over(
        self, index: int, items: Sequence[T], send: MemoryObjectSendStream[_Batch[T]]
    ) -> None:
        fresh = self._fresh(items, (index,) * len(items))
        if fresh.items:
            await send.send(fresh)

    # --- in order --------------------------------------------------------------------

    async def _pages_of(self, index: int, put: MemoryObjectSendStream[Sequence[T]]) -> None:
        with put, self._unless_full():
            self._check_still_ours(self.streams[index])
            async with self.streams[index]:
                runs = self._runs(index)
                async with contextlib.aclosing(runs):
                    async for items in runs:
                        if items:
                            await put.send(items)
                    self.ended += 1  # before its inbox closes: the merge ends after that

    async def _merge_in_order(
        self, tg: TaskGroup, send: MemoryObjectSendStream[_Batch[T]], ordering: Ordering
    ) -> None:
        """A k-way merge of the streams' heads, ties in query order; a batch per page used up."""
        inboxes: list[MemoryObjectReceiveStream[Sequence[T]]] = []
        for index in range(len(self.streams)):
            put, take = anyio.create_memory_object_stream[Sequence[T]](1)
            tg.start_soon(handing_over(self._pages_of), index, put)
            inboxes.append(take)
        # A raw record's key is the sort value its listing's decoder read, by the same rule.
        heads = _Heads(inboxes, ordering.key if self.raw is None else ordering.raw_key)

        async def next_page(index: int) -> bool:
            got = await heads.next_page(index)
            self.pages_taken[index] += got
            return got

        try:
            heap = [(heads.key(i), i) for i in range(len(inboxes)) if await next_page(i)]
            heapq.heapify(heap)
            # The items taken in order since the last hand-over, and their queries: kept or
            # dropped (repeats, or past the limit) together, as a page is used up.
            items: list[T] = []
            sources: list[int] = []
            while heap:
                head, index = heapq.heappop(heap)
                items.append(heads.take(index))
                sources.append(index)
                new_page = heads.used_up(index)
                room = self._room()
                if new_page or (room is not None and len(items) >= room):
                    # Handed over what is settled before waiting for a page, or as they
                    # may reach the limit: nothing past it is looked at (a page out of
                    # order beyond it is none of the merge's business).
                    await self._hand_over_in_order(items, sources, send)
                    items, sources = [], []
                    if self.full:
                        break
                if new_page and not await next_page(index):
                    continue
                following = heads.key(index)
                if following < head:
                    self._behind(index, ordering, heads.head(index), new_page=new_page)
                heapq.heappush(heap, (following, index))
            await self._hand_over_in_order(items, sources, send)
        finally:
            heads.close()

    async def _hand_over_in_order(
        self, items: list[T], sources: list[int], send: MemoryObjectSendStream[_Batch[T]]
    ) -> None:
        fresh = self._fresh(items, sources) if items and not self.full else None
        if fresh is not None and fresh.items:
            await send.send(fresh)

    def _behind(self, index: int, ordering: Ordering, item: T, *, new_page: bool) -> None:
        """Query ``index``'s next item sorts before the one taken from it just now.

        In one page, one answer is out of its own order: the server's, refused. At a new
        page, two answers are two moments of a live listing (a card's usage grew in
        between): drift, as for one stream; the page's items come late, counted and warned.
        """
        if not new_page:
            raise self._out_of_order(index, ordering, item)
        self.stats.late_pages += 1
        if self.stats.late_pages == 1:
            message = Said(
                f"query {index} of the merge in sort={ordering.sort} order sent a page that "
                f"starts before its previous page ended (item {self._id_shown(index, item)}): "
                "the sort value changed while the listing was read; such pages' items are "
                "yielded late, so the union is in order within each page",
                Advice.LATE_PAGES_COUNTED,
            )
            drift_warning(str(message))
            warnings.warn(DriftWarning(message), stacklevel=2)

    def _id_shown(self, index: int, item: T) -> str:
        """The id of query ``index``'s ``item``, for a message: the key removed, then cut."""
        return shown(self.streams[index]._redact(item.id))  # noqa: SLF001  (a Stream's)

    def _out_of_order(self, index: int, ordering: Ordering, item: T) -> PaginationError:
        stream = self.streams[index]
        return PaginationError(
            Said(
                f"query {index} ({query_shown(stream)}) is not in the order "
                f"of sort={ordering.sort}: item {self._id_shown(index, item)} came after one "
                "it should precede; refusing to yield an unsorted union (",
                Advice.UNORDERED,
                ")",
            ),
            url=stream.base_url + stream.query.path,
        )


def _each_key_removed(redacts: Iterable[Callable[[str], str]]) -> Callable[[str], str]:
    """What removes the key of each client whose streams a merge reads (one, as a rule)."""
    kept = tuple(dict.fromkeys(redacts))

    def redact(text: str) -> str:
        for one in kept:
            text = one(text)
        return text

    return kept[0] if len(kept) == 1 else redact


class _Heads(Generic[T]):
    """In-order merging: the page of each stream being merged, and where its head is."""

    def __init__(
        self,
        inboxes: Sequence[MemoryObjectReceiveStream[Sequence[T]]],
        key: Callable[[object], tuple[int, Any]],
    ) -> None:
        self.inboxes = inboxes
        self._key = key
        self.pages: list[Sequence[T]] = [() for _ in inboxes]
        self.spots = [0] * len(inboxes)

    async def next_page(self, index: int) -> bool:
        """Wait for stream ``index``'s next page; False when it has ended."""
        try:
            self.pages[index] = await self.inboxes[index].receive()
        except anyio.EndOfStream:
            self.inboxes[index].close()
            return False
        self.spots[index] = 0
        return True

    def head(self, index: int) -> T:
        return self.pages[index][self.spots[index]]

    def key(self, index: int) -> tuple[int, Any]:
        return self._key(self.head(index))

    def take(self, index: int) -> T:
        """Stream ``index``'s head, which the next item of its page replaces."""
        item = self.head(index)
        self.spots[index] += 1
        return item

    def used_up(self, index: int) -> bool:
        return self.spots[index] >= len(self.pages[index])

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.close()


class MergedStream(Stream[_Batch[T], T]):
    """The union of several streams, each id once (unless ``dedupe=False``), up to ``limit``.

    ``sort`` is the order the union comes out in (the streams' common ``sort``), or
    ``None`` when it comes as the pages arrive. ``raw_chunks()`` gives the union's records
    as the API sent them (``RawRecord``), by the same rules.
    """

    def __init__(
        self,
        streams: Sequence[PageStream[T]],
        *,
        dedupe: bool = True,
        limit: int | None = None,
        ordered: bool | None = None,
    ) -> None:
        if not streams or not all(isinstance(s, PageStream) for s in streams):
            raise InvalidParameterError("streams", "one or more streams from a client", streams)
        checked_bool("dedupe", dedupe)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidParameterError("limit", "None or an integer >= 1", limit)
        if limit is not None and limit < 1:
            raise InvalidParameterError("limit", "None or an integer >= 1", limit)
        if len({id(s) for s in streams}) != len(streams):
            # A stream is read once: the merge's second reader of it would be refused.
            twice = [s for s in streams if sum(t is s for t in streams) > 1]
            raise InvalidParameterError(
                "streams", "distinct streams (each is read once)", _which(streams, twice)
            )
        if not all(s.unread for s in streams):
            # Its reader would be refused once the merge has sent the others' requests.
            read = [s for s in streams if not s.unread]
            raise InvalidParameterError(
                "streams",
                "streams not read yet (nor handed to a reader: pages(), chunks(), "
                "raw_chunks()), nor closed (each is read once)",
                _which(streams, read),
            )
        types = {s.item_type for s in streams}
        if len(types) != 1:
            kinds = ", ".join(f"{s.item_type.__name__}" for s in streams)
            raise InvalidParameterError("streams", "streams of one kind of item", f"of {kinds}")
        ordering = _ordering(streams, ordered)
        if any(s.checkpointing or s.resumed_state is not None for s in streams):
            # Its readers run ahead of the merge's reader and drop what another query gave:
            # a stream's checkpoint would count records the reader never got.
            saving = [s for s in streams if s.checkpointing or s.resumed_state is not None]
            raise InvalidParameterError(
                "streams",
                "streams without a checkpoint or resume_from (a merge cannot resume)",
                _which(streams, saving),
            )
        if ordering is not None and any(s.rescan for s in streams):
            # A rescan's recovered records come after the listing's end, out of the sort's
            # order: the in-order merge would take them for the server's mistake.
            raise InvalidParameterError(
                "streams",
                "streams without rescan=True in a merge in sort order (a rescan's records "
                "come last, out of order; merge with ordered=False to take them as their "
                "pages arrive)",
                _which(streams, [s for s in streams if s.rescan]),
            )
        super().__init__()
        self.item_type = types.pop()
        self.streams = tuple(streams)
        self.dedupe = dedupe
        self.limit = limit
        self.sort = None if ordering is None else ordering.sort
        self.stats = MergeStats()
        self._done = False
        readers = _Readers(self.streams, self.stats, dedupe=dedupe, limit=limit, ordering=ordering)
        self._readers = readers
        self._producer: Producer[_Batch[T]] = Producer(readers.run, buffer=0)
        #: Whether a reader was handed out (``tagged()``, ``chunks()``, ``raw_chunks()``).
        self._handed = False
        #: The items of the batch the reader is going through (emptied by a stop).
        self._in_hand: Iterator[tuple[T, int]] | None = None
        self._halted_with(self.streams)
        self._redact = _each_key_removed(s._redact for s in self.streams)  # noqa: SLF001

    def _halted_with(self, streams: Sequence[PageStream[T]]) -> None:
        """Their client's closing stops this merge's reader too, at its next item."""
        for stream in streams:
            stream._read_by(self)  # noqa: SLF001  (a Stream's: this merge halts with it)

    def _why_cancelled(self) -> str:
        # Its readers run in its own task group: cancelled there by its streams' client
        # closing, or by a callback or hook that runs in them.
        whys = {stream._why_cancelled() for stream in self.streams}  # noqa: SLF001  (a Stream's)
        return CLIENT_CLOSED if CLIENT_CLOSED in whys else CANCELLED_ELSEWHERE

    def __repr__(self) -> str:
        queries = ", ".join(query_shown(s) for s in self.streams)
        order = f" sort={self.sort}" if self.sort is not None else ""
        cap = "" if self.limit is None else f" limit={self.limit}"
        return f"<MergedStream of {queries}{order}{cap} {self.stats}>"

    def matches(self, item: T) -> bool:
        """Whether ``item`` (a Struct) passes the filters of any of the merged queries."""
        return any(s.matches(item) for s in self.streams)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    _handed_out_message = MERGE_HANDED_OUT

    def _handed_out(self) -> bool:
        """``tagged()``, ``chunks()`` or ``raw_chunks()`` was handed out."""
        return self._handed

    async def _items(self) -> AsyncIterator[T]:
        self.check_unread()
        tagged = self._tagged()
        async with contextlib.aclosing(tagged):  # a stop reaches the readers now, not at GC
            async for item, _ in tagged:
                yield item

    def tagged(self) -> TaggedItems[T]:
        """Yield each item with the indexes of every query it matches."""
        self.check_unread()
        self._handed = True
        return TaggedItems(self._tagged_with_matches(), self)

    async def _tagged_with_matches(self) -> AsyncGenerator[Tagged[T], None]:
        streams = self.streams
        tagged = self._tagged()
        async with contextlib.aclosing(tagged):  # a stop reaches the readers now, not at GC
            async for item, source in tagged:
                found = tuple(i for i, s in enumerate(streams) if i == source or s.matches(item))
                yield Tagged(item, found)

    async def _tagged(self) -> AsyncGenerator[tuple[T, int], None]:
        self._readers.choose_typed()
        stats = self.stats
        batches = self._receive()
        async with contextlib.aclosing(batches):
            async for batch in batches:
                self._in_hand = pairs = zip(batch.items, batch.sources, strict=True)
                for item, source in pairs:
                    stats.items_yielded += 1
                    yield item, source

    def _stopped(self) -> None:
        # Its streams' requests stop now: cancelling the readers' task reached them a few
        # loop turns later, a listing sending up to 8 more requests meanwhile.
        for stream in self.streams:
            stream._stop_requests()  # noqa: SLF001  (a Stream's: its reader stopped)
        # Stopped under its reader (``aclose()`` or the client's, in another task): it gets
        # none of the rest of the batch in its hands (it went on through it).
        in_hand, self._in_hand = self._in_hand, None
        if in_hand is not None:
            for _ in in_hand:
                pass

    def chunks(self, *, state: StateProvider | None = None) -> AsyncGenerator[Sequence[T], None]:
        """Yield each batch of new items, for exporters (a merge keeps no checkpoint)."""
        del state  # nothing to keep: a merged stream cannot be resumed
        self.check_unread()
        self._readers.choose_typed()
        self._handed = True
        return self._batches()

    def raw_chunks(
        self, *, state: StateProvider | None = None
    ) -> AsyncGenerator[Sequence[RawRecord], None] | None:
        """Yield each batch of new records as the API sent them (``RawRecord``), like ``chunks``.

        Every merged stream is switched to its ``raw_chunks()``; dedupe, ``limit``, the
        in-order merge (by each record's ``sort_value``) and progress are as for
        ``chunks``. Ask before anything was read (``async with merged:`` reads nothing);
        None when a merged stream cannot give raw records: then read it with ``chunks``.
        Once asked, the merge yields nothing else. A merge being read or read already
        raises ``RuntimeError``, as any second reader.
        """
        del state  # nothing to keep: a merged stream cannot be resumed
        self.check_unread()  # read already: say so, not None (a bare TypeError in a loop)
        if not self._readers.choose_raw():
            return None
        self._handed = True
        return self._batches()

    async def _batches(self) -> AsyncGenerator[Sequence[Any], None]:
        batches = self._receive()
        async with contextlib.aclosing(batches):
            async for batch in batches:
                self.stats.items_yielded += len(batch.items)
                yield batch.items

    async def _completed(self, state: StateProvider | None) -> None:
        del state  # nothing to save: the total is now known
        self._done = True
        self._report()

    @property
    def progress(self) -> Progress:
        """Every query's progress added up, against the union's size as far as it is known.

        ``total_results`` is the queries' totals (each cut at its own ``limit``) added up,
        less the duplicates dropped so far, and cut at this merge's ``limit``: an upper
        bound that shrinks as overlaps are found; ``total_pages``, the queries' pages added
        up, an upper bound too (this merge's ``limit`` may stop it before). Once the merge has
        ended they are the items yielded and the pages read, so a bar ends at 100%.
        """
        parts = [s.progress for s in self.streams]
        pages_done = sum(p.pages_done for p in parts)
        items = self.stats.items_yielded
        if self._done:
            pages_done = self._readers.pages_read(parts)
            total_pages: int | None = pages_done
            total_results: int | None = items
        else:
            # Each query's, cut at its own limit already (PageStream.progress).
            pages = [p.total_pages for p in parts]
            totals = [p.total_results for p in parts]
            total_pages = None if None in pages else sum(p or 0 for p in pages)
            total_results = None
            if None not in totals:
                union = sum(t or 0 for t in totals) - self.stats.duplicates_dropped
                total_results = at_most(max(union, items), self.limit)
        return Progress(
            pages_done=pages_done,
            total_pages=total_pages,
            items=items,
            total_results=total_results,
            retries=sum(p.retries for p in parts),
            throttled_seconds=max(p.throttled_seconds for p in parts),
            elapsed=max(p.elapsed for p in parts),
            pause_left=0.0 if self._done or self._closed else max(p.pause_left for p in parts),
        )


def _which(streams: Sequence[PageStream[Any]], refused: Sequence[PageStream[Any]]) -> str:
    """The refused streams, by their place among ``streams`` (from 0) and their query."""
    return ", ".join(
        f"stream {i} ({query_shown(s)})"
        for i, s in enumerate(streams)
        if any(s is r for r in refused)
    )


def _ordering(streams: Sequence[PageStream[Any]], ordered: object) -> Ordering | None:
    """The order to merge in, checked against the streams' sorts; None: as pages arrive."""
    if ordered is not None and not isinstance(ordered, bool):
        raise InvalidParameterError("ordered", ORDERED_ALLOWED, ordered)
    orderings = [s.query.ordering for s in streams]
    sorts = sorted({o.sort if o is not None else "no sort" for o in orderings})
    same = len(sorts) == 1
    if ordered is False or (ordered is None and same and orderings[0] is None):
        return None
    if same and orderings[0] is not None:
        return orderings[0]
    have = ", ".join(sorts)
    if ordered:  # "must be True only for ...", said of True, read as a contradiction
        allowed = (
            f"None or False for streams not sorted by one same sort= (these have: {have}): "
            "True merges in a sort every stream has"
        )
    else:
        allowed = (
            f"False to merge streams of different sorts as their pages arrive (these have: {have})"
        )
    raise InvalidParameterError("ordered", allowed, ordered)


def merge(
    *streams: PageStream[T],
    dedupe: bool = True,
    limit: int | None = None,
    ordered: bool | None = None,
) -> MergedStream[T]:
    """Read several listings at once and yield their union, each id once by default.

    ``limit`` caps the union. ``ordered``: ``True`` yields the union in the streams'
    common ``sort`` order (ties in query order), and is refused unless every stream has
    the same sort; ``False`` yields items as their pages arrive, in no one query's order;
    ``None`` (the default) is ``True`` when every stream has the same sort, ``False`` when
    none has one, and refused when they differ. ``merged.tagged()`` yields
    ``Tagged(item, queries)`` instead.
    """
    return MergedStream(streams, dedupe=dedupe, limit=limit, ordered=ordered)


def merge_tagged(
    *streams: PageStream[T], limit: int | None = None, ordered: bool | None = None
) -> TaggedItems[T]:
    """Shorthand for ``merge(*streams, ...).tagged()``: each item once, with its queries."""
    return MergedStream(streams, limit=limit, ordered=ordered).tagged()
