"""merge() and merge_tagged(): OR across queries, against the mock server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from polling import HANG_GUARD, eventually, loop_turns
from servers import serve

import simcards_async as sc
from simcards_async import _ids, _merge
from simcards_async.testing import Drift, FaultPlan, Fleet, MockTelnyxServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=1500, actions=600, seed=7) as srv:
        yield srv


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[sc.SimCardsClient]:
    async with sc.SimCardsClient("test-key", server.url, max_concurrency=4) as c:
        yield c


async def everything(client: sc.SimCardsClient) -> list[sc.SimCard]:
    return await client.sim_cards(page_size=250).collect()


async def test_union_of_two_filters_is_the_or_of_them(client: sc.SimCardsClient) -> None:
    """Cards tagged vip or in standby: exactly the cards matching either filter, each once."""
    cards = await everything(client)
    expected = {c.id for c in cards if "vip" in c.tags or c.status.value == "standby"}
    assert expected, "the fleet must have cards of both kinds for this test to mean anything"
    merged = sc.merge(
        client.sim_cards(tags=["vip"], page_size=50),
        client.sim_cards(status=["standby"], page_size=50),
    )
    got = [card.id async for card in merged]
    assert len(got) == len(set(got))
    assert set(got) == expected
    overlap = {c.id for c in cards if "vip" in c.tags and c.status.value == "standby"}
    assert merged.stats.duplicates_dropped == len(overlap)
    assert merged.stats.items_yielded == len(expected)


async def test_a_merge_collects_as_a_stream_does(client: sc.SimCardsClient) -> None:
    """``merge(...).collect()`` was an ``AttributeError``, though a merge reads "as a stream"
    and ``collect()`` is how the README reads one: the union, each id once, in a list.
    """
    cards = await everything(client)
    expected = {c.id for c in cards if "vip" in c.tags or c.status.value == "standby"}
    merged = sc.merge(
        client.sim_cards(tags=["vip"], page_size=50),
        client.sim_cards(status=["standby"], page_size=50),
    )
    got = [card.id for card in await merged.collect()]
    assert len(got) == len(set(got))
    assert set(got) == expected
    limited = sc.merge(
        client.sim_cards(tags=["vip"]), client.sim_cards(status=["standby"]), limit=7
    )
    assert len(await limited.collect()) == 7


async def test_without_dedupe_an_item_in_both_comes_twice(client: sc.SimCardsClient) -> None:
    """dedupe=False yields every query's items, so the overlap appears once per query."""
    cards = await everything(client)
    vip = [c.id for c in cards if "vip" in c.tags]
    standby = [c.id for c in cards if c.status.value == "standby"]
    merged = sc.merge(
        client.sim_cards(tags="vip", page_size=100),
        client.sim_cards(status="standby", page_size=100),
        dedupe=False,
    )
    got = [card.id async for card in merged]
    assert sorted(got) == sorted(vip + standby)
    assert merged.stats.duplicates_dropped == 0


async def test_tagged_says_which_queries_match(client: sc.SimCardsClient) -> None:
    """merge_tagged gives each card once with the indexes of every query it matches."""
    cards = {c.id: c for c in await everything(client)}
    queries = [
        client.sim_cards(tags=["vip"], page_size=100),
        client.sim_cards(status=["standby", "disabled"], page_size=100),
        client.sim_cards(tags=["iot", "test"], page_size=100),
    ]
    seen: dict[str, tuple[int, ...]] = {}
    async for tagged in sc.merge_tagged(*queries):
        assert tagged.item.id not in seen
        seen[tagged.item.id] = tagged.queries
    for card_id, matched in seen.items():
        card = cards[card_id]
        expected = tuple(
            i
            for i, hit in enumerate(
                [
                    "vip" in card.tags,
                    card.status.value in {"standby", "disabled"},
                    {"iot", "test"} <= set(card.tags),
                ]
            )
            if hit
        )
        assert matched == expected, card
    assert any(len(m) > 1 for m in seen.values()), "some card should match two queries"


async def test_merging_action_listings_by_type(client: sc.SimCardsClient) -> None:
    """Actions of two types merged are exactly the actions of either type."""
    actions = await client.sim_card_actions(page_size=250).collect()
    expected = {a.id for a in actions if a.action_type in {"disable", "set_standby"}}
    merged = sc.merge(
        client.sim_card_actions(action_type="disable"),
        client.sim_card_actions(action_type="set_standby"),
    )
    assert {a.id async for a in merged} == expected


async def test_merged_streams_share_the_client_limit(server: MockTelnyxServer) -> None:
    """Four listings merged from one client never run more requests at once than its limit."""
    server.latency = 0.02
    peak = 0
    async with sc.SimCardsClient("any-key", server.url, max_concurrency=3) as client:
        streams = [client.sim_cards(page_size=20, tags=t) for t in ("vip", "iot", "test", "staff")]
        limiter = client._transport().limiter
        async for _ in sc.merge(*streams):
            peak = max(peak, limiter.in_flight)
    assert 1 <= peak <= 3


async def test_an_error_in_one_query_ends_the_merge_with_it() -> None:
    """A query that fails for good raises its structured error from the merged stream."""
    faults = FaultPlan(script=[404])  # the first request to arrive is refused, not retried
    async with (
        MockTelnyxServer(sim_cards=500, seed=7, faults=faults) as server,
        sc.SimCardsClient("any-key", server.url) as client,
    ):
        merged = sc.merge(client.sim_cards(tags="vip"), client.sim_cards(tags="iot"))
        with pytest.raises(sc.NotFoundError) as info:
            async for _ in merged:
                pass
    assert info.value.status == 404


async def test_break_out_of_a_merge_stops_everything(server: MockTelnyxServer) -> None:
    """Leaving a merged stream early cancels every query's engine and leaves no task."""
    server.latency = 0.01
    before = asyncio.all_tasks()
    async with sc.SimCardsClient("any-key", server.url) as client:
        async with sc.merge(
            client.sim_cards(page_size=10, tags="vip"), client.sim_cards(page_size=10)
        ) as merged:
            async for _ in merged:
                break
        await eventually(lambda: not client._tasks, what="the merged engines to end")
        assert client._tasks == set()

    def started() -> set[asyncio.Task[object]]:
        return {t for t in asyncio.all_tasks() if not t.done()} - before

    await eventually(lambda: not started(), what="every task the test started to end")
    assert asyncio.all_tasks() - before == set()


async def test_merge_refuses_what_is_not_a_stream() -> None:
    """merge() of nothing, or of something that is not a stream, is a clear error."""
    with pytest.raises(sc.InvalidParameterError, match="streams"):
        sc.merge()
    with pytest.raises(sc.InvalidParameterError, match="streams"):
        sc.merge([1, 2])  # type: ignore[arg-type]


async def test_merge_of_two_kinds_says_which_kinds(client: sc.SimCardsClient) -> None:
    """Cards and actions merged: the message said "streams of one kind of item" after 300
    characters of the first stream's repr, and not which kinds it was given.
    """
    with pytest.raises(sc.InvalidParameterError) as info:
        sc.merge(client.sim_cards(), client.sim_card_actions())  # type: ignore[misc]
    assert str(info.value) == (
        "invalid streams='of SimCard, SimCardAction': streams must be streams of one kind of item"
    )


async def test_merge_refuses_a_stream_given_twice(
    server: MockTelnyxServer, client: sc.SimCardsClient
) -> None:
    """The same stream twice is refused before anything is sent: a stream is read once, so
    the merge's second reader of it would be refused midway (and the first closed under it).
    """
    stream = client.sim_cards(status="enabled")
    with pytest.raises(sc.InvalidParameterError, match="distinct streams") as info:
        sc.merge(stream, client.sim_cards(status="disabled"), stream)
    assert info.value.parameter == "streams"
    # Which ones, by place and query (the streams' reprs filled 300 characters instead).
    assert info.value.value == (
        "stream 0 (/sim_cards {'filter[status]': 'enabled', 'page[size]': '250'}), "
        "stream 2 (/sim_cards {'filter[status]': 'enabled', 'page[size]': '250'})"
    )
    assert server.requests == []
    # The stream is untouched: it still reads the whole listing, alone.
    assert [card.id async for card in stream] == [
        card.id async for card in client.sim_cards(status="enabled")
    ]


@pytest.mark.parametrize("how", ["checkpoint", "resume_from"])
async def test_merge_refuses_a_checkpointed_or_resumed_stream(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path, how: str
) -> None:
    """A merge reads its streams ahead of its reader, and drops what another query gave: a
    checkpoint of one of them would count records its reader never got, so its resume would
    skip them. Refused before anything is sent, naming ``streams`` (a merge cannot resume).
    """
    point = tmp_path / "scan.json"
    await client.sim_cards(page_size=100, limit=150, checkpoint=point).collect()
    sent = len(server.requests)
    stream = client.sim_cards(page_size=100, **{how: point})  # type: ignore[arg-type]
    for merging in (sc.merge, sc.merge_tagged):
        with pytest.raises(sc.InvalidParameterError, match="checkpoint") as info:
            merging(client.sim_cards(status="enabled"), stream)
        assert info.value.parameter == "streams"
        assert info.value.value == "stream 1 (/sim_cards {'page[size]': '100'})"
    assert len(server.requests) == sent


SORT = "current_billing_period_consumed_data.amount"


@pytest.mark.parametrize("ordered", [None, True])
async def test_a_merge_in_sort_order_refuses_a_stream_with_rescan(
    server: MockTelnyxServer, client: sc.SimCardsClient, ordered: bool | None
) -> None:
    """A rescan's recovered records come after its listing's end, out of the sort's order:
    an ordered merge of such a stream read them, then blamed the server with a
    ``PaginationError``. Refused before anything is sent, naming ``streams`` and ``rescan``.
    """
    for merging in (sc.merge, sc.merge_tagged):
        with pytest.raises(sc.InvalidParameterError, match="rescan=True") as info:
            merging(
                client.sim_cards(status="enabled", sort=SORT),
                client.sim_cards(status="disabled", sort=SORT, rescan=True),
                ordered=ordered,
            )
        assert info.value.parameter == "streams"
    assert server.requests == []


async def test_a_merge_as_pages_arrive_takes_the_records_a_rescan_recovers() -> None:
    """Unordered (``ordered=False``, or streams without a sort), a merge of streams with
    ``rescan=True`` is accepted: it yields every record each rescanned listing delivered,
    its second pass included, each id once.
    """
    drift = Drift(seed=1, every=2, insert=0, delete=5)
    async with (
        MockTelnyxServer(sim_cards=1000, seed=2, drift=drift) as server,
        sc.SimCardsClient("any-key", server.url, max_concurrency=2) as client,
    ):
        for sort, ordered in ((SORT, False), (None, None)):
            streams = [
                client.sim_cards(status=status, sort=sort, page_size=50, rescan=True)
                for status in ("enabled", "disabled")
            ]
            merged = sc.merge(*streams, ordered=ordered)
            assert merged.sort is None
            with pytest.warns(sc.DriftWarning):
                got = [card.id async for card in merged]
            assert len(got) == len(set(got))
            # 687 enabled cards, 14 pages: cards are deleted while they are read.
            assert streams[0].stats.drift.rescans == 1, "the listing must have drifted"
            assert len(got) == sum(s.stats.items_yielded for s in streams)


@pytest.mark.parametrize("raw", [False, True], ids=["items", "export"])
async def test_a_merged_stream_read_elsewhere_is_named_by_the_merges_refusal(
    client: sc.SimCardsClient, tmp_path: Path, raw: bool
) -> None:
    """A stream given to ``merge()`` and then read by itself: the merge said "this stream was
    read already", naming none of its streams. It names which, by its index and query.
    """
    streams = [client.sim_cards(status="enabled"), client.sim_cards(tags=["vip"])]
    merged = sc.merge(*streams)
    await streams[1].collect()
    with pytest.raises(RuntimeError, match="read already") as info:
        if raw:
            await sc.export(merged, tmp_path / "u.jsonl")
        else:
            await merged.collect()
    assert str(info.value).startswith("stream 1 of the merge (/sim_cards {'filter[tags]': 'vip'")


async def test_tagged_items_are_read_once(client: sc.SimCardsClient) -> None:
    """``tagged()`` read a second time, or after ``aclose()``, raises like a merge read twice,
    rather than yield nothing as if the union were empty.
    """
    tagged = sc.merge_tagged(client.sim_cards(tags=["vip"]), client.sim_cards(status="standby"))
    assert [t async for t in tagged], "the first read gets the union"
    with pytest.raises(RuntimeError, match="read already"):
        async for _ in tagged:
            pass
    closed = sc.merge(client.sim_cards(tags=["vip"])).tagged()
    await closed.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        async for _ in closed:
            pass


async def test_tagged_items_closed_from_another_task_stop_their_reader() -> None:
    """``aclose()`` from another task while a reader waits for a page: it stops the merge
    (no bare "generator is already running"), and the reader says it was closed under it.
    """
    plan = FaultPlan(script=[None] * 2 + ["hang"] * 20, hang_seconds=60)
    async with (
        MockTelnyxServer(sim_cards=1500, seed=7, faults=plan) as server,
        sc.SimCardsClient("test-key", server.url, max_concurrency=2, timeout=120) as client,
    ):
        tagged = sc.merge_tagged(
            client.sim_cards(tags=["vip"], page_size=20),
            client.sim_cards(status="standby", page_size=20),
        )
        got: list[sc.Tagged[sc.SimCard]] = []

        async def read() -> None:
            async for pair in tagged:
                got.append(pair)

        reader = asyncio.create_task(read())
        await eventually(lambda: got, what="the first pages to be read")
        await eventually(lambda: len(server.requests) >= 4, what="requests for later pages")
        await tagged.aclose()
        with pytest.raises(RuntimeError, match="while it was being read"):
            await asyncio.wait_for(reader, HANG_GUARD)  # a hang guard, not a measure


# --- progress ----------------------------------------------------------------------------


async def test_merged_progress_adds_up_its_queries(client: sc.SimCardsClient) -> None:
    """A merged stream's progress is its queries' pages and retries added up, and its own items."""
    streams = [
        client.sim_cards(tags="vip", page_size=50),
        client.sim_cards(tags="iot", page_size=50),
    ]
    merged = sc.merge(*streams)
    snapshots: list[sc.Progress] = []
    merged.on_progress(snapshots.append)
    got = [card async for card in merged]
    final = merged.progress
    assert snapshots, "a snapshot after each page"
    assert [s.items for s in snapshots] == sorted(s.items for s in snapshots)
    assert final.items == len(got) == merged.stats.items_yielded
    assert final.pages_done == sum(s.stats.pages_fetched for s in streams)
    # Honest: the union's size (each query's total, less the overlap), not the sum.
    union = sum(s.stats.total_results or 0 for s in streams) - merged.stats.duplicates_dropped
    assert final.total_results == union == len(got)


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_query_failing_once_the_limit_is_reached_does_not_cut_the_merge(
    *, ordered: bool
) -> None:
    """The items that reach the limit wait for a slow consumer; meanwhile another query, no
    longer needed, fails (its page 2). That failure cancelled the hand-over: the merge
    yielded fewer than its limit and raised the error (a fast consumer got them all, and no
    error). Once the limit is reached, a query's failure is nothing to the merge.

    The order is the server's to set, not the clock's: the first query's page 2 (which
    reaches the limit) waits for the second's page 2 to be asked for, and that one fails
    only once the consumer, away at its first item, saw the first query read to its end.
    """
    asked, release, failed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def card(query: int, amount: int) -> dict[str, object]:
        return {
            "id": f"00000000-0000-4000-8000-{query:06d}{amount:06d}",
            "record_type": "sim_card",
            "current_billing_period_consumed_data": {"amount": str(amount), "unit": "MB"},
        }

    async def answer(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        query = 1 if request.query["filter[status]"] == "disabled" else 0
        if query == 1 and number == 2:  # the query no longer needed fails, late
            asked.set()
            await release.wait()
            failed.set()
            return web.json_response({"errors": [{"code": "10007", "title": "boom"}]}, status=500)
        if query == 0 and number == 2:
            await asked.wait()
        first = 1 + 10 * query + 2 * (number - 1)  # 1, 2 | 3, 4 and 11, 12 | 13, 14
        meta = {"page_number": number, "page_size": 2, "total_pages": 2, "total_results": 4}
        data = [card(query, first), card(query, first + 1)]
        return web.json_response({"data": data, "meta": meta})

    # As pages arrive, both pages 1 (4 items) come first: the limit is reached in page 2.
    limit = 3 if ordered else 5
    got: list[str] = []
    async with (
        serve(answer) as served,
        sc.SimCardsClient("test-key", served.url, max_retries=0) as client,
    ):
        sort = "current_billing_period_consumed_data.amount" if ordered else None
        first_query = client.sim_cards(status="enabled", page_size=2, sort=sort)
        merged = sc.merge(
            first_query,
            client.sim_cards(status="disabled", page_size=2, sort=sort),
            limit=limit,
            ordered=ordered,
        )
        async for item in merged:
            got.append(item.id)
            if len(got) == 1:
                await eventually(lambda: first_query.stats.items_yielded == 4)
                await loop_turns()  # the merge takes what reaches its limit
                release.set()
                await eventually(failed.is_set, what="the other query failed")
                await loop_turns()
    assert len(got) == len(set(got)) == limit
    assert merged.stats.items_yielded == limit


async def test_a_query_ending_under_the_limit_keeps_the_batch_that_reaches_it() -> None:
    """The first query ends while the second hands over the batch that reaches the merge's
    limit (waiting for the consumer): the merge still yields ``limit`` items.

    The first query's reader saw the limit reached and stopped the others, cancelling that
    hand-over: the merge ended with the first query's items only, silently short.
    """
    records = list(Fleet(sim_cards=10, actions=1, seed=1).sim_cards())
    second_page, first_end = asyncio.Event(), asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        if request.query["filter[status]"] == "standby":
            if number == 1:
                data, total = records[:5], 6
            else:  # the first query's end: one record deleted meanwhile, an empty page 2
                await first_end.wait()
                data, total = [], 5
        else:
            await second_page.wait()
            data, total = records[5:], 5
        meta = {"page_number": number, "page_size": 5, "total_pages": -(-total // 5)}
        return web.json_response({"data": data, "meta": {**meta, "total_results": total}})

    got: list[str] = []
    async with (
        serve(answer) as served,
        sc.SimCardsClient("test-key", served.url, max_concurrency=2) as client,
    ):
        first = client.sim_cards(status="standby", page_size=5)
        second = client.sim_cards(status="disabled", page_size=5)
        merged = sc.merge(first, second, limit=7, ordered=False)
        with pytest.warns(sc.DriftWarning):
            async with merged:
                async for card in merged:
                    got.append(card.id)
                    if len(got) == 1:
                        second_page.set()  # its reader takes 2 and waits to hand them over
                        await eventually(lambda: second.stats.items_yielded == 5)
                        await loop_turns()
                        first_end.set()  # the first query ends, the limit reached
                        # Page 2 at least (an empty page before the planned end is
                        # read twice: a poll could miss the moment it was 2).
                        await eventually(lambda: first.stats.pages_fetched >= 2)
                        await loop_turns()
    assert got == [r["id"] for r in records[:7]]


async def _merged_by_status(
    listings: dict[str, list[str]], *, ordered: bool
) -> tuple[list[str], sc.MergedStream[sc.SimCard]]:
    """The ids of a merge of the listings (status to its ids) a small server serves."""

    async def answer(request: web.Request) -> web.Response:
        wanted = listings[request.query["filter[status]"]]
        number, size = int(request.query["page[number]"]), int(request.query["page[size]"])
        page = wanted[(number - 1) * size : number * size]
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": -(-len(wanted) // size),
            "total_results": len(wanted),
        }
        return web.json_response({"data": [{"id": i} for i in page], "meta": meta})

    async with serve(answer) as served, sc.SimCardsClient("test-key", served.url) as client:
        # Sorted by an amount none has (the server sorts nothing): all equal, in order.
        sort = "current_billing_period_consumed_data.amount" if ordered else None
        merged = sc.merge(
            *(client.sim_cards(status=status, page_size=25, sort=sort) for status in listings),
            ordered=ordered,
        )
        return [card.id for card in await merged.collect()], merged


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_merge_whose_ids_are_folded_still_yields_each_once(
    ordered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two listings sharing 600 of their 1,200 cards each, the merge's ids folded every 50
    (as past ``UNFOLDED`` ids): every card once, the 600 repeats dropped, in either merge.
    """
    monkeypatch.setattr(_merge, "UNFOLDED", 0)
    monkeypatch.setattr(_ids, "FOLD", 50)
    every = [str(uuid.UUID(int=n)) for n in range(1800)]
    listings = {"enabled": every[:1200], "standby": every[600:]}
    got, merged = await _merged_by_status(listings, ordered=ordered)
    assert sorted(got) == every
    assert merged.stats.duplicates_dropped == 600
    seen = merged._readers.seen
    assert seen is not None
    assert len(seen._recent) < 50, "folded as they came"


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_merge_of_long_ids_keeps_each_once_in_a_ids_worth_of_room(
    ordered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge remembered each id as its text: ids of 128 wide characters took ~660 bytes a
    card of the union; then each as a set's key (~120 bytes a card, gigabytes for listings
    a server made endless). It keeps them as a stream keeps its own (``DeliveredIds``):
    folded every ``FOLD`` ids (50 here, past ``UNFOLDED`` ids in a merge) into about a byte
    an id, and yields each id once all the same.
    """
    monkeypatch.setattr(_merge, "UNFOLDED", 0)  # folded from the first FOLD ids on
    monkeypatch.setattr(_ids, "FOLD", 50)
    wide = "\U0001f600" * 120

    def ids(numbers: range) -> list[str]:
        return [f"{n:08}{wide}" for n in numbers]

    listings = {"enabled": ids(range(60)), "standby": ids(range(40, 100))}
    got, merged = await _merged_by_status(listings, ordered=ordered)
    assert sorted(got) == ids(range(100))
    assert merged.stats.duplicates_dropped == 20
    seen = merged._readers.seen
    assert seen is not None
    assert len(seen) == 100
    assert len(seen._recent) < 50, "the rest folded, not held as text"


async def test_the_streams_of_a_merge_share_their_clients_read_ahead_window(
    server: MockTelnyxServer,
) -> None:
    """Eight listings merged counted as eight readers of one client's read-ahead window while
    they read (each asking for its share of it, not a whole window: ~19 MB each at C=32),
    and as none once the merge was done; another client's streams have a window of their own.
    The union is still every card of the eight filters, each once.
    """
    # Eight tags of 139 to 314 cards each: 28 pages of 5 or more, more than a stream reads
    # ahead of a reader that waits (read_ahead 8, a hand-over buffer, a merge's inbox).
    tags = ("test", "customers", "staff", "active-customers", "iot", "vip", "personal", "fleet-a")
    async with (
        sc.SimCardsClient("test-key", server.url, max_concurrency=4) as client,
        sc.SimCardsClient("test-key", server.url, max_concurrency=4) as other,
    ):
        window = client._window
        streams = [client.sim_cards(page_size=5, tags=[tag]) for tag in tags]
        merged = sc.merge(*streams, ordered=False)
        items = aiter(merged)
        got = [await anext(items)]
        await eventually(lambda: window.readers == len(streams), what="eight readers")
        assert other._window.readers == 0
        async with other.sim_cards(page_size=20) as alone:
            first = await anext(aiter(alone))
            await eventually(lambda: other._window.readers == 1)
            assert window.readers == len(streams)
        assert other._window.readers == 0  # closed before its end: counted no more
        assert first.id
        got += [card async for card in items]
        assert window.readers == 0
        wanted = [c for c in await everything(client) if set(c.tags or ()) & set(tags)]
        assert sorted(c.id for c in got) == sorted(c.id for c in wanted)
