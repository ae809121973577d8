"""What the client does with the server's failures: status errors with their typed
``errors``, retries, dropped and truncated answers, hangs and deadlines.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from leaks import library_tasks
from polling import LoopClock, eventually, loop_turns
from servers import serve
from small_fleet import KEY, UNKNOWN_ID

from simcards_async import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ResponseEvent,
    RetryPolicy,
    SimCardsClient,
    UnprocessableEntityError,
    export,
)
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio


#: A card id a scripted server answers for.
CARD = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"


def _ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


# --- errors from the server -----------------------------------------------------------


async def test_wrong_key_is_authentication_error() -> None:
    """A key the server refuses gives ``AuthenticationError`` (401) with its code and request id."""
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, api_key="the-right-key") as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        with pytest.raises(AuthenticationError) as info:
            await client.sim_cards().collect()
        exc = info.value
        assert exc.status == 401
        assert exc.code == "10009"
        assert exc.request_id
        assert exc.request_id in str(exc)
        assert exc.url.startswith(server.url + "/sim_cards?")
        assert len(server.requests) == 1  # a 401 is not retried
        for text in (str(exc), repr(exc), exc.url, exc.body.decode(), repr(vars(exc))):
            assert KEY not in text
        assert KEY.encode() not in pickle.dumps(exc)


async def test_right_key_is_accepted() -> None:
    """The key the server expects is sent as a bearer token."""
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, api_key=KEY) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        assert len(await client.sim_cards().collect()) == 10
        assert server.requests[0].headers["authorization"] == "Bearer <redacted>"


async def test_unknown_card_is_not_found(client: SimCardsClient) -> None:
    """Fetching an id no card has gives ``NotFoundError`` (404), not retried."""
    with pytest.raises(NotFoundError) as info:
        await client.get_sim_card(UNKNOWN_ID)
    assert info.value.status == 404
    assert info.value.code == "10005"
    assert UNKNOWN_ID in str(info.value)
    with pytest.raises(NotFoundError):
        await client.get_sim_card_action(UNKNOWN_ID)


async def test_server_side_validation_is_unprocessable(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """A query the server refuses gives ``UnprocessableEntityError`` naming the parameter."""
    from simcards_async._models import decode_sim_card_page  # noqa: PLC0415

    # Every public argument is validated before sending, so go one level down.
    transport = client._transport()
    with pytest.raises(UnprocessableEntityError) as info:
        await transport.get("/sim_cards?page%5Bsize%5D=999", decode_sim_card_page)
    exc = info.value
    assert exc.status == 422
    assert exc.code == "10015"
    assert exc.errors[0].source is not None
    assert exc.errors[0].source.parameter == "page[size]"
    assert "page[size]" in str(exc)
    assert len(server.requests) == 1


@pytest.mark.parametrize("legacy", [False, True])
async def test_422_error_body_decodes(*, legacy: bool) -> None:
    """A 422's errors decode whether codes come as text or, in legacy bodies, as integers."""
    async with (
        MockTelnyxServer(
            sim_cards=10, actions=1, legacy_errors=legacy, faults=FaultPlan(script=[422])
        ) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        with pytest.raises(UnprocessableEntityError) as info:
            await client.sim_cards().collect()
        (error,) = info.value.errors
        assert error.code == "10015"
        assert error.detail
        assert "injected" in error.detail


async def test_5xx_after_retries_exhausted() -> None:
    """5xx answers are retried ``max_retries`` times, then raise ``InternalServerError``."""
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(script=[503, 504])) as server,
        SimCardsClient(KEY, server.url, max_retries=1) as client,
    ):
        stream = client.sim_cards()
        with pytest.raises(InternalServerError) as info:
            await stream.collect()
        assert info.value.status == 504
        assert stream.stats.retries == 1
        assert [r.status for r in server.requests] == [503, 504]


async def test_5xx_with_no_retries() -> None:
    """With ``max_retries=0`` the first 5xx is raised at once."""
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(script=[500])) as server,
        SimCardsClient(KEY, server.url, max_retries=0) as client,
    ):
        with pytest.raises(InternalServerError) as info:
            await client.get_sim_card(server.current_sim_card_ids()[0])
        assert info.value.status == 500
        assert len(server.requests) == 1


async def test_html_502_has_no_errors_but_keeps_the_body() -> None:
    """A proxy's HTML 502 gives an ``InternalServerError`` with no errors and the raw body."""
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=FaultPlan(error_5xx=1.0)) as server,
        SimCardsClient(KEY, server.url, max_retries=1) as client,
    ):
        with pytest.raises(InternalServerError) as info:
            await client.sim_cards().collect()
        exc = info.value
        assert exc.status == 502  # the 5xx cycle: 500 (JSON), then 502 (HTML)
        assert exc.errors == ()
        assert exc.code is None
        assert exc.body.startswith(b"<html>")
        assert str(exc).startswith("HTTP 502")


async def test_429_after_retries_exhausted() -> None:
    """A 429 with no retries left raises ``RateLimitError`` carrying ``Retry-After``."""
    async with (
        MockTelnyxServer(
            sim_cards=10, actions=1, faults=FaultPlan(script=["429"], retry_after=0.05)
        ) as server,
        SimCardsClient(KEY, server.url, max_retries=0) as client,
    ):
        with pytest.raises(RateLimitError) as info:
            await client.sim_cards().collect()
        exc = info.value
        assert exc.status == 429
        assert exc.code == "10011"
        assert exc.retry_after == pytest.approx(0.05)


async def test_retries_then_success() -> None:
    """A server that fails twice and then answers yields the full listing, two retries counted."""
    async with (
        MockTelnyxServer(sim_cards=60, actions=1, faults=FaultPlan(script=[503, 502])) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        stream = client.sim_cards(page_size=25)
        got = await stream.collect()
        assert _ids(got) == server.current_sim_card_ids()
        assert stream.stats.retries == 2
        assert [r.status for r in server.requests[:3]] == [503, 502, 200]
        assert server.fault_counts == {"503": 1, "502": 1}


async def test_429_then_success() -> None:
    """A 429 is waited out and retried, and the listing completes."""
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=["429"])) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        stream = client.sim_cards(page_size=10)
        assert _ids(await stream.collect()) == server.current_sim_card_ids()
        assert stream.stats.retries == 1


async def test_dropped_connection_is_retried() -> None:
    """A connection closed without an answer is retried and the listing completes."""
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=["drop"])) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        assert _ids(await client.sim_cards(page_size=10).collect()) == (
            server.current_sim_card_ids()
        )


async def test_dropped_connections_exhausted() -> None:
    """Connections dropped past every retry raise ``APIConnectionError``."""
    # aiohttp itself retries an idempotent request once when a connection drops before
    # any answer (RFC 9112 9.3.1), so two drops are needed to exhaust max_retries=0.
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=["drop", "drop"])) as s,
        SimCardsClient(KEY, s.url, max_retries=0) as client,
    ):
        with pytest.raises(APIConnectionError) as info:
            await client.sim_cards().collect()
        assert not isinstance(info.value, APIStatusError)
        # aiohttp's error is named, not chained: it may hold the server's bytes (an echoed
        # key in half-read headers), which the message has redacted.
        assert "ServerDisconnectedError" in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__context__ is None


async def test_truncated_body_is_never_a_short_page() -> None:
    """A body cut off half way raises (after retries), never passes for a short page."""
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=["truncate"])) as s,
        SimCardsClient(KEY, s.url, max_retries=0) as client,
    ):
        with pytest.raises(APIConnectionError):
            await client.sim_cards().collect()


async def test_truncated_body_is_retried() -> None:
    """A truncated body is retried and the listing completes whole."""
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=["truncate"])) as s,
        SimCardsClient(KEY, s.url) as client,
    ):
        stream = client.sim_cards(page_size=30)
        assert _ids(await stream.collect()) == s.current_sim_card_ids()
        assert stream.stats.retries == 1


async def test_an_answer_cut_off_or_stalled_after_its_head_keeps_its_status_and_request_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection dropped in the body, or the body stalled past ``timeout``: the attempt's
    event had no status and no request id (the figure a report of the failure needs), as if
    no answer had come. The error is the same; the event says what came.
    """
    released, written = asyncio.Event(), asyncio.Event()
    served: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        served.append(f"req-{len(served) + 1}")
        answer = web.StreamResponse(status=200, headers={"x-request-id": served[-1]})
        answer.content_length = 1000
        await answer.prepare(request)
        await answer.write(b'{"data": {"id": ')
        if len(served) == 1:  # cut off
            assert request.transport is not None
            request.transport.close()
        else:  # stalled until the test ends
            written.set()
            await released.wait()
        return answer

    events: list[ResponseEvent] = []
    card = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"
    async with serve(handle) as where:
        try:
            async with SimCardsClient(
                KEY, where.url, max_retries=0, on_response=events.append
            ) as client:
                with pytest.raises(APIConnectionError) as cut:
                    await client.get_sim_card(card)
                assert not isinstance(cut.value, APITimeoutError)
            # The body never ends: the clock moves past the hour's timeout once the head is
            # written and the client has had the loop's turns to read it, so a stall of the
            # machine cannot time it out before its head came (a five-second timeout did).
            async with SimCardsClient(
                KEY, where.url, timeout=3600, max_retries=0, on_response=events.append
            ) as client:
                clock = LoopClock(monkeypatch)
                failed: list[BaseException] = []

                async def get() -> None:
                    with pytest.raises(APITimeoutError) as info:
                        await client.get_sim_card(card)
                    failed.append(info.value)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(get)
                    await eventually(written.is_set, what="the stalled answer's head")
                    await loop_turns()
                    clock.advance(3600)
                (stalled,) = failed
                # asyncio's own before 3.11, the built-in one since.
                assert isinstance(stalled.__cause__, (TimeoutError, asyncio.TimeoutError))
        finally:
            released.set()
    assert [(e.status, e.request_id, type(e.error)) for e in events] == [
        (200, "req-1", APIConnectionError),
        (200, "req-2", APITimeoutError),
    ]


async def test_an_error_answer_whose_body_is_cut_off_is_its_status() -> None:
    """A 404 or a 401 whose body the connection cut off was a connection error, sent five
    times (a key the server refused, again and again), its status lost; a 429's wait was
    ignored. The status stands, with no body: a 404 once, a 429 retried after its wait.
    """
    statuses: list[int] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        status = (404, 429, 200)[min(len(statuses), 2)]
        statuses.append(status)
        if status == 200:
            return web.json_response({"data": {"id": CARD, "record_type": "sim_card"}})
        headers = {"x-request-id": f"req-{len(statuses)}", "Retry-After": "0"}
        answer = web.StreamResponse(status=status, headers=headers)
        answer.content_length = 1000
        await answer.prepare(request)
        await answer.write(b'{"errors": [')
        assert request.transport is not None
        request.transport.close()
        return answer

    events: list[ResponseEvent] = []
    async with (
        serve(handle) as where,
        SimCardsClient(KEY, where.url, on_response=events.append) as client,
    ):
        with pytest.raises(NotFoundError) as missing:
            await client.get_sim_card(CARD)
        assert missing.value.attempts == 1
        card = await client.get_sim_card(CARD)  # the 429 is waited out, then the card
    assert card.id == CARD
    assert statuses == [404, 429, 200]
    assert [(e.status, type(e.error)) for e in events] == [
        (404, NotFoundError),
        (429, RateLimitError),
        (200, type(None)),
    ]


async def test_a_408_is_retried() -> None:
    """``408 Request Timeout`` (a server's idle connection, or its read of the request,
    timed out: the request was not acted on) ended the listing at once; it is retried.
    """
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=FaultPlan(script=[408])) as server,
        SimCardsClient(KEY, server.url, retry=RetryPolicy(base=0, cap=0)) as client,
    ):
        stream = client.sim_cards(page_size=30)
        assert _ids(await stream.collect()) == server.current_sim_card_ids()
        assert stream.stats.retries == 1


async def test_hung_answer_times_out() -> None:
    """An answer that never comes raises ``APITimeoutError`` after ``timeout``."""
    plan = FaultPlan(script=["hang"], hang_seconds=30)
    async with (
        MockTelnyxServer(sim_cards=10, actions=1, faults=plan) as server,
        SimCardsClient(KEY, server.url, timeout=0.2, max_retries=0) as client,
    ):
        with pytest.raises(APITimeoutError) as info:
            await client.sim_cards().collect()
        assert isinstance(info.value, APIConnectionError)


async def test_deadline_bounds_a_whole_listing() -> None:
    """``deadline`` ends a listing that takes too long with ``APITimeoutError``."""
    plan = FaultPlan(script=[None, "hang"], hang_seconds=30)
    async with (
        MockTelnyxServer(sim_cards=30, actions=1, faults=plan) as server,
        SimCardsClient(KEY, server.url, deadline=0.3, max_concurrency=1) as client,
    ):
        stream = client.sim_cards(page_size=10)
        with pytest.raises(APITimeoutError, match="deadline"):
            await stream.collect()
        await stream.aclose()
        assert library_tasks() == []


async def test_response_validation_error_for_bad_json(server: MockTelnyxServer) -> None:
    """A 2xx body that is not the documented JSON is an ``APIResponseValidationError``."""
    from simcards_async._models import decode_sim_card_action  # noqa: PLC0415

    async with SimCardsClient(KEY, server.url, max_retries=0) as client:
        card_id = server.current_sim_card_ids()[0]
        # A card's body read as an action still has an id; a page read as one item does not.
        with pytest.raises(APIResponseValidationError) as info:
            await client._transport().get("/sim_cards?page%5Bsize%5D=2", decode_sim_card_action)
        assert info.value.status == 200
        assert card_id  # the server answered 200 with a page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", "2018-02-02"),
        ("updated_at", "2018-02-02T22:25Z"),
        # No offset: RFC 3339 requires one. It was read as a naive datetime, written to CSV
        # without a zone and to Parquet as UTC, an instant the API never gave.
        ("created_at", "2026-01-01T10:00:00"),
    ],
)
async def test_a_timestamp_the_types_cannot_read_names_its_field(
    tmp_path: Path, field: str, value: str
) -> None:
    """The spec types a timestamp as any ISO 8601 text; this client's ``datetime`` reads RFC
    3339, as Telnyx writes. Another form fails the page naming the field, not as JSON "not
    documented"; a JSON-lines export, which reads only ids, writes the record as it came.
    """
    record = {"id": str(UNKNOWN_ID), "record_type": "sim_card", field: value}
    meta = {"page_number": 1, "page_size": 250, "total_pages": 1, "total_results": 1}

    async def answer(_request: web.Request) -> web.Response:
        return web.json_response({"data": [record], "meta": meta})

    async with serve(answer) as served, SimCardsClient(KEY, served.url, max_retries=0) as client:
        with pytest.raises(APIResponseValidationError) as info:
            await client.sim_cards().collect()
        assert f"$.data[0].{field}" in str(info.value)
        assert "does not decode into this client's models" in str(info.value)
        target = tmp_path / "cards.jsonl"
        await export(client.sim_cards(), target)
    assert json.loads(target.read_text()) == record
