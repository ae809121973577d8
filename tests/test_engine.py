"""The page engine without a socket: a fake listing behind ``fetch(target, on_retry) -> Page``.

Each request waits on a future the test resolves, so the order in which pages come
back is the test's choice, and nothing waits on the clock: ``settle`` lets the loop
run until a condition holds, within a bounded number of turns.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.lowlevel
import msgspec
import pytest

from simcards_async import (
    APIError,
    DriftWarning,
    Page,
    PaginationError,
    PaginationMeta,
    RateLimitError,
    _pagination,
)
from simcards_async._pagination import (
    CLIENT_WINDOW_BYTES,
    DECODE_AHEAD,
    HANDOVER_PAGES,
    HELD_BYTES,
    SHARED_MIN_PAGES,
    WINDOW_BYTES,
    Delivery,
    Engine,
    Resume,
    SharedWindow,
    Turn,
)
from simcards_async._query import sim_cards_query
from simcards_async._stats import StreamStats
from simcards_async._stream import Producer
from simcards_async._throttle import AdaptiveLimiter

pytestmark = pytest.mark.anyio


class Rec(msgspec.Struct, frozen=True):
    """A listing item: only its id matters to the engine."""

    id: str


class Listing:
    """A fake listing: pages cut from ``ids`` as they are when a page is answered."""

    def __init__(self, n: int, page_size: int, *, auto: bool = False) -> None:
        self.ids = [f"r{i:05d}" for i in range(n)]
        self.page_size = page_size
        self.auto = auto  # answer at once, instead of waiting for the test
        self.pending: dict[int, list[asyncio.Future[Page[Rec]]]] = {}
        self.requested: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.retry_with: list[APIError] = []  # errors to report through on_retry, once each
        #: Pages answered and waiting for their turn to be decoded (as the transport waits).
        self.held: list[int] = []
        self.body_size = 1000  # the size in bytes each answer tells its turn it holds
        self.held_when_asked: dict[int, int] = {}  # page -> answers waiting when it was asked

    def page(self, number: int) -> Page[Rec]:
        """Page ``number`` of the listing as it is now, with a meta that agrees with it."""
        size, total = self.page_size, len(self.ids)
        data = tuple(Rec(i) for i in self.ids[(number - 1) * size : number * size])
        meta = PaginationMeta(
            page_number=number,
            page_size=size,
            total_pages=math.ceil(total / size),
            total_results=total,
        )
        return Page(data=data, meta=meta)

    async def fetch(
        self,
        target: str,
        on_retry: Callable[[APIError], None],
        turn: Turn | None = None,
        sent: Callable[[], None] | None = None,
        /,
    ) -> Page[Rec]:
        """The engine's seam: say the request is sent, wait for the test's answer (or
        answer at once with ``auto``), then, as the transport does before decoding, for the
        page's turn.
        """
        if sent is not None:
            sent()
        number = int(parse_qs(urlsplit(target).query)["page[number]"][0])
        self.requested.append(number)
        self.held_when_asked[number] = len(self.held)
        while self.retry_with:
            on_retry(self.retry_with.pop(0))
        if self.auto:
            await anyio.lowlevel.checkpoint()
            page = self.page(number)
        else:
            future: asyncio.Future[Page[Rec]] = asyncio.get_running_loop().create_future()
            self.pending.setdefault(number, []).append(future)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                page = await future
            finally:
                self.in_flight -= 1
        if turn is not None:
            self.held.append(number)
            await turn(self.body_size)
            self.held.remove(number)
        return page

    def waiting(self) -> list[int]:
        """Page numbers with a request waiting for an answer."""
        return sorted(n for n, futures in self.pending.items() for f in futures if not f.done())

    def answer(self, number: int, page: Page[Rec] | None = None) -> None:
        """Answer the oldest waiting request for page ``number``."""
        future = next(f for f in self.pending[number] if not f.done())
        future.set_result(page if page is not None else self.page(number))

    def fail(self, number: int, exc: Exception) -> None:
        """Fail the oldest waiting request for page ``number``."""
        next(f for f in self.pending[number] if not f.done()).set_exception(exc)


async def settle(condition: Callable[[], bool] | None = None, turns: int = 200) -> None:
    """Let the loop run until ``condition`` holds (or, without one, for ``turns`` turns)."""
    for _ in range(turns):
        if condition is not None and condition():
            return
        await anyio.lowlevel.checkpoint()
    if condition is not None:
        pytest.fail("the condition never held")


async def past_page_1(listing: Listing, window: list[int]) -> None:
    """Answer page 1, then wait until exactly the pages ``window`` are asked for."""
    await settle(lambda: listing.waiting() == [1])
    listing.answer(1)
    await settle(lambda: listing.waiting() == window)


def engine(
    listing: Listing,
    *,
    read_ahead: int = 4,
    limit: int | None = None,
    maximum: int = 8,
    resume: Resume | None = None,
    window: SharedWindow | None = None,
) -> Engine[Rec]:
    query = sim_cards_query(page_size=listing.page_size, limit=limit)
    return Engine(
        query,
        listing.fetch,
        read_ahead=read_ahead,
        limiter=AdaptiveLimiter(maximum),
        stats=StreamStats(),
        resume=resume,
        window=window,
    )


def producer_of(eng: Engine[Rec]) -> Producer[Delivery[Rec]]:
    """The producer a ``PageStream`` runs its engine in (the stream's hand-over buffer)."""
    return Producer(eng.run, buffer=HANDOVER_PAGES)


def started(
    eng: Engine[Rec],
) -> tuple[Producer[Delivery[Rec]], AsyncIterator[Delivery[Rec]]]:
    """``eng`` running in its producer, and what the producer hands over."""
    producer = producer_of(eng)
    return producer, producer.start()


async def read_all(producer: Producer[Delivery[Rec]]) -> list[tuple[int, list[str]]]:
    """Receive every page the engine hands over: (number, ids)."""
    got = []
    async for number, page, ids in producer.start():
        assert ids == [r.id for r in page.data]  # the ids handed over are the page's
        got.append((number, ids))
    await producer.wait()
    return got


async def test_pages_come_in_page_order_whatever_order_the_answers_come_in() -> None:
    """Answers for pages 4, 2, 5, 3 (in that order) are still handed over as 2, 3, 4, 5."""
    listing = Listing(500, 100)
    eng = engine(listing, read_ahead=4)
    producer, receive = started(eng)
    await past_page_1(listing, [2, 3, 4, 5])
    got = []
    for number in (4, 2, 5, 3):
        listing.answer(number)
    async for number, page, _ in receive:
        got.append((number, page.data[0].id))
    await producer.wait()
    assert producer.error is None
    assert got == [(n, f"r{(n - 1) * 100:05d}") for n in range(1, 6)]


async def test_never_more_than_read_ahead_pages_are_in_flight() -> None:
    """With read_ahead=3, at most three pages past the first are asked for before one is used."""
    listing = Listing(2000, 100)
    eng = engine(listing, read_ahead=3)
    producer, receive = started(eng)
    await past_page_1(listing, [2, 3, 4])
    await settle()  # nothing else is asked for, however long the loop runs
    assert listing.requested == [1, 2, 3, 4]
    # Page 2 in: the window moves by one page, no more.
    listing.answer(2)
    await settle(lambda: listing.waiting() == [3, 4, 5])
    await settle()
    assert listing.requested == [1, 2, 3, 4, 5]
    assert listing.max_in_flight == 3
    producer.stop()
    await producer.wait()
    del receive


async def test_pages_far_ahead_of_the_consumer_wait_undecoded_for_their_turn() -> None:
    """With nobody reading, answered pages more than DECODE_AHEAD past the next to hand
    over wait for their turn (as bodies, in the transport); reading releases them in order.
    """
    listing = Listing(2000, 100)
    eng = engine(listing, read_ahead=12, maximum=12)
    producer, receive = started(eng)
    await past_page_1(listing, list(range(2, 14)))
    for number in range(2, 14):
        listing.answer(number)
    # The engine hands pages 2.. over until the hand-over buffer is full; the page after
    # the last one taken and DECODE_AHEAD more are decoded, every later one waits.
    await settle(lambda: bool(listing.held) and listing.held[-1] == 13)
    await settle()
    taken = HANDOVER_PAGES + 1  # the buffer's pages (1 to 4) and page 5, waiting to be sent
    assert sorted(listing.held) == list(range(taken + DECODE_AHEAD + 1, 14))
    got = []
    async for number, page, _ in receive:
        got.append(number)
        assert len(page.data) == 100
        # Decoded and not yet read: at most the buffer's, the one being sent, DECODE_AHEAD.
        assert all(n > number + DECODE_AHEAD for n in listing.held)
        assert 13 - number - len(listing.held) <= HANDOVER_PAGES + 1 + DECODE_AHEAD
        if number == 13:
            break
    assert got == list(range(1, 14))
    producer.stop()
    await producer.wait()


async def test_no_page_is_asked_for_while_the_bodies_waiting_hold_held_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The window is bounded in bytes too: with answers of over a third of HELD_BYTES, no page
    past the window is asked for while three or more wait for their turn, however many
    read_ahead allows; reading lets it go on, and every page comes, in order. WINDOW_BYTES
    is lifted: this is HELD_BYTES's rule alone, and the next test is that one's.
    """
    monkeypatch.setattr(_pagination, "WINDOW_BYTES", 2**62)
    listing = Listing(3000, 100)
    listing.body_size = HELD_BYTES // 3 + 1  # three of them are more than HELD_BYTES
    eng = engine(listing, read_ahead=20, maximum=20)
    producer, receive = started(eng)
    await past_page_1(listing, list(range(2, 22)))
    for number in range(2, 22):
        listing.answer(number)
    await settle(lambda: len(listing.held) >= 3)
    listing.auto = True  # pages asked for from now on are answered at once
    got = []
    async for number, _, _ in receive:
        got.append(number)
        await settle()  # the engine goes as far as it may
        assert eng.plan.held == len(listing.held) * listing.body_size
    await producer.wait()
    assert producer.error is None
    assert got == list(range(1, 31))
    assert listing.requested == list(range(1, 31))
    # Past the first window (asked for before any answer came), each page was asked for
    # only once fewer than three answers waited.
    assert all(listing.held_when_asked[n] < 3 for n in range(22, 31))
    assert eng.plan.held == 0


async def test_the_window_holds_window_bytes_at_the_largest_answers_size() -> None:
    """Answers of a quarter of WINDOW_BYTES and more (a server's largest pages): read_ahead=20
    asked for 20 at once, each body in memory as it came in (~400 MB at C=32 with pages of
    ~4.9 MiB). Counted at page 1's size, the window holds four pages; a fifth is asked for
    only once the second is handed over, and every page comes, in order.
    """
    listing = Listing(3000, 100)
    listing.body_size = WINDOW_BYTES // 4 + 1
    eng = engine(listing, read_ahead=20, maximum=20)
    producer, receive = started(eng)
    await past_page_1(listing, [2, 3, 4, 5])
    listing.answer(2)
    await settle(lambda: listing.waiting() == [3, 4, 5, 6])
    listing.auto = True  # pages asked for from now on are answered at once
    for number in (3, 4, 5, 6):
        listing.answer(number)
    got = [number async for number, _, _ in receive]
    await producer.wait()
    assert producer.error is None
    assert got == list(range(1, 31))
    assert listing.max_in_flight <= 4


def test_a_shared_window_splits_the_client_window_bytes_among_the_streams_reading() -> None:
    """Alone or beside up to three others, a stream keeps its own window (read_ahead pages, as
    many as WINDOW_BYTES holds at its largest answer); beside more, an even share of
    CLIENT_WINDOW_BYTES, never fewer than SHARED_MIN_PAGES pages (nor more than its window).
    """
    shared = SharedWindow()
    page = WINDOW_BYTES // 16
    assert shared.pages(64, page) == 16  # counted as one reading before it is
    assert CLIENT_WINDOW_BYTES // 4 == WINDOW_BYTES
    for readers in (1, 2, 4):
        shared.readers = readers
        assert shared.pages(64, 0) == 64  # no answer yet: read_ahead alone
        assert shared.pages(64, page) == 16
        assert shared.pages(64, WINDOW_BYTES // 4 + 1) == 4  # the last may pass the bytes
        assert shared.pages(64, 2 * WINDOW_BYTES) == 1
        assert shared.pages(5, page) == 5
    shared.readers = 8
    assert shared.pages(64, page) == 8  # half a window: 8 pages of a sixteenth
    shared.readers = 1000
    assert shared.pages(64, page) == SHARED_MIN_PAGES
    assert shared.pages(1, page) == 1  # a window of one page (a listing with no count)


def test_a_stream_counts_as_reading_until_it_ends_however_it_ends() -> None:
    """``reading()`` counts a stream while it reads, and no longer once it ended, raising too."""
    shared = SharedWindow()
    with shared.reading():
        with pytest.raises(RuntimeError), shared.reading():
            assert shared.readers == 2
            raise RuntimeError
        assert shared.readers == 1
    assert shared.readers == 0


async def test_streams_reading_at_once_share_the_client_window() -> None:
    """Eight streams of one client reading at once held eight windows of bodies (50 sorted
    listings merged at C=32: ~470 MB of them). With answers of an eighth of WINDOW_BYTES,
    a stream alone asks for 8 pages ahead; the eighth to read asks for 4, its share of
    CLIENT_WINDOW_BYTES (four windows), and keeps to it as it reads on; once the others
    end, it asks for 8 again. Every page comes, in order.
    """
    assert CLIENT_WINDOW_BYTES // 8 == 4 * (WINDOW_BYTES // 8)
    shared = SharedWindow()
    listings = [Listing(3000, 100) for _ in range(8)]
    for listing in listings:
        listing.body_size = WINDOW_BYTES // 8
    engines = [engine(listing, read_ahead=20, maximum=20, window=shared) for listing in listings]
    others = [started(eng)[0] for eng in engines[1:]]
    for listing in listings[1:]:  # the others read, their answers not yet come
        await settle(lambda listing=listing: listing.waiting() == [1])  # type: ignore[misc]
        listing.answer(1)
        await settle(lambda listing=listing: len(listing.waiting()) >= SHARED_MIN_PAGES)  # type: ignore[misc]
    assert shared.readers == 7
    listing, eng = listings[0], engines[0]
    producer, receive = started(eng)
    await past_page_1(listing, [2, 3, 4, 5])
    assert shared.readers == 8
    listing.answer(2)
    assert (await anext(receive))[0] == 1
    assert (await anext(receive))[0] == 2
    await settle(lambda: listing.waiting() == [3, 4, 5, 6])
    for other in others:
        await other.aclose()
    assert shared.readers == 1
    listing.answer(3)
    assert (await anext(receive))[0] == 3
    await settle(lambda: listing.waiting() == list(range(4, 12)))
    listing.auto = True
    for number in range(4, 12):
        listing.answer(number)
    got = [number async for number, _, _ in receive]
    await producer.wait()
    assert producer.error is None
    assert got == list(range(4, 31))
    assert shared.readers == 0


async def test_streams_started_together_keep_to_the_client_window() -> None:
    """Sixteen streams started at once, their first answers coming together, each asked for
    its share as the count rose (8 pages of an eighth of WINDOW_BYTES for each of the first
    four, then 7, 6, 5, 4, 4, 4, 3, ... 2): 79 pages, 158 MiB where the client's window is
    64. Each counts from its first request, so each asks for a sixteenth of it, two pages.
    Closed, none counts any more.
    """
    shared, n = SharedWindow(), 16
    assert CLIENT_WINDOW_BYTES // n == 2 * (WINDOW_BYTES // 8)
    listings = [Listing(3000, 100) for _ in range(n)]
    for listing in listings:
        listing.body_size = WINDOW_BYTES // 8
    producers = [
        started(engine(listing, read_ahead=20, maximum=20, window=shared))[0]
        for listing in listings
    ]
    for listing in listings:
        await settle(lambda listing=listing: listing.waiting() == [1])  # type: ignore[misc]
    assert shared.readers == n
    for listing in listings:
        listing.answer(1)
    await settle(lambda: all(len(listing.waiting()) == 2 for listing in listings))
    await settle()  # and no more
    asked = [len(listing.waiting()) for listing in listings]
    assert asked == [2] * n
    assert sum(asked) * (WINDOW_BYTES // 8) <= CLIENT_WINDOW_BYTES
    for producer in producers:
        await producer.aclose()
    assert shared.readers == 0


async def test_a_consumer_that_does_not_read_stops_the_engine_after_the_hand_over_buffer() -> None:
    """Memory is bounded: with nobody reading, the engine stops after read_ahead + buffer pages."""
    listing = Listing(5000, 10, auto=True)
    eng = engine(listing, read_ahead=2)
    producer, _ = started(eng)
    await settle()
    # Page 1, the buffer's pages, one waiting to be sent, and read_ahead in flight.
    assert len(listing.requested) <= 1 + HANDOVER_PAGES + 1 + 2
    await producer.aclose()


async def test_a_worker_for_each_page_of_the_window() -> None:
    """With read_ahead=6 the engine fetches six pages at once, whatever the limiter's size:
    a page waiting for its turn holds its worker, so the others must still fetch. The
    client's limiter bounds the requests in the transport (``test_concurrency_limit.py``
    checks it at the server with read_ahead=6 and max_concurrency=2).
    """
    listing = Listing(2000, 100)
    eng = engine(listing, read_ahead=6, maximum=2)
    producer, _ = started(eng)
    await past_page_1(listing, [2, 3, 4, 5, 6, 7])
    await settle()
    assert listing.waiting() == [2, 3, 4, 5, 6, 7]
    listing.answer(3)
    await settle(lambda: listing.waiting() == [2, 4, 5, 6, 7])
    assert listing.max_in_flight == 6
    await producer.aclose()


async def test_workers_are_started_as_the_window_fills_not_for_all_of_read_ahead() -> None:
    """A read_ahead far beyond the listing costs only its pages: five pages, one worker for
    each of the four after the first (not a million idle ones), every page in order.
    """
    listing = Listing(500, 100)
    eng = engine(listing, read_ahead=1_000_000)
    before = asyncio.all_tasks()
    producer, receive = started(eng)
    await past_page_1(listing, [2, 3, 4, 5])
    await settle()
    # The producer's own task and a worker for each page asked for (nothing else runs here).
    assert len(asyncio.all_tasks() - before) == 1 + 4
    for number in (5, 3, 4, 2):
        listing.answer(number)
    got = [number async for number, _, _ in receive]
    await producer.wait()
    assert producer.error is None
    assert got == [1, 2, 3, 4, 5]


async def test_limit_stops_asking_for_pages_and_cuts_the_last_one() -> None:
    """limit=250 over 100-item pages: three pages asked for, 250 items handed over."""
    listing = Listing(1000, 100, auto=True)
    eng = engine(listing, limit=250)
    got = await read_all(producer_of(eng))
    assert [len(ids) for _, ids in got] == [100, 100, 50]
    assert sorted(set(listing.requested)) == [1, 2, 3]


async def test_a_repeat_from_inserts_is_dropped_and_counted() -> None:
    """Records inserted at the head before page 2 is read: the repeats it brings are dropped."""
    listing = Listing(300, 100)
    eng = engine(listing, read_ahead=1)
    producer, receive = started(eng)
    await past_page_1(listing, [2])
    listing.ids[:0] = ["new1", "new2"]  # two inserts: page 2 starts with page 1's last two
    listing.answer(2)
    await settle(lambda: listing.waiting() == [3])
    listing.answer(3)
    await settle(lambda: listing.waiting() == [4])
    listing.answer(4)  # the grown end: the listing now has four pages
    got = [r.id async for _, page, _ in receive for r in page.data]
    await producer.wait()
    assert producer.error is None
    assert sorted(got) == sorted(f"r{i:05d}" for i in range(300))
    assert len(got) == len(set(got)) == 300
    drift = eng.stats.drift
    assert drift.duplicates_dropped == 2
    assert (drift.first_total_results, drift.last_total_results) == (300, 302)
    assert len(eng.warnings) == 1
    assert "changed" in str(eng.warnings[0])


async def test_a_page_answered_before_an_insert_is_read_again_whenever_it_is_decoded() -> None:
    """Pages 6 to 9 answer first (the listing as it was), wait for their turn as bodies;
    then a record is inserted at the head and pages 2 to 5 answer (shifted by one). Page 5's
    last record moved to page 6 after page 6 was answered: page 6 must count as the older
    view and be read again. Stamped when decoded (after page 5), it was not: a record lost.
    """
    listing = Listing(100, 10)
    eng = engine(listing, read_ahead=8, maximum=8)
    producer, receive = started(eng)
    await past_page_1(listing, list(range(2, 10)))
    for number in range(6, 10):  # the old view, answered first, far from their turn
        listing.answer(number)
    await settle(lambda: sorted(listing.held) == [6, 7, 8, 9])
    listing.ids[:0] = ["new"]  # behind the scan: not for this pass to find
    for number in range(2, 6):
        listing.answer(number)
    listing.auto = True  # the rest, and every page read again, answer at once
    for number in listing.waiting():
        listing.answer(number)
    got = [r.id async for _, page, _ in receive for r in page.data]
    await producer.wait()
    assert producer.error is None
    assert sorted(set(got)) == sorted(f"r{i:05d}" for i in range(100)), "none lost"
    assert len(got) == len(set(got)), "none twice"
    assert eng.stats.drift.rereads >= 1


async def test_drift_warning_reaches_the_consumer_of_a_page_stream() -> None:
    """The engine's drift message is raised as a DriftWarning in the consumer's task."""
    from simcards_async._page_stream import PageStream  # noqa: PLC0415

    listing = Listing(300, 100, auto=True)
    answered = 0
    original = listing.page

    def drifting(number: int) -> Page[Rec]:
        nonlocal answered
        answered += 1
        if answered == 2:
            listing.ids[:0] = ["new"]
        return original(number)

    listing.page = drifting  # type: ignore[method-assign]
    stream = PageStream(
        sim_cards_query(page_size=100),
        listing.fetch,
        item_type=Rec,
        read_ahead=1,
        limiter=AdaptiveLimiter(1),
    )
    with pytest.warns(DriftWarning, match="changed"):
        got = [r.id async for r in stream]
    assert len(got) == len(set(got))


async def test_a_failed_page_is_raised_after_the_pages_before_it() -> None:
    """Page 3 fails while page 2 is still out: page 2 is handed over, then the error."""
    listing = Listing(1000, 100)
    eng = engine(listing, read_ahead=3)
    producer, receive = started(eng)
    await past_page_1(listing, [2, 3, 4])
    boom = APIError("page 3 failed")
    listing.fail(3, boom)
    listing.answer(2)
    numbers = [number async for number, _, _ in receive]
    await producer.wait()
    assert numbers == [1, 2]
    assert producer.error is boom


async def test_stopping_cancels_every_fetch_in_flight() -> None:
    """Stopping the producer cancels the fetches waiting for answers; none is left behind."""
    listing = Listing(1000, 100)
    eng = engine(listing, read_ahead=4)
    producer, _ = started(eng)
    await past_page_1(listing, [2, 3, 4, 5])
    futures = [f for n in (2, 3, 4, 5) for f in listing.pending[n]]
    await producer.aclose()
    assert all(f.cancelled() for f in futures)
    assert listing.in_flight == 0
    assert producer.error is None


async def test_retries_and_429s_are_counted() -> None:
    """Each on_retry is a retry; a RateLimitError among them is also a 429 met."""
    listing = Listing(100, 100, auto=True)
    listing.retry_with = [RateLimitError(429), APIError("reset"), RateLimitError(429)]
    eng = engine(listing)
    await read_all(producer_of(eng))
    assert (eng.stats.retries, eng.stats.rate_limited) == (3, 2)


async def test_a_resumed_scan_drops_the_ids_of_its_page_already_yielded_without_drift() -> None:
    """Resumed at page 2 with 30 of its ids yielded: the other 70 come, no repeat is drift."""
    listing = Listing(300, 100, auto=True)
    page_ids = tuple(f"r{i:05d}" for i in range(100, 130))
    last_ids = tuple(f"r{i:05d}" for i in range(100))
    resume = Resume(
        next_page=2, delivered=130, total_results=300, last_ids=last_ids, page_ids=page_ids
    )
    eng = engine(listing, resume=resume)
    got = await read_all(producer_of(eng))
    assert got[0] == (2, [f"r{i:05d}" for i in range(130, 200)])
    assert [n for n, _ in got] == [2, 3]
    assert eng.stats.drift.duplicates_dropped == 0
    assert not eng.warnings


async def test_a_resumed_scan_whose_checkpoint_had_no_count_compares_with_its_first() -> None:
    """A checkpoint saved before any page counted the listing: the resumed scan's first count
    is the one later counts are compared with, as a fresh scan's is (the first page's counts
    were taken in one place only unless resumed, and a later page's in another whenever
    none was kept: a resumed scan had no first count, and no count's change said drift).
    """
    listing = Listing(300, 100)
    last_ids = tuple(f"r{i:05d}" for i in range(100))
    resume = Resume(next_page=2, delivered=100, total_results=None, last_ids=last_ids)
    eng = engine(listing, resume=resume, read_ahead=1)
    producer, receive = started(eng)
    await settle(lambda: listing.waiting() == [2])
    listing.answer(2)
    await settle(lambda: listing.waiting() == [3])
    listing.ids[250:250] = ["new1", "new2"]  # two inserts at the end, seen by page 3
    listing.answer(3)
    await settle(lambda: listing.waiting() == [4])
    listing.answer(4)
    got = [r.id async for _, page, _ in receive for r in page.data]
    await producer.wait()
    assert producer.error is None
    assert len(got) == len(set(got)) == 202
    drift = eng.stats.drift
    assert (drift.first_total_results, drift.last_total_results) == (300, 302)
    assert len(eng.warnings) == 1
    assert "changed" in str(eng.warnings[0])


def test_the_engine_holds_its_parts_not_a_bag_of_attributes() -> None:
    """The engine's state is grouped: a read plan, the delivered ids, a drift log."""
    eng = engine(Listing(10, 10))
    attributes: dict[str, Any] = vars(eng)
    assert len(attributes) <= 13
    assert {"plan", "delivered", "drift"} <= attributes.keys()


# --- the pagination rules, without a socket --------------------------------------------


def bent(listing: Listing, number: int, **meta: int) -> Page[Rec]:
    """Page ``number`` with some of its meta replaced."""
    page = listing.page(number)
    assert page.meta is not None
    return msgspec.structs.replace(page, meta=msgspec.structs.replace(page.meta, **meta))


async def fails_at(listing: Listing, answers: dict[int, Page[Rec]]) -> PaginationError:
    """Run an auto-answering engine whose pages in ``answers`` are replaced; its error."""
    original = listing.page

    def answer(number: int) -> Page[Rec]:
        return answers.get(number) or original(number)

    listing.page = answer  # type: ignore[method-assign]
    listing.auto = True
    eng = engine(listing, read_ahead=2)
    producer = producer_of(eng)
    got = await read_all(producer)
    assert isinstance(producer.error, PaginationError), producer.error
    ids = [i for _, page_ids in got for i in page_ids]
    assert len(ids) == len(set(ids))
    return producer.error


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"page_number": 1}, "meta.page_number is 1"),
        ({"total_pages": 0}, "meta.total_pages 0"),
        ({"total_pages": -1}, "meta.total_pages -1"),
        ({"total_results": -5}, "meta.total_results -5"),
        ({"total_pages": 10**9}, "total_pages 1000000000 for total_results 500"),
        ({"total_results": 10**9}, "total_pages 5 for total_results 1000000000"),
    ],
)
async def test_a_page_whose_meta_makes_no_sense_is_a_pagination_error(
    meta: dict[str, int], message: str
) -> None:
    """Page 3's meta contradicts the request or itself: PaginationError for page 3."""
    listing = Listing(500, 100)
    error = await fails_at(listing, {3: bent(listing, 3, **meta)})
    assert error.page == 3
    assert message in str(error)
    assert "page%5Bnumber%5D=3" in error.url


async def test_a_page_larger_than_the_page_size_is_a_pagination_error() -> None:
    """101 items on a page of 100 is refused (a page size the server did not honour)."""
    listing = Listing(500, 100)
    page = listing.page(2)
    error = await fails_at(listing, {2: msgspec.structs.replace(page, data=(*page.data, Rec("x")))})
    assert "101 items, more than the page size 100" in str(error)


async def test_a_whole_page_of_repeats_while_the_listing_stands_still_is_a_replay() -> None:
    """Page 4 carries page 1's records and the same total_results: a replay, refused."""
    listing = Listing(500, 100)
    page = listing.page(4)
    error = await fails_at(listing, {4: msgspec.structs.replace(page, data=listing.page(1).data)})
    assert error.page == 4
    assert "replayed" in str(error)


async def test_a_page_with_some_old_records_never_yields_them_twice() -> None:
    """Page 5 mixes records of page 1 (far beyond any window) with its own: those are
    dropped, the rest delivered; nothing is ever delivered twice. The count never moved, and
    the warning says what that means.
    """
    listing = Listing(500, 100, auto=True)
    original = listing.page

    def mixed(number: int) -> Page[Rec]:
        page = original(number)
        if number == 5:
            return msgspec.structs.replace(page, data=page.data[:50] + original(1).data[:50])
        return page

    listing.page = mixed  # type: ignore[method-assign]
    eng = engine(listing, read_ahead=1)
    got = [i for _, ids in await read_all(producer_of(eng)) for i in ids]
    assert len(got) == len(set(got)) == 450
    assert eng.stats.drift.duplicates_dropped == 50
    # total_results never moved: the warning says records moved or were repeated (so others
    # may be missing) rather than only "the listing changed", and how to read them again.
    assert len(eng.warnings) == 1
    assert "total_results did not move" in str(eng.warnings[0])
    assert "rescan=True" in str(eng.warnings[0])


async def test_short_pages_under_a_count_that_never_moves_are_warned_about_as_such() -> None:
    """Every page holds 40 of the 100 its meta counts, and total_results never moves: no
    deletes alone did that. The warning says so (as many inserts as deletes, or pages shorter
    than the server's own count) rather than only "the listing changed".
    """
    listing = Listing(500, 100, auto=True)
    original = listing.page

    def short(number: int) -> Page[Rec]:
        page = original(number)
        return msgspec.structs.replace(page, data=page.data[:40])

    listing.page = short  # type: ignore[method-assign]
    eng = engine(listing, read_ahead=1)
    got = [i for _, ids in await read_all(producer_of(eng)) for i in ids]
    assert len(got) == len(set(got)) == 200
    # The last page too: its own meta puts 100 records on it (a last page short of its own
    # count went uncounted, so a listing short only there was short silently).
    assert eng.stats.drift.short_pages == 5
    assert len(eng.warnings) == 1
    assert "total_results 500 -> 500" in str(eng.warnings[0])
    assert "pages shorter than its own count" in str(eng.warnings[0])
    assert "rescan=True" in str(eng.warnings[0])


@pytest.mark.parametrize(("records", "page_size", "repeating"), [(500, 100, 5), (3, 10, 1)])
async def test_repeats_on_the_last_page_are_warned_about_too(
    records: int, page_size: int, repeating: int
) -> None:
    """The last page's repeats (or the only page's, an id twice in it) are dropped, counted
    and warned about: the warning was raised only when a page came after them.
    """
    listing = Listing(records, page_size, auto=True)
    original = listing.page

    def repeating_last(number: int) -> Page[Rec]:
        page = original(number)
        if number == repeating:
            return msgspec.structs.replace(page, data=page.data[:-1] + page.data[:1])
        return page

    listing.page = repeating_last  # type: ignore[method-assign]
    eng = engine(listing, read_ahead=1)
    got = [i for _, ids in await read_all(producer_of(eng)) for i in ids]
    assert len(got) == len(set(got)) == records - 1
    assert eng.stats.drift.duplicates_dropped == 1
    assert len(eng.warnings) == 1
    assert "1 repeat dropped" in str(eng.warnings[0])


@pytest.mark.parametrize("seed", range(12))
async def test_whatever_a_server_sends_no_id_comes_twice_and_the_listing_ends(seed: int) -> None:
    """A server answering random pages of random known and new ids, with random (often
    sound) meta: the engine ends within a bounded number of requests, delivers no id
    twice, and either completes or raises PaginationError.
    """
    rng = random.Random(seed)  # noqa: S311  (a reproducible server, not a secret)
    pool = [f"id{n}" for n in range(300)]
    listing = Listing(0, 20, auto=True)

    def random_page(number: int) -> Page[Rec]:
        # Mostly sound answers (so the scan goes on), now and then a broken one.
        size = rng.choice([20] * 30 + [0, 5, 21])
        data = tuple(Rec(rng.choice(pool)) for _ in range(size))
        total = rng.choice([400] * 9 + [420])
        pages = -(-total // 20) if rng.random() < 0.97 else rng.choice([0, 10**9])
        asked = number if rng.random() < 0.97 else 1
        meta = PaginationMeta(
            page_number=asked, page_size=20, total_pages=pages, total_results=total
        )
        return Page(data=data, meta=meta)

    listing.page = random_page  # type: ignore[method-assign]
    eng = engine(listing, read_ahead=3)
    producer = producer_of(eng)
    got = [i for _, ids in await read_all(producer) for i in ids]
    assert len(got) == len(set(got))
    assert producer.error is None or isinstance(producer.error, PaginationError)
    # At most 2 * 21 + 2 pages a pass, each read at most twice (a stale page is re-read).
    assert len(listing.requested) <= 2 * (2 * 21 + 2)
