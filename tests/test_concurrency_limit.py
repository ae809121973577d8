"""One concurrency limit per client, shared by its streams and used to the full."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from polling import HANG_GUARD
from servers import serve
from small_fleet import KEY

from simcards_async import (
    SimCardsClient,
)
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


def _ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


# --- concurrency ---------------------------------------------------------------------


class _Held:
    """A server of plain pages that holds every answer but a listing's first page until
    ``until`` requests are in flight at once, then answers at once from there on: whether
    the client reaches that many depends on the client alone, not on how fast a busy
    machine runs it (a latency of 100 ms made a stall of as much miss it). ``peak``: the
    most requests it had received and not yet answered, at any moment.
    """

    def __init__(self, until: int, counts: dict[str, int]) -> None:
        self.until = until
        self.counts = counts  # records of each path
        self.in_flight = self.peak = 0
        self.reached = asyncio.Event()

    async def answer(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.until:
            self.reached.set()
        try:
            number = int(request.query["page[number]"])
            size = int(request.query["page[size]"])
            if number > 1:
                await asyncio.wait_for(self.reached.wait(), HANG_GUARD)
            path = request.path.rsplit("/", 1)[1]
            return web.json_response(_page(path, self.counts[path], number, size))
        finally:
            self.in_flight -= 1


def _page(path: str, total: int, number: int, size: int) -> dict[str, Any]:
    kind = path.rstrip("s")  # sim_cards: sim_card
    first = (number - 1) * size
    records = [{"id": f"{kind}-{n:05d}", "record_type": kind} for n in range(first, total)]
    meta = {"page_number": number, "page_size": size, "total_results": total}
    return {"data": records[:size], "meta": {**meta, "total_pages": -(-total // size)}}


def _all_ids(kind: str, total: int) -> list[str]:
    return [f"{kind}-{n:05d}" for n in range(total)]


async def test_one_concurrency_limit_per_client() -> None:
    """Streams running at once share the client's ``max_concurrency``, seen at the server."""
    held = _Held(2, {"sim_cards": 100, "sim_card_actions": 100})
    async with (
        serve(held.answer) as served,
        SimCardsClient(KEY, served.url, max_concurrency=2, read_ahead=6) as client,
    ):
        results = await asyncio.gather(
            client.sim_cards(page_size=10).collect(),
            client.sim_cards(page_size=10, status="enabled").collect(),
            client.sim_card_actions(page_size=10).collect(),
        )
        assert _ids(results[0]) == _ids(results[1]) == _all_ids("sim_card", 100)
        assert _ids(results[2]) == _all_ids("sim_card_action", 100)
        assert held.peak == 2  # reached, never passed
        assert client.concurrency_limit == 2


async def test_concurrency_is_used() -> None:
    """A single stream does keep several pages in flight (up to ``max_concurrency``)."""
    held = _Held(4, {"sim_cards": 300})
    async with (
        serve(held.answer) as served,
        SimCardsClient(KEY, served.url, max_concurrency=4) as client,
    ):
        assert _ids(await client.sim_cards(page_size=10).collect()) == _all_ids("sim_card", 300)
        assert held.peak == 4


@pytest.mark.parametrize(
    ("limit", "per_host", "expected"),
    [
        (2, 0, 2),
        (100, 3, 3),  # aiohttp's limit, 100
        (5, 4, 4),
        (0, 0, 8),  # no bound
        (100, 0, 8),
    ],
)
async def test_a_session_whose_pool_is_smaller_bounds_the_requests_in_flight(
    limit: int, per_host: int, expected: int
) -> None:
    """A ``session=`` whose pool holds fewer connections than ``max_concurrency``: the
    requests beyond them waited in aiohttp's pool with their ``timeout`` running, so a slow
    answer ahead of them made each an ``APITimeoutError`` (retried, or the listing's end with
    ``max_retries=0``) though no answer took that long. They wait for the client's limit
    instead, which holds no more than the pool.
    """
    held = _Held(expected, {"sim_cards": 100})
    async with (
        serve(held.answer) as served,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, limit_per_host=per_host)
        ) as session,
    ):
        client = SimCardsClient(KEY, served.url, max_concurrency=8, session=session)
        assert client.concurrency_limit == expected  # before its first request too
        async with client:
            got = await client.sim_cards(page_size=10).collect()
            assert client.concurrency_limit == expected
        assert _ids(got) == _all_ids("sim_card", 100)
        assert held.peak == expected
        assert client.max_concurrency == 8  # the setting, as given


async def test_a_concurrency_far_beyond_the_listing_costs_only_its_pages(
    server: MockTelnyxServer, everything: list[Any]
) -> None:
    """max_concurrency=100,000 (so a read-ahead of 200,000 pages) over a listing of 30 pages
    reads it whole, with a few tasks for each page at most, not one for each page it may read
    ahead (which took minutes and a gigabyte).
    """
    async with SimCardsClient(KEY, server.url, max_concurrency=100_000) as client:
        got = []
        tasks = []
        async for card in client.sim_cards(page_size=10):
            got.append(card)
            tasks.append(len(asyncio.all_tasks()))
    assert _ids(got) == _ids(everything)
    # A few for each page (a worker, and the server's for each request it answers, in this
    # loop too), not one for each of the 200,000 pages the read-ahead allows.
    assert max(tasks) <= 10 * 30
