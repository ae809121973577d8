"""The fault matrix: whatever the network and the server do, a listing is whole or an error.

Every test runs against a real server on 127.0.0.1: ``MockTelnyxServer`` with a
``FaultPlan``, or a few lines of ``aiohttp.web`` for answers the mock cannot give.

Backoff: the client's default ``RetryPolicy`` waits ``0.25 * 2**attempt`` seconds
(full jitter), which makes the 50,000-card run take 2 to 5 s instead of about 1 s.
``_fast_client`` passes a millisecond ``RetryPolicy`` through the public
``retry=`` option. Only the waits change; the number of retries,
what is retried and ``Retry-After`` handling are the library's own.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from polling import LoopClock, eventually
from servers import serve

from simcards_async import (
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    SimCard,
    SimCardsClient,
    UnprocessableEntityError,
)
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYfaults-0123456789abcdef"


def _fast_client(url: str, *, max_retries: int = 4, **options: Any) -> SimCardsClient:
    """A client that retries as the library does, with millisecond waits (see module doc)."""
    return SimCardsClient(
        KEY, url, retry=RetryPolicy(max_retries=max_retries, base=0.001, cap=0.01), **options
    )


def _ids(items: list[SimCard]) -> list[str]:
    return [item.id for item in items]


@dataclass
class _SendCounter:
    """Counts how often aiohttp sent each request the client made (its silent retry).

    aiohttp resends an idempotent request once when the connection drops before an
    answer (RFC 9112 9.3.1). ``on_request_start`` fires once per request the client
    makes; each send opens or reuses a connection, which fires one of the two
    connection signals with the same per-request context.
    """

    sends: list[int] = field(default_factory=list)

    @property
    def silent_retries(self) -> int:
        """Sends aiohttp made on its own, beyond the first of each request."""
        return sum(n - 1 for n in self.sends)

    def trace_config(self) -> aiohttp.TraceConfig:
        async def start(_s: object, ctx: SimpleNamespace, _p: object) -> None:
            ctx.sends = 0

        async def send(_s: object, ctx: SimpleNamespace, _p: object) -> None:
            ctx.sends += 1

        async def end(_s: object, ctx: SimpleNamespace, _p: object) -> None:
            self.sends.append(ctx.sends)

        config = aiohttp.TraceConfig()
        config.on_request_start.append(start)
        config.on_connection_create_start.append(send)
        config.on_connection_reuseconn.append(send)
        config.on_request_end.append(end)
        config.on_request_exception.append(end)
        return config


# --- the whole matrix at once -----------------------------------------------------------


async def test_fifty_thousand_cards_through_every_fault_at_once() -> None:
    """50,000 cards through 10% 5xx, 5% 429, 2% drops, 1% truncation: all, once, in order."""
    plan = FaultPlan(
        seed=20240601,
        error_5xx=0.10,
        rate_limited=0.05,
        drop=0.02,
        truncate=0.01,
        retry_after=0.01,
    )
    counter = _SendCounter()
    async with (
        MockTelnyxServer(sim_cards=50_000, actions=1, seed=4, faults=plan) as server,
        aiohttp.ClientSession(trace_configs=[counter.trace_config()]) as session,
    ):
        # Ten retries, not four: about one attempt in six fails here, so over 200 pages five
        # failures in a row (odds about 1e-4 per page) could happen, and which page draws
        # which fault depends on the order requests arrive in.
        async with _fast_client(server.url, max_retries=10, session=session) as client:
            stream = client.sim_cards(page_size=250)
            got = _ids(await stream.collect())
            transport = client._transport()

        expected = server.current_sim_card_ids()
        assert len(expected) == 50_000
        assert got == expected  # every card, exactly once, in the API's order

        faults = server.fault_counts
        assert set(faults) == {"5xx", "429", "drop", "truncate"}
        answered = [r for r in server.requests if r.fault is None]
        assert len(answered) == stream.stats.pages_fetched == 200
        assert {r.status for r in answered} == {200}
        assert len(server.requests) == len(answered) + faults.total()

        # Exact books. Each request the client made (``transport.requests``, one
        # ``session.get`` each) reached the server once, plus once more when aiohttp
        # silently resent it after a dropped connection; that resend is the only way a
        # request reaches the server twice, and the trace counts it independently:
        silent = counter.silent_retries
        assert len(counter.sends) == transport.requests
        assert silent == len(server.requests) - transport.requests
        # A drop on a first send is always resent by aiohttp (absorbed); only a drop of
        # that resend reaches the client. So each surfaced drop follows an absorbed one.
        surfaced_drops = faults["drop"] - silent
        assert 0 <= surfaced_drops <= silent
        # Every fault the client saw cost exactly one retry, and nothing else did.
        seen = faults["5xx"] + faults["429"] + faults["truncate"] + surfaced_drops
        assert stream.stats.retries == seen
        assert transport.retries == seen
        assert stream.stats.throttled_seconds > 0  # the 429s paused the client


# --- each fault alone --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "statuses"),
    [
        ([500], [500]),
        ([502], [502]),
        ([503], [503]),
        ([504], [504]),
        # The mock's 5xx cycle: 500 with a JSON body, then 502 as a proxy's HTML page.
        (["5xx", "5xx"], [500, 502]),
        (["429"], [429]),
    ],
    ids=["500", "502", "503", "504", "500-then-html-502", "429"],
)
async def test_one_error_status_then_success(script: list[Any], statuses: list[int]) -> None:
    """A retryable status is retried once per occurrence, and the listing completes whole."""
    async with (
        MockTelnyxServer(sim_cards=45, actions=1, faults=FaultPlan(script=script)) as server,
        _fast_client(server.url, max_concurrency=1) as client,
    ):
        stream = client.sim_cards(page_size=10)
        assert _ids(await stream.collect()) == server.current_sim_card_ids()
        assert stream.stats.retries == len(script)
        assert [r.status for r in server.requests[: len(script)]] == statuses
        assert len(server.requests) == 5 + len(script)  # five pages, each fault once more


async def test_html_502_is_retried_like_any_5xx() -> None:
    """A proxy's HTML 502 (no JSON at all) is retried, never decoded as data."""
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(error_5xx=1.0)) as server,
        _fast_client(server.url, max_retries=1) as client,
    ):
        stream = client.sim_cards()
        with pytest.raises(InternalServerError) as info:
            await stream.collect()
        assert [r.status for r in server.requests] == [500, 502]
        assert info.value.body.startswith(b"<html>")
        assert stream.stats.retries == 1
        assert stream.stats.items_yielded == 0


async def test_retry_after_is_honoured() -> None:
    """After a 429 the retry waits at least ``Retry-After``, even with a tiny backoff."""
    starts: list[float] = []

    async def on_start(_s: object, _c: object, _p: object) -> None:
        starts.append(time.monotonic())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    plan = FaultPlan(script=["429"], retry_after=0.3)
    async with (
        MockTelnyxServer(sim_cards=5, actions=1, faults=plan) as server,
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        _fast_client(server.url, session=session) as client,
    ):
        card_id = server.current_sim_card_ids()[0]
        assert (await client.get_sim_card(card_id)).id == card_id
        assert [r.status for r in server.requests] == [429, 200]
        assert len(starts) == 2
        assert starts[1] - starts[0] >= 0.3


async def test_one_dropped_connection_is_absorbed_by_aiohttp() -> None:
    """A single drop is resent by aiohttp itself: the client counts no retry, loses nothing."""
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=["drop"])) as server,
        _fast_client(server.url, max_retries=0) as client,
    ):
        stream = client.sim_cards(page_size=10)
        assert _ids(await stream.collect()) == server.current_sim_card_ids()
        assert stream.stats.retries == 0
        assert server.requests[0].fault == "drop"
        assert server.requests[0].status is None  # never answered
        assert len(server.requests) == 3 + 1


async def test_two_dropped_connections_cost_one_retry() -> None:
    """A drop of aiohttp's own resend reaches the client, which retries it once."""
    plan = FaultPlan(script=["drop", "drop"])
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=plan) as server,
        _fast_client(server.url) as client,
    ):
        stream = client.sim_cards(page_size=10)
        assert _ids(await stream.collect()) == server.current_sim_card_ids()
        assert stream.stats.retries == 1
        assert len(server.requests) == 3 + 2


async def test_truncated_page_is_refetched_never_passed_as_a_short_page() -> None:
    """A body cut off half way is retried: every page handed over is complete."""
    async with (
        MockTelnyxServer(
            sim_cards=100, actions=1, faults=FaultPlan(script=[None, "truncate"])
        ) as server,
        _fast_client(server.url, max_concurrency=1) as client,
    ):
        stream = client.sim_cards(page_size=25)
        sizes = [len(page.data) async for page in stream.pages()]
        assert sizes == [25, 25, 25, 25]
        assert stream.stats.retries == 1
        assert stream.stats.items_yielded == 100
        assert server.requests[1].fault == "truncate"
        assert server.requests[1].status == 200  # the server did answer 200, half of it


async def test_hang_then_success_after_one_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer that hangs past ``timeout`` is abandoned and retried; the retry succeeds."""
    plan = FaultPlan(script=["hang"], hang_seconds=math.inf)
    # The clock moves past the hour's timeout once the hang is held: a stall of the machine
    # anywhere cannot time out the retry's real answer.
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=plan) as server,
        _fast_client(server.url, timeout=3600, max_retries=1) as client,
    ):
        clock = LoopClock(monkeypatch)
        stream = client.sim_cards()
        got: list[SimCard] = []

        async def read() -> None:
            got.extend(await stream.collect())

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await eventually(lambda: len(server.requests) == 1, what="the hang held")
            clock.advance(3600)
        assert _ids(got) == server.current_sim_card_ids()
        assert stream.stats.retries == 1
        assert len(server.requests) == 2


async def test_hang_on_every_attempt_raises_timeout_after_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hangs on every attempt end in ``APITimeoutError`` after ``max_retries`` retries."""
    plan = FaultPlan(script=["hang", "hang"], hang_seconds=math.inf)
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=plan) as server,
        _fast_client(server.url, timeout=3600, max_retries=1) as client,
    ):
        clock = LoopClock(monkeypatch)
        stream = client.sim_cards()
        failed: list[APITimeoutError] = []

        async def read() -> None:
            with pytest.raises(APITimeoutError) as info:
                await stream.collect()
            failed.append(info.value)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            for attempt in (1, 2):  # each timed out once the server holds it
                await eventually(lambda: len(server.requests) == attempt, what="a hang held")  # noqa: B023
                clock.advance(3600)
        assert len(server.requests) == 2
        assert stream.stats.retries == 1
        assert failed[0].url.startswith(server.url + "/sim_cards?")


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (429, RateLimitError, "10011"),
        (500, InternalServerError, "10007"),
        (502, InternalServerError, "10007"),
        (503, InternalServerError, "10007"),
        (504, InternalServerError, "10007"),
    ],
)
async def test_retries_exhausted_raise_the_structured_error(
    status: int, cls: type[APIStatusError], code: str
) -> None:
    """Retries exhausted raise the status's class with ``status``, ``errors``, ``request_id``."""
    plan = FaultPlan(script=[str(status) if status == 429 else status] * 3)
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=plan) as server,
        _fast_client(server.url, max_retries=2) as client,
    ):
        stream = client.sim_cards()
        with pytest.raises(APIStatusError) as info:
            await stream.collect()
        exc = info.value
        assert type(exc) is cls
        assert exc.status == status
        assert len(exc.errors) == 1
        assert exc.errors[0].code == code
        assert exc.code == code
        assert exc.request_id is not None
        assert uuid.UUID(exc.request_id).version == 4
        assert exc.request_id in str(exc)
        assert exc.url.startswith(server.url + "/sim_cards?")
        assert len(server.requests) == 3
        assert stream.stats.retries == 2


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, APIStatusError),
        (410, APIStatusError),
        (422, UnprocessableEntityError),
    ],
)
async def test_non_retryable_status_is_sent_exactly_once(
    status: int, cls: type[APIStatusError]
) -> None:
    """A 4xx other than 429 is raised at once: exactly one request, no retry."""
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(script=[status])) as server,
        _fast_client(server.url, max_retries=4) as client,
    ):
        stream = client.sim_cards()
        with pytest.raises(APIStatusError) as info:
            await stream.collect()
        assert type(info.value) is cls
        assert info.value.status == status
        assert info.value.errors
        assert info.value.request_id
        assert len(server.requests) == 1
        assert stream.stats.retries == 0


# --- answers the mock cannot give ---------------------------------------------------------


@dataclass
class _Handler:
    """Records each request's path, then answers whatever ``answer`` returns."""

    answer: Callable[[web.Request], Awaitable[web.StreamResponse]]
    hits: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        return await self.answer(request)


MALFORMED_BODIES = [
    b"",
    b"not json",
    b'{"data": [',
    b'{"data": 5}',
    b'{"data": [{"id": 7}]}',
    b'{"data": [{"iccid": "8931"}]}',
    b'{"data": [], "meta": {"total_pages": "many"}}',
    b"[]",
]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
async def test_malformed_2xx_body_is_retried_then_raises_validation_error(body: bytes) -> None:
    """A 200 whose body is not the documented JSON is retried, then raised as invalid."""

    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    handler = _Handler(answer)
    async with serve(handler.handle, method="GET") as served:
        url = served.url
        async with _fast_client(url, max_retries=2) as client:
            stream = client.sim_cards()
            with pytest.raises(APIResponseValidationError) as info:
                await stream.collect()
            assert info.value.status == 200
            assert info.value.url.startswith(url + "/sim_cards?")
            assert stream.stats.retries == 2
            assert stream.stats.items_yielded == 0
            with pytest.raises(APIResponseValidationError):
                await client.get_sim_card(str(uuid.UUID(int=1)))
        assert len(handler.hits) == 3 + 3


# --- failing in the middle of a listing ------------------------------------------------------


async def test_failure_mid_listing_delivers_the_pages_before_it_then_raises() -> None:
    """Pages before the failed one are delivered in full and once; then the error is raised."""
    # One page at a time, so the scripted arrivals are page 1..5 and page 6 three times.
    plan = FaultPlan(script=[None] * 5 + [503] * 3)
    async with (
        MockTelnyxServer(sim_cards=200, actions=1, faults=plan) as server,
        _fast_client(server.url, max_retries=2, max_concurrency=1, read_ahead=1) as client,
    ):
        got: list[str] = []
        stream = client.sim_cards(page_size=10)
        with pytest.raises(InternalServerError) as info:
            async for card in stream:
                got.append(card.id)
        assert info.value.status == 503
        assert got == server.current_sim_card_ids()[:50]
        assert len(server.requests) == 8
        assert server.requests[-1].query["page[number]"] == ["6"]


async def test_failure_mid_listing_under_concurrency_is_a_clean_prefix() -> None:
    """With pages in flight at once, the items delivered are exactly the pages before the
    first page that failed, in order and once, even if later pages had succeeded.
    """
    # Three answers, then every request fails: which pages succeed depends on arrival.
    plan = FaultPlan(seed=3, error_5xx=1.0, script=[None, None, None])
    async with (
        MockTelnyxServer(sim_cards=300, actions=1, faults=plan) as server,
        _fast_client(server.url, max_retries=2, max_concurrency=4, read_ahead=8) as client,
    ):
        got: list[str] = []
        stream = client.sim_cards(page_size=10)
        with pytest.raises(InternalServerError):
            async for card in stream:
                got.append(card.id)
        answered = {int(r.query["page[number]"][0]) for r in server.requests if r.status == 200}
        assert len(answered) == 3
        first_failed = min(set(range(1, 31)) - answered)
        assert got == server.current_sim_card_ids()[: (first_failed - 1) * 10]
        assert len(set(got)) == len(got)
