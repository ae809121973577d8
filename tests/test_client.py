"""Functional tests of ``SimCardsClient`` over loopback HTTP against ``MockTelnyxServer``."""

from __future__ import annotations

import asyncio
import gc
import math
import pickle
import sys
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from leaks import library_tasks
from polling import eventually, loop_turns

from simcards_async import (
    SIM_CARD_STATUSES,
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    Progress,
    RateLimitError,
    SimCard,
    SimCardsClient,
    TelnyxError,
    UnprocessableEntityError,
)
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYsecret-0123456789abcdef"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


# --- construction, no server needed ---------------------------------------------------


@pytest.fixture
def half_built_clients() -> Iterator[list[Any]]:
    """Collect what a refused constructor leaves for ``__del__``, inside the test that made it.

    A client whose ``__init__`` raised is still finalized; its ``__del__`` must cope (pinned by
    ``test_refused_constructor_leaves_a_quiet_object``). Here the half-built object is
    collected before the test ends, and only that known ``__del__`` failure is tolerated, so a
    test about validation does not fail for it, nor pass it on to whichever test runs next.
    """
    caught: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        yield caught
        gc.collect()
    finally:
        sys.unraisablehook = previous
    unexpected = [
        u for u in caught if getattr(u.object, "__qualname__", "") != "SimCardsClient.__del__"
    ]
    assert unexpected == []


def test_refused_constructor_leaves_a_quiet_object() -> None:
    """A client whose constructor refused its arguments is finalized without an error."""
    caught: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        with pytest.raises(InvalidParameterError) as info:
            SimCardsClient(KEY, "http://example.com/v2")
        del info
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [f"{u.exc_type.__name__}: {u.exc_value} in {u.object!r}" for u in caught] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/v2",
        "http://10.0.0.1/v2",
        "http://127.0.0.1.example.com/v2",
        "ftp://127.0.0.1/v2",
        "api.telnyx.com/v2",
        "https:///v2",
    ],
)
@pytest.mark.usefixtures("half_built_clients")
async def test_clear_text_to_a_remote_host_is_refused(url: str) -> None:
    """A base URL that would send the key unencrypted off the machine is refused up front."""
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, url)
    assert info.value.parameter == "base_url"
    assert "https" in str(info.value)
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.telnyx.com/v2",
        "https://api.telnyx.com/v2/",
        "http://127.0.0.1:9/v2",
        "http://localhost:9/v2",
        "http://[::1]:9/v2",
    ],
)
async def test_https_and_loopback_urls_are_accepted(url: str) -> None:
    """``https://`` anywhere and plain ``http://`` on loopback are accepted (no request made)."""
    client = SimCardsClient(KEY, url)
    assert client.base_url == url.rstrip("/")
    await client.aclose()


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"max_concurrency": 2.0}, "max_concurrency"),
        ({"read_ahead": 0}, "read_ahead"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"deadline": 0}, "deadline"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": False}, "max_retries"),
        ({"session": object()}, "session"),
    ],
)
@pytest.mark.usefixtures("half_built_clients")
async def test_bad_client_options_are_refused(kwargs: dict[str, Any], parameter: str) -> None:
    """Bad client options raise ``InvalidParameterError`` naming the option."""
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, "http://127.0.0.1:9/v2", **kwargs)
    assert info.value.parameter == parameter


async def test_missing_key_fails_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key (argument or ``TELNYX_API_KEY``) the first use fails clearly, sends nothing."""
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    client = SimCardsClient(base_url="http://127.0.0.1:9/v2")
    assert "api_key=missing" in repr(client)
    with pytest.raises(InvalidParameterError) as info:
        client.sim_cards()
    assert info.value.parameter == "api_key"
    assert "TELNYX_API_KEY" in str(info.value)
    with pytest.raises(InvalidParameterError):
        await client.get_sim_card(UNKNOWN_ID)
    with pytest.raises(InvalidParameterError):
        async with client:
            pass
    await client.aclose()


async def test_empty_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty ``TELNYX_API_KEY`` is no key: the first use fails with ``api_key`` named."""
    monkeypatch.setenv("TELNYX_API_KEY", "")
    client = SimCardsClient(base_url="http://127.0.0.1:9/v2")
    with pytest.raises(InvalidParameterError) as info:
        await client.get_sim_card_action(UNKNOWN_ID)
    assert info.value.parameter == "api_key"
    await client.aclose()


async def test_closed_client_raises_runtime_error() -> None:
    """Every method of a closed client raises ``RuntimeError``; closing twice is fine."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    async with client:
        pass
    await client.aclose()
    assert "closed" in repr(client)
    with pytest.raises(RuntimeError, match="closed"):
        client.sim_cards()
    with pytest.raises(RuntimeError, match="closed"):
        client.sim_card_actions()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_sim_card(UNKNOWN_ID)
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_sim_card_action(UNKNOWN_ID)
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass


async def test_bad_arguments_fail_before_any_request() -> None:
    """Endpoint arguments are validated when the stream is made, before anything is sent."""
    async with SimCardsClient(KEY, "http://127.0.0.1:9/v2") as client:
        with pytest.raises(InvalidParameterError) as info:
            client.sim_cards(status="active")
        assert info.value.parameter == "status"
        with pytest.raises(InvalidParameterError) as info:
            client.sim_card_actions(action_type="reboot")
        assert info.value.parameter == "action_type"
        with pytest.raises(InvalidParameterError) as info:
            await client.get_sim_card("nope")
        assert info.value.parameter == "id"
        with pytest.raises(InvalidParameterError) as info:
            await client.get_sim_card_action("nope")
        assert info.value.parameter == "id"


def _drop(holder: list[Any]) -> None:
    """Drop the last reference to what ``holder`` holds, and collect it."""
    holder.clear()
    gc.collect()


async def test_unclosed_client_warns() -> None:
    """A client that was opened and never closed warns with ``ResourceWarning`` when collected."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    await client.__aenter__()
    session = client._session
    assert session is not None
    holder = [client]
    del client
    with pytest.warns(ResourceWarning, match="SimCardsClient") as record:
        _drop(holder)
    assert "aclose" in str(record[0].message)
    # The warning keeps the client (its source) alive, and so the leaked session: close it
    # here, or aiohttp's own ResourceWarning would go off after the test.
    await session.close()


async def test_never_opened_client_does_not_warn() -> None:
    """A client that never opened a session has nothing to leak and does not warn."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    assert "unopened" in repr(client)
    del client
    gc.collect()  # filterwarnings=error turns any warning here into a failure


async def test_key_not_in_client_repr() -> None:
    """The client's repr and str never show the key, not even in part."""
    client = SimCardsClient(KEY, "http://127.0.0.1:9/v2")
    async with client:
        stream = client.sim_cards(tags="customers")
        for text in (repr(client), str(client), repr(stream), str(stream)):
            assert KEY not in text
            assert KEY[:8] not in text
        assert "api_key=set" in repr(client)
        await stream.aclose()


# --- fixtures and helpers ---------------------------------------------------------------

CARDS = 300
ACTIONS = 200


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    """A small deterministic fleet on loopback."""
    async with MockTelnyxServer(sim_cards=CARDS, actions=ACTIONS, seed=1) as mock:
        yield mock


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[SimCardsClient]:
    """A client of ``server`` with a modest concurrency."""
    async with SimCardsClient(KEY, server.url, max_concurrency=4) as sc:
        yield sc


@pytest.fixture
async def everything(client: SimCardsClient) -> list[SimCard]:
    """Every card of the fleet, read with no filter."""
    return await client.sim_cards().collect()


def _ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


async def _settle() -> None:
    """Let cancelled tasks and finalizers run to their end (a hang fails the test)."""
    await eventually(lambda: not library_tasks(), what="the library's tasks to end")
    await loop_turns()


# --- filters -------------------------------------------------------------------------


async def test_unfiltered_listing_is_the_whole_fleet_in_order(
    server: MockTelnyxServer, everything: list[SimCard]
) -> None:
    """An unfiltered listing yields every card once, in the server's listing order."""
    assert len(everything) == CARDS
    assert _ids(everything) == server.current_sim_card_ids()


@pytest.mark.parametrize(
    "status",
    [
        "enabled",
        "disabled",
        "standby",
        "data_limit_exceeded",
        "unauthorized_imei",
        ["disabled", "standby"],
        list(SIM_CARD_STATUSES),
    ],
)
async def test_status_filter_narrows(
    client: SimCardsClient, everything: list[SimCard], status: str | list[str]
) -> None:
    """``status`` yields exactly the cards with any of the given statuses, in listing order."""
    wanted = {status} if isinstance(status, str) else set(status)
    expected = [c for c in everything if c.status.value in wanted]
    got = await client.sim_cards(status=status, page_size=50).collect()
    assert expected
    assert _ids(got) == _ids(expected)


@pytest.mark.parametrize("tags", ["customers", ["customers", "vip"], ("iot", "fleet-a")])
async def test_tags_filter_narrows(
    client: SimCardsClient, everything: list[SimCard], tags: str | list[str]
) -> None:
    """``tags`` yields exactly the cards carrying all the given tags."""
    wanted = {tags} if isinstance(tags, str) else set(tags)
    expected = [c for c in everything if wanted <= set(c.tags)]
    got = await client.sim_cards(tags=tags, page_size=50).collect()
    assert 0 < len(expected) < len(everything)
    assert _ids(got) == _ids(expected)


async def test_iccid_filter_matches_part_of_the_iccid(
    client: SimCardsClient, everything: list[SimCard]
) -> None:
    """``iccid`` matches any card whose ICCID contains the given digits."""
    iccid = everything[17].iccid
    assert iccid is not None
    part = iccid[9:15]
    expected = [c for c in everything if part in (c.iccid or "")]
    got = await client.sim_cards(iccid=part).collect()
    assert everything[17].id in _ids(got)
    assert _ids(got) == _ids(expected)
    exact = await client.sim_cards(iccid=iccid).collect()
    assert _ids(exact) == [everything[17].id]


async def test_msisdn_filter_finds_the_card(
    client: SimCardsClient, everything: list[SimCard]
) -> None:
    """``msisdn`` (with its ``+``) yields the one card with that number."""
    card = everything[42]
    assert card.msisdn is not None
    assert card.msisdn.startswith("+")
    got = await client.sim_cards(msisdn=card.msisdn).collect()
    assert _ids(got) == [card.id]


async def test_group_filter_narrows(client: SimCardsClient, everything: list[SimCard]) -> None:
    """``sim_card_group_id`` yields exactly the cards of that group."""
    group = everything[3].sim_card_group_id
    assert group is not None
    expected = [c for c in everything if c.sim_card_group_id == group]
    got = await client.sim_cards(sim_card_group_id=group, page_size=25).collect()
    assert 0 < len(expected) < len(everything)
    assert _ids(got) == _ids(expected)


async def test_filters_combine(client: SimCardsClient, everything: list[SimCard]) -> None:
    """Several filters at once yield the cards matching all of them."""
    group = everything[0].sim_card_group_id
    expected = [
        c
        for c in everything
        if c.status.value in {"enabled", "disabled"}
        and "customers" in c.tags
        and c.sim_card_group_id == group
    ]
    got = await client.sim_cards(
        status=["enabled", "disabled"], tags="customers", sim_card_group_id=group, page_size=5
    ).collect()
    assert expected
    assert _ids(got) == _ids(expected)


async def test_include_sim_card_group_embeds_the_group(client: SimCardsClient) -> None:
    """With ``include_sim_card_group`` each card carries its own group."""
    cards = await client.sim_cards(include_sim_card_group=True, page_size=100).collect()
    assert len(cards) == CARDS
    for card in cards:
        assert card.sim_card_group is not None
        assert card.sim_card_group.id == card.sim_card_group_id
    plain = await client.sim_cards(limit=10).collect()
    assert all(card.sim_card_group is None for card in plain)


@pytest.mark.parametrize(
    ("sort", "descending"),
    [
        ("current_billing_period_consumed_data.amount", False),
        ("-current_billing_period_consumed_data.amount", True),
    ],
)
async def test_sort_by_consumed_data(
    client: SimCardsClient, everything: list[SimCard], sort: str, *, descending: bool
) -> None:
    """``sort`` orders the whole listing by consumed data (amounts monotonic), either way."""
    got = await client.sim_cards(sort=sort, page_size=40).collect()
    amounts = [c.current_billing_period_consumed_data.amount for c in got]
    assert all(isinstance(a, Decimal) for a in amounts)
    assert amounts == sorted(amounts, reverse=descending)  # type: ignore[type-var]
    assert amounts[0] != amounts[-1]
    assert sorted(_ids(got)) == sorted(_ids(everything))


@pytest.mark.parametrize(
    ("filter_name", "pick"),
    [
        ("sim_card_id", lambda a: a["sim_card_id"]),
        ("status", lambda _: "completed"),
        ("status", lambda _: "failed"),
        ("status", lambda _: "in-progress"),
        ("action_type", lambda _: "disable"),
        ("action_type", lambda _: "set_public_ip"),
    ],
)
async def test_action_filters_narrow(
    server: MockTelnyxServer, client: SimCardsClient, filter_name: str, pick: Any
) -> None:
    """Each ``sim_card_actions`` filter yields exactly the matching actions, in order."""
    rendered = list(server.fleet.actions())
    value = pick(rendered[5])
    field = {"sim_card_id": "sim_card_id", "action_type": "action_type"}.get(filter_name)
    expected = [
        a["id"]
        for a in rendered
        if (a[field] if field else a["status"]["value"]) == value  # status is an object
    ]
    got = await client.sim_card_actions(page_size=30, **{filter_name: value}).collect()
    assert expected
    assert _ids(got) == expected


async def test_bulk_action_filter_narrows(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``bulk_sim_card_action_id`` yields exactly the actions of that bulk operation."""
    rendered = list(server.fleet.actions())
    bulk = next(a["bulk_sim_card_action_id"] for a in rendered if a["bulk_sim_card_action_id"])
    expected = [a["id"] for a in rendered if a["bulk_sim_card_action_id"] == bulk]
    got = await client.sim_card_actions(bulk_sim_card_action_id=bulk).collect()
    assert _ids(got) == expected


async def test_action_listing_is_every_action_in_order(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """An unfiltered actions listing yields every action once, in the server's order."""
    got = await client.sim_card_actions(page_size=33).collect()
    assert _ids(got) == server.current_action_ids()


# --- paging --------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 7, 250])
async def test_order_across_pages(page_size: int) -> None:
    """Any page size yields the fleet once each, in listing order across page boundaries."""
    async with (
        MockTelnyxServer(sim_cards=60, actions=1, seed=3) as server,
        SimCardsClient(KEY, server.url, max_concurrency=8) as client,
    ):
        stream = client.sim_cards(page_size=page_size)
        got = await stream.collect()
        assert _ids(got) == server.current_sim_card_ids()
        assert stream.stats.pages_fetched == math.ceil(60 / page_size)
        sizes = {r.query["page[size]"][0] for r in server.requests}
        assert sizes == {str(page_size)}


async def test_every_request_sends_page_number_and_size(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """Each page is asked for once, by ``page[number]`` and ``page[size]``."""
    await client.sim_cards(page_size=40).collect()
    numbers = sorted(int(r.query["page[number]"][0]) for r in server.requests)
    assert numbers == list(range(1, 9))
    assert all(r.status == 200 for r in server.requests)
    assert all(r.path == "/v2/sim_cards" for r in server.requests)


async def test_start_page(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``start_page`` skips the pages before it, without requesting them."""
    got = await client.sim_cards(page_size=50, start_page=3).collect()
    assert _ids(got) == server.current_sim_card_ids()[100:]
    numbers = sorted(int(r.query["page[number]"][0]) for r in server.requests)
    assert numbers == [3, 4, 5, 6]


async def test_start_page_past_the_end(client: SimCardsClient) -> None:
    """A ``start_page`` beyond the last page yields nothing, quietly."""
    assert await client.sim_cards(page_size=100, start_page=9).collect() == []


@pytest.mark.parametrize(("limit", "page_size", "pages"), [(5, 2, 3), (120, 50, 3), (1, 250, 1)])
async def test_limit_caps_items_and_pages(
    server: MockTelnyxServer, client: SimCardsClient, limit: int, page_size: int, pages: int
) -> None:
    """``limit`` caps the items yielded, and no page past the one reaching it is requested."""
    stream = client.sim_cards(page_size=page_size, limit=limit)
    got = await stream.collect()
    assert _ids(got) == server.current_sim_card_ids()[:limit]
    assert len(server.requests) == pages
    assert stream.stats.items_yielded == limit


async def test_limit_larger_than_the_listing(client: SimCardsClient) -> None:
    """A ``limit`` above the total simply yields everything."""
    assert len(await client.sim_cards(limit=10_000, page_size=100).collect()) == CARDS


async def test_pages_yields_whole_pages(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``.pages()`` yields each page, in order, with its meta."""
    stream = client.sim_cards(page_size=64)
    pages = [page async for page in stream.pages()]
    assert [len(p.data) for p in pages] == [64, 64, 64, 64, 44]
    assert [p.meta.page_number for p in pages if p.meta] == [1, 2, 3, 4, 5]
    assert all(p.meta and p.meta.total_results == CARDS for p in pages)
    assert [c.id for p in pages for c in p.data] == server.current_sim_card_ids()
    assert stream.stats.items_yielded == CARDS


async def test_stats(client: SimCardsClient) -> None:
    """``.stats`` counts pages fetched, items yielded and the listing's totals."""
    stream = client.sim_cards(page_size=100)
    assert stream.stats.items_yielded == 0
    seen = 0
    async for _ in stream:
        seen += 1
        assert stream.stats.items_yielded == seen
        assert stream.stats.total_results == CARDS
    stats = stream.stats
    assert (stats.pages_fetched, stats.items_yielded) == (3, CARDS)
    assert (stats.total_results, stats.total_pages) == (CARDS, 3)
    assert stats.retries == 0
    assert not stats.drift.detected


async def test_progress_and_on_progress(client: SimCardsClient) -> None:
    """``on_progress`` gets a snapshot after each page, and ``.progress`` ends complete."""
    stream = client.sim_cards(page_size=50)
    snapshots: list[Progress] = []
    stream.on_progress(snapshots.append)
    assert stream.progress.items == 0
    assert stream.progress.fraction is None
    await stream.collect()
    assert len(snapshots) >= 6
    items = [s.items for s in snapshots]
    assert items == sorted(items)
    assert items[-1] == CARDS
    final = stream.progress
    assert (final.items, final.total_results, final.pages_done, final.total_pages) == (
        CARDS,
        CARDS,
        6,
        6,
    )
    assert final.fraction == 1.0
    assert final.eta == 0.0
    assert final.elapsed > 0
    assert final.items_per_second > 0


# --- stopping early -------------------------------------------------------------------


@pytest.fixture
async def slow_server() -> AsyncIterator[MockTelnyxServer]:
    """A fleet whose every answer takes 20 ms, so requests are still in flight on a break."""
    async with MockTelnyxServer(sim_cards=CARDS, actions=1, seed=1, latency=0.02) as mock:
        yield mock


async def test_break_inside_async_with_stops_everything(slow_server: MockTelnyxServer) -> None:
    """A ``break`` in ``async with stream`` leaves no task and sends nothing past the window."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        async with client.sim_cards(page_size=10) as stream:
            async for card in stream:
                assert card.id
                break
        assert library_tasks() == []
        sent = len(slow_server.requests)
        assert 1 <= sent <= 1 + client.read_ahead
        await loop_turns()
        assert len(slow_server.requests) == sent
        assert stream.stats.items_yielded == 1


async def test_break_without_async_with_stops_everything(slow_server: MockTelnyxServer) -> None:
    """A bare ``break`` (stream still referenced) ends the engine too: no task is left running."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        async for _ in stream:
            break
        await _settle()
        sent = len(slow_server.requests)
        assert sent <= 1 + client.read_ahead
        assert stream.stats.items_yielded == 1
        assert library_tasks() == []


async def test_dropped_stream_is_cancelled(slow_server: MockTelnyxServer) -> None:
    """A stream dropped mid-way (no reference left) stops its engine when collected."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        async for _ in stream:
            break
        del stream
        gc.collect()
        await _settle()
        assert library_tasks() == []
        sent = len(slow_server.requests)
        await loop_turns()
        assert len(slow_server.requests) == sent


async def test_stream_aclose_mid_way(slow_server: MockTelnyxServer) -> None:
    """``await stream.aclose()`` mid-way ends the engine and its requests at once."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        count = 0
        async for _ in stream:
            count += 1
            if count == 15:
                break
        await stream.aclose()
        assert library_tasks() == []
        assert count == 15


async def test_client_aclose_stops_running_streams(slow_server: MockTelnyxServer) -> None:
    """Closing the client cancels the engines of its unfinished streams."""
    client = SimCardsClient(KEY, slow_server.url, max_concurrency=2)
    streams = [client.sim_cards(page_size=10), client.sim_cards(page_size=20)]
    for stream in streams:
        await stream.__aenter__()
    # Close while both listings have requests in flight (20 ms answers).
    await eventually(lambda: len(slow_server.requests) >= len(streams))
    await client.aclose()
    assert library_tasks() == []
    for stream in streams:
        await stream.aclose()


async def test_reading_after_client_close_is_not_a_silent_end(
    slow_server: MockTelnyxServer,
) -> None:
    """A stream whose client was closed mid-way raises instead of ending as if complete."""
    client = SimCardsClient(KEY, slow_server.url, max_concurrency=2)
    stream = client.sim_cards(page_size=10)
    got: list[SimCard] = []

    async def read_closing_midway() -> None:
        async for card in stream:
            got.append(card)
            if len(got) == 5:
                await client.aclose()

    with pytest.raises((RuntimeError, TelnyxError)):
        await read_closing_midway()
    assert len(got) < CARDS


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
        assert isinstance(info.value.__cause__, aiohttp.ClientError)


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


# --- single items ---------------------------------------------------------------------


async def test_get_sim_card(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``get_sim_card`` returns the full card, without codes or group unless asked."""
    card_id = server.current_sim_card_ids()[7]
    card = await client.get_sim_card(card_id)
    assert card.id == card_id
    assert card.pin_puk_codes is None
    assert card.sim_card_group is None
    assert card.current_device_location is not None or card.live_data_session is not None
    (record,) = server.requests
    assert record.path == f"/v2/sim_cards/{card_id}"
    assert record.raw_query == ""


async def test_get_sim_card_with_flags(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """The include flags bring the PIN/PUK codes and the group, and are sent as ``true``."""
    card_id = server.current_sim_card_ids()[8]
    card = await client.get_sim_card(
        card_id, include_pin_puk_codes=True, include_sim_card_group=True
    )
    assert card.pin_puk_codes is not None
    assert card.pin_puk_codes.pin1
    assert card.pin_puk_codes.pin1 not in repr(card)
    assert card.sim_card_group is not None
    assert card.sim_card_group.id == card.sim_card_group_id
    (record,) = server.requests
    assert record.query == {"include_pin_puk_codes": ["true"], "include_sim_card_group": ["true"]}


async def test_get_sim_card_accepts_a_uuid(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """A ``uuid.UUID`` works as the id."""
    import uuid  # noqa: PLC0415

    card_id = server.current_sim_card_ids()[0]
    assert (await client.get_sim_card(uuid.UUID(card_id))).id == card_id


async def test_get_sim_card_action(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """``get_sim_card_action`` returns the same action the listing shows."""
    listed = await client.sim_card_actions(limit=3).collect()
    action = await client.get_sim_card_action(listed[2].id)
    assert action == listed[2]
    assert server.requests[-1].path == f"/v2/sim_card_actions/{listed[2].id}"


# --- configuration from the environment, sessions -------------------------------------


async def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``api_key`` the client sends ``TELNYX_API_KEY``."""
    monkeypatch.setenv("TELNYX_API_KEY", KEY)
    async with MockTelnyxServer(sim_cards=5, actions=1, api_key=KEY) as server:
        async with SimCardsClient(base_url=server.url) as client:
            assert len(await client.sim_cards().collect()) == 5
        monkeypatch.setenv("TELNYX_API_KEY", "another-key")
        async with SimCardsClient(base_url=server.url) as client:
            with pytest.raises(AuthenticationError):
                await client.sim_cards().collect()
        async with SimCardsClient(KEY, base_url=server.url) as client:  # argument wins
            assert len(await client.sim_cards().collect()) == 5


@pytest.mark.usefixtures("half_built_clients")
async def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``base_url`` the client uses ``TELNYX_BASE_URL``; an argument overrides it."""
    async with MockTelnyxServer(sim_cards=5, actions=1) as server:
        monkeypatch.setenv("TELNYX_BASE_URL", server.url)
        async with SimCardsClient(KEY) as client:
            assert client.base_url == server.url
            assert len(await client.sim_cards().collect()) == 5
        assert len(server.requests) == 1
        monkeypatch.setenv("TELNYX_BASE_URL", "http://example.com/v2")
        with pytest.raises(InvalidParameterError):
            SimCardsClient(KEY)
        client = SimCardsClient(KEY, server.url)
        assert client.base_url == server.url
        await client.aclose()


async def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """With neither argument nor environment the base URL is Telnyx's public API."""
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)
    client = SimCardsClient(KEY)
    assert client.base_url == "https://api.telnyx.com/v2"
    await client.aclose()


async def test_session_passed_in_is_not_closed(server: MockTelnyxServer) -> None:
    """A session the caller brings is used, and left open when the client closes."""
    async with aiohttp.ClientSession() as session:
        async with SimCardsClient(KEY, server.url, session=session) as client:
            assert len(await client.sim_cards(limit=3).collect()) == 3
        assert not session.closed
        async with session.get(server.url + "/sim_cards/" + UNKNOWN_ID) as resp:
            assert resp.status == 401  # still usable; no key on this request


async def test_session_made_by_the_client_is_closed(server: MockTelnyxServer) -> None:
    """The session the client made is closed with it."""
    client = SimCardsClient(KEY, server.url)
    async with client:
        await client.sim_cards(limit=1).collect()
        session = client._session
        assert session is not None
        assert not session.closed
    assert session.closed


# --- concurrency ---------------------------------------------------------------------


async def _watch_in_flight(server: MockTelnyxServer, peak: list[int]) -> None:
    """Sample, at every turn of the event loop, how many requests the server has received
    but not yet answered: a count changes only between turns, so no peak is missed however
    slow the machine is.
    """
    while True:
        in_flight = sum(1 for r in server.requests if r.status is None and r.fault is None)
        peak.append(in_flight)
        await asyncio.sleep(0)


async def test_one_concurrency_limit_per_client() -> None:
    """Streams running at once share the client's ``max_concurrency``, seen at the server."""
    async with (
        MockTelnyxServer(sim_cards=100, actions=100, seed=2, latency=0.03) as server,
        SimCardsClient(KEY, server.url, max_concurrency=2, read_ahead=6) as client,
    ):
        samples: list[int] = []
        watcher = asyncio.ensure_future(_watch_in_flight(server, samples))
        try:
            results = await asyncio.gather(
                client.sim_cards(page_size=10).collect(),
                client.sim_cards(page_size=10, status="enabled").collect(),
                client.sim_card_actions(page_size=10).collect(),
            )
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        assert _ids(results[0]) == server.current_sim_card_ids()
        assert _ids(results[2]) == server.current_action_ids()
        assert max(samples) == 2  # reached, never passed
        assert client.concurrency_limit == 2


async def test_concurrency_is_used(server: MockTelnyxServer) -> None:
    """A single stream does keep several pages in flight (up to ``max_concurrency``)."""
    server.latency = 0.03
    async with SimCardsClient(KEY, server.url, max_concurrency=4) as client:
        samples: list[int] = []
        watcher = asyncio.ensure_future(_watch_in_flight(server, samples))
        try:
            await client.sim_cards(page_size=10).collect()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        assert max(samples) == 4


# --- the key stays secret ---------------------------------------------------------------


async def test_key_never_shown(server: MockTelnyxServer, client: SimCardsClient) -> None:
    """The key appears in no repr or str of the client, a stream, a page or an exception."""
    stream = client.sim_cards(page_size=100)
    await stream.collect()
    texts = [repr(client), str(client), repr(stream), str(stream), repr(stream.stats)]
    try:
        await client.get_sim_card(UNKNOWN_ID)
    except NotFoundError as exc:
        texts += [str(exc), repr(exc), exc.url, repr(vars(exc))]
    texts.append(repr(client._transport()))
    assert len(texts) == 10
    for text in texts:
        assert KEY not in text
    assert all("<redacted>" in r.headers["authorization"] for r in server.requests)


async def test_key_not_in_connection_errors() -> None:
    """A connection failure's message and fields do not carry the key."""
    async with MockTelnyxServer(sim_cards=1, actions=1) as server:
        url = server.url
    async with SimCardsClient(KEY, url, max_retries=0) as client:  # nothing listens now
        with pytest.raises(APIConnectionError) as info:
            await client.sim_cards().collect()
    exc = info.value
    for text in (str(exc), repr(exc), repr(vars(exc)), repr(exc.__cause__)):
        assert KEY not in text
    assert KEY.encode() not in pickle.dumps(exc)


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
