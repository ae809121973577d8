"""Fan-out: read several listings at once and yield their union as pages arrive.

The API can only AND its filters; ``merge`` gives OR across queries (cards tagged
``vip`` *or* in standby). Each stream runs under its own client's shared limit,
so merging streams of one client never exceeds that client's concurrency.

Like ``PageStream``, it is a ``Stream`` (see ``_stream``): the readers run in a
task of their own that owns the task group, the consumer only receives from a
memory stream, and ``async with`` or dropping the merged stream cancels
everything. Which other queries an item matches is asked of each stream
(``PageStream.matches``, from the typed filters ``_query`` validated).

Dedupe across queries must remember every id yielded (an item may come from any
query at any time), so its memory grows with the union: about 120 bytes a record
(a set of the id strings; each merged stream also keeps its own ids, see ``_ids``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from ._errors import InvalidParameterError
from ._models import Page, SimCard, SimCardAction
from ._page_stream import PageStream
from ._stats import Progress
from ._stream import Producer, StateProvider, Stream

__all__ = ["MergeStats", "MergedStream", "Tagged", "merge", "merge_tagged"]

T = TypeVar("T", bound=SimCard | SimCardAction)


@dataclass(frozen=True)
class Tagged(Generic[T]):
    """An item of a merged listing, with the indexes of the queries it matches."""

    item: T
    queries: tuple[int, ...]


@dataclass
class MergeStats:
    """Counters of a merged stream."""

    items_yielded: int = 0
    duplicates_dropped: int = 0


class _Readers(Generic[T]):
    """Reads every stream's pages into one memory stream, tagged with the stream's index."""

    def __init__(self, streams: Sequence[PageStream[T]]) -> None:
        self.streams = streams

    async def run(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> None:
        # A failure raises out of the group; the Producer unwraps it to the first error.
        async with anyio.create_task_group() as tg:
            for index, stream in enumerate(self.streams):
                tg.start_soon(self._read, index, stream, send.clone())

    @staticmethod
    async def _read(
        index: int, stream: PageStream[T], send: MemoryObjectSendStream[tuple[int, Page[T]]]
    ) -> None:
        with send:
            async with stream:
                async for page in stream.pages():
                    await send.send((index, page))


class MergedStream(Stream[tuple[int, Page[T]], T]):
    """The union of several streams, read at once, each id once (unless ``dedupe=False``)."""

    def __init__(self, streams: Sequence[PageStream[T]], *, dedupe: bool = True) -> None:
        if not streams or not all(isinstance(s, PageStream) for s in streams):
            raise InvalidParameterError("streams", "one or more streams from a client", streams)
        if not isinstance(dedupe, bool):
            raise InvalidParameterError("dedupe", "True or False", dedupe)
        types = {s.item_type for s in streams}
        if len(types) != 1:
            raise InvalidParameterError("streams", "streams of one kind of item", streams)
        super().__init__()
        self.item_type = types.pop()
        self.streams = tuple(streams)
        self.dedupe = dedupe
        self.stats = MergeStats()
        self._seen: set[str] | None = set() if dedupe else None
        self._producer: Producer[tuple[int, Page[T]]] = Producer(
            _Readers(self.streams).run, buffer=0
        )

    def matches(self, item: T) -> bool:
        """Whether ``item`` passes the filters of any of the merged queries."""
        return any(s.matches(item) for s in self.streams)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for item, _ in self._tagged():
            yield item

    def tagged(self) -> AsyncIterator[Tagged[T]]:
        """Yield each item with the indexes of every query it matches."""
        return self._tagged_with_matches()

    async def _tagged_with_matches(self) -> AsyncIterator[Tagged[T]]:
        streams = self.streams
        async for item, source in self._tagged():
            found = tuple(i for i, s in enumerate(streams) if i == source or s.matches(item))
            yield Tagged(item, found)

    async def _tagged(self) -> AsyncIterator[tuple[T, int]]:
        stats = self.stats
        async for source, page in self._receive():
            for item in self._fresh(page.data):
                stats.items_yielded += 1
                yield item, source

    async def chunks(
        self, *, state: StateProvider | None = None
    ) -> AsyncGenerator[Sequence[T], None]:
        """Yield each page's new items, for exporters (a merge keeps no checkpoint)."""
        del state  # nothing to keep: a merged stream cannot be resumed
        messages = self._receive()
        async with contextlib.aclosing(messages):
            async for _, page in messages:
                fresh = self._fresh(page.data)
                if fresh:
                    self.stats.items_yielded += len(fresh)
                    yield fresh

    def _fresh(self, items: Sequence[T]) -> list[T]:
        """The items not yielded before (all of them with ``dedupe=False``)."""
        seen = self._seen
        if seen is None:
            return list(items)
        kept = []
        for item in items:
            if item.id in seen:
                self.stats.duplicates_dropped += 1
                continue
            seen.add(item.id)
            kept.append(item)
        return kept

    @property
    def progress(self) -> Progress:
        """Every query's progress added up; ``total_results`` counts an overlap once per query."""
        parts = [s.progress for s in self.streams]
        pages = [p.total_pages for p in parts]
        totals = [p.total_results for p in parts]
        return Progress(
            pages_done=sum(p.pages_done for p in parts),
            total_pages=None if None in pages else sum(p or 0 for p in pages),
            items=self.stats.items_yielded,
            total_results=None if None in totals else sum(t or 0 for t in totals),
            retries=sum(p.retries for p in parts),
            throttled_seconds=max(p.throttled_seconds for p in parts),
            elapsed=max(p.elapsed for p in parts),
        )


def merge(*streams: PageStream[T], dedupe: bool = True) -> MergedStream[T]:
    """Read several listings at once and yield their union, each id once by default.

    Items come as their pages arrive, so the union is not in any one query's
    order. ``merged.tagged()`` yields ``Tagged(item, queries)`` instead.
    """
    return MergedStream(streams, dedupe=dedupe)


def merge_tagged(*streams: PageStream[T]) -> AsyncIterator[Tagged[T]]:
    """Shorthand for ``merge(*streams).tagged()``: each item once, with the queries it matches."""
    return MergedStream(streams).tagged()
