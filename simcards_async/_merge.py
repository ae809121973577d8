"""Fan-out: read several listings at once and yield their union as pages arrive.

The API can only AND its filters; ``merge`` gives OR across queries (cards tagged
``vip`` *or* in standby). Each stream runs under its own client's shared limit,
so merging streams of one client never exceeds that client's concurrency.

Like ``PageStream``, the readers run in a task of their own that owns the task
group; the consumer only receives from a memory stream, and ``async with`` or
dropping the merged stream cancels everything.

Dedupe across queries must remember every id yielded (an item may come from any
query at any time), so its memory grows with the union: about 100 bytes a record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from ._errors import InvalidParameterError
from ._models import Page, SimCard, SimCardAction
from ._pagination import PageStream, Progress, _Background, _Reader

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
        self.error: BaseException | None = None

    async def run(self, send: MemoryObjectSendStream[tuple[int, Page[T]]]) -> None:
        with send:
            try:
                async with anyio.create_task_group() as tg:
                    for index, stream in enumerate(self.streams):
                        tg.start_soon(self._read, index, stream, send.clone())
            except anyio.BrokenResourceError:
                pass  # the consumer went away
            except Exception as exc:  # noqa: BLE001  (raised in the consumer's task)
                self.error = _first_error(exc)

    @staticmethod
    async def _read(
        index: int, stream: PageStream[T], send: MemoryObjectSendStream[tuple[int, Page[T]]]
    ) -> None:
        with send:
            async with stream:
                async for page in stream.pages():
                    await send.send((index, page))


def _first_error(exc: BaseException) -> BaseException:
    """Unwrap a task group's ExceptionGroup to the failure that started it."""
    # Duck-typed: BaseExceptionGroup is only a builtin from Python 3.11.
    while (inner := getattr(exc, "exceptions", None)) and isinstance(inner[0], BaseException):
        exc = inner[0]
    return exc


class MergedStream(_Reader, Generic[T]):
    """The union of several streams, read at once, each id once (unless ``dedupe=False``)."""

    def __init__(self, streams: Sequence[PageStream[T]], *, dedupe: bool = True) -> None:
        if not streams or not all(isinstance(s, PageStream) for s in streams):
            raise InvalidParameterError("streams", "one or more streams from a client", streams)
        if not isinstance(dedupe, bool):
            raise InvalidParameterError("dedupe", "True or False", dedupe)
        self.streams = tuple(streams)
        self.dedupe = dedupe
        self.stats = MergeStats()
        self._readers = _Readers(self.streams)
        self._background: _Background[tuple[int, Page[T]]] = _Background(
            self._readers.run, buffer=0
        )
        self._matchers = [_matcher(s.query.params) for s in self.streams]
        self._progress_callbacks: list[Callable[[Progress], object]] = []

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for item, _ in self._tagged():
            yield item

    def tagged(self) -> AsyncIterator[Tagged[T]]:
        """Yield each item with the indexes of every query it matches."""
        return self._tagged_with_matches()

    async def _tagged_with_matches(self) -> AsyncIterator[Tagged[T]]:
        matchers = self._matchers
        async for item, source in self._tagged():
            found = tuple(i for i, m in enumerate(matchers) if i == source or m(item))
            yield Tagged(item, found)

    async def _tagged(self) -> AsyncIterator[tuple[T, int]]:
        receive = self._background.start()
        seen: set[str] | None = set() if self.dedupe else None
        stats = self.stats
        finished = False
        try:
            while True:
                try:
                    source, page = await receive.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    receive.close()  # now, not whenever the stream is collected
                    break
                for item in page.data:
                    if seen is not None:
                        if item.id in seen:
                            stats.duplicates_dropped += 1
                            continue
                        seen.add(item.id)
                    stats.items_yielded += 1
                    yield item, source
                self._report()
            finished = True
        finally:
            if not finished:
                # The consumer stopped early (break, exception, cancellation): so do we.
                self._background.stop()
        await self._background.wait()
        error, self._readers.error = self._readers.error, None
        if error is not None:
            raise error

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

    def on_progress(self, callback: Callable[[Progress], object]) -> None:
        """Call ``callback(progress)`` in the consumer's task after each page is handed over."""
        self._progress_callbacks.append(callback)

    def _report(self) -> None:
        if self._progress_callbacks:
            snapshot = self.progress
            for callback in self._progress_callbacks:
                callback(snapshot)


def merge(*streams: PageStream[T], dedupe: bool = True) -> MergedStream[T]:
    """Read several listings at once and yield their union, each id once by default.

    Items come as their pages arrive, so the union is not in any one query's
    order. ``merged.tagged()`` yields ``Tagged(item, queries)`` instead.
    """
    return MergedStream(streams, dedupe=dedupe)


def merge_tagged(*streams: PageStream[T]) -> AsyncIterator[Tagged[T]]:
    """Shorthand for ``merge(*streams).tagged()``: each item once, with the queries it matches."""
    return MergedStream(streams).tagged()


# --- which queries match an item ---------------------------------------------------
#
# An item is yielded once, when the first query returns it; the other queries that
# match it are found by applying their filters to it, with the API's meaning.


def _matcher(params: Mapping[str, str]) -> Callable[[SimCard | SimCardAction], bool]:
    tests: list[Callable[[SimCard | SimCardAction], bool]] = []
    for name, value in params.items():
        test = _FILTERS.get(name)
        if test is not None:
            tests.append(test(value))
    return lambda item: all(t(item) for t in tests)


def _status_in(value: str) -> Callable[[SimCard | SimCardAction], bool]:
    wanted = set(value.split(","))
    return lambda item: item.status.value in wanted


def _has_tags(value: str) -> Callable[[SimCard | SimCardAction], bool]:
    wanted = set(value.split(","))
    return lambda item: isinstance(item, SimCard) and wanted <= set(item.tags)


def _field_contains(field: str) -> Callable[[str], Callable[[SimCard | SimCardAction], bool]]:
    return lambda value: lambda item: value in (getattr(item, field, None) or "")


def _field_equals(field: str) -> Callable[[str], Callable[[SimCard | SimCardAction], bool]]:
    return lambda value: lambda item: getattr(item, field, None) == value


_FILTERS: dict[str, Callable[[str], Callable[[SimCard | SimCardAction], bool]]] = {
    "filter[status]": _status_in,
    "filter[tags]": _has_tags,
    "filter[iccid]": _field_contains("iccid"),
    "filter[msisdn]": _field_equals("msisdn"),
    "filter[sim_card_group_id]": _field_equals("sim_card_group_id"),
    "filter[sim_card_id]": _field_equals("sim_card_id"),
    "filter[bulk_sim_card_action_id]": _field_equals("bulk_sim_card_action_id"),
    "filter[action_type]": _field_equals("action_type"),
}
