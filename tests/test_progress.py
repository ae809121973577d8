"""What a stream reports while it runs: ``stats`` counters, ``on_progress`` snapshots and
``progress``, retries included.
"""

from __future__ import annotations

import asyncio
import math
import time
import warnings
from pathlib import Path

import pytest
from aiohttp import web
from polling import eventually
from servers import holding_page, serve
from small_fleet import CARDS, KEY

import simcards_async as sc
from simcards_async import (
    Progress,
    SimCardsClient,
)
from simcards_async._cli import format_progress
from simcards_async.testing import Drift, FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio


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


async def test_an_empty_listing_read_to_its_end_is_all_done(client: SimCardsClient) -> None:
    """0 of 0 is done: its ``fraction`` was None (the command's bar showed no 100%)."""
    stream = client.sim_cards(iccid="no-such-iccid")
    assert await stream.collect() == []
    done = stream.progress
    assert (done.items, done.total_results) == (0, 0)
    assert done.fraction == 1.0
    assert Progress(0, None, 0, None, 0, 0.0, 0.0).fraction is None


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


async def test_elapsed_runs_from_the_first_request_to_the_end(client: SimCardsClient) -> None:
    """``elapsed`` counted from the stream's making (a stream made before a gather said 2 s
    and 49 items/s for a listing of 0.17 s) and went on growing after the end, its rate
    falling: it is the time from the first request to the end, broken off or not.
    """
    stream = client.sim_cards(page_size=50)
    assert stream.progress.elapsed == 0.0  # not started
    asked = time.monotonic()
    await stream.collect()
    ended = time.monotonic()
    final = stream.progress
    assert 0 < final.elapsed <= ended - asked
    # Frozen once ended: read again after the clock moved on, the same.
    await eventually(lambda: time.monotonic() > ended, what="the clock to move")
    assert stream.progress.elapsed == final.elapsed
    assert stream.progress.items_per_second == final.items_per_second
    broken = client.sim_cards(page_size=50)
    async with broken:
        async for _ in broken:
            break
    stopped = broken.progress.elapsed
    await eventually(lambda: time.monotonic() > ended + stopped, what="the clock to move")
    assert broken.progress.elapsed == stopped


async def test_progress_snapshots_agree_with_the_stream_stats() -> None:
    """Every on_progress snapshot matches the stream's own stats at that moment, retries too;
    its pages done are the pages the reader finished, as its items are what it got (they
    were the pages fetched, which run ahead of the reader: 8 pages done at 100 items).
    """
    faults = FaultPlan(script=[None, 503, None, 502, 500])
    async with (
        MockTelnyxServer(sim_cards=900, seed=7, faults=faults) as server,
        sc.SimCardsClient(
            "any-key", server.url, max_concurrency=2, retry=sc.RetryPolicy(base=0.001, cap=0.01)
        ) as client,
    ):
        stream = client.sim_cards(page_size=100)
        mismatches: list[tuple[object, ...]] = []

        def check(progress: sc.Progress) -> None:
            stats = stream.stats
            seen = (progress.items, progress.pages_done, progress.retries)
            if seen != (stats.items_yielded, stats.items_yielded // 100, stats.retries):
                mismatches.append(seen)

        stream.on_progress(check)
        cards = await stream.collect()
    assert mismatches == []
    assert len(cards) == 900
    assert stream.progress.retries == stream.stats.retries == 3
    assert stream.progress.pages_done == stream.stats.pages_fetched == 9


async def test_items_yielded_is_exact_within_a_page_and_in_the_repr() -> None:
    """Counted by the page iterator's position: exact after each item, in stats and repr."""
    async with (
        MockTelnyxServer(sim_cards=120, seed=3) as server,
        sc.SimCardsClient("test-key", server.url) as client,
    ):
        stream = client.sim_cards(page_size=50)
        seen: list[int] = []
        async with stream:
            async for _ in stream:
                seen.append(stream.stats.items_yielded)
                if len(seen) == 77:
                    assert "StreamStats(items_yielded=77, pages_fetched=" in repr(stream.stats)
                    assert stream.progress.items == 77
        assert seen == list(range(1, 121))
        assert stream.stats.items_yielded == stream.stats.items_counted == 120
        assert stream.stats.reading is None


async def test_a_whole_page_handed_over_counts_as_a_page_done_as_its_items_do() -> None:
    """A ``pages()`` reader holding page 1 had 10 items and 0 pages done, and one that broke
    at page 3 was left at 30 items and 2 pages: the page it got whole was counted in
    ``items`` and not in ``pages_done``. Each page handed over counts in both.
    """
    async with (
        MockTelnyxServer(sim_cards=100, seed=1) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        stream = client.sim_cards(page_size=10)
        held: list[tuple[int, int]] = []
        async with stream:
            async for page in stream.pages():
                progress = stream.progress
                held.append((progress.items, progress.pages_done))
                assert len(page.data) == 10
                if len(held) == 3:
                    break
        assert held == [(10, 1), (20, 2), (30, 3)]
        assert (stream.progress.items, stream.progress.pages_done) == (30, 3)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_the_first_progress_snapshot_comes_with_the_first_page(
    fmt: sc.ExportFormat, tmp_path: Path
) -> None:
    """An export reports its first page (what the CLI's bar draws at once) while the
    second is still on its way: the first frame never waits for more pages.
    """
    released = asyncio.Event()
    async with (
        MockTelnyxServer(sim_cards=30, actions=0) as mock,
        holding_page(mock.url, 2, released) as held,
    ):
        snapshots: list[Progress] = []
        async with SimCardsClient(KEY, held.url, max_concurrency=2) as client:
            stream = client.sim_cards(page_size=10)
            stream.on_progress(snapshots.append)
            export = asyncio.create_task(sc.export(stream, tmp_path / f"out.{fmt}"))
            await eventually(lambda: snapshots, what="a snapshot before page 2 is answered")
            assert (snapshots[0].pages_done, snapshots[0].items) == (1, 10)
            assert not export.done()
            released.set()
            result = await export
    assert result.items == 30
    assert snapshots[-1].items == 30


@pytest.mark.parametrize("merged", [False, True], ids=["stream", "merge"])
async def test_progress_counts_down_a_rate_limit_pause(merged: bool) -> None:
    """While a 429's pause holds every request of the client, ``progress.pause_left`` says
    how long is left, and the bar shows that countdown instead of a stale ETA; once the
    stream has ended it waits for nothing.
    """
    plan = FaultPlan(script=["429"], retry_after=60.0)  # the client's longest wait
    async with (
        MockTelnyxServer(sim_cards=30, actions=0, faults=plan) as server,
        SimCardsClient(KEY, server.url, max_concurrency=1) as client,
    ):
        first = client.sim_cards(page_size=10)
        stream = (
            sc.merge(first, client.sim_cards(page_size=10, status=["enabled"])) if merged else first
        )
        before = stream.progress
        assert before.pause_left == 0.0
        unread = client.sim_cards(page_size=10)
        unread_merge = sc.merge(client.sim_cards(page_size=10), client.sim_cards(page_size=5))
        reading = asyncio.ensure_future(stream.collect())
        try:
            await eventually(lambda: stream.progress.pause_left > 0, what="a pause reported")
            # The client's pause is theirs too (their requests would wait), until closed.
            assert unread.progress.pause_left > 0
            assert unread_merge.progress.pause_left > 0
            await unread.aclose()
            await unread_merge.aclose()
            assert unread.progress.pause_left == unread_merge.progress.pause_left == 0.0
            progress = stream.progress
            assert 0 < progress.pause_left <= 60
            line = format_progress(progress, "SIM cards")
            assert f"waiting {math.ceil(progress.pause_left)}s (rate limit)" in line
            assert "ETA" not in line
        finally:
            reading.cancel()
            await asyncio.wait([reading])
        await stream.aclose()
        assert stream.progress.pause_left == 0.0  # ended: nothing of it waits
        assert server.requests[1:] == []  # nothing was sent during the pause


@pytest.mark.parametrize(
    ("items", "resumed", "elapsed", "eta"),
    [
        (250, 0, 0.0, None),  # a first page within a coarse clock's tick: no time measured
        (250, 0, 2.0, 2.0),
        (300, 300, 1.0, None),  # nothing this run
        (500, 0, 1.0, 0.0),
    ],
)
def test_eta_is_a_number_or_none_never_an_error(
    items: int, resumed: int, elapsed: float, eta: float | None
) -> None:
    """``eta`` divided by a rate of 0 when ``elapsed`` was 0 (a clock that ticks every
    15.6 ms, and a fast first page): a ZeroDivisionError from the README's own callback.
    """
    progress = Progress(
        pages_done=1,
        total_pages=2,
        items=items,
        total_results=500,
        retries=0,
        throttled_seconds=0.0,
        elapsed=elapsed,
        resumed_items=resumed,
    )
    assert progress.eta == eta


@pytest.mark.parametrize(
    ("total", "elapsed"),
    [
        (10**400, 1.0),  # a total no float holds: JSON integers have no bound
        (10**300, 1e300),  # seconds left past the largest float
    ],
    ids=["total", "seconds"],
)
def test_eta_of_a_total_no_float_holds_is_none(total: int, elapsed: float) -> None:
    """``eta`` raised a bare ``OverflowError`` (and the CLI's bar, which reads it, died
    with a traceback) when a server's ``meta.total_results`` was beyond a float's range.
    """
    progress = Progress(
        pages_done=1,
        total_pages=total,
        items=3,
        total_results=total,
        retries=0,
        throttled_seconds=0.0,
        elapsed=elapsed,
    )
    assert progress.eta is None
    assert progress.fraction is not None
    assert progress.fraction < 1e-200
    line = format_progress(progress, "SIM cards", 80)
    assert len(line) <= 80
    assert "ETA" not in line


async def test_a_streams_pages_are_cut_at_its_limit_and_never_short_of_those_read() -> None:
    """``limit=95`` at 10 a page ends at 10 pages of 10 (it said 10 of 20; under a server's
    cap of 5 a page, 19 pages from the first on, not 10), and a listing that grows while read
    (ten records more at each of the first answers) reads more pages than its first page
    announced (it said 21 of 20): never more done than in all.
    """
    ids: list[str] = [f"c{n:05}" for n in range(200)]
    grow = [False]
    cap: list[int | None] = [None]

    async def growing(request: web.Request) -> web.Response:
        number, size = int(request.query["page[number]"]), int(request.query["page[size]"])
        size = cap[0] or size
        if grow[0] and len(ids) < 250:
            ids.extend(f"c{len(ids) + n:05}" for n in range(10))
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": -(-len(ids) // size),
            "total_results": len(ids),
        }
        data = [{"id": i} for i in ids[(number - 1) * size : number * size]]
        return web.json_response({"data": data, "meta": meta})

    async with serve(growing) as served, SimCardsClient(KEY, served.url) as client:
        limited = client.sim_cards(page_size=10, limit=95)
        assert len(await limited.collect()) == 95
        assert (limited.progress.pages_done, limited.progress.total_pages) == (10, 10)
        assert limited.progress.fraction == 1.0
    cap[0] = 5  # the server caps pages at 5 of the 10 asked: limit=95 takes 19 of them
    async with serve(growing) as served, SimCardsClient(KEY, served.url) as client:
        capped = client.sim_cards(page_size=10, limit=95)
        totals: list[int | None] = []
        capped.on_progress(lambda p: totals.append(p.total_pages))
        assert len(await capped.collect()) == 95
        assert set(totals) == {19}, "from the first page on, not 10 until passed"
        assert (capped.progress.pages_done, capped.progress.total_pages) == (19, 19)
    cap[0] = None
    grow[0] = True
    async with (
        serve(growing) as served,
        SimCardsClient(KEY, served.url, max_concurrency=1) as client,
    ):
        seen: list[tuple[int, int | None]] = []
        stream = client.sim_cards(page_size=10)
        stream.on_progress(lambda p: seen.append((p.pages_done, p.total_pages)))
        with pytest.warns(sc.DriftWarning):
            await stream.collect()
    assert seen[-1][0] > 20  # more pages than the first page announced
    assert all(total is not None and done <= total for done, total in seen)


async def test_progress_from_a_start_page_counts_what_the_scan_reads() -> None:
    """``start_page=3`` of 100 records at 10 a page reads 8 pages and 80 records; the totals
    were the whole listing's (100, 10 pages), so the bar ended at 80% and the ETA never at 0.
    """
    ids = [f"c{n:03}" for n in range(100)]

    async def listing(request: web.Request) -> web.Response:
        number, size = int(request.query["page[number]"]), int(request.query["page[size]"])
        meta = {"page_number": number, "page_size": size, "total_pages": 10, "total_results": 100}
        data = [{"id": i} for i in ids[(number - 1) * size : number * size]]
        return web.json_response({"data": data, "meta": meta})

    async with serve(listing) as served, SimCardsClient(KEY, served.url) as client:
        stream = client.sim_cards(page_size=10, start_page=3)
        assert len(await stream.collect()) == 80
        final = stream.progress
        assert (final.pages_done, final.total_pages) == (8, 8)
        assert (final.items, final.total_results) == (80, 80)
        assert final.fraction == 1.0
        assert final.eta == 0.0
        limited = client.sim_cards(page_size=10, start_page=3, limit=25)
        assert len(await limited.collect()) == 25
        assert (limited.progress.total_pages, limited.progress.total_results) == (3, 25)


@pytest.mark.parametrize(
    ("drift", "rescan"),
    [
        (Drift(every=1, insert=0, delete=30), False),
        (Drift(every=1, insert=0, delete=30), True),
        (Drift(every=2, insert=10), True),
    ],
    ids=["shrank", "shrank-rescanned", "grew-rescanned"],
)
async def test_progress_of_a_listing_that_changed_ends_at_its_items(
    drift: Drift, rescan: bool
) -> None:
    """A listing that shrank while it was read kept the first page's count for good (790 of
    1,000 once it had ended, an ETA still ahead); one that grew showed more items than its
    total (1,050 of 1,000). The total is never below the items now, and once the stream has
    ended it is what it got: the bar ends at 100%, the ETA at 0.
    """
    seen: list[sc.Progress] = []
    async with (
        MockTelnyxServer(sim_cards=1000, actions=1, drift=drift) as server,
        sc.SimCardsClient(KEY, server.url, max_concurrency=2) as client,
    ):
        stream = client.sim_cards(page_size=100, rescan=rescan)
        stream.on_progress(seen.append)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sc.DriftWarning)
            cards = await stream.collect()
    assert len(cards) != 1000  # the listing did change
    assert all(p.total_results is None or p.items <= p.total_results for p in seen)
    done = stream.progress
    assert (done.items, done.total_results) == (len(cards), len(cards))
    assert done.pages_done == done.total_pages
    assert (done.fraction, done.eta) == (1.0, 0.0)
    assert seen[-1] == done


async def test_pages_done_mean_the_same_before_and_after_a_resume(tmp_path: Path) -> None:
    """A reader that stopped 50 items into page 3 had 8 pages done by the callback's count
    (the pages fetched, ahead of it), and the same stream resumed had 2 (the pages it had
    finished): the count went back. Both say 2 now, and the resumed run goes on from there.
    """
    point = tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=1000, seed=3) as server,
        SimCardsClient(KEY, server.url, max_concurrency=4) as client,
    ):
        seen: list[tuple[int, int]] = []
        stream = client.sim_cards(page_size=100, checkpoint=point)
        stream.on_progress(lambda p: seen.append((p.items, p.pages_done)))
        async with stream:
            got = 0
            async for _ in stream:
                got += 1
                if got == 250:
                    break
        assert seen == [(100, 1), (200, 2)]
        assert stream.progress.pages_done == 2
        resumed = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        assert resumed.progress.pages_done == 2
        after: list[tuple[int, int]] = []
        resumed.on_progress(lambda p: after.append((p.items, p.pages_done)))
        assert len(await resumed.collect()) == 750
    assert after[0] == (300, 3)
    assert after[-1] == (1000, 10)
    assert [pages for _, pages in after] == sorted(pages for _, pages in after)


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_finished_merge_counts_every_page_it_read_empty_ones_too(ordered: bool) -> None:
    """A merge counted only the pages it took items from: two queries matching nothing read
    a page each and said ``0 pages`` (the command ``exported 0 SIM cards (0 pages)``, where
    one such query alone said ``(1 page)``). Read to its end, it counts every page read.
    """
    sort = "current_billing_period_consumed_data.amount" if ordered else None
    async with (
        MockTelnyxServer(sim_cards=200, seed=5) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        parts = [
            client.sim_cards(tags=["no-such-tag"], page_size=10, sort=sort),
            client.sim_cards(status="enabled", page_size=10, sort=sort),
            client.sim_cards(tags=["nor-this-one"], page_size=10, sort=sort),
        ]
        merged = sc.merge(*parts, ordered=ordered)
        items = await merged.collect()
    fetched = [p.stats.pages_fetched for p in parts]
    assert fetched[0] == fetched[2] == 1
    assert fetched[1] > 1
    done = merged.progress
    assert done.items == done.total_results == len(items) > 0
    assert done.pages_done == done.total_pages == sum(fetched) == len(server.requests)


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("limit", [3, 15, 25])
async def test_a_merge_its_limit_ended_counts_the_pages_it_took(ordered: bool, limit: int) -> None:
    """A merge its limit stopped summed its queries' pages done, and a query the limit
    stopped had not finished its last page: 3 cards from ``0 pages`` (the command said
    ``exported 3 SIM cards (0 pages)``). It counts every page it took items from.
    """
    sort = "current_billing_period_consumed_data.amount" if ordered else None
    async with (
        MockTelnyxServer(sim_cards=200, seed=5) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        parts = [
            client.sim_cards(status="enabled", page_size=10, sort=sort),
            client.sim_cards(status="disabled", page_size=10, sort=sort),
        ]
        merged = sc.merge(*parts, limit=limit, ordered=ordered)
        assert len(await merged.collect()) == limit
    done = merged.progress
    assert done.items == done.total_results == limit
    assert done.pages_done == done.total_pages
    assert -(-limit // 10) <= done.pages_done <= sum(p.stats.pages_fetched for p in parts)


@pytest.mark.parametrize("ordered", [False, True])
async def test_a_merge_whose_limit_is_the_unions_size_counts_every_page_read(
    ordered: bool,
) -> None:
    """At a ``limit`` the union's size exactly, a merge counted only the pages it took items
    from: a query matching nothing read a page, left out (the command said ``(6 pages)``
    where the same listings without the limit said ``(7 pages)``). A query read to its end
    counts every page it read, as without a limit.
    """
    sort = "current_billing_period_consumed_data.amount" if ordered else None
    async with (
        MockTelnyxServer(sim_cards=200, seed=5) as server,
        SimCardsClient(KEY, server.url, max_concurrency=1) as client,
    ):
        whole = await sc.merge(
            client.sim_cards(tags=["no-such-tag"], page_size=10, sort=sort),
            client.sim_cards(status="enabled", page_size=10, sort=sort),
            ordered=ordered,
        ).collect()
        parts = [
            client.sim_cards(tags=["no-such-tag"], page_size=10, sort=sort),
            client.sim_cards(status="enabled", page_size=10, sort=sort),
        ]
        merged = sc.merge(*parts, limit=len(whole), ordered=ordered)
        assert [card.id for card in await merged.collect()] == [card.id for card in whole]
    fetched = [p.stats.pages_fetched for p in parts]
    assert fetched[0] == 1
    done = merged.progress
    assert done.pages_done == done.total_pages == sum(fetched)
