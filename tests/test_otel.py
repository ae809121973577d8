"""OpenTelemetry: a span per listing, a CLIENT span per HTTP attempt under it, by the HTTP
semantic conventions; recorded with the SDK's in-memory exporter (skipped without the SDK).
"""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

import asyncio
import logging
import time
import uuid

import aiohttp
from aiohttp import web
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from polling import eventually, loop_turns
from servers import holding_page, serve
from tracing import recording

from simcards_async import (
    APIConnectionError,
    BadRequestError,
    DriftWarning,
    InternalServerError,
    ResponseEvent,
    RetryPolicy,
    SimCardsClient,
    merge,
)
from simcards_async.testing import Drift, FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEY-otel-tests"
INSTANT = RetryPolicy(max_retries=4, base=0, cap=0)
CARD = uuid.UUID("6a09cdc3-8948-47f0-aa62-74ac943d6c58")


def _split(spans: list[ReadableSpan]) -> tuple[list[ReadableSpan], list[ReadableSpan]]:
    listings = [s for s in spans if s.kind is SpanKind.INTERNAL]
    attempts = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(listings) + len(attempts) == len(spans)
    return listings, attempts


async def test_each_listing_span_says_its_query_without_the_key() -> None:
    """Two listings of a merge had spans alike (``simcards.path``, ``simcards.page_size``):
    each says what its query asks, ``simcards.query``, a filter's value that is the key
    removed.
    """
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=100, actions=1) as server,
            SimCardsClient(KEY, server.url) as client,
        ):
            await merge(
                client.sim_cards(status=["enabled", "disabled"], page_size=25),
                client.sim_cards(tags=[KEY], sort="-current_billing_period_consumed_data.amount"),
                ordered=False,
            ).collect()
        listings, _ = _split(list(spans.all()))
    assert sorted(str((span.attributes or {})["simcards.query"]) for span in listings) == [
        "status=['enabled', 'disabled']",
        "tags='<redacted>', sort='-current_billing_period_consumed_data.amount'",
    ]


async def test_a_listing_is_one_span_and_each_attempt_a_client_span_under_it() -> None:
    """Attempts are CLIENT spans, children of the listing's span, one per ``on_response`` event."""
    events: list[ResponseEvent] = []
    faults = FaultPlan(script=[None, 503, "drop", "drop"])
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=100, actions=1, faults=faults) as server,
            SimCardsClient(
                KEY, server.url, retry=INSTANT, max_concurrency=1, on_response=events.append
            ) as client,
        ):
            stream = client.sim_cards(page_size=25)
            await stream.collect()
            host, port = server.url.split("//")[1].split("/")[0].split(":")
        listings, attempts = _split(list(spans.all()))
    (listing,) = listings
    assert listing.name == "list /sim_cards"
    assert dict(listing.attributes or {}) == {
        "simcards.outcome": "done",
        "simcards.path": "/sim_cards",
        "simcards.query": "",
        "simcards.page_size": 25,
        "simcards.pages": 4,
        "simcards.items": 100,
        "simcards.retries": 2,
        "simcards.rate_limited": 0,
        "simcards.drift.duplicates_dropped": 0,
        "simcards.drift.short_pages": 0,
        "simcards.drift.rereads": 0,
        "simcards.drift.rescans": 0,
        "simcards.drift.gaps_filled": 0,
    }
    assert listing.status.status_code is StatusCode.UNSET
    assert len(attempts) == len(events) == stream.stats.pages_fetched + stream.stats.retries
    for span, event in zip(attempts, events, strict=True):
        assert span.parent is not None
        assert span.parent.span_id == listing.context.span_id
        assert span.context.trace_id == listing.context.trace_id
        assert span.name == "GET"
        attributes = dict(span.attributes or {})
        assert attributes["http.request.method"] == "GET"
        assert attributes["url.full"] == event.url
        assert (attributes["server.address"], attributes["server.port"]) == (host, int(port))
        assert attributes.get("http.response.status_code") == event.status
        resends = attributes.get("http.request.resend_count")
        assert resends == (None if event.attempt == 1 else event.attempt - 1)
        if event.error is None:
            assert "error.type" not in attributes
            assert span.status.status_code is StatusCode.UNSET
        else:
            assert span.status.status_code is StatusCode.ERROR
    failed = {dict(s.attributes or {}).get("error.type") for s in attempts}
    assert failed == {None, "503", "simcards_async.APIConnectionError"}


async def test_a_stopped_listing_counts_the_items_its_reader_took(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a ``break`` at the first card, the span's ``simcards.items`` and the INFO line
    said 100 (the items handed over, read ahead): they say 1, as ``stats.items_yielded``.
    """
    with recording() as spans, caplog.at_level("INFO", logger="simcards_async"):
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=3000, actions=1) as server,
            SimCardsClient(KEY, server.url) as client,
        ):
            stream = client.sim_cards(page_size=100)
            async with stream:
                async for _ in stream:
                    break
            assert stream.stats.items_yielded == 1
        listings, _ = _split(list(spans.all()))
    (listing,) = listings
    assert dict(listing.attributes or {})["simcards.items"] == 1
    (ended,) = [r.getMessage() for r in caplog.records if "listing /sim_cards stopped" in r.message]
    assert ", 1 items, " in ended


async def test_a_failed_listing_span_says_why() -> None:
    """A listing that raises ends its span with an error status and ``error.type``."""
    retry = RetryPolicy(max_retries=1, base=0, cap=0)
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(script=[500] * 2)) as server,
            SimCardsClient(KEY, server.url, retry=retry) as client,
        ):
            with pytest.raises(InternalServerError):
                await client.sim_cards().collect()
        listings, attempts = _split(list(spans.all()))
    (listing,) = listings
    assert listing.status.status_code is StatusCode.ERROR
    assert dict(listing.attributes or {})["error.type"] == "simcards_async.InternalServerError"
    resends = [dict(s.attributes or {}).get("http.request.resend_count") for s in attempts]
    assert resends == [None, 1]
    assert all(dict(s.attributes or {})["error.type"] == "500" for s in attempts)


async def test_a_listing_failed_after_its_first_page_names_the_error_not_its_group(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A page after the first fails inside the engine's task group: the span said
    ``error.type`` ``builtins.ExceptionGroup`` and the INFO line "unhandled errors in a
    TaskGroup", where the caller got a ``BadRequestError``. Both name that error now.
    """
    caplog.set_level(logging.INFO, logger="simcards_async")
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=[None, 400])) as srv,
            SimCardsClient(KEY, srv.url, retry=RetryPolicy(max_retries=0), max_concurrency=1) as c,
        ):
            with pytest.raises(BadRequestError):
                await c.sim_cards(page_size=10).collect()
        listings, _ = _split(list(spans.all()))
    (listing,) = listings
    assert dict(listing.attributes or {})["error.type"] == "simcards_async.BadRequestError"
    assert listing.status.description == "BadRequestError"
    (ended,) = [r.getMessage() for r in caplog.records if "listing /sim_cards failed" in r.message]
    assert "HTTP 400" in ended
    assert "TaskGroup" not in ended


async def test_drift_counts_are_span_attributes() -> None:
    """What the stream counted of drift is on the listing's span."""
    drift = Drift(seed=5, every=3, insert=7)
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=500, actions=1, drift=drift) as server,
            SimCardsClient(KEY, server.url, max_concurrency=1, read_ahead=4) as client,
        ):
            stream = client.sim_cards(page_size=50)
            with pytest.warns(DriftWarning):
                await stream.collect()
        (listing,), _ = _split(list(spans.all()))
    attributes = dict(listing.attributes or {})
    assert attributes["simcards.drift.duplicates_dropped"] == stream.stats.drift.duplicates_dropped
    assert attributes["simcards.drift.duplicates_dropped"] > 0


async def test_a_single_get_is_a_root_client_span() -> None:
    """``get_sim_card`` makes one CLIENT span and no listing span."""
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=3, actions=1) as server,
            SimCardsClient(KEY, server.url) as client,
        ):
            await client.get_sim_card(server.current_sim_card_ids()[0])
        listings, attempts = _split(list(spans.all()))
    assert listings == []
    (span,) = attempts
    assert span.parent is None
    assert dict(span.attributes or {})["http.response.status_code"] == 200


async def test_a_connection_failure_has_no_status_code() -> None:
    """An attempt that got no answer has ``error.type`` and no status code."""
    async with MockTelnyxServer(sim_cards=1, actions=1) as gone:
        url = gone.url
    with recording() as spans:
        assert spans is not None
        async with SimCardsClient(KEY, url, retry=RetryPolicy(max_retries=0)) as client:
            with pytest.raises(APIConnectionError):
                await client.sim_cards().collect()
        _, attempts = _split(list(spans.all()))
    (span,) = attempts
    attributes = dict(span.attributes or {})
    assert "http.response.status_code" not in attributes
    assert attributes["error.type"] == "simcards_async.APIConnectionError"


async def test_a_stopped_listing_ends_every_span() -> None:
    """A consumer that breaks early leaves no span open: the listing's ends, and its attempts'."""
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=1000, actions=1) as server,
            SimCardsClient(KEY, server.url, max_concurrency=4) as client,
        ):
            async with client.sim_cards(page_size=10) as stream:
                async for _ in stream:
                    break
            listings, attempts = _split(list(spans.all()))
            sent = client._transport().requests
    assert len(listings) == 1
    assert len(attempts) == sent  # every attempt sent has its span ended, cancelled or not
    assert all(s.end_time is not None for s in [*listings, *attempts])


async def test_an_attempt_cancelled_before_its_answer_says_so() -> None:
    """After a ``break``, an attempt still on its way ended its span as a success would:
    no status code, no ``error.type``, status unset. It says ``error.type`` ``cancelled``
    (its status left unset: the reader's stop is no failure); the listing's span says
    ``simcards.outcome`` ``stopped``, as its log line does.
    """
    released, arrived = asyncio.Event(), asyncio.Event()
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=100, actions=1) as server,
            holding_page(server.url, 2, released, arrived) as held,
            SimCardsClient(KEY, held.url, max_concurrency=2) as client,
        ):
            async with client.sim_cards(page_size=10) as stream:
                async for _ in stream:
                    await eventually(arrived.is_set, what="page 2 asked for")
                    break  # page 2 is held: its attempt is on its way
            released.set()
            listings, attempts = _split(list(spans.all()))
    (listing,) = listings
    assert (listing.attributes or {})["simcards.outcome"] == "stopped"
    assert listing.status.status_code is StatusCode.UNSET
    by_page = {
        str(s.attributes["url.full"]).rsplit("page%5Bnumber%5D=", 1)[1].split("&")[0]: s
        for s in attempts
        if s.attributes
    }
    held_span = by_page["2"]
    assert (held_span.attributes or {}).get("error.type") == "cancelled"
    assert "http.response.status_code" not in (held_span.attributes or {})
    assert held_span.status.status_code is StatusCode.UNSET
    answered = by_page["1"]
    assert "error.type" not in (answered.attributes or {})
    assert (answered.attributes or {})["http.response.status_code"] == 200


async def test_an_attempt_failed_by_a_session_closed_under_it_says_its_error() -> None:
    """A ``session=`` the caller closed while a request was on its way: the caller gets the
    ``RuntimeError`` saying so, and the attempt's span said ``error.type`` ``cancelled``, its
    status unset, though nothing was cancelled. It names the error's class, status ERROR.
    """
    arrived, released = asyncio.Event(), asyncio.Event()

    async def held(_request: web.Request) -> web.Response:
        arrived.set()
        await released.wait()
        return web.json_response({"data": {"id": str(CARD), "record_type": "sim_card"}})

    with recording() as spans:
        assert spans is not None
        async with serve(held) as served, aiohttp.ClientSession() as session:
            client = SimCardsClient(KEY, served.url, session=session)
            get = asyncio.create_task(client.get_sim_card(CARD))
            await eventually(arrived.is_set, what="the request arrived")
            await session.close()
            with pytest.raises(RuntimeError, match="session"):
                await get
            released.set()
            await client.aclose()
        _, attempts = _split(list(spans.all()))
    (span,) = attempts
    assert (span.attributes or {})["error.type"] == "builtins.RuntimeError"
    assert span.status.status_code is StatusCode.ERROR


async def test_an_attempt_span_ends_at_its_answer_with_its_status() -> None:
    """A page answered long before its turn waits for the consumer as bytes: its span ended
    only when the page was decoded (as long as the consumer's pause), or, the listing
    stopped first, at the stop and with no status. It ends at the answer, with its status.
    """
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=130, actions=1) as server,
            SimCardsClient(KEY, server.url, max_concurrency=8, read_ahead=12) as client,
        ):
            async with client.sim_cards(page_size=10) as stream:
                async for _ in stream.pages():
                    # The consumer holds page 1 until all 13 pages (the read-ahead takes
                    # them all) are answered and read; most wait for their turn as bytes.
                    await eventually(
                        lambda: [r.status for r in server.requests] == [200] * 13,
                        what="every page answered",
                    )
                    await loop_turns()  # the client reads what the server wrote
                    resumed = time.time_ns()
                    break
            _, attempts = _split(list(spans.all()))
    assert len(attempts) == 13
    assert [(s.attributes or {}).get("http.response.status_code") for s in attempts] == [200] * 13
    assert all(s.end_time is not None and s.end_time < resumed for s in attempts)


async def test_the_attempt_span_is_current_while_the_request_is_sent() -> None:
    """The session's request hooks (which OpenTelemetry's aiohttp instrumentation uses) see it."""
    current: list[int] = []

    async def on_request_start(*_: object) -> None:
        current.append(trace.get_current_span().get_span_context().span_id)

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_request_start)
    with recording() as spans:
        assert spans is not None
        async with (
            MockTelnyxServer(sim_cards=60, actions=1) as server,
            aiohttp.ClientSession(trace_configs=[config]) as session,
            SimCardsClient(KEY, server.url, session=session) as client,
        ):
            await client.sim_cards(page_size=20).collect()
        _, attempts = _split(list(spans.all()))
    assert sorted(current) == sorted(s.context.span_id for s in attempts)
    assert len(current) == 3
