"""Stopping early: whatever way a consumer stops, nothing keeps running, nothing stays open.

Each way of stopping (``break``, an exception in the loop body, ``task.cancel()``,
``anyio.move_on_after``) is tried at seeded random points, with and without
``async with stream``, against a server with latency so that requests are in flight
when the consumer stops. After each stop: no task of the library left, no connection
checked out of the client's connector, and at most ``read_ahead`` requests reached
the server after the stop. After the client closes: no task the test did not start
with, and no ``ResourceWarning``.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from leaks import library_tasks
from polling import LoopClock, eventually, loop_turns

from simcards_async import (
    APITimeoutError,
    NotFoundError,
    PageStream,
    SimCard,
    SimCardsClient,
    merge,
)
from simcards_async._stream import Producer
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYcancel-0123456789abcdef"
CARDS = 400


class _ConsumerError(Exception):
    """Raised by a consumer's loop body."""


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    """A fleet whose every answer takes 10 ms, so requests are in flight when a consumer stops."""
    async with MockTelnyxServer(sim_cards=CARDS, actions=1, seed=3, latency=0.01) as mock:
        yield mock


def _checked_out(client: SimCardsClient) -> int:
    """Connections the client's connector has handed out and not taken back."""
    session = client._session
    assert session is not None
    connector = session.connector
    assert isinstance(connector, aiohttp.BaseConnector)
    return len(connector._acquired)


async def _settle(client: SimCardsClient) -> None:
    """Let cancelled tasks and finalizers run to their end (bounded: a hang fails the test),
    then let requests already written reach the server, so the counts after are final.
    """
    await eventually(
        lambda: not library_tasks() and not _checked_out(client),
        what="the library's tasks to end and its connections to come back",
    )
    await loop_turns()


async def _no_task_left_but(before: set[asyncio.Task[Any]]) -> None:
    """Every task the test did not start with ends (server handlers close with their sockets)."""
    current = asyncio.current_task()

    def left() -> set[asyncio.Task[Any]]:
        return {t for t in asyncio.all_tasks() if not t.done()} - before - {current}

    await eventually(lambda: not left(), what="every task the test started to end")
    assert left() == set()


def _no_resource_warning(holder: list[Any]) -> None:
    """Drop what ``holder`` keeps alive and collect it: nothing may warn."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        holder.clear()
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def _consume(stream: PageStream[SimCard], *, scoped: bool, body: Any) -> None:
    """Iterate ``stream`` (inside ``async with stream`` when ``scoped``), calling ``body``."""
    if scoped:
        async with stream:
            async for card in stream:
                if await body(card):
                    break
    else:
        async for card in stream:
            if await body(card):
                break


async def _stop_by_item(
    client: SimCardsClient, server: MockTelnyxServer, mode: str, *, scoped: bool, cut: int
) -> tuple[int, int]:
    """Stop at the ``cut``-th card by ``mode``; returns (cards seen, requests at the stop)."""
    seen = 0
    sent = -1
    reached = anyio.Event()

    async def body(_card: SimCard) -> bool:
        nonlocal seen, sent
        seen += 1
        if seen < cut:
            return False
        sent = len(server.requests)
        if mode == "raise":
            raise _ConsumerError
        if mode == "cancel":
            reached.set()
            await anyio.sleep(30)  # cancelled by the test
        return True  # break

    stream = client.sim_cards(page_size=10)
    if mode == "cancel":
        task = asyncio.ensure_future(_consume(stream, scoped=scoped, body=body))
        await reached.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    elif mode == "raise":
        with pytest.raises(_ConsumerError):
            await _consume(stream, scoped=scoped, body=body)
    else:
        await _consume(stream, scoped=scoped, body=body)
    del stream
    return seen, sent


async def _stop_by_time(
    client: SimCardsClient, server: MockTelnyxServer, mode: str, *, scoped: bool, delay: float
) -> tuple[int, int]:
    """Stop after ``delay`` seconds by ``mode``; returns (cards seen, requests at the stop)."""
    seen = 0

    async def body(_card: SimCard) -> bool:
        nonlocal seen
        seen += 1
        return False

    stream = client.sim_cards(page_size=10)
    if mode == "move_on_after":
        with anyio.move_on_after(delay):
            await _consume(stream, scoped=scoped, body=body)
        sent = len(server.requests)
    else:
        task = asyncio.ensure_future(_consume(stream, scoped=scoped, body=body))
        await asyncio.sleep(delay)
        sent = len(server.requests)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    del stream
    return seen, sent


@pytest.mark.parametrize("scoped", [True, False], ids=["async-with", "bare"])
@pytest.mark.parametrize("mode", ["break", "raise", "cancel"])
async def test_stopping_at_a_card_leaves_nothing_behind(
    server: MockTelnyxServer, mode: str, *, scoped: bool
) -> None:
    """``break``, an exception or ``task.cancel()`` at seeded random cards: no task, no
    connection left, and at most ``read_ahead`` requests after the stop.
    """
    before = set(asyncio.all_tasks())
    rng = random.Random(f"{mode}-{scoped}")  # noqa: S311  (seeded cut points)
    holder: list[Any] = [SimCardsClient(KEY, server.url, max_concurrency=3)]
    client = holder[0]
    async with client:
        for cut in rng.sample(range(1, CARDS), 3):
            seen, sent = await _stop_by_item(client, server, mode, scoped=scoped, cut=cut)
            await _settle(client)
            assert seen == cut
            assert library_tasks() == []
            assert _checked_out(client) == 0
            assert 0 <= len(server.requests) - sent <= client.read_ahead
            server.requests.clear()
    del client
    await _no_task_left_but(before)
    _no_resource_warning(holder)


@pytest.mark.parametrize("scoped", [True, False], ids=["async-with", "bare"])
@pytest.mark.parametrize("mode", ["move_on_after", "cancel"])
async def test_stopping_at_a_random_time_leaves_nothing_behind(
    server: MockTelnyxServer, mode: str, *, scoped: bool
) -> None:
    """``move_on_after`` or ``task.cancel()`` at seeded random times, often while waiting
    for a page: no task, no connection left, at most ``read_ahead`` requests after.
    """
    before = set(asyncio.all_tasks())
    rng = random.Random(f"timed-{mode}-{scoped}")  # noqa: S311  (seeded cut points)
    holder: list[Any] = [SimCardsClient(KEY, server.url, max_concurrency=3)]
    client = holder[0]
    async with client:
        for _ in range(3):
            delay = rng.uniform(0.0, 0.08)  # a whole listing takes at least 0.15 s
            seen, sent = await _stop_by_time(client, server, mode, scoped=scoped, delay=delay)
            await _settle(client)
            assert seen < CARDS  # stopped mid-way
            assert library_tasks() == []
            assert _checked_out(client) == 0
            assert 0 <= len(server.requests) - sent <= client.read_ahead
            server.requests.clear()
    del client
    await _no_task_left_but(before)
    _no_resource_warning(holder)


# --- merge ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scoped", [True, False], ids=["async-with", "bare"])
async def test_break_out_of_a_merge_stops_every_stream(
    server: MockTelnyxServer, *, scoped: bool
) -> None:
    """A ``break`` out of ``merge(...)`` ends every merged stream: no task, no connection,
    at most one read-ahead window per stream after the break.
    """
    before = set(asyncio.all_tasks())
    holder: list[Any] = [SimCardsClient(KEY, server.url, max_concurrency=3)]
    client = holder[0]
    async with client:
        for cut in (1, 37, 205):
            merged = merge(
                client.sim_cards(page_size=10, status="enabled"),
                client.sim_cards(page_size=10, status=["disabled", "standby"]),
            )
            seen = 0
            if scoped:
                async with merged:
                    async for _ in merged:
                        seen += 1
                        if seen == cut:
                            sent = len(server.requests)
                            break
            else:
                async for _ in merged:
                    seen += 1
                    if seen == cut:
                        sent = len(server.requests)
                        break
            del merged
            await _settle(client)
            assert seen == cut
            assert library_tasks() == []
            assert _checked_out(client) == 0
            assert len(server.requests) - sent <= 2 * client.read_ahead
            server.requests.clear()
    del client
    await _no_task_left_but(before)
    _no_resource_warning(holder)


async def test_exception_in_a_merge_consumer_stops_every_stream(
    server: MockTelnyxServer,
) -> None:
    """An exception raised in the loop over a merge ends every merged stream."""
    async with SimCardsClient(KEY, server.url, max_concurrency=3) as client:
        merged = merge(client.sim_cards(page_size=10), client.sim_cards(page_size=20))
        with pytest.raises(_ConsumerError):
            async for _ in merged:
                raise _ConsumerError
        del merged
        await _settle(client)
        assert library_tasks() == []
        assert _checked_out(client) == 0


async def test_failure_of_one_merged_stream_cancels_the_other() -> None:
    """When one merged stream fails, the error is raised and the other stream is stopped."""
    plan = FaultPlan(script=[None, None, None, 404])
    async with (
        MockTelnyxServer(sim_cards=CARDS, actions=1, latency=0.01, faults=plan) as server,
        SimCardsClient(KEY, server.url, max_concurrency=3) as client,
    ):
        merged = merge(client.sim_cards(page_size=10), client.sim_cards(page_size=25))
        with pytest.raises(NotFoundError):
            [card async for card in merged]
        await _settle(client)
        assert library_tasks() == []
        assert _checked_out(client) == 0
        sent = len(server.requests)
        await loop_turns()
        assert len(server.requests) == sent


# --- closed clients and deadlines -------------------------------------------------------------


async def test_stream_read_after_its_client_closed_raises_runtime_error(
    server: MockTelnyxServer,
) -> None:
    """A stream made before its client closed raises ``RuntimeError`` when read, sends nothing."""
    client = SimCardsClient(KEY, server.url)
    async with client:
        stream = client.sim_cards()
    with pytest.raises(RuntimeError, match="closed"):
        await stream.collect()
    assert server.requests == []
    assert library_tasks() == []


async def test_stream_of_a_closed_client_with_its_own_session_raises_runtime_error(
    server: MockTelnyxServer,
) -> None:
    """Closing a client that was given a session also ends its streams: reading one raises
    ``RuntimeError`` and sends nothing, although the session itself stays open.
    """
    async with aiohttp.ClientSession() as session:
        client = SimCardsClient(KEY, server.url, session=session)
        async with client:
            stream = client.sim_cards()
        assert not session.closed
        with pytest.raises(RuntimeError, match="closed"):
            await stream.collect()
        assert server.requests == []


async def test_client_closed_mid_read_raises_runtime_error() -> None:
    """Closing the client while a stream is read makes the reader raise ``RuntimeError``."""
    # Pages 1-3 are answered, every later request hangs: the next page is still on its way
    # when the client closes, however fast or slow the machine is.
    plan = FaultPlan(script=[None] * 3 + ["hang"] * 20, hang_seconds=60)
    async with MockTelnyxServer(sim_cards=CARDS, actions=1, faults=plan) as server:
        client = SimCardsClient(KEY, server.url, max_concurrency=2)
        stream = client.sim_cards(page_size=10)
        got = 0
        with pytest.raises(RuntimeError, match="closed"):
            async for _ in stream:
                got += 1
                if got == 25:
                    await client.aclose()
        # It stops at its next step: none of the page in its hands after the close (it
        # went on through that page, to 30, though aclose() had returned).
        assert got == 25
        await _settle_closed()
        assert library_tasks() == []


async def test_client_closed_mid_read_refuses_a_page_already_buffered() -> None:
    """Closing the client refuses the next page even when it had already arrived."""
    plan = FaultPlan(script=[None] * 4 + ["hang"] * 20, hang_seconds=60)
    async with MockTelnyxServer(sim_cards=CARDS, actions=1, faults=plan) as server:
        client = SimCardsClient(KEY, server.url, max_concurrency=2)
        stream = client.sim_cards(page_size=10)
        got = 0
        with pytest.raises(RuntimeError, match="closed"):
            async for _ in stream:
                got += 1
                if got == 25:
                    # Page 4 has arrived and waits in the buffer: what a busy machine does.
                    await eventually(lambda: stream.stats.pages_fetched >= 4)
                    await loop_turns()
                    await client.aclose()
        assert got == 25  # nothing after the close: not the rest of page 3, not page 4
        await _settle_closed()
        assert library_tasks() == []


async def _settle_closed() -> None:
    await eventually(lambda: not library_tasks(), what="the library's tasks to end")


async def test_deadline_ends_a_listing_against_a_slow_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client's ``deadline`` ends a listing from a slow server with ``APITimeoutError``
    instead of letting it run on; what was yielded before is a clean prefix.
    """
    # The first page comes at once and every later answer hangs until the server closes;
    # the clock moves past the hour's deadline once page 1 is read and page 2 held, so a
    # stall of the machine anywhere cannot end the listing before page 1 (a five-second
    # deadline did, after a stall of five seconds).
    plan = FaultPlan(script=[None, *["hang"] * 50], hang_seconds=math.inf)
    async with (
        MockTelnyxServer(sim_cards=CARDS, actions=1, faults=plan) as server,
        SimCardsClient(KEY, server.url, max_concurrency=2, deadline=3600) as client,
    ):
        clock = LoopClock(monkeypatch)
        got: list[str] = []
        stream = client.sim_cards(page_size=10)

        async def read() -> None:
            with pytest.raises(APITimeoutError, match="deadline"):
                async for card in stream:
                    got.append(card.id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await eventually(
                lambda: len(got) == 10 and len(server.requests) >= 2, what="page 2 held"
            )
            clock.advance(3600)
        assert got == server.current_sim_card_ids()[:10]
        assert got == server.current_sim_card_ids()[: len(got)]
        await _settle(client)
        assert library_tasks() == []
        assert _checked_out(client) == 0


async def test_a_dropped_producer_closes_its_stream_before_anything_is_finalized() -> None:
    """A stream dropped mid-way without ``async with`` ends up in a reference cycle with its
    producer. The producer closed its hand-over stream from its own ``__del__``, and in a
    cycle finalizers run in no set order: the stream's ``__del__`` could come first and warn
    it was never closed (a ResourceWarning, an error here; seen once in a full run on
    Python 3.12). Now it is closed before any finalizer of the cycle runs: a witness that is
    older than the producer, so finalized before it, sees it closed.
    """
    seen: list[bool] = []

    class Witness:
        receive: Any = None
        cycle: Any = None

        def __del__(self) -> None:
            seen.append(self.receive._closed)

    async def run(send: Any) -> None:
        await send.send(1)

    for _ in range(5):
        witness = Witness()
        producer: Any = Producer(run, buffer=4)
        witness.receive = producer.start()
        await asyncio.wait([producer.task])
        witness.cycle = producer.cycle = [witness, producer]
        del witness, producer
        gc.collect()
    assert seen == [True] * 5
