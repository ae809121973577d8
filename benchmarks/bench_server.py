"""The mock Telnyx server of the benchmarks, in a process of its own.

``python benchmarks/bench_server.py --sim-cards 100000 --latency 0.05`` builds the fleet,
renders every page of the listing once (the server caches rendered pages, so the first scan
is much slower than the rest and must not be timed), prints the base URL alone on one line,
and serves until its standard input is closed: the parent closing the pipe, or dying, is
what stops it, so no server outlives a benchmark run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

import aiohttp

from simcards_async.testing import MockTelnyxServer

#: Bodies are cached zlib-compressed (~31 kB a page of 250, ~125 bytes a card): 1,000,000
#: cards need ~125 MB, 10,000,000 ~1.25 GB. The cache is sized to hold the whole listing.
CACHE_BYTES_PER_CARD = 200


async def warm(url: str, page_size: int) -> int:
    """Request every page once, so that later scans are served from the page cache."""
    headers = {"Authorization": "Bearer bench"}
    pages = 0
    async with aiohttp.ClientSession(headers=headers) as session:
        number, total = 1, 1
        while number <= total:
            target = f"{url}/sim_cards?page%5Bnumber%5D={number}&page%5Bsize%5D={page_size}"
            async with session.get(target) as resp:
                resp.raise_for_status()
                if number == 1:  # only the first page's meta is needed: parse no other
                    total = (await resp.json())["meta"]["total_pages"]
                else:
                    await resp.read()
            number += 1
            pages += 1
    return pages


async def forget_requests(server: MockTelnyxServer) -> None:
    """Drop the server's request log now and then: the benchmarks send ~100,000 requests."""
    while True:
        await asyncio.sleep(1.0)
        server.requests.clear()


async def main(sim_cards: int, latency: float, page_size: int) -> None:
    """Serve until standard input reaches its end."""
    started = time.perf_counter()
    cache = max(256 * 2**20, CACHE_BYTES_PER_CARD * sim_cards)
    server = MockTelnyxServer(sim_cards=sim_cards, actions=0, cache_bytes=cache)
    async with server:
        pages = await warm(server.url, page_size)
        server.requests.clear()
        server.latency = latency
        elapsed = time.perf_counter() - started
        print(f"warmed {pages} pages of {sim_cards} cards in {elapsed:.1f} s", file=sys.stderr)
        print(server.url, flush=True)
        forgetting = asyncio.create_task(forget_requests(server))
        try:
            await asyncio.to_thread(sys.stdin.buffer.read)
        finally:
            forgetting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forgetting


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-cards", type=int, required=True, help="cards in the fleet")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--page-size", type=int, default=250, help="page size to warm up")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.sim_cards, args.latency, args.page_size))
