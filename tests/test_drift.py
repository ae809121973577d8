"""Drift: the listing changes while it is read; no id twice, nothing existing lost.

Pages are numbered over live data. Records inserted at the head push every later
record on, so page boundaries repeat records (dropped by the engine's dedupe);
records deleted pull later ones back, so a record can slip past the scan (counted,
warned about, and recovered by ``rescan=True``).

Tests that need exact counts read one page at a time (``max_concurrency=1``), so
the pages reach the server in page order and the server's drift, decided in arrival
order, lands at known points. Changes made from the consumer's loop happen while
the engine waits for the consumer, before it sends the next request.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web
from polling import HANG_GUARD, eventually
from servers import serve

import simcards_async
from simcards_async import ResponseEvent, RetryPolicy, SimCard, SimCardsClient
from simcards_async.testing import Drift, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYdrift-0123456789abcdef"


def _repeats(ids: list[str]) -> dict[str, int]:
    return {i: n for i, n in Counter(ids).items() if n > 1}


def _answered(server: MockTelnyxServer) -> int:
    return sum(1 for r in server.requests if r.status == 200)


def _page_body(ids: list[str], number: int, size: int) -> bytes:
    """Page ``number`` of ``ids`` (``size`` a page) as the API sends it, ``ids`` counted now."""
    total = len(ids)
    data = [{"id": i} for i in ids[(number - 1) * size : number * size]]
    meta = {
        "page_number": number,
        "page_size": size,
        "total_pages": -(-total // size),
        "total_results": total,
    }
    return msgspec.json.encode({"data": data, "meta": meta})


def _is_page(url: str, number: int) -> bool:
    """Whether ``url`` asks for page ``number``."""
    return f"page%5Bnumber%5D={number}&" in url + "&"


def _sets_when_answered(number: int, answered: anyio.Event) -> Callable[[ResponseEvent], None]:
    """An ``on_response`` hook that sets ``answered`` once the client has page ``number``."""

    def hook(event: ResponseEvent) -> None:
        if _is_page(event.url, number):
            answered.set()

    return hook


# --- inserts ----------------------------------------------------------------------------------


async def test_inserts_during_a_scan_lose_nothing_and_repeat_nothing() -> None:
    """Cards inserted at the head while a scan runs: every card that existed at the start is
    yielded once, in order, and each repeat is counted. The one DriftWarning comes at the first
    sign, with the counts so far, and says so: ``stats.drift`` has the final ones.
    """
    drift = Drift(seed=5, every=3, insert=7, delete=0)
    async with MockTelnyxServer(sim_cards=2000, actions=1, drift=drift) as server:
        start = server.current_sim_card_ids()
        async with SimCardsClient(KEY, server.url, max_concurrency=1, read_ahead=4) as client:
            stream = client.sim_cards(page_size=50)
            with pytest.warns(simcards_async.DriftWarning, match="changed") as caught:
                got = [card.id async for card in stream]
        # The cards inserted after page 1 are never reached: they sit before the scan.
        assert got == start
        assert len(caught) == 1
        message = str(caught[0].message)
        assert message.startswith("the listing changed while it was read (so far: total_results")
        assert "stats.drift has the final counts" in message
        told = re.search(r"(\d+) repeats? dropped", message)
        assert told is not None
        assert int(told[1]) < stream.stats.drift.duplicates_dropped
        answers = _answered(server)
        report = stream.stats.drift
        assert report.first_total_results == 2000
        # Drift applies after every third answer, so the last answer saw all but the last.
        assert report.last_total_results == 2000 + 7 * ((answers - 1) // 3)
        assert len(server.current_sim_card_ids()) == 2000 + 7 * (answers // 3)
        # Each insert pushed one card back onto a page already read: it came again, dropped.
        assert report.duplicates_dropped == report.last_total_results - 2000
        assert report.short_pages == 0
        assert report.detected
        # The engine read the listing's grown end: one page more than planned at the start.
        assert stream.stats.total_pages == 40
        assert stream.stats.pages_fetched == answers == -(-report.last_total_results // 50)


async def test_inserting_a_whole_page_mid_scan_rereads_the_grown_end() -> None:
    """A page's worth of inserts mid-scan: the repeated page is dropped whole, the new last
    page is read, and nothing that existed is lost.
    """
    async with MockTelnyxServer(sim_cards=1000, actions=1) as server:
        start = server.current_sim_card_ids()
        async with SimCardsClient(KEY, server.url, max_concurrency=1, read_ahead=2) as client:
            stream = client.sim_cards(page_size=100)
            got: list[str] = []
            with pytest.warns(simcards_async.DriftWarning):
                async for card in stream:
                    got.append(card.id)
                    if len(got) == 201:  # first card of page 3
                        inserted = server.insert_sim_cards(100)
        assert got == start
        assert not set(inserted) & set(got)
        report = stream.stats.drift
        assert report.duplicates_dropped == 100
        assert (report.first_total_results, report.last_total_results) == (1000, 1100)
        assert stream.stats.pages_fetched == 11


async def test_drift_under_concurrency_never_yields_an_id_twice() -> None:
    """With pages in flight at once and the data changing every other answer, no id is
    yielded twice and the change is reported.
    """
    drift = Drift(seed=11, every=2, insert=9, delete=4)
    async with MockTelnyxServer(sim_cards=3000, actions=3000, drift=drift) as server:
        async with SimCardsClient(KEY, server.url, max_concurrency=8) as client:
            cards = client.sim_cards(page_size=50)
            with pytest.warns(simcards_async.DriftWarning):
                card_ids = [card.id async for card in cards]
            actions_at_start = len(server.current_action_ids())
            actions = client.sim_card_actions(page_size=50)
            with pytest.warns(simcards_async.DriftWarning):
                action_ids = [action.id async for action in actions]
        assert cards.stats.drift.first_total_results == 3000
        assert actions.stats.drift.first_total_results == actions_at_start
        for ids, stream in ((card_ids, cards), (action_ids, actions)):
            assert _repeats(ids) == {}
            assert stream.stats.drift.duplicates_dropped > 0
            assert stream.stats.drift.detected


async def test_insert_before_a_retried_page_loses_nothing() -> None:
    """Inserts that land between a page's failed attempt and its retry, after the next page
    was already served, lose nothing: every record that existed at the start is yielded.
    """
    # Page 2 fails while page 3 is served, then 5 records are inserted at the head, then
    # page 2 is retried. Its retry sees the listing shifted by 5; page 3 did not.
    listing = _ShiftingListing(50)
    async with listing.serve() as url:
        client = SimCardsClient(
            KEY,
            url,
            max_concurrency=2,
            read_ahead=2,
            retry=RetryPolicy(max_retries=3, base=0.001, cap=0.01),
        )
        async with client:
            stream = client.sim_cards(page_size=10)
            with pytest.warns(simcards_async.DriftWarning):
                got = [card.id async for card in stream]
    # Answered in this order: page 3 before page 2's failure, then page 2's retry.
    assert listing.log[:4] == [(1, 200), (3, 200), (2, 503), (2, 200)]
    assert _repeats(got) == {}
    missing = [i for i in listing.start if i not in set(got)]
    assert missing == []


async def test_an_older_view_answered_after_a_newer_one_loses_nothing() -> None:
    """Pages 2 and 3 under way at once: the server takes page 3's view as it is asked for
    and answers it after page 2's, which it took after two records were inserted at the
    head. Judged by answer order alone, page 3 (12 records) passed for the newer view, and
    the two records the inserts pushed from page 2 into page 3 were in neither: lost with
    no error. Counting fewer records than page 2 and asked for before page 2 was answered,
    it is read again, and every record there at the start is yielded once.
    """
    ids = [str(uuid.UUID(int=n)) for n in range(1, 13)]
    start = list(ids)
    page3_taken, page2_answered = anyio.Event(), anyio.Event()

    async def handle(request: web.Request) -> web.Response:
        number, size = int(request.query["page[number]"]), int(request.query["page[size]"])
        answer = _page_body(ids, number, size)
        if number == 3 and not page3_taken.is_set():
            page3_taken.set()
            await page2_answered.wait()  # the client has page 2's answer: this one comes after
        elif number == 2 and not page2_answered.is_set():
            await page3_taken.wait()
            ids[:0] = [str(uuid.UUID(int=1000 + n)) for n in range(2)]
            answer = _page_body(ids, number, size)
        return web.Response(body=answer, content_type="application/json")

    hook = _sets_when_answered(2, page2_answered)

    async with (
        serve(handle, route="/v2/sim_cards", method="GET") as served,
        SimCardsClient(KEY, served.url, max_retries=0, on_response=hook) as client,
    ):
        stream = client.sim_cards(page_size=4)
        with pytest.warns(simcards_async.DriftWarning):
            got = [card.id async for card in stream]
    assert _repeats(got) == {}
    assert [i for i in start if i not in set(got)] == []
    assert stream.stats.drift.rereads == 1


async def test_one_request_at_a_time_no_page_is_taken_for_an_older_view() -> None:
    """One request at a time, a record already read is deleted before page 3 is read: page 3
    counts fewer than page 2 and is newer, asked for after page 2's answer. It was stamped
    as asked for when it began to wait for the one slot, before page 2 was answered, so it
    passed for maybe older and was read again, which loses more under deletes. A page is
    stamped as asked for as its request is sent: no re-read.
    """
    ids = [str(uuid.UUID(int=n)) for n in range(1, 41)]
    in_flight: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        number, size = int(request.query["page[number]"]), int(request.query["page[size]"])
        in_flight.append(number)
        assert len(in_flight) == 1, "one request at a time"
        try:
            if number == 3 and len(ids) == 40:
                del ids[0]  # read already, on page 1
            body = _page_body(ids, number, size)
            return web.Response(body=body, content_type="application/json")
        finally:
            in_flight.remove(number)

    async with (
        serve(handle, route="/v2/sim_cards", method="GET") as served,
        SimCardsClient(KEY, served.url, max_retries=0, max_concurrency=1) as client,
    ):
        stream = client.sim_cards(page_size=4)
        with pytest.warns(simcards_async.DriftWarning):
            got = [card.id async for card in stream]
    assert stream.stats.drift.rereads == 0
    assert _repeats(got) == {}
    assert len(got) == 39  # the record that shifted back past the scan: a deletion's, warned


async def test_a_newer_view_after_deletes_stands_when_read_again_counts_fewer() -> None:
    """Pages 2 to 5 under way at once; r1 (read already) is deleted after page 2's answer and
    before page 3's, so page 3 counts fewer and may be the older view: it is read again. By
    then r2 is deleted too: the re-read, newer still, counts fewer again, which says deletes,
    and using it pulled r6 back past the scan as well. The first answer stands: only r5,
    which the first delete moved onto page 2 after it was read, is missed (and warned about).
    """
    ids = [str(uuid.UUID(int=n)) for n in range(1, 11)]
    start = list(ids)
    page3_asked, page2_answered = anyio.Event(), anyio.Event()
    page3_sent, later_sent = anyio.Event(), [anyio.Event(), anyio.Event()]
    asked: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        number, size = int(request.query["page[number]"]), int(request.query["page[size]"])
        first = number not in asked
        asked.append(number)
        if number == 2 and first:
            await page3_asked.wait()
            answer = _page_body(ids, number, size)
        elif number == 3 and first:
            page3_asked.set()
            await page2_answered.wait()  # the client has page 2's answer
            ids.remove(start[0])
            answer = _page_body(ids, number, size)
            page3_sent.set()
        elif number in (4, 5) and first:
            await page3_sent.wait()
            answer = _page_body(ids, number, size)
            later_sent[number - 4].set()
        elif number == 3:  # read again: r2 deleted meanwhile
            for sent in later_sent:
                await sent.wait()
            ids.remove(start[1])
            answer = _page_body(ids, number, size)
        else:
            answer = _page_body(ids, number, size)
        return web.Response(body=answer, content_type="application/json")

    hook = _sets_when_answered(2, page2_answered)

    async with (
        serve(handle, route="/v2/sim_cards", method="GET") as served,
        SimCardsClient(KEY, served.url, max_retries=0, read_ahead=8, on_response=hook) as client,
    ):
        stream = client.sim_cards(page_size=2)
        with pytest.warns(simcards_async.DriftWarning):
            got = [card.id async for card in stream]
    assert asked.count(3) == 2
    assert stream.stats.drift.rereads == 1
    assert _repeats(got) == {}
    assert [start.index(i) + 1 for i in start if i not in set(got)] == [5]


class _ShiftingListing:
    """``GET /v2/sim_cards`` over a list of ids: page 2 fails once, until page 3 has been
    served; serving page 3 inserts 5 records at the head.
    """

    def __init__(self, count: int) -> None:
        self.ids = [str(uuid.UUID(int=n)) for n in range(1, count + 1)]
        self.start = list(self.ids)
        self.log: list[tuple[int, int]] = []
        self._page3_served = anyio.Event()
        self._failed = False

    async def handle(self, request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        size = int(request.query["page[size]"])
        if number == 2 and not self._failed:
            self._failed = True
            await self._page3_served.wait()
            self.log.append((number, 503))
            errors = {"errors": [{"code": "10007", "title": "Service unavailable"}]}
            return web.json_response(errors, status=503)
        body = _page_body(self.ids, number, size)
        self.log.append((number, 200))
        if number == 3 and not self._page3_served.is_set():
            self.ids[:0] = [str(uuid.UUID(int=10_000 + n)) for n in range(5)]
            self._page3_served.set()
        return web.Response(body=body, content_type="application/json")

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        async with serve(self.handle, route="/v2/sim_cards", method="GET") as served:
            yield served.url


async def test_shift_beyond_the_dedupe_window_is_reported() -> None:
    """A shift of five pages at once (inserts) is drift, not a replay: reported with a
    ``DriftWarning``, every record that existed is yielded, none twice.
    """
    async with MockTelnyxServer(sim_cards=200, actions=1) as server:
        start = server.current_sim_card_ids()
        async with SimCardsClient(KEY, server.url, max_concurrency=1, read_ahead=1) as client:
            stream = client.sim_cards(page_size=10)
            got: list[str] = []
            with pytest.warns(simcards_async.DriftWarning, match="changed"):
                async for card in stream:
                    got.append(card.id)
                    if len(got) == 11:
                        server.insert_sim_cards(50)  # five pages: the window is three
        assert set(start) <= set(got)
        assert _repeats(got) == {}
        assert stream.stats.drift.last_total_results == 250


# --- deletions --------------------------------------------------------------------------------


async def _scan_deleting(
    server: MockTelnyxServer, *, delete: int, rescan: bool
) -> tuple[list[tuple[int, list[str]]], Any]:
    """Read 100-card pages one at a time; at the first card of page 3, delete ``delete``
    cards among those already read. Returns (page number, ids) per page, and the stream.
    """
    ids = server.current_sim_card_ids()
    pages: list[tuple[int, list[str]]] = []
    async with SimCardsClient(KEY, server.url, max_concurrency=1, read_ahead=1) as client:
        stream = client.sim_cards(page_size=100, rescan=rescan)
        with pytest.warns(simcards_async.DriftWarning, match="changed") as caught:
            async for page in stream.pages():
                assert page.meta is not None
                assert page.meta.page_number is not None
                pages.append((page.meta.page_number, [card.id for card in page.data]))
                if len(pages) == 3:
                    server.delete_sim_cards(ids[10 : 10 + delete])
    # The advice fits the stream: with rescan=True it advised rescan=True.
    advice = (
        "(rescan=True, set on this stream, reads the listing again for them once this pass ends)"
        if rescan
        else "(rescan=True, on a stream with no checkpoint, reads the listing again for them)"
    )
    assert [str(w.message).endswith(advice) for w in caught] == [True], caught
    return pages, stream


async def test_the_rescan_advice_says_a_limit_may_end_the_scan_first() -> None:
    """With ``rescan=True`` and a ``limit`` that the first pass reaches, no second pass
    comes: the warning promised one "once this pass ends"; it says a limit may end it first.
    """
    async with MockTelnyxServer(sim_cards=1000, actions=1) as server:
        ids = server.current_sim_card_ids()
        async with SimCardsClient(KEY, server.url, max_concurrency=1, read_ahead=1) as client:
            stream = client.sim_cards(page_size=100, rescan=True, limit=500)
            with pytest.warns(simcards_async.DriftWarning, match="changed") as caught:
                async for page in stream.pages():
                    if page.meta is not None and page.meta.page_number == 3:
                        server.delete_sim_cards(ids[10:60])
    assert str(caught[0].message).endswith(
        "(rescan=True, set on this stream, reads the listing again for them once this pass "
        "ends, unless the pass ends at its limit)"
    )
    assert (stream.stats.drift.rescans, stream.stats.items_yielded) == (0, 500)


async def test_a_rescans_cut_page_is_not_taken_for_a_first_pass_page_of_its_number() -> None:
    """Twelve records, four a page, ``limit=12``, ``rescan=True``: a record deleted as page 2
    is answered slips one past it, the re-scan's page 1 recovers it, and the limit ends the
    scan there. With the first pass's pages still waiting for a slow reader, the reader took
    its first page 1 for the page the limit ended in (by its number): not counted done,
    ``pages_done`` one short at every page after. Each page counts as itself.
    """
    ids = [f"c{n:02}" for n in range(12)]
    asked: list[int] = []
    deleted = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        asked.append(number)
        if number == 2 and asked.count(2) == 1:
            del ids[0]  # deleted ahead of the scan: one record slips past page 2
            deleted.set()
        elif number == 3:
            await deleted.wait()  # in flight beside page 2: answered after the delete
        meta = {"page_number": number, "page_size": 4, "total_pages": 3, "total_results": 12}
        data = [{"id": i} for i in ids[(number - 1) * 4 : number * 4]]
        return web.json_response({"data": data, "meta": {**meta, "total_results": len(ids)}})

    async with serve(handle) as where, SimCardsClient(KEY, where.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=4, limit=12, rescan=True)
        done: list[int] = []
        stream.on_progress(lambda p: done.append(p.pages_done))
        got: list[str] = []
        with pytest.warns(simcards_async.DriftWarning):
            async for card in stream:
                got.append(card.id)
                if len(got) == 1:  # a slow reader: both passes end before it reads on
                    await eventually(lambda: stream.stats.drift.gaps_filled > 0)
    assert len(got) == len(set(got)) == 12
    assert stream.stats.drift.rescans == 1
    assert done == [1, 2, 3, 3, 4]


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_merge_in_sort_order_advises_what_it_takes(ordered: bool) -> None:
    """In a merge in sort order the drift warning advised ``rescan=True``, which that merge
    refuses: it advises an unordered merge of streams that rescan, which it takes.
    """
    amount = "current_billing_period_consumed_data.amount"
    drift = Drift(seed=3, every=2, insert=0, delete=5)
    async with (
        MockTelnyxServer(sim_cards=600, drift=drift) as server,
        SimCardsClient(KEY, server.url, max_concurrency=2) as client,
    ):
        sort = amount if ordered else None
        parts = [
            client.sim_cards(status="enabled", page_size=50, sort=sort),
            client.sim_cards(status="disabled", page_size=50, sort=sort),
        ]
        with pytest.warns(simcards_async.DriftWarning, match="changed") as caught:
            await simcards_async.merge(*parts, ordered=ordered).collect()
    advice = (
        "(rescan=True, on streams merged with ordered=False, reads the listing again for them)"
        if ordered
        else "(rescan=True, on a stream with no checkpoint, reads the listing again for them)"
    )
    assert all(str(w.message).endswith(advice) for w in caught), [str(w.message) for w in caught]


async def test_deletions_during_a_scan_may_lose_records() -> None:
    """Deleting records already read shifts the rest back: as many unread records slip past
    the scan, and the drift is reported.
    """
    async with MockTelnyxServer(sim_cards=1000, actions=1) as server:
        start = server.current_sim_card_ids()
        pages, stream = await _scan_deleting(server, delete=30, rescan=False)
        got = [i for _, ids in pages for i in ids]
        assert _repeats(got) == {}
        missed = [i for i in start if i not in set(got)]
        # Exactly as many as were deleted, one contiguous run that crossed a page boundary.
        assert len(missed) == 30
        first = start.index(missed[0])
        assert missed == start[first : first + 30]
        assert first % 100 == 0
        report = stream.stats.drift
        assert (report.first_total_results, report.last_total_results) == (1000, 970)
        assert report.rescans == 0
        assert report.gaps_filled == 0


async def test_rescan_fills_the_gaps_left_by_deletions() -> None:
    """With ``rescan=True`` a second pass yields exactly the records the first pass missed:
    every record that existed at the start is yielded once.
    """
    async with MockTelnyxServer(sim_cards=1000, actions=1) as server:
        start = server.current_sim_card_ids()
        pages, stream = await _scan_deleting(server, delete=30, rescan=True)
        got = [i for _, ids in pages for i in ids]
        assert _repeats(got) == {}
        assert sorted(got) == sorted(start)  # the deleted 30 were read before deletion
        # The second pass starts again at page 1: what it yields is what it recovered.
        numbers = [n for n, _ in pages]
        second = next(k for k in range(1, len(numbers)) if numbers[k] <= numbers[k - 1])
        recovered = [i for _, ids in pages[second:] for i in ids]
        first_pass = {i for _, ids in pages[:second] for i in ids}
        assert len(recovered) == 30
        assert not first_pass & set(recovered)
        report = stream.stats.drift
        assert report.rescans == 1
        assert report.gaps_filled == len(recovered) == 30
        assert stream.stats.items_yielded == 1000


async def test_a_last_page_holding_more_than_its_meta_counts_is_not_the_end() -> None:
    """A count taken apart from the page, under inserts: page 2 of 10 a page says 15 records
    and 2 pages, yet holds 10. It is full and holds more than its meta counts, so the next
    page is read to see; records there were silently left out before.
    """
    records = [{"id": f"c{i:04}"} for i in range(25)]
    asked: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        asked.append(number)
        meta = {"page_number": number, "page_size": 10, "total_pages": 2, "total_results": 15}
        data = records[(number - 1) * 10 : number * 10]
        return web.json_response({"data": data, "meta": meta})

    async with serve(handle) as where, SimCardsClient(KEY, where.url, max_concurrency=1) as client:
        got = [card.id async for card in client.sim_cards(page_size=10)]
    assert got == [r["id"] for r in records]
    assert asked == [1, 2, 3]  # page 3 is short: the end


async def test_pages_a_server_caps_below_the_size_asked_are_not_short() -> None:
    """Asked for 10 a page, the server sends 5 and says so in meta.page_size: all 35 records
    come, and no page is taken for one that lost records (no DriftWarning).
    """
    records = [{"id": f"c{i:04}"} for i in range(35)]

    async def handle(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        meta = {"page_number": number, "page_size": 5, "total_pages": 7, "total_results": 35}
        return web.json_response({"data": records[(number - 1) * 5 : number * 5], "meta": meta})

    async with serve(handle) as where, SimCardsClient(KEY, where.url) as client:
        stream = client.sim_cards(page_size=10)
        with warnings.catch_warnings():
            warnings.simplefilter("error", simcards_async.DriftWarning)
            got = [card.id async for card in stream]
    assert got == [r["id"] for r in records]
    assert stream.stats.drift.short_pages == 0


async def test_a_rescan_without_meta_is_bounded_by_the_first_pass() -> None:
    """Without meta a pass ends at a short page. A server that answers every page of the
    re-scan with the same full page (a cache, a clamped page number) kept it asking for
    ever; it now stops at twice the first pass's pages plus two, with a PaginationError.
    """
    first_pass = {1: range(10), 2: range(9, 19), 3: range(19, 29), 4: range(29, 33)}
    asked: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        rescanning = number == 1 and asked != []
        asked.append(number)
        ids = range(10) if rescanning or len(asked) > 4 else first_pass[number]
        return web.json_response({"data": [{"id": f"c{i:04}"} for i in ids]})  # no meta

    got: list[str] = []
    async with serve(handle) as where, SimCardsClient(KEY, where.url, max_concurrency=1) as client:
        with (
            anyio.fail_after(HANG_GUARD),  # a deadline only for the old endless loop: never reached
            pytest.warns(simcards_async.DriftWarning),
            pytest.raises(simcards_async.PaginationError, match="re-scan without meta") as caught,
        ):
            async for card in client.sim_cards(page_size=10, rescan=True):
                got.append(card.id)
    assert got == [f"c{i:04}" for i in range(33)]  # page 2 repeated c0009: drift, so a re-scan
    assert asked == [1, 2, 3, 4, *range(1, 11)]  # 10: twice the first pass's 4 pages, plus two
    assert caught.value.page == 10


async def test_a_rescan_without_meta_reads_a_listing_like_the_first_pass() -> None:
    """The bound leaves room: a re-scan of the same pages ends at the short page, as before."""
    pages = {1: range(10), 2: range(9, 19), 3: range(19, 29), 4: range(29, 33)}
    asked: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        asked.append(number)
        return web.json_response({"data": [{"id": f"c{i:04}"} for i in pages.get(number, ())]})

    async with serve(handle) as where, SimCardsClient(KEY, where.url, max_concurrency=1) as client:
        stream = client.sim_cards(page_size=10, rescan=True)
        with pytest.warns(simcards_async.DriftWarning):
            got = [card.id async for card in stream]
    assert got == [f"c{i:04}" for i in range(33)]
    assert asked == [1, 2, 3, 4, 1, 2, 3, 4]
    assert stream.stats.drift.rescans == 1


@pytest.mark.parametrize("start", [1, 20])
async def test_a_rescan_without_meta_from_a_start_page_recovers_what_shifted_past(
    start: int,
) -> None:
    """A pass without meta repeats c0009 on its second page (drift) and never shows c0019,
    shifted past it; the re-scan sees the listing as it now is. From page 20, the re-scan's
    bound (twice the pages read, plus two) was taken as a page number, 10: it ended after its
    first page, c0019 lost and nothing said. It is counted from the start page.
    """
    first_pass = [range(10), range(9, 19), range(20, 30), range(30, 33)]
    now = [range(10), range(10, 20), range(20, 30), range(30, 33)]
    asked: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        listing = now if len(asked) >= 4 else first_pass
        asked.append(number)
        ids = listing[number - start] if 0 <= number - start < 4 else ()
        return web.json_response({"data": [{"id": f"c{i:04}"} for i in ids]})  # no meta

    async with serve(handle) as where, SimCardsClient(KEY, where.url, max_concurrency=1) as client:
        stream = client.sim_cards(page_size=10, start_page=start, rescan=True)
        with pytest.warns(simcards_async.DriftWarning):
            got = [card.id async for card in stream]
    assert sorted(got) == [f"c{i:04}" for i in range(33)]
    assert len(got) == 33
    assert asked == [*range(start, start + 4)] * 2
    assert (stream.stats.drift.rescans, stream.stats.drift.gaps_filled) == (1, 1)


async def test_rescan_under_random_drift_never_repeats_and_counts_what_it_found() -> None:
    """With random inserts and deletes, a rescan still yields no id twice, and
    ``gaps_filled`` is exactly what the second pass yielded.
    """
    drift = Drift(seed=2, every=3, insert=4, delete=4)
    async with MockTelnyxServer(sim_cards=1500, actions=1, drift=drift) as server:
        async with SimCardsClient(KEY, server.url, max_concurrency=4) as client:
            stream = client.sim_cards(page_size=50, rescan=True)
            pages: list[tuple[int, list[str]]] = []
            with pytest.warns(simcards_async.DriftWarning):
                async for page in stream.pages():
                    assert page.meta is not None
                    assert page.meta.page_number is not None
                    pages.append((page.meta.page_number, [card.id for card in page.data]))
        got = [i for _, ids in pages for i in ids]
        assert _repeats(got) == {}
        numbers = [n for n, _ in pages]
        second = next(k for k in range(1, len(numbers)) if numbers[k] <= numbers[k - 1])
        report = stream.stats.drift
        assert report.rescans == 1
        assert report.gaps_filled == sum(len(ids) for _, ids in pages[second:]) > 0


async def test_short_and_empty_pages_before_the_planned_end_are_counted() -> None:
    """Deletions that shrink the listing by more than a page make the pages before the
    planned end come back short, then empty: ``short_pages`` counts both. The empty page,
    which ends the listing early, is read once more (a glitched answer must not end it).
    """
    async with MockTelnyxServer(sim_cards=1000, actions=1) as server:
        pages, stream = await _scan_deleting(server, delete=130, rescan=False)
        # Planned from page 1: 10 pages. Now 870 records: page 9 has 70, page 10 none.
        assert [(n, len(ids)) for n, ids in pages][-1] == (9, 70)
        assert stream.stats.pages_fetched == 11  # page 10, twice
        assert stream.stats.drift.rereads == 1
        assert stream.stats.drift.short_pages == 2


# --- memory ----------------------------------------------------------------------------------


async def test_every_delivered_id_is_kept_so_none_comes_twice() -> None:
    """The engine keeps every id it delivered (compactly, see ``_ids``), during and after a
    20,000-card scan with drift: a repeat from any distance back is dropped.
    """
    drift = Drift(seed=8, every=4, insert=3, delete=0)
    async with MockTelnyxServer(sim_cards=20_000, actions=1, drift=drift) as server:
        async with SimCardsClient(KEY, server.url, max_concurrency=2, read_ahead=4) as client:
            stream = client.sim_cards(page_size=250)
            sizes = []
            ids: list[str] = []
            with pytest.warns(simcards_async.DriftWarning):
                async for page in stream.pages():
                    ids.extend(card.id for card in page.data)
                    sizes.append(len(stream._engine.delivered))
        assert stream.stats.items_yielded == 20_000
        assert _repeats(ids) == {}
        assert sizes == sorted(sizes)
        assert len(stream._engine.delivered) == 20_000


async def test_rescan_keeps_every_id() -> None:
    """With ``rescan=True`` the engine keeps every id read (the documented price of it)."""
    async with MockTelnyxServer(sim_cards=3000, actions=1) as server:
        async with SimCardsClient(KEY, server.url, read_ahead=2) as client:
            stream = client.sim_cards(page_size=100, rescan=True)
            cards: list[SimCard] = await stream.collect()
        assert len(cards) == 3000
        assert len(stream._engine.delivered) == 3000
        assert stream.stats.drift.rescans == 0  # nothing changed: no second pass
