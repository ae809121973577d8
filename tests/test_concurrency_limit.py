"""One concurrency limit per client, shared by its streams and used to the full."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from small_fleet import KEY

from simcards_async import (
    SimCardsClient,
)
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


def _ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


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
        # 100 ms a request: each window of requests in flight would need a stall of that
        # much to be missed, and there are a dozen windows.
        MockTelnyxServer(sim_cards=100, actions=100, seed=2, latency=0.1) as server,
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
    server.latency = 0.1  # as above: a window is missed only by a stall of 100 ms
    async with SimCardsClient(KEY, server.url, max_concurrency=4) as client:
        samples: list[int] = []
        watcher = asyncio.ensure_future(_watch_in_flight(server, samples))
        try:
            await client.sim_cards(page_size=10).collect()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        assert max(samples) == 4


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
