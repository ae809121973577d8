"""Seeing inside: the ``on_response`` hook, ``RateLimitInfo``, log records, and no key in any.

Every count is exact: the mock server's ``FaultPlan`` decides which requests fail and
``RetryPolicy(base=0, cap=0)`` retries at once, so nothing depends on the clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
import math
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cli_runs import FakeTerminal, child_env
from hypothesis import given
from hypothesis import strategies as st
from polling import HANG_GUARD
from servers import refusing, serve
from tracing import recording

import simcards_async as sc
from simcards_async import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    DriftWarning,
    InternalServerError,
    InvalidParameterError,
    Progress,
    RateLimitError,
    RateLimitInfo,
    ResponseEvent,
    RetryPolicy,
    SimCardsClient,
    TelnyxError,
    UnprocessableEntityError,
    merge,
)
from simcards_async._cli import ProgressBar, _logging_to
from simcards_async._observe import Instruments, _log_attempt, env_log_level
from simcards_async.testing import Drift, FaultPlan, MockTelnyxServer, RateLimit

pytestmark = pytest.mark.anyio

KEY = "KEY-obs3rve-Qw7eR4tY1uI9oP2a"
INSTANT = RetryPolicy(max_retries=6, base=0, cap=0)
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
#: For a random fault plan: no page meets eleven faults in a row (about 1 in 10**7).
PATIENT = RetryPolicy(max_retries=10, base=0, cap=0)
DEADLINE = HANG_GUARD  # a guard against a hang, not a measure


def _leaks(text: str) -> bool:
    """Whether ``text`` shows the key, or a recognisable part of it."""
    return KEY in text or KEY[4:] in text or KEY[-12:] in text


def _python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own interpreter and code)
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=child_env(**env),
        timeout=DEADLINE,
        check=False,
    )


# --- the public names -----------------------------------------------------------------------


def test_the_names_are_exported() -> None:
    """The issue's four names are public and in ``__all__``."""
    for name in ("RateLimitInfo", "ResponseEvent", "RetryPolicy", "SimCardsClient"):
        assert name in sc.__all__
        assert getattr(sc, name).__module__.startswith("simcards_async._")


def test_retry_policy_defaults_and_frozen() -> None:
    """``RetryPolicy()`` is (4, 0.25, 20.0, 60.0), documented, and cannot be changed."""
    policy = RetryPolicy()
    assert (policy.max_retries, policy.base, policy.cap, policy.max_hint) == (4, 0.25, 20.0, 60.0)
    assert RetryPolicy.__doc__
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.base = 0  # type: ignore[misc]
    assert RetryPolicy(base=0, cap=0).delay(10, None) == 0


def test_max_retries_and_retry_together_are_refused() -> None:
    """``max_retries=`` is a shorthand for ``retry=``: giving both names ``max_retries``."""
    with pytest.raises(InvalidParameterError, match="max_retries"):
        SimCardsClient(KEY, max_retries=2, retry=RetryPolicy())


@pytest.mark.parametrize("hook", [42, "print", object()])
def test_on_response_must_be_callable(hook: object) -> None:
    """A hook that cannot be called is refused before anything is sent, naming the parameter."""
    with pytest.raises(InvalidParameterError, match="on_response"):
        SimCardsClient(KEY, on_response=hook)  # type: ignore[arg-type]


def test_events_are_frozen() -> None:
    """``ResponseEvent`` and ``RateLimitInfo`` are immutable values."""
    info = RateLimitInfo(limit=10, remaining=3, reset=1.5)
    event = ResponseEvent(
        method="GET",
        url="https://api.telnyx.com/v2/sim_cards",
        status=200,
        attempt=1,
        elapsed=0.1,
        request_id=None,
        rate_limit=info,
        error=None,
        retry_in=None,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.limit = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.status = 500  # type: ignore[misc]


# --- RateLimitInfo -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"content-type": "application/json"}, None),
        (
            {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "42", "x-ratelimit-reset": "0.5"},
            RateLimitInfo(limit=100, remaining=42, reset=0.5),
        ),
        (
            {"X-RateLimit-Limit": "100", "X-RATELIMIT-REMAINING": "0"},
            RateLimitInfo(limit=100, remaining=0, reset=None),
        ),
        (
            {"x-ratelimit-limit": "inf", "x-ratelimit-remaining": "-3", "x-ratelimit-reset": "nan"},
            RateLimitInfo(limit=None, remaining=None, reset=None),
        ),
        (
            {"x-ratelimit-limit": "lots", "x-ratelimit-remaining": "", "x-ratelimit-reset": "-1"},
            RateLimitInfo(),
        ),
        # A reset of a day or more is an epoch stamp, not a delay.
        ({"x-ratelimit-reset": "1767225600"}, RateLimitInfo()),
        ({"x-ratelimit-remaining": "9" * 400}, RateLimitInfo()),
        ({"x-ratelimit-remaining": "1e300"}, RateLimitInfo(remaining=2**31)),
    ],
)
def test_rate_limit_info_from_headers(
    headers: dict[str, str], expected: RateLimitInfo | None
) -> None:
    """The three headers are parsed defensively: nonsense gives ``None`` fields, no exception."""
    assert RateLimitInfo.from_headers(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Limit": 10},
        {"x-ratelimit-reset": 1.5},
        {"x-ratelimit-limit": b"10"},
        {1: "2"},
        {b"x-ratelimit-limit": b"10"},
        [("x-ratelimit-limit", "10")],
        None,
    ],
)
def test_rate_limit_info_from_headers_refuses_what_is_not_text_headers(headers: Any) -> None:
    """Names or values not ``str``, or no mapping, are refused by name: they gave a bare
    ``TypeError`` or ``AttributeError``, or (bytes names) ``None`` as if nothing was said.
    """
    with pytest.raises(InvalidParameterError, match="header names") as info:
        RateLimitInfo.from_headers(headers)
    assert info.value.parameter == "headers"


@given(
    st.dictionaries(
        st.sampled_from(["x-ratelimit-limit", "X-RateLimit-Remaining", "x-ratelimit-reset", "a"]),
        st.text(max_size=30)
        | st.floats(allow_nan=True, allow_infinity=True).map(str)
        | st.integers().map(str),
    )
)
def test_rate_limit_info_never_raises(headers: dict[str, str]) -> None:
    """Whatever a server sends, parsing gives ``None`` or sound values."""
    info = RateLimitInfo.from_headers(headers)
    if info is None:
        assert not any(name.lower().startswith("x-ratelimit") for name in headers)
        return
    assert info.limit is None or info.limit >= 0
    assert info.remaining is None or info.remaining >= 0
    assert info.reset is None or (math.isfinite(info.reset) and 0 <= info.reset < 86400)


async def test_client_rate_limit_is_the_latest_stated() -> None:
    """``client.rate_limit`` is ``None`` before any answer, then what the last answer said."""
    events: list[ResponseEvent] = []
    rate = RateLimit(requests_per_second=1000, burst=50)
    async with (
        MockTelnyxServer(sim_cards=100, actions=1, rate_limit=rate) as server,
        SimCardsClient(KEY, server.url, max_concurrency=1, on_response=events.append) as client,
    ):
        before = client.rate_limit
        await client.sim_cards(page_size=10).collect()
        latest = client.rate_limit
    assert before is None
    assert latest is not None
    assert latest == events[-1].rate_limit
    assert latest.limit == 50
    assert latest.remaining is not None
    assert latest.remaining < 50


async def test_client_rate_limit_stays_none_without_the_headers() -> None:
    """A server that states no rate limit leaves ``client.rate_limit`` at ``None``."""
    async with (
        MockTelnyxServer(sim_cards=30, actions=1) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        await client.sim_cards(page_size=10).collect()
        assert client.rate_limit is None


# --- the hook ------------------------------------------------------------------------------


def _by_url(events: list[ResponseEvent]) -> dict[str, list[ResponseEvent]]:
    found: dict[str, list[ResponseEvent]] = defaultdict(list)
    for event in events:
        found[event.url].append(event)
    return found


@pytest.mark.parametrize(
    ("failing", "status", "max_retries", "pages", "retries"),
    [(1, 500, 2, 0, 2), (2, 422, 2, 1, 0), (1, 429, 1, 0, 1)],
    ids=["5xx-retries-spent", "422-on-page-2", "429-retries-spent"],
)
async def test_a_failed_listings_events_count_the_attempt_that_failed(
    failing: int, status: int, max_retries: int, pages: int, retries: int
) -> None:
    """The README's count for a listing an attempt's error ended: pages fetched, plus
    retries, plus that attempt (it had an event, and no counter held it).
    """
    meta = {"page_number": 1, "page_size": 10, "total_pages": 3, "total_results": 30}

    async def answer(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        if number == failing:
            body = {"errors": [{"code": "10011" if status == 429 else "1", "title": "no"}]}
            return web.json_response(body, status=status, headers={"Retry-After": "0"})
        data = [{"id": f"{number}-{n}", "record_type": "sim_card"} for n in range(10)]
        return web.json_response({"data": data, "meta": {**meta, "page_number": number}})

    events: list[ResponseEvent] = []
    retry = RetryPolicy(max_retries=max_retries, base=0, cap=0, max_hint=0)
    async with (
        serve(answer) as served,
        SimCardsClient(
            KEY, served.url, retry=retry, max_concurrency=1, on_response=events.append
        ) as client,
    ):
        stream = client.sim_cards(page_size=10)
        with pytest.raises(APIStatusError):
            await stream.collect()
    stats = stream.stats
    assert (stats.pages_fetched, stats.retries) == (pages, retries)
    assert len(events) == stats.pages_fetched + stats.retries + 1
    assert sum(e.error is not None for e in events) == retries + 1
    if status == 429:
        assert stats.rate_limited == retries + 1


async def test_events_add_up_to_pages_fetched_plus_retries() -> None:
    """Under a plan of every fault kind, one event per attempt: pages fetched plus retries."""
    faults = FaultPlan(
        seed=7, error_5xx=0.12, rate_limited=0.06, drop=0.03, truncate=0.03, retry_after=0
    )
    events: list[ResponseEvent] = []
    async with (
        MockTelnyxServer(sim_cards=5000, actions=1, faults=faults) as server,
        SimCardsClient(
            KEY, server.url, retry=PATIENT, max_concurrency=4, on_response=events.append
        ) as client,
    ):
        stream = client.sim_cards(page_size=50)
        cards = await stream.collect()
        base = server.url
    stats = stream.stats
    assert len(cards) == 5000
    assert stats.retries > 10  # the plan did inject faults of several kinds
    assert len(events) == stats.pages_fetched + stats.retries
    failed = [e for e in events if e.error is not None]
    assert len(failed) == stats.retries
    assert {type(e.error) for e in failed} >= {InternalServerError, RateLimitError}
    assert sum(e.status == 429 for e in events) == stats.rate_limited
    for url, attempts in _by_url(events).items():
        # Each page: attempts 1..n, every one but the last failed and was retried.
        assert [e.attempt for e in attempts] == list(range(1, len(attempts) + 1)), url
        assert all(e.retry_in == 0 and e.error is not None for e in attempts[:-1]), url
        last = attempts[-1]
        assert (last.status, last.error, last.retry_in) == (200, None, None), url
    for event in events:
        assert event.method == "GET"
        assert event.url.startswith(base + "/sim_cards?")
        assert event.elapsed >= 0
        if event.status is None:  # no answer: a connection dropped before it
            assert isinstance(event.error, APIConnectionError)
    # A body cut off after its head: a connection error with the answer's status and request
    # id (they were None, the request id lost, though the answer had come).
    cut_off = [e for e in events if isinstance(e.error, APIConnectionError) and e.status]
    assert len(cut_off) == server.fault_counts["truncate"] > 0
    assert all(e.status == 200 and e.request_id for e in cut_off)


async def test_the_last_failed_attempt_says_it_will_not_be_retried() -> None:
    """Retries spent: the final event carries the raised error and ``retry_in=None``."""
    events: list[ResponseEvent] = []
    retry = RetryPolicy(max_retries=2, base=0, cap=0)
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(script=[500] * 3)) as server,
        SimCardsClient(KEY, server.url, retry=retry, on_response=events.append) as client,
    ):
        with pytest.raises(InternalServerError) as info:
            await client.sim_cards().collect()
    assert info.value.attempts == 3
    assert [(e.attempt, e.status, e.retry_in) for e in events] == [
        (1, 500, 0),
        (2, 500, 0),
        (3, 500, None),
    ]
    assert events[-1].error is info.value
    assert all(e.request_id for e in events)


async def test_a_status_that_is_not_retried_makes_one_event() -> None:
    """A 422 is sent once: one event, its error, no retry."""
    events: list[ResponseEvent] = []
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(script=[422])) as server,
        SimCardsClient(KEY, server.url, retry=INSTANT, on_response=events.append) as client,
    ):
        with pytest.raises(UnprocessableEntityError) as info:
            await client.sim_cards().collect()
    assert len(events) == 1
    assert (events[0].status, events[0].error, events[0].retry_in) == (422, info.value, None)


async def test_the_hook_runs_in_the_task_that_made_the_attempt() -> None:
    """A single GET's event is delivered in the caller's own task, before the call returns."""
    seen: list[asyncio.Task[Any] | None] = []
    async with (
        MockTelnyxServer(sim_cards=5, actions=1) as server,
        SimCardsClient(
            KEY, server.url, on_response=lambda _: seen.append(asyncio.current_task())
        ) as client,
    ):
        card_id = server.current_sim_card_ids()[0]
        await client.get_sim_card(card_id)
        assert seen == [asyncio.current_task()]


class HookError(Exception):
    """What the test's hook raises."""


@pytest.mark.parametrize("on", ["success", "failure"])
async def test_an_exception_of_the_hook_propagates_unchanged(on: str) -> None:
    """The hook's exception reaches the caller as it is, and is not taken for a failed attempt."""
    raised = HookError("from the hook")

    def hook(event: ResponseEvent) -> None:
        if (event.error is None) == (on == "success"):
            raise raised

    script = [] if on == "success" else [503, 503]
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=script)) as server,
        SimCardsClient(KEY, server.url, retry=INSTANT, on_response=hook) as client,
    ):
        with pytest.raises(HookError) as info:
            await client.sim_cards(page_size=10).collect()
        assert info.value is raised
        with pytest.raises(HookError) as info:
            await client.get_sim_card(server.current_sim_card_ids()[0])
        assert info.value is raised
        assert len(server.requests) == 2  # neither attempt was retried


async def test_a_timeout_the_hook_raises_is_not_taken_for_the_deadline() -> None:
    """With ``deadline=`` set, a ``TimeoutError`` of the hook's own (a socket timeout in a
    metrics push) became ``APITimeoutError: the listing did not finish within the 30.0 s
    deadline``, at once: the deadline caught any TimeoutError. It propagates unchanged. The
    deadline here, a hang guard's, is never reached.
    """
    raised = TimeoutError("the hook's own push timed out")

    def hook(_event: ResponseEvent) -> None:
        raise raised

    async with (
        MockTelnyxServer(sim_cards=30, actions=1) as server,
        SimCardsClient(KEY, server.url, on_response=hook, deadline=HANG_GUARD) as client,
    ):
        with pytest.raises(TimeoutError) as info:
            await client.sim_cards(page_size=10).collect()
    assert info.value is raised


async def _all(items: AsyncIterable[Any]) -> list[Any]:
    return [item async for item in items]


class HookAbort(BaseException):
    """A hook's own BaseException, not an Exception (pytest.fail() raises one)."""


@pytest.mark.parametrize("where", ["stream", "merge", "ordered merge"])
async def test_a_base_exception_of_the_hook_propagates_not_a_short_listing(where: str) -> None:
    """A hook raising a BaseException that is no Exception ended the listing as if it were
    complete: 20 cards of 1,000 and no error (the producer's task kept the exception).
    It reaches the caller as it is, from a stream and from a merge.
    """
    raised = HookAbort("stop")
    calls = 0

    def hook(_event: ResponseEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise raised

    async with (
        MockTelnyxServer(sim_cards=1000, actions=1) as server,
        SimCardsClient(KEY, server.url, on_response=hook) as client,
    ):
        if where == "stream":
            reading = client.sim_cards(page_size=10).collect()
        else:
            ordered = where == "ordered merge"
            sort = "current_billing_period_consumed_data.amount" if ordered else None
            streams = [
                client.sim_cards(page_size=10, status=status, sort=sort)
                for status in ("enabled", "disabled")
            ]
            union = merge(*streams, ordered=ordered)
            reading = _all(union)
        with pytest.raises(HookAbort) as info:
            await reading
        assert info.value is raised


EXIT_SCRIPT = """
import asyncio, sys
import simcards_async as sc
from simcards_async.testing import MockTelnyxServer

async def read(where, raised):
    calls = 0

    def hook(event):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise raised

    async with MockTelnyxServer(sim_cards=1000, actions=1) as server:
        key = "KEY-obs3rve-Qw7eR4tY1uI9oP2a"
        async with sc.SimCardsClient(key, server.url, on_response=hook) as client:
            ordered = where == "ordered merge"
            sort = "current_billing_period_consumed_data.amount" if ordered else None
            streams = [
                client.sim_cards(page_size=10, status=status, sort=sort)
                for status in ("enabled", "disabled")
            ]
            reading = streams[0] if where == "stream" else sc.merge(*streams, ordered=ordered)
            try:
                async for _ in reading:
                    pass
            except BaseException as exc:
                return "the reader caught it" if exc is raised else repr(exc)
            return "no error"

for where in ("stream", "merge", "ordered merge"):
    for kind in (SystemExit, KeyboardInterrupt):
        try:
            outcome = asyncio.run(read(where, kind("stop")))
        except BaseException as exc:
            outcome = f"asyncio.run() raised {exc!r}"
        print(f"{where}, {kind.__name__}: {outcome}", flush=True)
"""


def test_a_hook_s_system_exit_or_keyboard_interrupt_reaches_the_reader() -> None:
    """``sys.exit()`` (or a ``KeyboardInterrupt``) in the hook during a listing escaped the
    event loop from the stream's own task: the reader got ``CancelledError``, and
    ``asyncio.run()`` printed a task group's traceback from inside the library. The reader
    gets it as it was raised, as a single get's caller does, from a stream and a merge.
    """
    done = _python(EXIT_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{where}, {kind}: the reader caught it"
        for where in ("stream", "merge", "ordered merge")
        for kind in ("SystemExit", "KeyboardInterrupt")
    ]
    assert done.stderr == ""


async def test_a_hook_raising_cancelled_error_is_a_clear_error() -> None:
    """A hook raising ``CancelledError`` cancelled one request's task alone: the listing
    lost its page and failed with a bare ``UnboundLocalError``. A plain function cannot be
    cancelled, so it is the hook's own: ``RuntimeError`` saying so, the hook's as its cause.
    """

    def hook(_event: ResponseEvent) -> None:
        raise asyncio.CancelledError

    async with (
        MockTelnyxServer(sim_cards=100, actions=1) as server,
        SimCardsClient(KEY, server.url, on_response=hook) as client,
    ):
        with pytest.raises(RuntimeError, match="hook raised CancelledError") as info:
            await client.sim_cards(page_size=10).collect()
        assert isinstance(info.value.__cause__, asyncio.CancelledError)
        with pytest.raises(RuntimeError, match="hook raised CancelledError"):
            await client.get_sim_card(server.current_sim_card_ids()[0])


@pytest.mark.parametrize("stop", [StopIteration, StopAsyncIteration])
@pytest.mark.parametrize("callback", ["on_response", "on_progress"])
async def test_a_callback_raising_stop_iteration_is_a_clear_error(
    stop: type[Exception], callback: str
) -> None:
    """A callback calling ``next()`` on an exhausted iterator raised ``StopIteration``,
    which Python turned into an anonymous ``RuntimeError`` ("coroutine raised
    StopIteration"), naming no callback: a ``RuntimeError`` saying which, it as its cause.
    """

    def raising(_argument: object) -> None:
        raise stop

    hook = raising if callback == "on_response" else None
    async with (
        MockTelnyxServer(sim_cards=100, actions=1) as server,
        SimCardsClient(KEY, server.url, on_response=hook) as client,
    ):
        stream = client.sim_cards(page_size=10)
        if callback == "on_progress":
            stream.on_progress(raising)
        with pytest.raises(RuntimeError, match=f"raised {stop.__name__}; raise another") as info:
            await stream.collect()
    assert callback.removeprefix("on_") in str(info.value)
    assert isinstance(info.value.__cause__, stop)


@pytest.mark.parametrize("event", [1, 2, 5])
async def test_a_hook_that_cancels_the_listings_task_is_not_said_to_be_a_close(event: int) -> None:
    """A hook that cancels the task it runs in (``asyncio.current_task().cancel()``): for a
    listing that is the library's task, and the stream said "the client was closed", while
    the client went on listing. It says what happened now; the client still lists.

    Page 1's event runs in the listing's own task; later pages' in the engine's workers,
    where the cancellation ended the listing with a bare ``UnboundLocalError``.
    """
    events: list[bool] = []

    def hook(_event: ResponseEvent) -> None:
        events.append(True)
        if len(events) == event:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()

    async with (
        MockTelnyxServer(sim_cards=100, actions=1) as server,
        SimCardsClient(KEY, server.url, on_response=hook) as client,
    ):
        with pytest.raises(RuntimeError, match="its client still open") as info:
            await client.sim_cards(page_size=10).collect()
        assert "on_response" in str(info.value)
        assert len(await client.sim_cards(page_size=10).collect()) == 100


@pytest.mark.parametrize("merged", [False, True])
async def test_a_progress_callback_raising_cancelled_error_is_a_clear_error(merged: bool) -> None:
    """An ``on_progress`` callback raising ``CancelledError``: a merged stream's ran in the
    merge's task, and ended that stream's reading as if the listing had: the merge was cut
    short with no error. A plain function cannot be cancelled: ``RuntimeError`` saying so.
    """

    def callback(progress: sc.Progress) -> None:
        if progress.items >= 20:
            raise asyncio.CancelledError

    async with (
        MockTelnyxServer(sim_cards=200, actions=1) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        stream = client.sim_cards(page_size=10)
        stream.on_progress(callback)
        read = sc.merge(stream, client.sim_cards(tags="none", page_size=10)) if merged else stream
        with pytest.raises(RuntimeError, match="on_progress callback raised CancelledError"):
            await read.collect()


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("items", [10, 40, 200])
@pytest.mark.parametrize("partner", ["disabled", "none", "alone"])
async def test_a_merged_stream_s_callback_that_cancels_its_task_fails_the_merge(
    ordered: bool, items: int, partner: str
) -> None:
    """A merged stream's ``on_progress`` callback that cancels the task it runs in (the
    merge's reader of that stream): the merge's task group took it for its own cancel and
    ended quietly, the merge short of the union, no error; an in-order merge whose other
    streams had ended (or that had none) took the reader's closed inbox for its stream's
    end. Now the merge says what happened, at its last page too (its end not yet seen).
    """

    def callback(progress: sc.Progress) -> None:
        if progress.items == items:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()

    async with (
        MockTelnyxServer(sim_cards=200, actions=1) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        sort = "current_billing_period_consumed_data.amount" if ordered else None
        stream = client.sim_cards(page_size=10, sort=sort)
        stream.on_progress(callback)
        others = {
            "disabled": [client.sim_cards(status="disabled", page_size=10, sort=sort)],
            "none": [client.sim_cards(tags="no-such-tag", page_size=10, sort=sort)],  # empty
            "alone": [],
        }[partner]
        merged = sc.merge(stream, *others, ordered=ordered)
        with pytest.raises(RuntimeError, match="its client still open") as info:
            await merged.collect()
        assert "on_progress" in str(info.value)
        assert len(await sc.merge(client.sim_cards(), client.sim_cards()).collect()) == 200


async def _async_hook(_event: object) -> None:
    """An async function: called, it makes a coroutine that nothing awaits."""


class _AsyncCall:
    async def __call__(self, _event: object) -> None:
        """An object whose call is async: the same."""


async def _async_generator_hook(_event: object) -> AsyncIterator[None]:
    """An async generator function: called, it makes a generator that nothing iterates."""
    yield


def _generator_hook(_event: object) -> Iterator[None]:
    """A generator function: the same, not async."""
    yield


@pytest.mark.parametrize(
    "callback",
    [_async_hook, _AsyncCall(), _async_generator_hook, _generator_hook],
    ids=["async def", "async call", "async generator", "generator"],
)
async def test_an_async_callback_is_refused(callback: Any) -> None:
    """An ``async`` hook or progress callback was taken and never run (each call made a
    coroutine nothing awaited): refused, naming the parameter, before anything is sent.
    So is a generator function, async or not: its body runs only when iterated.
    """
    with pytest.raises(InvalidParameterError, match="never awaited") as info:
        SimCardsClient(KEY, "http://127.0.0.1:9/v2", on_response=callback)
    assert info.value.parameter == "on_response"
    async with SimCardsClient(KEY, "http://127.0.0.1:9/v2") as client:
        stream = client.sim_cards()
        with pytest.raises(InvalidParameterError, match="never awaited") as info:
            stream.on_progress(callback)
        assert info.value.parameter == "callback"
        await stream.aclose()


async def _refused_when_called(server: MockTelnyxServer, callback: Any, match: str) -> None:
    """``callback`` as the hook, then as a progress callback: each refused at its first call."""
    async with SimCardsClient(KEY, server.url, on_response=callback) as client:
        with pytest.raises(InvalidParameterError, match=match) as info:
            await client.sim_cards(page_size=10).collect()
        assert info.value.parameter == "on_response"
    async with SimCardsClient(KEY, server.url) as client:
        stream = client.sim_cards(page_size=10)
        stream.on_progress(callback)
        with pytest.raises(InvalidParameterError, match=match) as info:
            await stream.collect()
        assert info.value.parameter == "callback"


async def test_a_plain_callback_that_returns_a_generator_is_refused_when_called() -> None:
    """``lambda event: gen(event)`` over a generator function: its body never ran. Its first
    call raises, naming the parameter, as one returning a coroutine does.
    """
    for gen in (_generator_hook, _async_generator_hook):

        def call(value: object, gen: Any = gen) -> Any:  # a generator, which is the point
            return gen(value)

        async with MockTelnyxServer(sim_cards=20, actions=1) as server:
            await _refused_when_called(server, call, "returned a generator")


async def test_a_plain_callback_that_returns_a_coroutine_is_refused_when_called() -> None:
    """``lambda event: notify(event)`` over an ``async def notify`` passed as a plain
    function, and its coroutines were dropped: the hook or the progress callback never ran,
    a "never awaited" warning the only trace. Its first call raises, naming the parameter.
    """

    def notify(value: object) -> Any:  # a coroutine, which is the point
        return _async_hook(value)

    async with MockTelnyxServer(sim_cards=20, actions=1) as server:
        await _refused_when_called(server, notify, "never awaited")
        # A task it schedules is no mistake: the work runs.
        ran: list[object] = []

        async def record(value: object) -> None:
            ran.append(value)

        tasks: list[asyncio.Task[None]] = []

        def schedule(value: object) -> asyncio.Task[None]:
            tasks.append(asyncio.create_task(record(value)))
            return tasks[-1]

        async with SimCardsClient(KEY, server.url, on_response=schedule) as client:
            stream = client.sim_cards(page_size=10)
            stream.on_progress(schedule)
            assert len(await stream.collect()) == 20
        await asyncio.gather(*tasks)
        assert len(ran) == len(tasks) > 0


def test_nothing_watches_costs_no_probe() -> None:
    """With no hook, no tracing and DEBUG off, an attempt gets no probe at all."""
    logger = logging.getLogger("simcards_async")
    was = logger.level
    logger.setLevel(logging.INFO)
    try:
        instruments = Instruments(base_url="https://api.telnyx.com/v2", tracing=False)
        assert instruments.probe("https://api.telnyx.com/v2/sim_cards", 1) is None
        with_hook = Instruments(on_response=print, tracing=False)
        assert with_hook.probe("https://api.telnyx.com/v2/sim_cards", 1) is not None
        logger.setLevel(logging.DEBUG)
        assert instruments.probe("https://api.telnyx.com/v2/sim_cards", 1) is not None
    finally:
        logger.setLevel(was)


# --- logging -------------------------------------------------------------------------------


def _messages(caplog: pytest.LogCaptureFixture, name: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name and r.levelno == level]


async def test_debug_logs_one_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG: method, path and query, status, milliseconds, attempt, request id, remaining."""
    caplog.set_level(logging.DEBUG, logger="simcards_async")
    events: list[ResponseEvent] = []
    rate = RateLimit(requests_per_second=1000, burst=100)
    faults = FaultPlan(script=[None, 503, "drop", "drop"])
    async with (
        MockTelnyxServer(sim_cards=60, actions=1, faults=faults, rate_limit=rate) as server,
        SimCardsClient(
            KEY, server.url, retry=INSTANT, max_concurrency=1, on_response=events.append
        ) as client,
    ):
        await client.sim_cards(page_size=20).collect()
    lines = _messages(caplog, "simcards_async.http", logging.DEBUG)
    assert len(lines) == len(events) == 5  # 3 pages, a 503 and a connection failure
    pattern = re.compile(
        r"GET /v2/sim_cards\?page%5Bnumber%5D=(\d)&page%5Bsize%5D=20 (\d{3}|-) "
        r"[\d.]+ ms attempt (\d) request_id=(\S+) ratelimit_remaining=(\d+|-)"
    )
    for line, event in zip(lines, events, strict=True):
        match = pattern.match(line)
        assert match, line
        assert match[2] == ("-" if event.status is None else str(event.status))
        assert int(match[3]) == event.attempt
        assert match[4] == (event.request_id or "-")
    assert "error=InternalServerError" in lines[1]
    assert "error=APIConnectionError" in lines[2]


async def test_debug_lines_cut_and_escape_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    """A request id of 8,000 characters (as long as a header may be) made each DEBUG line
    8 KB long, and an escape code in one reached the log raw: cut and escaped, as in
    ``str(exc)``; the event keeps the id as sent.
    """
    caplog.set_level(logging.DEBUG, logger="simcards_async")
    request_id = "r" * 8000
    events: list[ResponseEvent] = []

    async def answer(_request: web.Request) -> web.Response:
        return web.json_response({"data": {"id": UNKNOWN_ID}}, headers={"x-request-id": request_id})

    async with (
        serve(answer) as served,
        SimCardsClient(KEY, served.url, on_response=events.append) as client,
    ):
        await client.get_sim_card(UNKNOWN_ID)
    [line] = _messages(caplog, "simcards_async.http", logging.DEBUG)
    assert "request_id=" + "r" * 300 + "… [cut, 8000 chars]" in line
    assert len(line) < 500
    assert events[0].request_id == request_id
    # aiohttp's server sends no escape code in a header; a server of another make may.
    caplog.clear()
    _log_attempt("/v2/x", dataclasses.replace(events[0], request_id="\x1b]0;pwned\x07"))
    [line] = _messages(caplog, "simcards_async.http", logging.DEBUG)
    assert "request_id=\\x1b]0;pwned\\x07 " in line


async def test_a_listings_lines_say_its_query_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two listings at once (a merge) logged alike, ``listing /sim_cards started``: each
    line says what its query asks, a filter's value that is the key removed.
    """
    caplog.set_level(logging.INFO, logger="simcards_async")
    async with (
        MockTelnyxServer(sim_cards=100, actions=1) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        await sc.merge(
            client.sim_cards(status="enabled", page_size=25), client.sim_cards(tags=[KEY, "iot"])
        ).collect()
    listing = sorted(_messages(caplog, "simcards_async.listing", logging.INFO))
    assert [line.split(":")[0] for line in listing] == [
        "listing /sim_cards (status='enabled') done",
        "listing /sim_cards (status='enabled') started (page size 25)",
        "listing /sim_cards (tags=['<redacted>', 'iot']) done",
        "listing /sim_cards (tags=['<redacted>', 'iot']) started (page size 250)",
    ]


async def test_info_logs_listings_retries_and_throttling(caplog: pytest.LogCaptureFixture) -> None:
    """INFO: a listing's start and end with its counts, each retry with reason and wait, 429s."""
    caplog.set_level(logging.INFO, logger="simcards_async")
    faults = FaultPlan(script=[None, "429", 503], retry_after=0)
    async with (
        MockTelnyxServer(sim_cards=100, actions=1, faults=faults) as server,
        # One page at a time: the 429 and the 503 are page 2's first two attempts.
        SimCardsClient(KEY, server.url, retry=INSTANT, max_concurrency=1, read_ahead=1) as client,
    ):
        await client.sim_cards(page_size=25).collect()
    assert not _messages(caplog, "simcards_async.http", logging.DEBUG)
    listing = _messages(caplog, "simcards_async.listing", logging.INFO)
    assert listing[0] == "listing /sim_cards started (page size 25)"
    assert re.fullmatch(
        r"listing /sim_cards done: 4 pages, 100 items, 2 retries in [\d.]+ s", listing[1]
    )
    retries = _messages(caplog, "simcards_async.http", logging.INFO)
    assert len(retries) == 2
    assert "attempt 1 failed (HTTP 429" in retries[0]
    assert "attempt 2 failed (HTTP 503" in retries[1]
    assert all(line.endswith("retrying in 0.00 s") for line in retries)
    # max_concurrency=1 cannot shrink: the 429 shows as a pause, at DEBUG only.
    assert not _messages(caplog, "simcards_async.throttle", logging.INFO)


async def test_info_logs_the_limit_shrinking_under_429s(caplog: pytest.LogCaptureFixture) -> None:
    """The shared limit halving on a 429 is logged at INFO with the old and new limits."""
    caplog.set_level(logging.INFO, logger="simcards_async")
    async with (
        MockTelnyxServer(sim_cards=20, actions=1, faults=FaultPlan(script=["429"])) as server,
        SimCardsClient(KEY, server.url, retry=INSTANT, max_concurrency=8) as client,
    ):
        await client.sim_cards(page_size=10).collect()
    assert _messages(caplog, "simcards_async.throttle", logging.INFO) == [
        "rate limited (429): concurrency limit 8 -> 4; every request waits 0.05 s"
    ]


async def test_a_failed_listing_logs_its_end(caplog: pytest.LogCaptureFixture) -> None:
    """A listing that raises logs its end as failed, with the error."""
    caplog.set_level(logging.INFO, logger="simcards_async")
    async with (
        MockTelnyxServer(sim_cards=20, actions=1, faults=FaultPlan(script=[422])) as server,
        SimCardsClient(KEY, server.url, retry=INSTANT) as client,
    ):
        with pytest.raises(UnprocessableEntityError):
            await client.sim_cards(page_size=10).collect()
    (end,) = _messages(caplog, "simcards_async.listing", logging.INFO)[1:]
    assert end.startswith("listing /sim_cards failed: 0 pages, 0 items, 0 retries in ")
    assert "HTTP 422" in end


async def test_drift_is_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    """The DriftWarning's text is logged once at WARNING."""
    caplog.set_level(logging.WARNING, logger="simcards_async")
    drift = Drift(seed=5, every=3, insert=7)
    async with (
        MockTelnyxServer(sim_cards=500, actions=1, drift=drift) as server,
        SimCardsClient(KEY, server.url, max_concurrency=1, read_ahead=4) as client,
    ):
        with pytest.warns(DriftWarning) as warned:
            await client.sim_cards(page_size=50).collect()
    assert _messages(caplog, "simcards_async.listing", logging.WARNING) == [
        str(w.message) for w in warned
    ]


async def test_nothing_is_logged_below_the_enabled_level(caplog: pytest.LogCaptureFixture) -> None:
    """At WARNING (the default), a healthy listing makes no record at all."""
    caplog.set_level(logging.WARNING, logger="simcards_async")
    async with (
        MockTelnyxServer(sim_cards=60, actions=1) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        await client.sim_cards(page_size=20).collect()
    assert not [r for r in caplog.records if r.name.startswith("simcards_async")]


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("debug", logging.DEBUG),
        ("INFO", logging.INFO),
        (" warning ", logging.WARNING),
        ("", None),
        ("verbose", None),
        (None, None),
    ],
)
def test_telnyx_log_values(value: str | None, level: int | None) -> None:
    """``TELNYX_LOG`` takes debug, info or warning (any case); anything else is no level."""
    assert env_log_level(value) == level


LIST_SCRIPT = """
import asyncio, logging, sys
import simcards_async as sc
from simcards_async.testing import MockTelnyxServer

async def main():
    async with MockTelnyxServer(sim_cards=40, actions=1) as server:
        async with sc.SimCardsClient("KEY-obs3rve-Qw7eR4tY1uI9oP2a", server.url) as client:
            await client.sim_cards(page_size=20).collect()
    handlers = logging.getLogger("simcards_async").handlers
    print(len(handlers), [type(h).__name__ for h in handlers])

asyncio.run(main())
"""


@pytest.mark.parametrize("value", ["debug", "info", "warning", None])
def test_telnyx_log_installs_a_stderr_handler(value: str | None) -> None:
    """With ``TELNYX_LOG`` the records go to stderr at that level; without it, no handler
    that writes (a ``NullHandler``, which keeps logging's last resort quiet).
    """
    done = _python(LIST_SCRIPT, **({} if value is None else {"TELNYX_LOG": value}))
    assert done.returncode == 0, done.stderr
    if value is None:
        assert done.stdout.strip() == "1 ['NullHandler']"
        assert done.stderr == ""
        return
    assert done.stdout.strip() == "2 ['NullHandler', 'StreamHandler']"
    assert ("DEBUG simcards_async.http] GET /v2/sim_cards?" in done.stderr) is (value == "debug")
    assert ("INFO simcards_async.listing] listing /sim_cards done" in done.stderr) is (
        value != "warning"
    )
    assert not _leaks(done.stderr)


APP_LOGGING_SCRIPT = """
import asyncio, logging, sys
import simcards_async as sc
from simcards_async.testing import MockTelnyxServer

# What a program does after its imports: its own logging, to stderr too.
logging.basicConfig(level=logging.INFO, format="APP %(levelname)s %(name)s %(message)s")
if sys.argv[1] == "debug-logger":  # the program also wants the library's DEBUG, elsewhere
    logging.getLogger().handlers[0].setLevel(logging.INFO)
    logging.getLogger("simcards_async").setLevel(logging.DEBUG)

async def main():
    async with MockTelnyxServer(sim_cards=40, actions=1) as server:
        async with sc.SimCardsClient("KEY-obs3rve-Qw7eR4tY1uI9oP2a", server.url) as client:
            await client.sim_cards(page_size=20).collect()

asyncio.run(main())
"""


CHILD_OR_FILTERED_SCRIPT = """
import asyncio, logging, sys
import simcards_async as sc
from simcards_async.testing import MockTelnyxServer

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("APP %(levelname)s %(name)s %(message)s"))
if sys.argv[1] == "child-logger":
    logging.getLogger("simcards_async.listing").addHandler(handler)
else:  # the program's root handler shows the program's own records only
    handler.addFilter(lambda record: record.name.startswith("app"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)

async def main():
    async with MockTelnyxServer(sim_cards=40, actions=1) as server:
        async with sc.SimCardsClient("KEY-obs3rve-Qw7eR4tY1uI9oP2a", server.url) as client:
            await client.sim_cards(page_size=20).collect()

asyncio.run(main())
"""


def test_telnyx_log_shows_each_record_once_beside_the_programs_logging() -> None:
    """A program with logging of its own (``basicConfig``, as the README shows) got every
    record twice with ``TELNYX_LOG``: from the handler it added and from the program's. As
    the official SDK's ``basicConfig`` does, it shows them only where nothing else would.
    """
    done = _python(APP_LOGGING_SCRIPT, "plain", TELNYX_LOG="info")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    done_lines = [line for line in lines if "listing /sim_cards done" in line]
    assert len(done_lines) == 1, done.stderr
    assert done_lines[0].startswith("APP INFO simcards_async.listing ")


@pytest.mark.parametrize("where", ["child-logger", "filtered-root"])
def test_telnyx_log_shows_each_record_once_whatever_the_programs_handlers(where: str) -> None:
    """A handler of the program's on ``simcards_async.listing`` (where the listing logs) was
    not seen, and each record shown twice; a root handler whose filter keeps only the
    program's own records was taken to show the library's, which went nowhere.
    """
    done = _python(CHILD_OR_FILTERED_SCRIPT, where, TELNYX_LOG="info")
    assert done.returncode == 0, done.stderr
    done_lines = [line for line in done.stderr.splitlines() if "listing /sim_cards done" in line]
    assert len(done_lines) == 1, done.stderr
    shown_by = "APP " if where == "child-logger" else "["
    assert done_lines[0].startswith(shown_by), done.stderr


def test_telnyx_log_level_caps_what_it_writes() -> None:
    """``TELNYX_LOG=warning`` writes WARNING and above to stderr even when the program sets
    the library's logger lower for handlers of its own (DEBUG lines reached stderr).
    """
    plain = _python(APP_LOGGING_SCRIPT, "debug-logger")
    assert plain.returncode == 0, plain.stderr
    assert "APP INFO simcards_async.listing " in plain.stderr
    done = _python(APP_LOGGING_SCRIPT, "debug-logger", TELNYX_LOG="warning")
    assert done.returncode == 0, done.stderr
    assert "DEBUG" not in done.stderr, done.stderr
    assert [line for line in done.stderr.splitlines() if not line.startswith("APP ")] == []


DRIFT_SCRIPT = """
import asyncio, warnings
import simcards_async as sc
from simcards_async.testing import Drift, MockTelnyxServer

async def main():
    drift = Drift(every=2, insert=5)
    async with MockTelnyxServer(sim_cards=600, drift=drift) as server:
        key = "KEY-obs3rve-Qw7eR4tY1uI9oP2a"
        async with sc.SimCardsClient(key, server.url, max_concurrency=1) as client:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", sc.DriftWarning)
                await client.sim_cards(page_size=20).collect()
    for warning in caught:
        print(warning.category.__name__, warning.message)

asyncio.run(main())
"""


def test_a_program_with_no_logging_set_up_gets_the_drift_text_once() -> None:
    """The drift WARNING record went to stderr through logging's last resort, beside the
    ``DriftWarning`` with the same text: twice in a plain script. Now once, as the warning.
    """
    done = _python(DRIFT_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DriftWarning "), done.stdout
    assert done.stderr == ""


def test_importing_the_library_imports_no_opentelemetry() -> None:
    """Nothing of OpenTelemetry is imported with the package, installed or not."""
    done = _python(
        "import sys, simcards_async\n"
        "print(sorted(m for m, v in sys.modules.items() if m.startswith('opentelemetry') and v))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


HAVE_OTEL_SDK = importlib.util.find_spec("opentelemetry") is not None and (
    importlib.util.find_spec("opentelemetry.sdk") is not None
)

TRACED_LATER_SCRIPT = """
import asyncio, sys
import simcards_async as sc
from simcards_async.testing import MockTelnyxServer

def otel():
    return sorted(m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v)

async def main():
    async with MockTelnyxServer(sim_cards=40) as server:
        async with sc.SimCardsClient("KEY-obs3rve-Qw7eR4tY1uI9oP2a", server.url) as client:
            await client.sim_cards(page_size=20).collect()
            print(otel() == [])
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            await client.sim_cards(page_size=20).collect()
    print(sorted(span.name for span in exporter.get_finished_spans()))

asyncio.run(main())
"""


@pytest.mark.skipif(not HAVE_OTEL_SDK, reason="opentelemetry-sdk not installed")
def test_opentelemetry_is_left_alone_until_the_program_uses_it() -> None:
    """A listing imported OpenTelemetry (and made a no-op span an attempt) whenever it was
    installed; now nothing of it until the program imports it, and a client made before that
    traces the listings after it.
    """
    done = _python(TRACED_LATER_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True", "['GET', 'GET', 'list /sim_cards']"]


@pytest.mark.skipif(not HAVE_OTEL_SDK, reason="opentelemetry-sdk not installed")
def test_a_tracer_provider_named_in_the_environment_is_used() -> None:
    """``OTEL_PYTHON_TRACER_PROVIDER`` configures the API with no import by the program: a
    listing uses it.
    """
    code = LIST_SCRIPT.replace(
        "    handlers = ",
        "    print('opentelemetry.trace' in sys.modules)\n"
        "    from simcards_async import _observe\n"
        "    print(type(_observe._tracer()).__module__)\n"
        "    handlers = ",
    )
    done = _python(code, OTEL_PYTHON_TRACER_PROVIDER="sdk_tracer_provider")
    assert done.returncode == 0, done.stderr
    # The listing made the library's tracer from the SDK's provider the variable named.
    assert done.stdout.splitlines()[:2] == ["True", "opentelemetry.sdk.trace"]


@pytest.mark.skipif(not HAVE_OTEL_SDK, reason="opentelemetry-sdk not installed")
def test_the_provider_variable_is_read_when_the_library_is_imported() -> None:
    """Read once, at import (a look-up that misses in ``os.environ`` at every attempt cost
    microseconds): set later, it starts nothing, as the README says.
    """
    code = LIST_SCRIPT.replace(
        "async def main():",
        "import os\nos.environ['OTEL_PYTHON_TRACER_PROVIDER'] = 'sdk_tracer_provider'\n\n"
        "async def main():",
    ).replace("    handlers = ", "    print('opentelemetry.trace' in sys.modules)\n    handlers = ")
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "False"


@pytest.mark.skipif(not HAVE_OTEL_SDK, reason="opentelemetry-sdk not installed")
def test_a_tracer_provider_the_environment_names_wrong_stops_no_listing() -> None:
    """``OTEL_PYTHON_TRACER_PROVIDER`` naming no provider: OpenTelemetry's ``get_tracer``
    raises ``StopIteration``, and every listing failed ("generator raised StopIteration").
    They list on, without spans, and the library says so once.
    """
    code = LIST_SCRIPT.replace(
        "            await client.sim_cards(page_size=20).collect()",
        "            for _ in range(3):\n"
        "                print(len(await client.sim_cards(page_size=20).collect()))",
    )
    done = _python(code, OTEL_PYTHON_TRACER_PROVIDER="no-such-provider", TELNYX_LOG="warning")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == ["40", "40", "40"]
    assert done.stderr.count("no OpenTelemetry spans: its tracer could not be made") == 1


def test_a_listing_works_without_opentelemetry() -> None:
    """With OpenTelemetry not importable, a client lists as usual and makes no span."""
    code = "import sys\nsys.modules['opentelemetry'] = None\n" + LIST_SCRIPT
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 ['NullHandler']"


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-v", "-vv"])
def test_the_command_shows_the_library_records(tmp_path: Path, flag: str) -> None:
    """-v shows each listing's INFO lines, -vv also one DEBUG line per request."""
    argv = ["export", "sim-cards", "--demo", "--demo-size", "60", "--page-size", "20"]
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-m", "simcards_async", *argv, flag, "-o", str(tmp_path / "c.jsonl")],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    started = "simcards: INFO simcards_async.listing: listing /sim_cards started (page size 20)"
    assert started in lines
    assert any(
        line.startswith(
            "simcards: INFO simcards_async.listing: listing /sim_cards done: 3 pages, 60 items"
        )
        for line in lines
    )
    requests = [
        line
        for line in lines
        if line.startswith("simcards: DEBUG simcards_async.http: GET /v2/sim_cards?")
    ]
    assert len(requests) == (3 if flag == "-vv" else 0)


@pytest.mark.parametrize("verbosity", [0, 1])
def test_the_command_never_writes_the_drift_record_across_the_bar(verbosity: int) -> None:
    """The drift WARNING shows once, as the warning; with no -v nothing else either."""
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, "SIM cards", enabled=True)
    bar.update(Progress(1, 10, 250, 2500, 0, 0.0, 1.0))
    terminal.seek(0)
    terminal.truncate()
    library = logging.getLogger("simcards_async")
    handlers = list(library.handlers)
    with _logging_to(bar, verbosity):
        logging.getLogger("simcards_async.listing").warning("the listing changed")
        logging.getLogger("simcards_async.listing").info("listing /sim_cards started")
    assert library.handlers == handlers
    assert "changed" not in terminal.getvalue()
    assert ("listing /sim_cards started" in terminal.getvalue()) is (verbosity == 1)
    bar.close()


# --- never the key -------------------------------------------------------------------------


async def _echo_key_401(request: web.Request) -> web.Response:
    """A 401 that echoes the Authorization header everywhere it can."""
    auth = request.headers.get("Authorization", "")
    body = {"errors": [{"code": "10009", "title": "Bad key", "detail": auth, "meta": {"k": auth}}]}
    headers = {"x-request-id": auth, "x-ratelimit-limit": auth, "x-ratelimit-remaining": "1"}
    return web.json_response(body, status=401, headers=headers)


async def _bad_json(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"data": [', content_type="application/json")


async def _redirect_with_the_key(request: web.Request) -> web.Response:
    """A same-origin redirect loop whose Location carries the key."""
    raise web.HTTPFound(f"/v2/sim_cards?api_key={KEY}&n={len(request.query)}")


async def _redirect_away(_request: web.Request) -> web.Response:
    raise web.HTTPTemporaryRedirect(f"http://localhost:1/v2/sim_cards?token={KEY}")


@asynccontextmanager
async def _nothing_listening() -> AsyncIterator[Any]:
    with refusing() as served:
        yield served


def _mock(**options: Any) -> Callable[[], Any]:
    return lambda: MockTelnyxServer(sim_cards=30, actions=1, **options)


FAILURES: dict[str, tuple[type[TelnyxError], Callable[[], Any], dict[str, Any]]] = {
    "401 echoing the key": (AuthenticationError, lambda: serve(_echo_key_401), {}),
    "422": (UnprocessableEntityError, _mock(faults=FaultPlan(script=[422])), {}),
    "429": (RateLimitError, _mock(faults=FaultPlan(script=["429"] * 2, retry_after=0)), {}),
    "500": (InternalServerError, _mock(faults=FaultPlan(script=[500] * 2)), {}),
    "html 502": (InternalServerError, _mock(faults=FaultPlan(error_5xx=1.0)), {}),
    "drop": (APIConnectionError, _mock(faults=FaultPlan(script=["drop"] * 4)), {}),
    "truncate": (APIConnectionError, _mock(faults=FaultPlan(script=["truncate"] * 2)), {}),
    "timeout": (
        APITimeoutError,
        _mock(faults=FaultPlan(script=["hang"] * 2, hang_seconds=30)),
        {"timeout": 0.2},
    ),
    "refused": (APIConnectionError, _nothing_listening, {}),
    "bad body": (APIResponseValidationError, lambda: serve(_bad_json), {}),
    "redirect loop": (APIStatusError, lambda: serve(_redirect_with_the_key), {}),
    "redirect away": (APIStatusError, lambda: serve(_redirect_away), {}),
}


@pytest.mark.parametrize("kind", list(FAILURES))
async def test_the_key_is_in_no_event_log_line_or_span(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Under every failure kind, no event, log record or span attribute shows the key."""
    expected, server_of, options = FAILURES[kind]
    caplog.set_level(logging.DEBUG, logger="simcards_async")
    events: list[ResponseEvent] = []
    retry = RetryPolicy(max_retries=1, base=0, cap=0)
    with recording() as spans:
        async with AsyncExitStack() as stack:
            server = await stack.enter_async_context(server_of())
            client = await stack.enter_async_context(
                SimCardsClient(KEY, server.url, retry=retry, on_response=events.append, **options)
            )
            with pytest.raises(expected):
                await client.sim_cards(page_size=10).collect()
            texts = [repr(client.rate_limit)]
        texts += [repr(event) for event in events]
        texts += [repr(vars(e.error)) for e in events if e.error]
        records = [r for r in caplog.records if r.name.startswith("simcards_async")]
        texts += [f"{r.getMessage()} {r.args!r}" for r in records]
        texts.append(caplog.text)
        if spans is not None:
            found = spans.all()
            assert len(found) == len(events) + 1  # the listing's span and one per attempt
            for span in found:
                texts.append(f"{span.name} {dict(span.attributes or {})!r}")
                texts.append(f"{span.status.description} {span.events!r}")
    assert events
    assert any(r.levelno == logging.DEBUG for r in records)
    assert [where for where in texts if _leaks(where)] == []
