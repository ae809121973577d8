"""The consumer side of every stream: receive, early stop, the producer's error, progress.

A stream is a producer (the page engine, or a merge's readers) running in a task
of its own, and a consumer loop here that receives what it hands over through a
bounded memory stream. The task owns whatever task group the producer opens, so
the consumer never yields from inside a task group or cancel scope.

- Producers simply raise: ``Producer`` keeps the first failure (unwrapping a task
  group's ``ExceptionGroup`` to the error that started it) and the consumer raises
  it once the hand-over has run dry.
- A consumer that stops early (``break``, an exception, cancellation) stops the
  producer at once; ``async with stream`` (or ``aclose``) also waits for it.
- Progress callbacks run in the consumer's task after each hand-over.
- A stream is read once: a second reader, a reader after ``aclose()`` or one whose stream
  was closed under it raises ``RuntimeError`` rather than yield nothing or end as if the
  listing had.

``Stream`` is the base of ``PageStream`` and ``MergedStream``; what it yields is
told by ``item_type`` and ``matches``, and ``chunks`` hands its items over in runs
(a page at a time) to an exporter, which may pass the state it wants kept in a
checkpoint (see ``StateProvider``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import sys
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._callbacks import called_back, check_callback
from ._models import RawRecord
from ._stats import Progress
from ._task_groups import first_error

if TYPE_CHECKING:
    # Only for type checkers (typing_extensions is no runtime dependency): on Python 3.10
    # a bare ``typing.Self`` is unknown, and ``async with stream as s`` was typed ``Any``.
    if sys.version_info >= (3, 11):
        from typing import Self
    else:
        from typing_extensions import Self

__all__ = [
    "CANCELLED_ELSEWHERE",
    "CLIENT_CLOSED",
    "HANDED_OUT",
    "MERGE_HANDED_OUT",
    "READ_ONCE",
    "Producer",
    "ReadOnce",
    "StateProvider",
    "Stream",
]

M = TypeVar("M")
T = TypeVar("T")

#: An exporter's state, kept in each checkpoint a stream saves while the exporter reads it
#: (awaited just before the save, so the exporter can flush first and say where it ends).
StateProvider = Callable[[], Awaitable[dict[str, Any]]]

#: Why a stream stops when its client closes before the stream is read to its end.
CLIENT_CLOSED = "the client was closed before this stream was read to its end"
#: Why it stops when something else cancelled its requests, the client still open.
CANCELLED_ELSEWHERE = (
    "this stream's requests were cancelled before it was read to its end, its client still "
    "open: a task the library reads it in was cancelled (by an on_response hook, or a merged "
    "stream's on_progress callback: they run in it)"
)
CLOSED_UNDER_READER = "this stream was closed (aclose()) while it was being read"
CLOSED_BEFORE_READ = (
    "this stream was closed (aclose(), or the end of its 'async with' block) before it was "
    "read; ask the client for a new one to read the listing"
)
READ_ONCE = (
    "this stream was read already: a stream is read once, by one reader (items, pages(), "
    "chunks() or export()); ask the client for a new one to read the listing again"
)
HANDED_OUT = (
    "this stream's reader was handed out already (its pages(), chunks() or raw_chunks(), or "
    "one a merge of it took), not yet read from: a stream is read once, by one reader; ask "
    "the client for a new stream to read the listing again"
)
#: The same, of a merge.
MERGE_HANDED_OUT = (
    "this merge's reader was handed out already (its tagged(), chunks() or raw_chunks()), not "
    "yet read from: a merge is read once, by one reader; merge new streams to read the union "
    "again"
)


class Producer(Generic[M]):
    """A producer running in a task of its own, handing its output over a memory stream.

    ``run(send)`` sends what it makes and simply raises when it fails; the failure is
    kept in ``error`` for the consumer. ``stop`` cancels without waiting (from sync code,
    a ``finally`` or ``__del__``), ``aclose`` cancels and waits. Holds no reference to
    the stream object that made it, so dropping that object collects this one and stops
    the task.
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
        #: The task ``stop`` cancelled, until ``aclose`` has waited for it to end.
        self._stopping: asyncio.Task[None] | None = None
        self.receive: MemoryObjectReceiveStream[M] | None = None
        self.error: BaseException | None = None

    def start(self) -> MemoryObjectReceiveStream[M]:
        """Start the producer, once; the receiving end of its output."""
        if self.receive is None:
            send, receive = anyio.create_memory_object_stream[M](self._buffer)
            self.receive = receive
            # Dropped mid-way without ``async with`` (or ``stop``): closed, silently. Not
            # from a ``__del__``: in a reference cycle the stream's own ``__del__`` could
            # run first and warn that it was never closed (a ResourceWarning, an error in
            # the tests). A weak reference's callback runs before any finalizer.
            weakref.finalize(self, receive.close).atexit = False
            self.task = asyncio.get_running_loop().create_task(self._main(send))
            # Closed by ``_main``, or here if the task is cancelled before its first step.
            self.task.add_done_callback(lambda _: send.close())
            if self._on_start is not None:
                self._on_start(self.task)
        return self.receive

    async def _main(self, send: MemoryObjectSendStream[M]) -> None:
        with send:
            try:
                await self._run(send)
            except BaseException as exc:  # handed to the consumer, raised there
                error = first_error(exc)
                if isinstance(error, asyncio.CancelledError):
                    raise  # a stop: this task cancelled
                # Not only an Exception: a hook's own BaseException (a test framework's
                # outcome, GeneratorExit) left in this task looked like the listing's end,
                # and a SystemExit or KeyboardInterrupt (``sys.exit()`` in ``on_response``)
                # left it escaped the event loop from here: the consumer was cancelled, and
                # ``asyncio.run()`` printed a task group's traceback from this module.
                if not isinstance(error, anyio.BrokenResourceError):  # the consumer went away
                    self.error = error

    async def wait(self) -> bool:
        """Wait for the producer to end; whether something other than ``stop`` cancelled it."""
        task = self.task
        if task is None:
            return False
        await asyncio.wait([task])
        return task.cancelled()

    def killed(self) -> bool:
        """Whether something other than ``stop`` cancelled the producer (the client closed)."""
        task = self.task
        return task is not None and task.done() and task.cancelled()

    def stop(self) -> None:
        """Cancel the producer without waiting for it, and close the receiving end."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                task.cancel()
            self._stopping = task
        if self.receive is not None:
            self.receive.close()

    async def aclose(self) -> None:
        """Cancel the producer and wait until it has let go of everything.

        Also after a ``stop`` (a reader cut short by a timeout or an exception stops the
        producer from its ``finally``): ``async with stream`` waits for those requests too.
        """
        task = self.task or self._stopping
        self.stop()
        if task is not None:
            # Shielded: in a cancel scope that has fired (the reason the reader stopped),
            # the wait was cut at once. The task is cancelled: it ends in a few loop turns.
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])
            self._stopping = None


class ReadOnce(AsyncIterator[T]):
    """A stream's reader handed out as an object (``pages()``, ``tagged()``): read once.

    Wraps the async generator that reads the stream. ``async for`` gets that generator
    itself, not this object, so that the loop holds the only reference to it: a ``break``
    (or an exception out of the loop) drops it, and its finalizer stops the stream's
    requests at once, as a ``break`` out of the stream itself does. Iterating it again
    (after a break, the end or ``aclose()``) raises ``RuntimeError`` rather than yield
    what was left, or nothing. ``anext()`` on this object reads the same generator.
    ``aclose()`` closes the stream, from any task: a reader in the middle is told so
    (``RuntimeError``) at its next step, as one of the stream itself is. ``item_type``
    (set by each subclass) says what it yields, so that ``export()`` refuses what is not
    records before anything is sent.
    """

    __slots__ = ("_items", "_loop", "_stream")

    item_type: type[Any]

    def __init__(self, items: AsyncGenerator[T, None], stream: Stream[Any, Any]) -> None:
        #: The reading generator, until a loop takes it (then only ``_loop`` refers to it).
        self._items: AsyncGenerator[T, None] | None = items
        self._loop: weakref.ref[AsyncGenerator[T, None]] | None = None
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[T]:
        items = self._items
        if items is None or items.ag_frame is None:  # type: ignore[attr-defined]
            raise RuntimeError(READ_ONCE)  # a loop had it, or read to its end (or closed)
        self._items = None  # kept, it would outlive a break and read on in the next loop
        self._loop = weakref.ref(items)
        return items

    def __anext__(self) -> Awaitable[T]:
        items = self._items
        if items is None:  # a loop took it: still the same reader while that loop runs
            items = self._loop() if self._loop is not None else None
            if items is None:
                raise RuntimeError(READ_ONCE)  # the loop stopped, and the stream with it
        return items.__anext__()  # the generator's own awaitable: nothing in between

    async def aclose(self) -> None:
        """Stop reading: the stream's requests end, and a reader in the middle is told."""
        # The generator is left as it is: its next step (or a reader's in another task)
        # finds the stream closed and raises, rather than end as if the listing had.
        await self._stream.aclose()


class Stream(abc.ABC, Generic[M, T]):
    """The consumer side shared by every stream: ``async with``, the receive loop, progress.

    Subclasses set ``_producer`` and ``item_type``, and may hook into the loop:
    ``_received`` before a hand-over reaches the consumer, ``_consumed`` once the consumer
    is done with it, ``_stopped`` when the consumer stopped early, ``_completed`` at the
    end. Each hook gets the exporter's ``StateProvider``, if any.
    """

    _producer: Producer[M]
    #: The type of the items this stream yields.
    item_type: type[T]

    def __init__(self) -> None:
        self._progress_callbacks: list[Callable[[Progress], object]] = []
        self._read = False  # whether a reader has started: a second one would get nothing
        self._closed = False  # whether aclose() was called: a reader after it would too
        self._reading = False  # whether a reader is in the middle (not stopped, not done)
        #: Streams that read this one (a merge's), halted with it (``_halt``), held weakly.
        self._readers_of: list[weakref.ref[Stream[Any, Any]]] = []
        #: Whether the client halted it (``_halt``), and what its stop raised then, if anything.
        self._halted = False
        self._halt_error: Exception | None = None
        #: Removes the API key of the client that made it from a message about its
        #: records or query (a server may echo the key anywhere in an answer).
        self._redact: Callable[[str], str] = str

    # --- what it yields --------------------------------------------------------------

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[T]:
        """Its items, read once."""

    async def collect(self) -> list[T]:
        """Read the whole stream into a list (bounded by its ``limit``, if one was given)."""
        return [item async for item in self]

    @abc.abstractmethod
    def matches(self, item: T) -> bool:
        """Whether ``item`` is one this stream's query (or queries) asks for."""

    @abc.abstractmethod
    def chunks(self, *, state: StateProvider | None = None) -> AsyncGenerator[Sequence[T], None]:
        """Yield the items in non-empty runs (a page at a time), for exporters.

        ``state``, if given, is awaited before each checkpoint the stream saves, and
        what it returns is kept in the checkpoint (see ``resumed_state``).
        """

    def raw_chunks(
        self, *, state: StateProvider | None = None
    ) -> AsyncGenerator[Sequence[RawRecord], None] | None:
        """Like ``chunks``, but each item a ``RawRecord``: the record as the API sent it.

        None when this stream cannot give them (not a listing of the API's): then
        ``chunks`` is the way to read it. A stream being read, or read already, raises
        ``RuntimeError``.
        """
        del state
        return None

    @property
    def checkpointing(self) -> bool:
        """Whether this stream saves checkpoints as it is consumed."""
        return False

    @property
    def checkpoint(self) -> str | os.PathLike[str] | None:
        """The file this stream writes its checkpoints to, if any."""
        return None

    @property
    def resumed_state(self) -> Mapping[str, Any] | None:
        """The exporter's state kept in the checkpoint this stream continues, if it does."""
        return None

    @property
    def resumed_items(self) -> int:
        """Items the checkpoint this stream continues had counted as consumed."""
        return 0

    @property
    def resumed_from(self) -> str | os.PathLike[str] | None:
        """The checkpoint file this stream continues, if it does."""
        return None

    @property
    def resumed_finished(self) -> bool:
        """Whether the checkpoint this stream continues says its scan had finished.

        To the listing's end, or to the scan's ``limit``.
        """
        return False

    @property
    def resumable_from(self) -> os.PathLike[str] | str | None:
        """The checkpoint file a new run could continue this stream from, if there is one."""
        return None

    @property
    def finish_saved(self) -> bool:
        """Whether this run's checkpoint now says the scan finished (its end, or its limit)."""
        return False

    # --- progress --------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def progress(self) -> Progress:
        """A snapshot of pages and items done, retries, throttling and the ETA."""

    def on_progress(self, callback: Callable[[Progress], object]) -> None:
        """Call ``callback(progress)`` in the consumer's task after each page is handed over.

        A merged stream's runs in the merge's reader of that stream (the library's task).
        What ``callback`` raises propagates to the consumer, as any error of its own; a
        ``CancelledError`` it raises, as a ``RuntimeError`` saying so.
        """
        check_callback("callback", callback, "a function taking a Progress")
        self._progress_callbacks.append(callback)

    def _report(self) -> None:
        if self._progress_callbacks:
            snapshot = self.progress
            for callback in self._progress_callbacks:
                called_back("callback", "on_progress callback", callback, snapshot)

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        # Nothing is fetched before the first read: what it reads (items, pages, records as
        # sent) decides how pages are decoded. Started here, page 1 came decoded as Structs
        # while the caller awaited anything else, and an export to JSON lines after that
        # wrote them re-encoded, fields no model knows dropped.
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every request still in flight and release the connections.

        A reader still in the middle (its iterator kept, or in another task) stops here:
        where it got is recorded now, not when its iterator is collected. So does the
        reader of a merge this stream was being read by (it yielded the rest of its batch);
        not one whose own reader of this stream ended first (a merge closes the streams it
        read as each ends).
        """
        under_reader = self._reading
        self._closed = True
        self._stop()
        if under_reader:
            for reader in self._merges_reading():
                reader._stop()  # noqa: SLF001  (a Stream's: its reader stops at its next item)
        await self._producer.aclose()

    # --- the receive loop --------------------------------------------------------------

    async def _receive(self, state: StateProvider | None = None) -> AsyncGenerator[M, None]:
        """Yield what the producer hands over; raise its failure once it has run dry."""
        self._check_not_begun()
        self._read = self._reading = True
        receive = self._producer.start()
        finished = closed = False
        try:
            while True:
                try:
                    # Messages may wait in the hand-over buffer: a cancelled consumer must
                    # still stop at the next one, though taking it from there needs no turn.
                    await anyio.lowlevel.checkpoint_if_cancelled()
                    try:  # skip the loop turn when a message is there already
                        message = receive.receive_nowait()
                    except anyio.WouldBlock:
                        message = await receive.receive()
                except anyio.EndOfStream:
                    receive.close()  # now, not whenever the stream is collected
                    break
                except anyio.ClosedResourceError:
                    closed = True  # by aclose() in another task, under this reader
                    break
                if self._producer.killed():
                    # The client closed while this message waited in the buffer: refuse it.
                    receive.close()
                    break
                if self._reading:
                    await self._received(message, state)  # may await a save
                if self._stopped_under_reader():
                    # Stopped before it reached the consumer (closed in another task, as
                    # the message was taken or a save was awaited): not handed over, or the
                    # stop's saved position would leave it out and a resume yield it again.
                    receive.close()
                    closed = True
                    break
                yield message
                if self._stopped_under_reader():
                    # Stopped while the consumer held it (closed in another task): not
                    # consumed, where the consumer got was recorded by the stop.
                    receive.close()
                    closed = True
                    break
                # The consumer is done with this message: only now may a checkpoint say so.
                await self._consumed(message, state)
                self._report()
            finished = True
        finally:
            if not finished:
                # The consumer stopped early (break, exception, cancellation): so do we.
                self._producer.stop()
                self._stop()
        await self._end(state, closed=closed)

    def _stopped_under_reader(self) -> bool:
        """Whether a stop came while the receive loop awaited (``aclose()``, ``_halt()``)."""
        return not self._reading

    def _stop(self) -> None:
        """The reader stopped, or the stream was closed under it: record where, once."""
        if self._reading:
            self._reading = False
            self._stopped()

    def _halt(self) -> None:
        """The client is closing: a reader stops at its next step (where it got is recorded).

        Its producer is cancelled by the client; the reader then raises ``RuntimeError``.
        A stream reading this one (a merge) halts too. What the stop raises (a checkpoint's
        save failing on a full disk) is kept for the reader to raise: the client goes on
        closing.
        """
        self._halted = True
        try:
            self._stop()
        except Exception as exc:  # noqa: BLE001  (raised by the reader, in _end)
            self._halt_error = exc
        for reader in self._merges_reading():
            reader._halt()  # noqa: SLF001  (a Stream's, as this one)

    def _stop_requests(self) -> None:
        """Cancel the requests under way now, from sync code (its reader, a merge, stopped)."""
        self._producer.stop()

    def _merges_reading(self) -> list[Stream[Any, Any]]:
        """The streams reading this one (merges) still alive."""
        return [reader for ref in self._readers_of if (reader := ref()) is not None]

    def _read_by(self, reader: Stream[Any, Any]) -> None:
        """``reader`` reads this stream's items (a merge): it halts when this one does."""
        self._readers_of.append(weakref.ref(reader))

    #: What a second reader is told when a reader was handed out (``_handed_out``).
    _handed_out_message = HANDED_OUT

    @property
    def unread(self) -> bool:
        """Whether a reader may still read it: none handed out or started, and not closed."""
        return not (self._read or self._closed or self._handed_out())

    def check_unread(self) -> None:
        """Raise ``RuntimeError`` unless a reader may read it (``unread``).

        A second reader, or one after ``aclose()``, would get nothing; one beside a reader
        handed out would take its pages.
        """
        self._check_not_begun()
        if self._handed_out():
            raise RuntimeError(self._handed_out_message)

    def _handed_out(self) -> bool:
        """Whether a reader was handed out, not yet read from (``pages()``, say)."""
        return False

    def _check_not_begun(self) -> None:
        """``check_unread`` as a reader starts: its own handing out does not count."""
        if self._read:
            # What the first reader left is gone (a stop ends the producer): refuse, rather
            # than yield nothing as if the listing were empty.
            raise RuntimeError(READ_ONCE)
        if self._closed:
            raise RuntimeError(CLOSED_BEFORE_READ)

    async def _end(self, state: StateProvider | None, *, closed: bool) -> None:
        """After the last message: raise why the producer stopped, if not at the end."""
        try:
            killed = await self._producer.wait()
        except BaseException:
            # Cancelled in the turn this waits (a timeout firing as the listing ends): the
            # reader stopped, everything it took counted, as a stop inside the loop is.
            self._stop()
            raise
        if killed or closed:
            # Cancelled, and not by this stream (stop forgets the task): the client closed,
            # as a rule; or closed under the reader. Not the end of the listing: say so, and
            # save where the reader got as a stop does, or a resume yields it again.
            self._stop()
            if self._halt_error is not None:  # the client's halt saved it, and failed
                failed, self._halt_error = self._halt_error, None
                raise failed
            halted = killed or self._halted  # a merge's producer is none of the client's
            raise RuntimeError(self._why_cancelled() if halted else CLOSED_UNDER_READER)
        self._reading = False
        self._ended()
        error, self._producer.error = self._producer.error, None
        if error is not None:
            await self._failed(state)
            raise error
        await self._completed(state)

    def _why_cancelled(self) -> str:
        """Why the producer was cancelled, not by this stream: its client closed."""
        return CLIENT_CLOSED

    async def _received(self, message: M, state: StateProvider | None) -> None:
        """A message is about to reach the consumer."""

    async def _consumed(self, message: M, state: StateProvider | None) -> None:
        """The consumer is done with a message."""

    def _stopped(self) -> None:
        """The consumer stopped before the end (sync: may run while being cancelled)."""

    def _ended(self) -> None:
        """The producer is done, failed or not (before its failure is raised)."""

    async def _failed(self, state: StateProvider | None) -> None:
        """The producer failed; everything it handed over was consumed (its error follows)."""

    async def _completed(self, state: StateProvider | None) -> None:
        """Everything was handed over and consumed: report the last progress (``_report``).

        A stream that saves its end orders the two so that what a progress callback raises
        loses neither the reader's items nor the checkpoint of them.
        """
        del state  # nothing saved here
        self._report()
