"""A client process of the benchmarks: runs one listing per command, reports its costs.

``python benchmarks/bench_worker.py`` reads JSON commands from standard input, one a line,
and answers each with one JSON line on standard output::

    {"contender": "ours", "op": "list", "url": "...", "page_size": 250, "concurrency": 8}
    {"items": 100000, "wall": 1.23, "cpu": 1.1, "first": 0.004, "peak_rss": ..., ...}

Clients run in this process and the mock server in another, so ``cpu`` (the process's CPU
time, ``time.process_time``) is the client's alone. Each command runs on a fresh event loop
with a fresh client; what is timed starts when the listing is asked for and ends with its
last item (``list``) or its first (``first``). The consumer only counts the items.

Contenders:

``ours``
    ``SimCardsClient(max_concurrency=C)``, ``async for card in client.sim_cards(...)``.
``sdk``
    the official SDK, ``AsyncTelnyx``, ``async for card in client.sim_cards.list(...)``;
    it reads pages one after the other.
``sequential``
    a hand-written loop: aiohttp, ``await resp.json()``, next page, in order.
``floor``
    the least work a client must do: aiohttp reads of the same pages, ``C`` at a time, in
    any order, and one ``msgspec`` decode each into the library's own ``Page[SimCard]``.
``reference``
    (``first`` only) one GET of page 1 and its decode: one round trip.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass

import aiohttp
import msgspec
import psutil
from yarl import URL

from simcards_async import SimCardsClient
from simcards_async._models import Page, SimCard

API_KEY = "bench"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
PAGE_DECODER = msgspec.json.Decoder(Page[SimCard])


@dataclass
class Command:
    """One benchmark run, as sent by the parent."""

    contender: str
    url: str
    op: str = "list"
    page_size: int = 250
    concurrency: int = 8
    #: Listings read back to back in one measurement (to time small listings reliably).
    loops: int = 1


@dataclass
class Result:
    """What one run cost."""

    items: int
    wall: float
    #: Process CPU seconds, and their user and system parts (system time on loopback
    #: includes the kernel's share of moving the server's bytes to this process).
    cpu: float
    user: float
    sys: float
    #: Seconds from asking for the listing to its first item (of the first loop).
    first: float
    #: Peak resident set size of this process so far, and the resident size before the run.
    peak_rss: int
    rss_before: int


def page_url(base: str, number: int, page_size: int) -> URL:
    """The URL of one page, encoded as the SDK and this library send it."""
    return URL(
        f"{base}/sim_cards?page%5Bnumber%5D={number}&page%5Bsize%5D={page_size}", encoded=True
    )


# --- contenders ---------------------------------------------------------------------------
# Each sets up its client, then yields a function that starts the listing. The clocks run
# from that call to the last item; set-up and tear-down are not timed.

Listing = Callable[[], AsyncIterable[object]]


@asynccontextmanager
async def ours(cmd: Command) -> AsyncIterator[Listing]:
    """This library."""
    async with SimCardsClient(
        api_key=API_KEY, base_url=cmd.url, max_concurrency=cmd.concurrency
    ) as client:
        yield lambda: client.sim_cards(page_size=cmd.page_size)


@asynccontextmanager
async def sdk(cmd: Command) -> AsyncIterator[Listing]:
    """The official SDK."""
    from telnyx import AsyncTelnyx  # noqa: PLC0415  (only the SDK's runs pay for its import)

    async with AsyncTelnyx(api_key=API_KEY, base_url=cmd.url) as client:
        yield lambda: client.sim_cards.list(page_size=cmd.page_size)


@asynccontextmanager
async def sequential(cmd: Command) -> AsyncIterator[Listing]:
    """The loop one writes by hand: one page after the other, ``resp.json()``."""
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        async def listing() -> AsyncIterator[object]:
            number = 1
            while True:
                async with session.get(page_url(cmd.url, number, cmd.page_size)) as resp:
                    resp.raise_for_status()
                    body = await resp.json()
                for card in body["data"]:
                    yield card
                if not body["data"] or number >= body["meta"]["total_pages"]:
                    return
                number += 1

        yield listing


@asynccontextmanager
async def floor(cmd: Command) -> AsyncIterator[Listing]:
    """Reads and decodes only: ``C`` fetchers, pages in whatever order they come back."""
    connector = aiohttp.TCPConnector(limit=cmd.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:

        async def get(number: int) -> Page[SimCard]:
            async with session.get(page_url(cmd.url, number, cmd.page_size)) as resp:
                return PAGE_DECODER.decode(await resp.read())

        async def listing() -> AsyncIterator[object]:
            first = await get(1)
            for card in first.data:
                yield card
            total = first.meta.total_pages if first.meta else 1
            queue: asyncio.Queue[Page[SimCard] | None] = asyncio.Queue()
            numbers = iter(range(2, total + 1))

            async def fetcher() -> None:
                for number in numbers:
                    queue.put_nowait(await get(number))
                queue.put_nowait(None)

            fetchers = [asyncio.create_task(fetcher()) for _ in range(cmd.concurrency)]
            try:
                running = len(fetchers)
                while running:
                    page = await queue.get()
                    if page is None:
                        running -= 1
                        continue
                    for card in page.data:
                        yield card
            finally:
                for task in fetchers:
                    task.cancel()
                await asyncio.gather(*fetchers, return_exceptions=True)

        yield listing


@asynccontextmanager
async def reference(cmd: Command) -> AsyncIterator[Listing]:
    """One round trip: GET page 1 and decode it (what no client can beat to a first item)."""
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        async def listing() -> AsyncIterator[object]:
            async with session.get(page_url(cmd.url, 1, cmd.page_size)) as resp:
                page = PAGE_DECODER.decode(await resp.read())
            for card in page.data:
                yield card

        yield listing


CONTENDERS = {
    "ours": ours,
    "sdk": sdk,
    "sequential": sequential,
    "floor": floor,
    "reference": reference,
}


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Times:
    """The costs of one listing."""

    items: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    user: float = 0.0
    sys: float = 0.0
    first: float = 0.0


async def run_once(cmd: Command) -> Times:
    """One listing: items, wall and CPU seconds, and seconds to the first item."""
    out = Times()
    async with CONTENDERS[cmd.contender](cmd) as listing:
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        cards = aiter(listing())
        try:
            # The first item apart, so the loop that counts the rest is the plain one.
            async for _card in cards:
                out.items = 1
                break
            out.first = time.perf_counter() - wall0
            if cmd.op == "list":
                async for _card in cards:
                    out.items += 1
            out.wall, out.cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            usage = resource.getrusage(resource.RUSAGE_SELF)
            out.user = usage.ru_utime - usage0.ru_utime
            out.sys = usage.ru_stime - usage0.ru_stime
        finally:
            # Left early (op "first"): end the listing as a consumer's break would.
            close = getattr(cards, "aclose", None)
            if close is not None:
                await close()
    return out


async def measure(cmd: Command) -> Result:
    """Run ``cmd.loops`` listings back to back and add up what they cost."""
    rss_before = psutil.Process().memory_info().rss
    total = Times(first=-1.0)
    for _ in range(cmd.loops):
        one = await run_once(cmd)
        total.items += one.items
        total.wall += one.wall
        total.cpu += one.cpu
        total.user += one.user
        total.sys += one.sys
        total.first = one.first if total.first < 0 else total.first
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return Result(
        items=total.items,
        wall=total.wall,
        cpu=total.cpu,
        user=total.user,
        sys=total.sys,
        first=total.first,
        peak_rss=peak_kib * 1024,
        rss_before=rss_before,
    )


def main() -> None:
    """Answer commands from standard input until it ends."""
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = Command(**json.loads(line))
        gc.collect()
        result = asyncio.run(measure(cmd))
        sys.stdout.write(json.dumps(asdict(result)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
