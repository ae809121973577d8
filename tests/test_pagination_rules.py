"""The pagination rules over loopback HTTP: a server whose pages make no sense raises
``PaginationError`` within a bounded number of requests, and no id is ever yielded twice.

One small aiohttp server serves an honest listing of UUIDs; each test bends one thing
about its answers (the page it serves, its meta, its size) the way broken servers,
proxies and caches do.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web
from polling import HANG_GUARD
from servers import serve

from simcards_async import DriftWarning, PaginationError, SimCardsClient, _pagination
from simcards_async._ids import MAX_EXPECTED

pytestmark = pytest.mark.anyio

KEY = "KEYrules-0123456789abcdef"

#: (page asked for, page size, the listing's ids) -> (ids to serve, meta to send, or None)
Bend = Callable[[int, int, list[str]], tuple[list[str], dict[str, Any] | None]]


def honest(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The page as a correct server sends it."""
    meta = {
        "page_number": number,
        "page_size": size,
        "total_pages": -(-len(ids) // size),
        "total_results": len(ids),
    }
    return ids[(number - 1) * size : number * size], meta


class Listing:
    """``GET /v2/sim_cards`` over ``count`` UUIDs, each answer passed through ``bend``."""

    def __init__(self, count: int, bend: Bend = honest) -> None:
        self.ids = [str(uuid.UUID(int=n)) for n in range(1, count + 1)]
        self.bend = bend
        self.asked: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        """Serve the page asked for, bent."""
        number = int(request.query["page[number]"])
        size = int(request.query["page[size]"])
        self.asked.append(number)
        ids, meta = self.bend(number, size, self.ids)
        body: dict[str, Any] = {"data": [{"id": i} for i in ids]}
        if meta is not None:
            body["meta"] = meta
        return web.Response(body=msgspec.json.encode(body), content_type="application/json")

    @asynccontextmanager
    async def client(self, **options: Any) -> AsyncIterator[SimCardsClient]:
        """Serve on 127.0.0.1 (``servers.serve``) and yield a client of it (no retries)."""
        async with (
            serve(self.handle, route="/v2/sim_cards", method="GET") as served,
            SimCardsClient(KEY, served.url, max_retries=0, **options) as client,
        ):
            yield client


async def read(listing: Listing, **options: Any) -> tuple[list[str], PaginationError | None]:
    """Read the whole listing; the ids yielded and the PaginationError it ended with."""
    got: list[str] = []
    async with listing.client(**options) as client:
        try:
            async for card in client.sim_cards(page_size=10):
                got.append(card.id)
        except PaginationError as exc:
            return got, exc
    return got, None


def no_repeats(ids: list[str]) -> bool:
    return not [i for i, n in Counter(ids).items() if n > 1]


async def _stopped_after(
    client: SimCardsClient, point: Path, count: int, page_size: int = 10
) -> list[str]:
    """Read pages (of 10) with a checkpoint at ``point``; stop after ``count`` records (ids)."""
    got: list[str] = []
    async with client.sim_cards(page_size=page_size, checkpoint=point) as stream:
        async for card in stream:
            got.append(card.id)
            if len(got) == count:
                break
    return got


async def _resumed_into_a_replay(
    client: SimCardsClient, point: Path, got: list[str]
) -> PaginationError:
    """Resume the scan ``point`` saved (its ids added to ``got``), which must end in a
    replayed page, and not be taken for drift on the way (nothing changed): the error.
    """
    stream = client.sim_cards(page_size=10, checkpoint=point, resume_from=point)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        with pytest.raises(PaginationError, match="replayed") as caught:
            async with stream:
                async for card in stream:
                    got.append(card.id)
    return caught.value


async def test_an_honest_listing_passes_every_rule() -> None:
    """The rules do not trip on a correct server: 95 records, 10 pages, no error."""
    listing = Listing(95)
    got, error = await read(listing)
    assert error is None
    assert got == listing.ids


async def test_a_server_that_ignores_the_page_number_is_an_error() -> None:
    """Page 1 served for every page (meta saying page 1): PaginationError at page 2."""

    def first_page_always(_number: int, size: int, ids: list[str]) -> Any:
        return honest(1, size, ids)

    listing = Listing(10_000, first_page_always)
    got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is not None
    assert error.page == 2
    assert "page_number is 1" in str(error)
    # The request's whole URL, as an answer's error gives it (the path alone before).
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v2/sim_cards\?.*page%5Bnumber%5D=2.*", error.url)
    assert got == listing.ids[:10]
    assert len(listing.asked) == 2


@pytest.mark.parametrize("page", [3, 10])
async def test_a_page_short_of_its_own_count_once_is_read_again(page: int) -> None:
    """A page answered once with 4 of its 10 records, its count unchanged (a cache's answer,
    a replica's behind): no deletion did that, and the 6 it lacked were lost with a
    ``DriftWarning`` alone (page 10, the last, too). It is read again, once, and every
    record comes, with no warning.
    """
    glitched: list[int] = []

    def short_once(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        if number == page and not glitched:
            glitched.append(number)
            data = data[:4]
        return data, meta

    listing = Listing(100, short_once)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        got, error = await read(listing)
    assert error is None
    assert got == listing.ids
    assert listing.asked.count(page) == 2


async def test_pages_all_short_of_their_count_are_each_read_twice_and_warned() -> None:
    """A server that caps its pages at 4 records under a meta saying 10 a page: each page
    after the first is read again once (no more), and the listing ends as documented,
    with the short pages counted and warned about.
    """

    def capped(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        return data[:4], meta

    listing = Listing(100, capped)
    with pytest.warns(DriftWarning, match="short page"):
        got, error = await read(listing)
    assert error is None
    assert got == [i for n in range(10) for i in listing.ids[n * 10 : n * 10 + 4]]
    assert sorted(listing.asked) == [1, *sorted([*range(2, 11), *range(2, 11)])]


async def test_a_meta_without_page_number_is_read_through() -> None:
    """A server that leaves ``meta.page_number`` out is not taken as one saying page 1:
    the rule only checks a page number the server sent.
    """

    def no_page_number(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        del meta["page_number"]
        return data, meta

    listing = Listing(95, no_page_number)
    got, error = await read(listing, max_concurrency=2)
    assert error is None
    assert got == listing.ids
    assert sorted(listing.asked) == list(range(1, 11))


async def test_a_replayed_page_is_an_error_and_never_a_duplicate() -> None:
    """Page 1's records served again as page 7, meta echoing page 7 and the same total:
    a replay, not drift. Nothing is yielded twice, and the stream raises at page 7.
    """

    def replay_page_one_at_seven(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        return (honest(1, size, ids)[0] if number == 7 else data), meta

    listing = Listing(200, replay_page_one_at_seven)
    got, error = await read(listing, max_concurrency=2)
    assert error is not None
    assert error.page == 7
    assert "replayed" in str(error)
    assert no_repeats(got)
    assert got == listing.ids[:60]


async def test_a_page_number_echoed_over_the_same_data_is_a_replay() -> None:
    """A cache that serves page 1's data under every page number (meta echoed): the
    second page is all repeats of a listing that did not change, PaginationError.
    """

    def same_data(number: int, size: int, ids: list[str]) -> Any:
        return honest(1, size, ids)[0], honest(number, size, ids)[1]

    listing = Listing(10**5, same_data)
    got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is not None
    assert error.page == 2
    assert got == listing.ids[:10]
    assert len(listing.asked) == 2


async def test_a_record_twice_in_one_page_does_not_hide_a_replay() -> None:
    """The same cache, its page holding one record twice: a repeat within one answer is
    no sign that the listing moved (one answer is one view of it). Taken for one, every
    later replay of page 1 was drift: 9 of 100 records, a warning, and no error.
    """

    def same_data_one_twice(number: int, size: int, ids: list[str]) -> Any:
        first = honest(1, size, ids)[0]
        return [first[0], *first[:-1]], honest(number, size, ids)[1]

    listing = Listing(100, same_data_one_twice)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)  # page 1's own repeat is still counted
        got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is not None
    assert error.page == 2
    assert "replayed" in str(error)
    assert got == listing.ids[:9]
    assert len(listing.asked) == 2


async def test_total_pages_that_contradict_total_results_are_an_error() -> None:
    """10**9 pages announced for 300 results, fresh records on every page: refused at once."""

    def huge_total_pages(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        return data, {**meta, "total_pages": 10**9}

    listing = Listing(300, huge_total_pages)
    got, error = await read(listing)
    assert error is not None
    assert error.page == 1
    assert "total_pages 1000000000" in str(error)
    assert got == []
    assert len(listing.asked) == 1


async def test_data_with_no_pages_is_an_error_not_a_silent_stop() -> None:
    """total_pages 0 (or -1) with records on the page: PaginationError, not a 10-item listing."""
    for bad in (0, -1):

        def zero_pages(number: int, size: int, ids: list[str], bad: int = bad) -> Any:
            data, meta = honest(number, size, ids)
            return data, {**meta, "total_pages": bad}

        got, error = await read(Listing(300, zero_pages))
        assert error is not None
        assert f"total_pages {bad}" in str(error)
        assert got == []


async def test_a_page_larger_than_asked_is_an_error() -> None:
    """Eleven records on a page of ten: PaginationError naming both numbers."""

    def one_too_many(number: int, size: int, ids: list[str]) -> Any:
        meta = honest(number, size, ids)[1]
        return ids[(number - 1) * size : number * size + 1], meta

    got, error = await read(Listing(300, one_too_many))
    assert error is not None
    assert "11 items, more than the page size 10" in str(error)
    assert got == []


async def test_a_page_size_that_changes_during_the_scan_is_an_error() -> None:
    """Page 1 capped at 5 records (its meta says so), the later pages served at the 10 asked
    for: page 2 would start at record 11, never yielding records 6 to 10. PaginationError
    at page 2, naming both sizes, rather than a listing short by five and a drift warning.
    """

    def capped_first(number: int, size: int, ids: list[str]) -> Any:
        return honest(number, 5 if number == 1 else size, ids)

    listing = Listing(40, capped_first)
    got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is not None
    assert error.page == 2
    assert "page 2 says meta.page_size 10 where the scan's first page was 5" in str(error)
    assert got == listing.ids[:5]


async def test_a_server_that_caps_every_page_is_read_whole() -> None:
    """A server that caps the page size on every page (its meta says 5 of the 10 asked
    for) tiles the listing at its own size: every record once, in order.
    """

    def capped(number: int, _size: int, ids: list[str]) -> Any:
        return honest(number, 5, ids)

    listing = Listing(42, capped)
    got, error = await read(listing)
    assert error is None
    assert got == listing.ids


async def test_a_page_fuller_than_its_own_meta_says_is_an_error() -> None:
    """Ten records on a page whose meta says pages of 5: PaginationError naming both."""

    def overfull(number: int, size: int, ids: list[str]) -> Any:
        page, meta = honest(number, size, ids)
        return page, {**meta, "page_size": 5, "total_pages": -(-len(ids) // 5)}

    got, error = await read(Listing(40, overfull))
    assert error is not None
    assert "10 items, more than its meta.page_size 5" in str(error)
    assert got == []


async def test_an_empty_page_its_meta_says_holds_records_is_an_error() -> None:
    """Page 3 served empty while its meta still counts 95 records: PaginationError at page 3,
    not a listing silently cut to its first 20 records.
    """

    def empty_third(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        return ([] if number == 3 else data), meta

    listing = Listing(95, empty_third)
    got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is not None
    assert error.page == 3
    assert "page 3 is empty while its meta.total_results 95" in str(error)
    assert got == listing.ids[:20]


async def test_an_empty_page_its_meta_agrees_with_ends_the_listing() -> None:
    """Records deleted during the scan: page 3 empty, its meta now counting 20 records. That
    is drift, not a lie: the listing ends there with a DriftWarning and no error.
    """

    def deleted_before_three(number: int, size: int, ids: list[str]) -> Any:
        if number == 3:
            del ids[20:]
        return honest(number, size, ids)

    listing = Listing(95, deleted_before_three)
    with pytest.warns(DriftWarning):
        got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is None
    assert got == listing.ids[:20]


async def test_a_listing_that_never_stops_growing_ends_within_the_growth_bound() -> None:
    """Each answer announces ten more records (consistent meta, fresh records): the scan
    reads at most 2 * 6 + 2 pages (six announced by the first answer), then raises.
    """
    listing = Listing(50)

    def growing(number: int, size: int, ids: list[str]) -> Any:
        ids.extend(str(uuid.uuid4()) for _ in range(size))  # ten more for every answer
        return honest(number, size, ids)

    listing.bend = growing
    with pytest.warns(DriftWarning):
        got, error = await read(listing, max_concurrency=2)
    assert error is not None
    assert error.page == 14
    assert "at most 14" in str(error)
    assert max(listing.asked) == 14
    assert no_repeats(got)


def endless(number: int, size: int, ids: list[str]) -> Any:
    """Full pages of fresh records past the end, under a meta that still counts the listing."""
    while len(ids) < number * size:
        ids.append(str(uuid.UUID(int=10**6 + len(ids))))
    page, _ = honest(number, size, ids)
    return page, {"page_number": number, "page_size": size, "total_pages": 3, "total_results": 30}


async def test_a_first_page_without_meta_is_planned_by_the_next_with_one() -> None:
    """Page 1 without meta (a proxy's, a cache's answer), the pages after it with: the
    scan ends at the end they announce. The later answers' counts were never read, and a
    server whose pages never run out (as ``Misbehaviour(endless=True)``) was read for ever.
    """

    def no_meta_on_one(number: int, size: int, ids: list[str]) -> Any:
        page, meta = endless(number, size, ids)
        return page, None if number == 1 else meta

    listing = Listing(30, no_meta_on_one)
    with warnings.catch_warnings(), anyio.fail_after(HANG_GUARD):  # it was endless
        warnings.simplefilter("error", DriftWarning)  # no change: None -> 30 is not one
        got, error = await read(listing)
    assert error is None
    assert got == listing.ids[:30]
    assert listing.asked == [1, 2, 3]


async def test_a_first_page_without_meta_is_bounded_by_the_next_count() -> None:
    """Page 1 without meta, and a listing that grows at every answer after it: the first
    page with meta bounds the pass (twice its count plus two) as page 1's would have.
    """

    def growing(number: int, size: int, ids: list[str]) -> Any:
        ids.extend(str(uuid.uuid4()) for _ in range(size))
        page, meta = honest(number, size, ids)
        return page, None if number == 1 else meta

    listing = Listing(50, growing)
    with pytest.warns(DriftWarning), anyio.fail_after(HANG_GUARD):
        got, error = await read(listing)
    assert error is not None
    assert "a pass reads at most" in str(error)
    assert max(listing.asked) == error.page < 40
    assert no_repeats(got)


async def test_drift_that_shifts_a_whole_page_is_not_a_replay() -> None:
    """Ten records inserted at the head before page 3 (total_results moves): the repeated
    page is dropped with a DriftWarning, as before; nothing is lost or repeated.
    """
    listing = Listing(60)
    start = list(listing.ids)

    def insert_before_three(number: int, size: int, ids: list[str]) -> Any:
        if number == 3 and len(ids) == 60:
            ids[:0] = [str(uuid.UUID(int=10_000 + n)) for n in range(10)]
        return honest(number, size, ids)

    listing.bend = insert_before_three
    with pytest.warns(DriftWarning, match="changed"):
        got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is None
    assert got == start


@pytest.mark.parametrize("cap_after", [5, None])
async def test_a_resume_after_the_servers_page_size_changed_is_an_error(
    tmp_path: Path, cap_after: int | None
) -> None:
    """Rule 7 across runs: a checkpoint's next page counts pages of the size its run read.

    The first run stops after 12 records of pages capped at 5 (next page 3, two of it
    taken). If the server has since lifted its cap, page 3 at 10 a page starts at record
    21: records 13 to 20 would be skipped. PaginationError at that page, naming the checkpoint,
    not a short listing. Under the same cap the resume reads the rest, every record once.
    """
    cap: list[int | None] = [5]

    def capped(number: int, size: int, ids: list[str]) -> Any:
        return honest(number, cap[0] or size, ids)

    listing = Listing(60, capped)
    point = tmp_path / "scan.json"
    async with listing.client(max_concurrency=1, read_ahead=1) as client:
        first = await _stopped_after(client, point, 12)
        assert msgspec.json.decode(point.read_bytes())["next_page"] == 3
        cap[0] = cap_after
        rest: list[str] = []
        stream = client.sim_cards(page_size=10, checkpoint=point, resume_from=point)
        if cap_after is None:
            with pytest.raises(PaginationError) as caught:
                async for card in stream:
                    rest.append(card.id)
            assert caught.value.page == 3
            assert "page 3 says meta.page_size 10 where the checkpoint this scan resumes" in str(
                caught.value
            )
            assert "counted its pages at 5 records a page" in str(caught.value)
            assert rest == []
        else:
            async for card in stream:
                rest.append(card.id)
            assert first + rest == listing.ids


async def test_a_page_of_records_that_moved_within_the_pass_is_drift() -> None:
    """A sort by usage moves records already read to the end (``total_results`` unchanged):
    page 5 repeats some, page 6 all of them. Page 6 was taken for a replay, and a
    checkpointed scan failed there at every resume; after the repeats of page 5 it is
    drift: dropped, warned about, never a duplicate.
    """

    def moving(number: int, size: int, ids: list[str]) -> Any:
        order = ids if len(listing.asked) <= 3 else ids[15:] + ids[:15]
        return honest(number, size, order)

    listing = Listing(60, moving)
    with pytest.warns(DriftWarning, match="records moved within the listing"):
        got, error = await read(listing, max_concurrency=1, read_ahead=1)
    assert error is None
    assert no_repeats(got)
    assert got == listing.ids[:30] + listing.ids[45:]  # 30 to 44 moved back past the reader
    assert listing.asked == [1, 2, 3, 4, 5, 6]


async def test_the_ids_a_stop_took_of_its_page_are_excused_on_that_page_alone(
    tmp_path: Path,
) -> None:
    """Stopped after records 4 and 5 (of page 2, pages of 3); while no scan ran, a page was
    inserted at the resume point and one deleted at the end (the count the same). The
    resumed page 2 is all new, and 4 and 5 come again on page 3: repeats a shift made, but
    they were still excused as the resumed page's start (dropped, uncounted, no warning). Only
    the resumed page excuses them: counted and warned about.
    """
    listing = Listing(12)
    point = tmp_path / "scan.json"
    async with listing.client(max_concurrency=1) as client:
        first = await _stopped_after(client, point, 5, page_size=3)
        listing.ids[3:3] = [str(uuid.UUID(int=900 + n)) for n in range(3)]
        del listing.ids[-3:]
        resumed = client.sim_cards(page_size=3, checkpoint=point, resume_from=point)
        with pytest.warns(DriftWarning, match="the listing changed while it was read"):
            rest = [card.id async for card in resumed]
    assert no_repeats(first + rest)
    assert resumed.stats.drift.duplicates_dropped == 2


async def test_a_resumed_scan_still_refuses_a_replayed_page(tmp_path: Path) -> None:
    """A server whose page n carries page n-1's records: a fresh scan raised
    PaginationError at page 2 (a replay), but resuming it took the same replay for drift
    (the resume had no page before to compare ``total_results`` with): a warning, exit 0,
    a page of records missing. The resume refuses it as the fresh scan did.
    """

    def lagging(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        return (honest(number - 1, size, ids)[0] if number >= 2 else data), meta

    listing = Listing(60, lagging)
    point = tmp_path / "scan.json"
    got: list[str] = []
    async with listing.client(max_concurrency=1, read_ahead=1) as client:
        with pytest.raises(PaginationError, match="replayed"):
            async with client.sim_cards(page_size=10, checkpoint=point) as stream:
                async for card in stream:
                    got.append(card.id)
        assert got == listing.ids[:10]
        caught = await _resumed_into_a_replay(client, point, got)
    assert caught.page == 2
    assert got == listing.ids[:10]


@pytest.mark.parametrize("lag", [2, 3])
async def test_a_resumed_scan_refuses_a_replay_of_an_earlier_page_than_the_last(
    tmp_path: Path, lag: int
) -> None:
    """A server whose page n carries page n-lag's records: the fresh scan stops at page
    lag+1 (page 1's records again), and so does its resume, after one request more (page
    lag, which still holds the records it held: the listing did not move, not drift).
    """

    def lagging(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        return (honest(number - lag, size, ids)[0] if number > lag else data), meta

    listing = Listing(100, lagging)
    point = tmp_path / "scan.json"
    got: list[str] = []
    async with listing.client(max_concurrency=1, read_ahead=1) as client:
        with pytest.raises(PaginationError, match="replayed"):
            async with client.sim_cards(page_size=10, checkpoint=point) as stream:
                async for card in stream:
                    got.append(card.id)
        assert got == listing.ids[: 10 * lag]
        listing.asked.clear()
        caught = await _resumed_into_a_replay(client, point, got)
    assert caught.page == lag + 1
    assert listing.asked == [lag + 1, lag]
    assert got == listing.ids[: 10 * lag]


async def test_a_resume_refuses_a_cache_that_serves_page_one_under_every_number(
    tmp_path: Path,
) -> None:
    """Run 1 stops in page 5; then a cache answers every page with page 1's records. The
    resumed page 5 and the page before it, read again, hold the same records: no listing
    has two pages in common, so it is a replay, refused, not drift.
    """
    replaying = False

    def cached(number: int, size: int, ids: list[str]) -> Any:
        data, meta = honest(number, size, ids)
        return (honest(1, size, ids)[0] if replaying else data), meta

    listing = Listing(100, cached)
    point = tmp_path / "scan.json"
    async with listing.client(max_concurrency=1, read_ahead=1) as client:
        got = await _stopped_after(client, point, 45)
        replaying = True
        caught = await _resumed_into_a_replay(client, point, got)
    assert caught.page == 5
    assert got == listing.ids[:45]


def without_page_number(bend: Bend) -> Bend:
    """``bend``'s answers with no ``meta.page_number`` (rule 2 cannot tell the page)."""

    def bent(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = bend(number, size, ids)
        return served, {k: v for k, v in (meta or {}).items() if k != "page_number"}

    return bent


def clamped(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Any page number past the end answered with the last page."""
    return honest(min(number, -(-len(ids) // size)), size, ids)


@pytest.mark.parametrize(("count", "limit"), [(30, None), (50, 10), (50, None)])
async def test_a_start_page_a_clamping_server_answers_with_its_last_is_an_error(
    count: int, limit: int | None
) -> None:
    """``start_page=7`` of a listing of 3 or 5 pages of 10, from a server that answers any
    page past its end with its last page and sends no page_number: page 7's answer holds
    the last page's records. PaginationError at page 7, nothing yielded, rather than
    another page's records handed over as page 7's.
    """
    listing = Listing(count, without_page_number(clamped))
    got: list[str] = []
    async with listing.client(max_concurrency=1) as client:
        with pytest.raises(PaginationError) as caught:
            async for card in client.sim_cards(page_size=10, start_page=7, limit=limit):
                got.append(card.id)
    assert caught.value.page == 7
    assert "page 7, the first asked for, holds" in str(caught.value)
    assert got == []
    assert listing.asked == [7]


async def test_a_start_page_one_past_the_count_may_hold_records() -> None:
    """A count that lags inserts: 25 records, a meta that says 15 (2 pages of 10). Page 3,
    asked for first, holds the last 5: they are read, not refused (one page past the end).
    """

    def lagging(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = honest(number, size, ids)
        return served, {**meta, "total_results": 15, "total_pages": 2}

    listing = Listing(25, lagging)
    async with listing.client() as client:
        got = [card.id async for card in client.sim_cards(page_size=10, start_page=3)]
    assert got == listing.ids[20:]


@pytest.mark.parametrize(
    ("count", "short_page"),
    [(10, 1), (30, 3), (25, 3)],
    ids=["the only page", "a full last page", "a partial last page"],
)
async def test_a_last_page_short_of_its_own_count_is_drift(count: int, short_page: int) -> None:
    """The last page holds two records fewer than its own meta puts on it (a record deleted
    between the count and the page, or a server short of its own count): counted in
    drift.short_pages with a DriftWarning, as on any other page. It was silently short.
    """

    def short_last(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = honest(number, size, ids)
        return (served[:-2] if number == short_page else served), meta

    listing = Listing(count, short_last)
    async with listing.client(max_concurrency=1) as client:
        stream = client.sim_cards(page_size=10)
        with pytest.warns(DriftWarning, match="1 short page"):
            got = [card.id async for card in stream]
    assert len(got) == count - 2
    assert stream.stats.drift.short_pages == 1


@pytest.mark.parametrize("uncounted", [False, True], ids=["no-meta", "meta-without-count"])
@pytest.mark.parametrize("kept", [8, 0], ids=["short", "empty"])
async def test_a_short_page_without_meta_in_a_counted_listing_is_drift(
    kept: int, *, uncounted: bool
) -> None:
    """Page 2 of 3 comes without meta and short (or empty, twice): it was taken for the end
    of the listing, pages 3 read and dropped, 18 (or 10) of 30 records and no warning. The
    pages before had meta: it is a short page before the end they announced, as one with
    meta would be, and the pages after it are read, with a DriftWarning. The empty one too:
    it ended the listing, page 3's records (read already) dropped, with the warning alone;
    no count of its own agrees with its being empty, as an empty page's meta that ends the
    listing does. A meta without ``total_results`` counts nothing (rule 0): it is read as no
    meta (an empty page with one ended the listing, page 3's records dropped).
    """

    def metaless_page_2(number: int, size: int, ids: list[str]) -> Any:
        served, meta = honest(number, size, ids)
        if number != 2:
            return served, meta
        return served[:kept], ({"page_number": 2, "page_size": size} if uncounted else None)

    listing = Listing(30, metaless_page_2)
    async with listing.client(max_concurrency=1) as client:
        stream = client.sim_cards(page_size=10)
        with pytest.warns(DriftWarning, match="1 short page"):
            ids = [card.id async for card in stream]
    assert ids == listing.ids[: 10 + kept] + listing.ids[20:]
    assert stream.stats.drift.short_pages == 1
    assert sorted(listing.asked) == ([1, 2, 3] if kept else [1, 2, 2, 3])  # the empty one twice


async def test_two_empty_pages_without_meta_in_a_row_end_the_pass() -> None:
    """Every page after the first empty, without meta (records deleted to the end, a server
    that says no count then): one such page is read past (a next page may hold records),
    but two in a row end the pass, as one did. Reading on past each, twice a page, went to
    the end of the first page's count, whatever its size.
    """

    def emptied(number: int, size: int, ids: list[str]) -> Any:
        served, meta = honest(number, size, ids)
        return (served, meta) if number == 1 else ([], None)

    listing = Listing(1000, emptied)
    async with listing.client(max_concurrency=1, read_ahead=1) as client:
        stream = client.sim_cards(page_size=10)
        with pytest.warns(DriftWarning, match="short page"):
            ids = [card.id async for card in stream]
    assert ids == listing.ids[:10]
    assert listing.asked == [1, 2, 2, 3, 3]  # each empty page read again once
    assert stream.stats.drift.short_pages == 2


@pytest.mark.parametrize("uncounted", [None, {"page_number": 3, "page_size": 10}])
@pytest.mark.parametrize("count", [30, 25], ids=["a full last page", "a partial last page"])
async def test_a_last_page_without_a_count_short_of_the_passs_count_is_drift(
    count: int, uncounted: dict[str, int] | None
) -> None:
    """The last page comes without meta (or with one that counts nothing) and two records
    short of what page 1's count puts on it: it passed as the listing's end, silently short,
    where the same page with its meta was a short page with a DriftWarning.
    """

    def short_last(number: int, size: int, ids: list[str]) -> Any:
        served, meta = honest(number, size, ids)
        return (served[:-2], uncounted) if number == 3 else (served, meta)

    listing = Listing(count, short_last)
    async with listing.client(max_concurrency=1) as client:
        stream = client.sim_cards(page_size=10)
        with pytest.warns(DriftWarning, match="1 short page"):
            got = [card.id async for card in stream]
    assert got == listing.ids[:20] + listing.ids[20 : count - 2]
    assert stream.stats.drift.short_pages == 1


async def test_a_full_last_page_without_meta_past_the_count_is_read_past() -> None:
    """Page 1 counts 25 records (3 pages of 10); 7 are added at the end as it is read, and
    pages 2 and 3 come without meta. Page 3 is full where the count put 5: the next page is
    read to see, as after a full last page whose meta counts fewer. It ended the listing
    there, 30 of 32 records and no warning.
    """

    def growing(number: int, size: int, ids: list[str]) -> Any:
        served, meta = honest(number, size, ids)
        if number == 1:
            ids.extend(str(uuid.UUID(int=n)) for n in range(1000, 1007))
            return served, meta
        return served, None

    listing = Listing(25, growing)
    async with listing.client(max_concurrency=1) as client:
        got = [card.id async for card in client.sim_cards(page_size=10)]
    assert got == listing.ids
    assert len(got) == 32
    assert listing.asked == [1, 2, 3, 4]


@pytest.mark.parametrize("counted", [{"total_results": 0}, {}])
async def test_a_meta_that_counts_no_records_does_not_end_a_listing_of_full_pages(
    counted: dict[str, int],
) -> None:
    """Every page says 1 page and 0 results (or no count), and holds records: the first full
    page was taken for the last, and 10 of 95 records came back, no warning, no error. A full
    page under such a meta is no proof of the end: the next page is read to see, within rule
    5's bound (4 pages for a first page that says 1). 35 records are read whole; 95 are an
    error, as with any count the pages outgrow.
    """

    def uncounted(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = honest(number, size, ids)
        del meta["total_results"]
        return served, {**meta, "total_pages": 1, **counted}

    listing = Listing(35, uncounted)
    got, error = await read(listing, max_concurrency=1)
    assert error is None
    assert got == listing.ids
    # An exact multiple of the page size: the empty page after the last full one was read
    # only to see. It is the end, no drift (the suite turns a DriftWarning into an error),
    # and not read again.
    listing = Listing(30, uncounted)
    got, error = await read(listing, max_concurrency=1)
    assert error is None
    assert got == listing.ids
    assert listing.asked == [1, 2, 3, 4]
    listing = Listing(95, uncounted)
    got, error = await read(listing, max_concurrency=1)
    assert error is not None
    assert "a pass reads at most 4" in str(error)
    assert got == listing.ids[:40]


@pytest.mark.parametrize("with_meta", [True, False], ids=["meta", "no-meta"])
async def test_a_page_of_repeats_without_meta_after_a_shift_in_a_counted_pass_is_drift(
    *, with_meta: bool
) -> None:
    """Ten records, two a page: one inserted before page 2 is asked for (page 2 repeats a
    record), two more before page 3, which holds only records delivered already. With its
    meta page 3 is drift; without (a proxy dropped it) it was a replay, "while the listing's
    count did not change": a ``PaginationError``, seven records unread. A page that counts
    nothing in a counted pass is held to the pass's count: drift too, every record read.
    """
    inserted = [str(uuid.UUID(int=900 + n)) for n in range(3)]

    def inserting(number: int, size: int, ids: list[str]) -> tuple[list[str], Any]:
        if number == 2:
            ids.insert(0, inserted[0])
        elif number == 3:
            ids[0:0] = inserted[1:]
        served, meta = honest(number, size, ids)
        return served, (meta if with_meta or number != 3 else None)

    listing = Listing(10, inserting)
    originals = list(listing.ids)
    async with listing.client(max_concurrency=1) as client:
        stream = client.sim_cards(page_size=2)
        with pytest.warns(DriftWarning, match="the listing changed while it was read"):
            got = [card.id async for card in stream]
    assert set(originals) <= set(got)
    assert no_repeats(got)
    assert stream.stats.drift.duplicates_dropped == 3


@pytest.mark.parametrize("start", [4, 6])
async def test_a_start_page_at_the_bound_a_bare_total_pages_sets_is_refused_too(
    start: int,
) -> None:
    """Every page says 1 page and no count, and holds 10 records of 100: read from page 1 or
    3 the pass stops at rule 5's bound (page 4) with a ``PaginationError``; from page 4 or
    past, it read one page and ended in silence, 60 of 70 records or more left out. It is
    refused as from page 1.
    """

    def uncounted(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = honest(number, size, ids)
        del meta["total_results"]
        return served, {**meta, "total_pages": 1}

    listing = Listing(100, uncounted)
    got: list[str] = []
    async with listing.client(max_concurrency=1) as client:
        with pytest.raises(PaginationError, match="pages that count no records were still full"):
            async for card in client.sim_cards(page_size=10, start_page=start):
                got.append(card.id)
    assert got == listing.ids[(start - 1) * 10 : start * 10]
    assert listing.asked == [start]


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_one_glitched_empty_page_does_not_end_the_listing(concurrency: int) -> None:
    """Page 3 comes back empty once, its meta counting 20 records (a replica behind, a
    cache), where every other answer counts 95: the listing ended there, 20 of 95 records,
    exit 0. An empty page before the end the answers so far planned is read once more.
    """
    glitched: list[int] = []

    def once_empty(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        if number == 3 and not glitched:
            glitched.append(number)
            return honest(number, size, ids[:20])
        return honest(number, size, ids)

    listing = Listing(95, once_empty)
    got, error = await read(listing, max_concurrency=concurrency)
    assert error is None
    assert got == listing.ids
    assert listing.asked.count(3) == 2


async def test_an_empty_listing_is_no_drift() -> None:
    """No records, ``total_pages`` 1 for 0 results: an empty first page is no sign that
    records were deleted (no answer before it put any there). No DriftWarning (the suite
    turns any warning into an error), nothing counted, one request.
    """

    def one_empty_page(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = honest(number, size, ids)
        return served, {**meta, "total_pages": 1}

    listing = Listing(0, one_empty_page)
    async with listing.client() as client:
        stream = client.sim_cards(page_size=10, rescan=True)
        got = [card.id async for card in stream]
    assert got == []
    assert stream.stats.drift.short_pages == 0
    assert listing.asked == [1]


async def test_a_metaless_page_repeated_after_a_shift_is_a_replay_not_drift_for_ever() -> None:
    """Without meta, once a page had one record repeated (a shift, dropped), a server serving
    that page again under every later number was taken for more drift: its repeats dropped,
    the next page asked, for ever (20,000 requests in 20 s). Without meta nothing tells a
    change: a page of repeats is a replay, refused at once.
    """

    def shift_then_replay(number: int, size: int, ids: list[str]) -> tuple[list[str], None]:
        start = 0 if number == 1 else size - 1  # page 2 starts on page 1's last record
        return ids[start : start + size], None

    listing = Listing(95, shift_then_replay)
    with anyio.fail_after(HANG_GUARD), pytest.warns(DriftWarning):
        got, error = await read(listing, max_concurrency=1)
    assert isinstance(error, PaginationError)
    assert "page 3 repeats 10 records" in str(error)
    assert no_repeats(got)
    assert listing.asked == [1, 2, 3]


def _meta_of(*kept: str, size: int | None = None) -> Bend:
    """Honest pages whose meta keeps only the fields ``kept`` (``page_size`` ``size``)."""

    def bend(number: int, asked: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = honest(number, size or asked, ids)
        return served, {name: value for name, value in meta.items() if name in kept}

    return bend


@pytest.mark.parametrize(
    "kept",
    [
        (),
        ("page_number",),
        ("page_number", "page_size"),
        ("page_number", "page_size", "total_pages"),
        ("total_results",),
        ("page_number", "page_size", "total_results"),
    ],
    ids=lambda kept: "+".join(kept) or "{}",
)
async def test_a_meta_that_leaves_out_a_count_does_not_count_0(kept: tuple[str, ...]) -> None:
    """The spec requires no field of ``meta``: one without ``total_results`` or
    ``total_pages`` (``{}``, ``{"page_number": 1}``) failed the listing's first page as
    "meta.total_pages 0 and meta.total_results 0", counts the server never sent. Without
    ``total_results`` a page is read as one without meta (until a short page); with it
    alone, the pages are what it fills. 25 records, each once, no warning.
    """
    listing = Listing(25, _meta_of(*kept))
    async with listing.client(max_concurrency=1) as client:
        stream = client.sim_cards(page_size=10)
        got = [card.id async for card in stream]
    assert got == listing.ids
    assert listing.asked == [1, 2, 3]
    counted = "total_results" in kept
    assert stream.stats.total_results == (25 if counted else None)
    assert stream.stats.total_pages == (3 if counted else None)


async def test_a_meta_with_no_count_and_a_page_size_below_the_one_asked_is_read_whole() -> None:
    """A server that caps pages at 5 (``meta.page_size`` 5, 10 asked) and counts nothing:
    a page of 5 is full at its size, not the last.
    """
    listing = Listing(23, _meta_of("page_number", "page_size", size=5))
    got, error = await read(listing, max_concurrency=1)
    assert error is None
    assert got == listing.ids
    assert listing.asked == [1, 2, 3, 4, 5]


async def test_a_total_pages_alone_still_bounds_the_pass() -> None:
    """``total_pages`` 2 and no ``total_results``, over pages that never run out: the pass
    reads at most 2 * 2 + 2 pages, and says why in words that fit.
    """

    def two_pages_said(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        return honest(number, size, ids)[0], {"page_number": number, "total_pages": 2}

    listing = Listing(200, two_pages_said)
    got, error = await read(listing, max_concurrency=1)
    assert error is not None
    assert error.page == 6
    assert "pages that count no records were still full at page 6" in str(error)
    assert "a pass reads at most 6" in str(error)
    assert got == listing.ids[:60]


@pytest.mark.parametrize(
    ("meta", "said"),
    [
        ({"total_pages": 0}, "page 1 has 10 items, meta.total_pages 0"),
        ({"total_results": -1}, "page 1 has 10 items, meta.total_results -1"),
    ],
)
async def test_a_count_sent_alone_is_still_checked(meta: dict[str, int], said: str) -> None:
    """A count that makes no sense is refused even alone, quoting only what was sent."""
    listing = Listing(25, lambda number, size, ids: (honest(number, size, ids)[0], meta))
    got, error = await read(listing)
    assert error is not None
    assert str(error).endswith(said)
    assert got == []


async def test_counts_written_as_floats_are_read_as_integers() -> None:
    """``"total_results": 25.0`` (JSON Schema's integer, from a server that writes every
    number as a float) refused every page: the listing is read, counted.
    """

    def floats(number: int, size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        served, meta = honest(number, size, ids)
        return served, {name: float(value) for name, value in meta.items()}

    listing = Listing(25, floats)
    async with listing.client() as client:
        stream = client.sim_cards(page_size=10)
        got = [card.id async for card in stream]
    assert got == listing.ids
    assert stream.stats.total_results == 25


def test_a_pass_no_answer_counts_is_bounded_by_the_largest_listing() -> None:
    """16,777,216 records' worth of pages (the most a first page may announce and be
    believed): 67,109 pages of 250.
    """
    assert _pagination.uncounted_bound(250) == 67_109
    assert _pagination.uncounted_bound(1) == MAX_EXPECTED


async def test_full_pages_without_meta_for_ever_end_in_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Full pages of fresh ids and no meta, for ever: nothing bounded the pass (a listing
    with meta stops at twice its count), and it was read for ever, its ids filling memory
    and disk. It stops at ``uncounted_bound`` pages with a ``PaginationError`` saying why
    (the bound made small here: 100 records, 10 pages of 10).
    """
    monkeypatch.setattr(_pagination, "MAX_EXPECTED", 100)

    def endless(number: int, size: int, _ids: list[str]) -> tuple[list[str], None]:
        return [str(uuid.UUID(int=number * 1000 + k)) for k in range(size)], None

    listing = Listing(0, endless)
    with anyio.fail_after(HANG_GUARD):
        got, error = await read(listing, max_concurrency=2)
    assert isinstance(error, PaginationError)
    assert "no answer counted the listing" in str(error)
    assert "at most 10 pages" in str(error)
    assert len(got) == 100
    assert no_repeats(got)
    assert max(listing.asked) == 10


async def test_a_total_pages_that_counts_nothing_does_not_lift_the_uncounted_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A meta of ``{"total_pages": 10**15}`` alone counts nothing (rule 0), yet its
    ``total_pages`` set the pass's bound: full pages of fresh ids were read for ever past the
    bound a pass no answer counts has. The smaller bound stands (made small here: 10 pages).
    """
    monkeypatch.setattr(_pagination, "MAX_EXPECTED", 100)

    def endless(number: int, size: int, _ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        ids = [str(uuid.UUID(int=number * 1000 + k)) for k in range(size)]
        return ids, {"page_number": number, "total_pages": 10**15}

    listing = Listing(0, endless)
    with anyio.fail_after(HANG_GUARD):
        got, error = await read(listing, max_concurrency=2)
    assert isinstance(error, PaginationError)
    assert "no answer counted the listing" in str(error)
    assert len(got) == 100
    assert max(listing.asked) <= 10 + 2 * 2  # the bound, and what was in flight


@pytest.mark.parametrize("replayed", [False, True], ids=["fresh", "replayed"])
async def test_a_count_no_fleet_has_does_not_lift_the_counted_bound(
    monkeypatch: pytest.MonkeyPatch, replayed: bool
) -> None:
    """A first page counting ``2**40`` records: the pass was bounded by twice that, and read
    for days (fresh ids filling memory and disk), or for ever (page 1 replayed, its count
    alternating by one, so that each replay read as a shift). A pass whose answers count
    the listing reads at most ``MAX_PASS_RECORDS`` records' worth (made small here: 100
    records, 10 pages of 10), then raises saying why.
    """
    monkeypatch.setattr(_pagination, "MAX_PASS_RECORDS", 100)
    big = 2**40

    def announcing(number: int, size: int, _ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        first = 0 if replayed else (number - 1) * size
        ids = [str(uuid.UUID(int=first + k)) for k in range(size)]
        total = big + number % 2 if replayed else big
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": -(-total // size),
            "total_results": total,
        }
        return ids, meta

    listing = Listing(0, announcing)
    with anyio.fail_after(HANG_GUARD), pytest.warns(DriftWarning) if replayed else nullcontext():
        got, error = await read(listing, max_concurrency=2)
    assert isinstance(error, PaginationError)
    assert "a pass reads at most 10 pages (100 records' worth)" in str(error)
    assert f"counts {-(-big // 10):,} pages of 10" in str(error)
    assert len(got) == (10 if replayed else 100)
    assert no_repeats(got)
    assert max(listing.asked) <= 10 + 2 * 2  # the bound, and what was in flight


async def test_the_counted_bound_counts_pages_of_the_size_the_server_caps_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asked 100 a page, served 10 (``meta.page_size``), 300 counted: the records'-worth bound
    (made small here: 1,000) was counted in pages of 100, 10 pages, and the pass refused at
    page 10 with 100 records read ("30 pages of 100"). Pages of 10: 100 of them, all read.
    """
    monkeypatch.setattr(_pagination, "MAX_PASS_RECORDS", 1000)

    def capped(number: int, _size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        return honest(number, 10, ids)

    listing = Listing(300, capped)
    got: list[str] = []
    async with listing.client(max_concurrency=1) as client:
        async for card in client.sim_cards(page_size=100):
            got.append(card.id)
    assert got == listing.ids


def test_a_pass_its_answers_count_is_bounded_by_the_largest_fleet_read_whole() -> None:
    """67,108,864 records' worth of pages: 268,436 pages of 250."""
    assert _pagination.counted_bound(250) == 268_436
    assert _pagination.counted_bound(1) == _pagination.MAX_PASS_RECORDS == 2**26


async def test_pages_short_of_the_size_under_a_total_results_alone_are_refused() -> None:
    """A server serving 5 records a page of the 10 asked, its meta ``{"total_results": 95}``
    alone: with no ``total_pages`` to show the cap, each short page was read as records
    deleted, and the listing ended at 50 of 95, warned as drift. Such a page is refused, as
    it was when a missing ``total_pages`` read as 0.
    """

    def capped(number: int, _size: int, ids: list[str]) -> tuple[list[str], dict[str, Any]]:
        return ids[(number - 1) * 5 : number * 5], {"total_results": len(ids)}

    listing = Listing(95, capped)
    got, error = await read(listing)
    assert isinstance(error, PaginationError)
    assert "short of 10 a page" in str(error)
    assert got == []
