"""Rate limits: the shared AIMD limit, the client-wide pause gate, and the rate achieved.

Functional tests run against ``MockTelnyxServer(rate_limit=RateLimit(...))``, a token
bucket per key whose answers carry ``x-ratelimit-limit/remaining/reset`` (reset: seconds
until the bucket is full). The bucket's time is a `ManualClock` the test moves, never the
wall clock, so which request is refused does not depend on the machine's load. Send
times are taken from an ``aiohttp.TraceConfig`` on a
session given to the client: ``on_request_start`` runs in the same step as the client's
gate check (no await between them), so a send time after a pause began means the gate
let it through. Unit tests drive ``AdaptiveLimiter`` directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from polling import HANG_GUARD, eventually
from servers import serve

from simcards_async import (
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ResponseEvent,
    RetryPolicy,
    SimCardsClient,
    _throttle,
)
from simcards_async._throttle import AdaptiveLimiter
from simcards_async.testing import (
    FaultPlan,
    ManualClock,
    Misbehaviour,
    MockTelnyxServer,
    RateLimit,
)

pytestmark = pytest.mark.anyio

KEY = "KEYrate-0123456789abcdef"


@dataclass
class _Sends:
    """When each request was sent (path and time), and each answer's rate-limit headers.

    With ``thaw`` set, the first 429 the client receives sets ``clock.step`` to ``thaw``:
    the bucket's time stands still until the limit has surely been hit, then moves on by
    that much per request the server answers.
    """

    starts: list[tuple[float, str]] = field(default_factory=list)
    ends: list[tuple[float, int, dict[str, str]]] = field(default_factory=list)
    clock: ManualClock = field(default_factory=ManualClock)
    thaw: float | None = None

    def trace_config(self) -> aiohttp.TraceConfig:
        async def start(_s: object, _c: object, params: aiohttp.TraceRequestStartParams) -> None:
            self.starts.append((time.monotonic(), params.url.path))

        async def end(_s: object, _c: object, params: aiohttp.TraceRequestEndParams) -> None:
            headers = {k.lower(): v for k, v in params.response.headers.items()}
            if params.response.status == 429 and self.thaw is not None:
                self.clock.step = self.thaw
            self.ends.append((time.monotonic(), params.response.status, headers))

        config = aiohttp.TraceConfig()
        config.on_request_start.append(start)
        config.on_request_end.append(end)
        return config


def _watch_limit(limiter: AdaptiveLimiter) -> list[int]:
    """The shared limit after every 429 and every healthy answer, in order."""
    seen: list[int] = []
    throttled, healthy = limiter.on_throttled, limiter.on_healthy

    def on_throttled(epoch: int, reset: float | None) -> None:
        throttled(epoch, reset)
        seen.append(limiter.limit)

    def on_healthy(remaining: int | None, reset: float | None) -> bool:
        paused = healthy(remaining, reset)
        seen.append(limiter.limit)
        return paused

    limiter.on_throttled = on_throttled  # type: ignore[method-assign]
    limiter.on_healthy = on_healthy  # type: ignore[method-assign]
    return seen


@asynccontextmanager
async def _client(
    server: MockTelnyxServer, sends: _Sends, **options: Any
) -> AsyncIterator[SimCardsClient]:
    """A client of ``server`` whose requests are timed by ``sends``."""
    async with (
        aiohttp.ClientSession(trace_configs=[sends.trace_config()]) as session,
        SimCardsClient(KEY, server.url, session=session, **options) as client,
    ):
        yield client


# --- against a token bucket -----------------------------------------------------------------


async def test_full_listing_under_a_rate_limit_completes() -> None:
    """A listing that outruns the rate limit completes whole; every 429 was retried once."""
    # Frozen until the first 429 (5 tokens for 60 pages: it must come), then two tokens
    # back per request answered, so each later request finds one.
    sends = _Sends(thaw=0.02)
    async with MockTelnyxServer(
        sim_cards=3000,
        actions=1,
        rate_limit=RateLimit(requests_per_second=100, burst=5),
        clock=sends.clock,
    ) as server:
        async with _client(server, sends, max_concurrency=8) as client:
            stream = client.sim_cards(page_size=50)
            got = [card.id async for card in stream]
        assert got == server.current_sim_card_ids()
        refused = [r for r in server.requests if r.status == 429]
        assert refused  # the limit was really hit
        assert stream.stats.retries == len(refused)
        assert len(server.requests) == 60 + len(refused)
        assert stream.stats.throttled_seconds > 0


async def test_limit_shrinks_on_429_and_grows_back_under_a_rate_limit() -> None:
    """Under a token bucket the shared limit drops below its maximum, then grows again."""
    # Frozen until the first 429 (16 tokens for 60 pages), then a full bucket per request
    # answered: 15 remaining is room for every request in flight, so the limit grows back.
    sends = _Sends(thaw=1.0)
    async with MockTelnyxServer(
        sim_cards=1500,
        actions=1,
        rate_limit=RateLimit(requests_per_second=150, burst=16),
        clock=sends.clock,
    ) as server:
        async with _client(server, sends, max_concurrency=8) as client:
            limits = _watch_limit(client._transport().limiter)
            stream = client.sim_cards(page_size=25)
            async for _ in stream.pages():
                assert 1 <= stream.stats.concurrency_limit <= 8
            lowest = min(limits)
            assert lowest < 8
            assert max(limits[limits.index(lowest) :]) > lowest
            assert client._transport().limiter.decreases >= 1
        assert [r.status for r in server.requests].count(429) >= 1


async def test_limit_halves_once_per_round_and_grows_back_to_the_maximum() -> None:
    """Eight 429s from one round of requests halve the limit once (8 to 4); healthy answers
    then grow it back to 8.
    """
    # Page 1 alone, then the eight requests of the first full round are all refused.
    plan = FaultPlan(script=[None] + ["429"] * 8, retry_after=0.02)
    async with MockTelnyxServer(sim_cards=3000, actions=1, faults=plan) as server:
        sends = _Sends()
        async with _client(server, sends, max_concurrency=8) as client:
            limiter = client._transport().limiter
            limits = _watch_limit(limiter)
            # The script refuses requests in arrival order: a retry (sent once the limit has
            # shrunk) waits until all eight of the round reached the server, or on a busy
            # machine it could overtake one past the 20 ms pause and take its 429.
            gate = limiter.wait_gate

            async def wait_gate() -> None:
                await gate()
                if limiter.decreases:
                    await eventually(lambda: len(server.requests) >= 9, what="the round of 8")

            limiter.wait_gate = wait_gate  # type: ignore[method-assign]
            stream = client.sim_cards(page_size=20)
            await stream.collect()
            assert limiter.decreases == 1
            assert limits[:9] == [8] + [4] * 8  # page 1, then the round of eight 429s
            assert min(limits) == 4
            assert limits[-1] == 8
            assert client.concurrency_limit == stream.stats.concurrency_limit == 8
            assert stream.stats.retries == 8


async def test_a_429_pauses_every_stream_of_the_client() -> None:
    """After one stream gets a 429, no stream of that client sends until the pause is over."""
    plan = FaultPlan(script=[None] * 6 + ["429"], retry_after=0.3)
    async with MockTelnyxServer(sim_cards=400, actions=400, latency=0.01, faults=plan) as server:
        sends = _Sends()
        async with _client(server, sends, max_concurrency=4) as client:
            limiter = client._transport().limiter
            pauses: list[tuple[float, float]] = []
            original = limiter.pause

            def pause(seconds: float) -> bool:
                pauses.append((time.monotonic(), seconds))
                return original(seconds)

            limiter.pause = pause  # type: ignore[method-assign]
            cards = client.sim_cards(page_size=10)
            actions = client.sim_card_actions(page_size=10)
            async with anyio.create_task_group() as tg:
                tg.start_soon(cards.collect)
                tg.start_soon(actions.collect)

        assert len(pauses) == 1
        began, seconds = pauses[0]
        assert seconds == pytest.approx(0.3)
        ended = began + seconds
        during = [(t, path) for t, path in sends.starts if began < t < ended]
        assert during == []
        for path in ("/v2/sim_cards", "/v2/sim_card_actions"):
            assert any(t < began for t, p in sends.starts if p == path)
            assert any(t >= ended for t, p in sends.starts if p == path)
        assert cards.stats.throttled_seconds == pytest.approx(0.3, abs=0.01)
        assert actions.stats.throttled_seconds == pytest.approx(0.3, abs=0.01)


async def test_achieved_rate_stays_near_the_allowed_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the bucket's time (which passes only while the client pauses), the client sends
    close to the allowed rate: few refusals, and not much more waiting than the rate needs.

    The limiter's clock is the bucket's, and its pauses move that clock on instead of
    sleeping: a pause extended by a later 429 was extended by the real time between the
    two, so a stalled test process waited (and was refused) more, near the bounds.
    """
    clock = ManualClock(0.0)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(_throttle, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(_throttle, "anyio", SimpleNamespace(sleep=sleep))
    rate, burst = 100.0, 5
    async with MockTelnyxServer(
        sim_cards=1500, actions=1, rate_limit=RateLimit(requests_per_second=rate, burst=burst)
    ) as server:
        sends = _Sends()
        async with _client(server, sends, max_concurrency=8) as client:
            server.clock = lambda: clock.now
            cards = await client.sim_cards(page_size=25).collect()
            waited = clock.now
        assert len(cards) == 1500
        sent = len(sends.starts)
        assert sent == len(server.requests)
        refused = sum(1 for r in server.requests if r.status == 429)
        admitted = sent - refused
        assert admitted == 60
        # The bucket let burst + rate * waited through; the client waited at most half
        # again what the rate needs, and few of its requests were refused.
        assert admitted <= burst + rate * waited + 1e-6
        assert waited <= 1.5 * (admitted - burst) / rate + 0.05
        assert refused <= sent // 3


async def test_no_requests_left_pauses_the_client_without_a_429() -> None:
    """An answer saying no requests remain pauses the client until the window resets, so a
    one-at-a-time client never gets a 429.
    """
    async with MockTelnyxServer(
        sim_cards=300, actions=1, rate_limit=RateLimit(requests_per_second=20, burst=3)
    ) as server:
        sends = _Sends()
        async with _client(server, sends, max_concurrency=1) as client:
            limiter = client._transport().limiter
            # The bucket's time moves only while the client pauses, by as long as it pauses.
            server.clock = lambda: limiter.throttled_seconds
            stream = client.sim_cards(page_size=25)
            assert len(await stream.collect()) == 300
        assert [r.status for r in server.requests] == [200] * 12
        assert stream.stats.retries == 0
        assert stream.stats.throttled_seconds > 0
        assert len(sends.starts) == len(sends.ends) == 12  # one at a time: pairs line up
        exhausted = 0
        for (answered, _, headers), (next_start, _) in zip(
            sends.ends, sends.starts[1:], strict=False
        ):
            if headers["x-ratelimit-remaining"] == "0":
                exhausted += 1
                # The pause begins after this answer arrived and lasts until the reset.
                assert next_start - answered >= float(headers["x-ratelimit-reset"]) - 0.001
        assert exhausted >= 3


@pytest.mark.parametrize(
    "server_options",
    [
        # A 429 asking for an hour (Retry-After and x-ratelimit-reset: 3600).
        {"faults": FaultPlan(script=["429", "429"], retry_after=3600)},
        # A bucket refilling once per 1000 s: the first answer says none remain for 1000 s.
        {"rate_limit": RateLimit(requests_per_second=0.001, burst=1)},
    ],
    ids=["retry-after-3600", "reset-1000"],
)
async def test_a_long_server_requested_wait_is_capped_by_max_hint(
    server_options: dict[str, Any],
) -> None:
    """A wait the server asks for beyond ``RetryPolicy.max_hint`` is cut to it, for the
    client-wide pause as for the retry delay: the listing ends (here with
    ``RateLimitError``) instead of stalling for the server's hour.
    """
    async with MockTelnyxServer(sim_cards=20, actions=1, **server_options) as server:
        client = SimCardsClient(
            KEY, server.url, retry=RetryPolicy(max_retries=1, base=0.001, cap=0.01, max_hint=0.2)
        )
        async with client:
            stream = client.sim_cards(page_size=10)
            # A hang guard far below the server's 1,000 s and hour, not a timing assert.
            with anyio.fail_after(HANG_GUARD), pytest.raises(RateLimitError):
                await stream.collect()
            assert stream.stats.throttled_seconds <= 1


async def test_a_5xx_with_requests_remaining_does_not_wait_for_the_window() -> None:
    """A 503 whose answer says 90 requests remain was held until the window reset (the
    mock, as Telnyx, puts the rate-limit headers on every answer): one proxy error mid-listing
    stalled the ordered listing for up to ``max_hint`` a retry. Its retry waits only the
    backoff (none here).
    """
    events: list[ResponseEvent] = []
    faults = FaultPlan(script=[None] * 3 + [503])
    bucket = RateLimit(requests_per_second=1, burst=100)  # its clock stands still: 10 s reset
    async with MockTelnyxServer(
        sim_cards=100, actions=1, rate_limit=bucket, clock=ManualClock(), faults=faults
    ) as server:
        retry = RetryPolicy(max_retries=2, base=0, cap=0)
        client = SimCardsClient(
            KEY, server.url, max_concurrency=1, retry=retry, on_response=events.append
        )
        async with client:
            with anyio.fail_after(HANG_GUARD):  # a hang guard far below the window's reset
                cards = await client.sim_cards(page_size=10).collect()
    assert len(cards) == 100
    (failed,) = [event for event in events if event.status == 503]
    assert failed.rate_limit is not None
    assert failed.rate_limit.remaining is not None
    assert failed.rate_limit.remaining > 0
    assert failed.retry_in == 0
    assert isinstance(failed.error, InternalServerError)
    assert failed.error.retry_after is None


@pytest.mark.parametrize(("remaining", "paused"), [("0", True), ("5", False)])
async def test_an_error_answer_saying_the_window_is_spent_pauses_the_client(
    remaining: str, paused: bool
) -> None:
    """A 404 saying no requests remain (reset in an hour) paused nothing, while a 200 saying the
    same pauses the client: every other stream sent into the spent window, drew a 429 and
    halved the shared limit. It pauses the client as a 2xx does, without growing the limit;
    with requests remaining, it pauses nothing.
    """

    async def answer(_request: web.Request) -> web.Response:
        headers = {"x-ratelimit-remaining": remaining, "x-ratelimit-reset": "3600"}
        errors = {"errors": [{"code": "10005", "title": "Resource not found"}]}
        return web.json_response(errors, status=404, headers=headers)

    retry = RetryPolicy(max_retries=0, max_hint=3600)  # an hour: no test outlives the pause
    async with serve(answer) as served, SimCardsClient(KEY, served.url, retry=retry) as client:
        limiter = client._transport().limiter
        with pytest.raises(NotFoundError):
            await client.get_sim_card("6a09cdc3-8948-47f0-aa62-74ac943d6c58")
        assert client.concurrency_limit == client.max_concurrency
        assert (limiter.pause_left() > 0) is paused
        assert limiter.pause_left() <= 3600


async def test_a_429s_wait_is_the_servers_in_the_error_and_max_hint_in_the_client() -> None:
    """``RateLimitError.retry_after`` said 60 (the client's ``max_hint``) for a server asking
    for an hour: a caller failing fast and coming back after it came back 59 minutes early.
    """
    async with (
        MockTelnyxServer(
            sim_cards=20, actions=1, faults=FaultPlan(script=["429"], retry_after=3600)
        ) as server,
        SimCardsClient(KEY, server.url, max_retries=0) as client,
    ):
        with pytest.raises(RateLimitError) as info:
            await client.sim_cards(page_size=10).collect()
    assert info.value.retry_after == 3600


async def test_a_pause_for_a_spent_window_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A healthy answer saying no requests remain pauses every request until the reset, and
    said so nowhere (a 429's pause is logged): a listing could stall ``max_hint`` a round
    with nothing under ``-v``.
    """
    caplog.set_level(logging.INFO, logger="simcards_async.throttle")
    async with (
        MockTelnyxServer(
            sim_cards=300, actions=1, rate_limit=RateLimit(requests_per_second=20, burst=3)
        ) as server,
        SimCardsClient(KEY, server.url, max_concurrency=1) as client,
    ):
        limiter = client._transport().limiter
        # The bucket's time moves only while the client pauses, by as long as it pauses.
        server.clock = lambda: limiter.throttled_seconds
        stream = client.sim_cards(page_size=25)
        assert len(await stream.collect()) == 300
    waits = [
        record.getMessage()
        for record in caplog.records
        if record.name == "simcards_async.throttle" and record.levelno == logging.INFO
    ]
    assert stream.stats.throttled_seconds > 0
    assert waits
    assert all(
        message.startswith("no requests remain in the rate-limit window: every request waits ")
        for message in waits
    )


# --- AdaptiveLimiter on its own ---------------------------------------------------------------


def test_throttled_halves_once_per_round() -> None:
    """429s from one round halve the limit once; a later round halves it again, down to 1."""
    limiter = AdaptiveLimiter(8)
    limiter.on_throttled(0, None)
    assert limiter.limit == 4
    limiter.on_throttled(0, None)  # same round: already counted
    limiter.on_throttled(0, None)
    assert limiter.limit == 4
    assert limiter.decreases == 1
    limiter.on_throttled(1, None)
    assert limiter.limit == 2
    limiter.on_throttled(2, None)
    limiter.on_throttled(3, None)
    limiter.on_throttled(4, None)
    assert limiter.limit == 1
    assert limiter.decreases == 5


def test_throttled_respects_the_minimum() -> None:
    """The limit never drops below ``minimum``."""
    limiter = AdaptiveLimiter(8, minimum=3)
    for epoch in range(5):
        limiter.on_throttled(epoch, None)
    assert limiter.limit == 3


async def test_slots_carry_the_round_they_belong_to() -> None:
    """A slot taken before a decrease belongs to the old round; one taken after, to the new."""
    limiter = AdaptiveLimiter(4)
    async with anyio.create_task_group() as tg:
        release = anyio.Event()
        epochs: list[int] = []

        async def holder() -> None:
            async with limiter.slot() as epoch:
                epochs.append(epoch)
                await release.wait()

        tg.start_soon(holder)
        tg.start_soon(holder)
        await eventually(lambda: limiter.in_flight == 2)
        assert epochs == [0, 0]
        limiter.on_throttled(epochs[0], None)
        limiter.on_throttled(epochs[1], None)  # the same round: counted once
        assert limiter.limit == 2
        release.set()
    async with limiter.slot() as later:
        assert later == 1
    assert limiter.in_flight == 0
    assert limiter.decreases == 1


async def test_a_holder_and_a_waiter_cancelled_together_raise_only_the_cancellation() -> None:
    """The holder's release handed its slot to the first waiter still waiting, dropping the
    cancelled one from the queue; the cancelled waiter then removed itself again: a bare
    ``ValueError`` in place of its ``CancelledError`` (a deadline ended a listing with it).
    """
    limiter = AdaptiveLimiter(1)
    hold = asyncio.Event()

    async def user() -> None:
        async with limiter.slot():
            await hold.wait()

    holder = asyncio.create_task(user())
    await eventually(lambda: limiter.in_flight == 1)
    waiter = asyncio.create_task(user())
    await eventually(lambda: len(limiter._waiters) == 1)
    holder.cancel()
    waiter.cancel()  # in the same loop pass: the holder's release runs before the waiter
    done = await asyncio.gather(holder, waiter, return_exceptions=True)
    assert [type(outcome) for outcome in done] == [asyncio.CancelledError] * 2
    assert (limiter.in_flight, len(limiter._waiters)) == (0, 0)
    async with limiter.slot():  # and the slot is free for the next
        assert limiter.in_flight == 1


def test_healthy_grows_about_one_slot_per_round() -> None:
    """Each healthy answer adds ``1/limit``: from 4, five answers make 5, and it stops at max."""
    limiter = AdaptiveLimiter(8)
    limiter.on_throttled(0, None)
    assert limiter.limit == 4
    answers = 0
    while limiter.limit == 4:
        limiter.on_healthy(None, None)
        answers += 1
    assert answers == 5  # 4 + 1/4 + 1/4.25 + 1/4.49 + 1/4.71 + 1/4.92 > 5
    for _ in range(200):
        limiter.on_healthy(None, None)
    assert limiter.limit == 8


async def test_healthy_does_not_grow_when_remaining_is_below_in_flight() -> None:
    """With fewer requests left in the window than in flight, the limit stays put."""
    limiter = AdaptiveLimiter(8)
    limiter.on_throttled(0, None)
    release = anyio.Event()

    async def holder() -> None:
        async with limiter.slot():
            await release.wait()

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(holder)
        await eventually(lambda: limiter.in_flight == 3)
        for _ in range(50):
            limiter.on_healthy(2, 1.0)
        assert limiter._target == 4
        limiter.on_healthy(3, 1.0)  # room for every request in flight: grows again
        assert limiter._target == pytest.approx(4.25)
        release.set()


async def test_no_remaining_pauses_instead_of_growing() -> None:
    """``remaining == 0`` closes the gate for ``reset`` seconds and does not grow the limit."""
    limiter = AdaptiveLimiter(8)
    limiter.on_throttled(0, None)
    started = time.monotonic()  # before the pause: however long the machine stalls after it
    limiter.on_healthy(0, 0.2)
    assert limiter._target == 4
    assert limiter.throttled_seconds == pytest.approx(0.2, abs=0.01)
    await limiter.wait_gate()
    assert time.monotonic() - started >= 0.2


def test_pause_extends_and_never_shortens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shorter pause inside a longer one changes nothing; a longer one extends it."""
    clock = ManualClock(100.0)
    # The limiter's own view of time only (not the event loop's): no time passes between calls.
    monkeypatch.setattr(_throttle, "time", SimpleNamespace(monotonic=lambda: clock.now))
    limiter = AdaptiveLimiter(4)
    limiter.pause(1.0)
    resume = limiter._resume_at
    limiter.pause(0.1)
    assert limiter._resume_at == resume
    assert limiter.throttled_seconds == pytest.approx(1.0, abs=0.01)
    limiter.pause(2.0)
    assert limiter._resume_at > resume
    # Only the extension is counted: the overlap is not throttled twice.
    assert limiter.throttled_seconds == pytest.approx(2.0, abs=0.01)


def test_pause_left_counts_down_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a progress bar shows during a pause: the time left of it, never below zero."""
    clock = ManualClock(100.0)
    monkeypatch.setattr(_throttle, "time", SimpleNamespace(monotonic=lambda: clock.now))
    limiter = AdaptiveLimiter(4)
    assert limiter.pause_left() == 0.0
    limiter.pause(2.0)
    assert limiter.pause_left() == pytest.approx(2.0)
    clock.advance(0.5)
    assert limiter.pause_left() == pytest.approx(1.5)
    limiter.pause(3.0)  # extended: to 103.5
    assert limiter.pause_left() == pytest.approx(3.0)
    clock.advance(10.0)
    assert limiter.pause_left() == 0.0


def test_throttled_so_far_counts_a_pause_as_far_as_it_has_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a stream reports: the pauses as far as they have run, not the time still ahead."""
    clock = ManualClock(100.0)
    monkeypatch.setattr(_throttle, "time", SimpleNamespace(monotonic=lambda: clock.now))
    limiter = AdaptiveLimiter(4)
    limiter.pause(1.0)
    assert limiter.throttled_so_far() == 0.0
    clock.advance(0.25)
    assert limiter.throttled_so_far() == pytest.approx(0.25)
    limiter.pause(1.0)  # extended by 0.25: to 101.25
    assert limiter.throttled_seconds == pytest.approx(1.25)
    assert limiter.throttled_so_far() == pytest.approx(0.25)
    clock.advance(5.0)
    assert limiter.throttled_so_far() == pytest.approx(1.25)


async def test_a_pause_no_request_waits_for_is_not_counted_as_throttled() -> None:
    """Every answer saying no requests remain (reset 0.2 s): the pause the last answer set
    was counted whole, though nothing waited for it, and a listing reported being throttled
    for longer than it ran (``exported ... in 1.09 s, ... 2.0 s throttled``).
    """
    window = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0.2"}
    async with (
        MockTelnyxServer(
            sim_cards=500, actions=0, misbehaviour=Misbehaviour(extra_headers=window)
        ) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        stream = client.sim_cards(page_size=100)
        assert len(await stream.collect()) == 500
    assert 0.2 <= stream.stats.throttled_seconds <= stream.stats.elapsed()


async def test_throttled_seconds_adds_up_separate_pauses() -> None:
    """Pauses that do not overlap add up in ``throttled_seconds``."""
    limiter = AdaptiveLimiter(4)
    limiter.pause(0.05)
    await limiter.wait_gate()
    limiter.pause(0.05)
    await limiter.wait_gate()
    assert limiter.throttled_seconds == pytest.approx(0.1, abs=0.005)


async def test_throttled_with_reset_pauses_everyone() -> None:
    """A 429 with a reset closes the gate: a slot is not handed out before the reset."""
    limiter = AdaptiveLimiter(4)
    started = time.monotonic()  # before the pause: however long the machine stalls after it
    limiter.on_throttled(0, 0.2)
    async with limiter.slot() as epoch:
        assert time.monotonic() - started >= 0.2
        assert epoch == 1
