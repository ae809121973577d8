"""A client process of the benchmarks: runs one listing per command, reports its costs.

``python benchmarks/bench_worker.py`` reads JSON commands from standard input, one a line,
and answers each with one JSON line on standard output::

    {"contender": "ours", "op": "list", "url": "...", "page_size": 250, "concurrency": 8}
    {"items": 100000, "wall": 1.23, "cpu": 1.1, "first": 0.004, "peak_rss": ..., ...}

Clients run in this process and the mock server in another, so ``cpu`` (the process's CPU
time, ``time.process_time``, every thread included: an export's writes count) is the
client's alone. Each command runs on a fresh event loop with a fresh client; what is timed
starts when the listing is asked for and ends with its last item (``list``, ``export``) or
its first (``first``).

Contenders:

``ours``
    ``SimCardsClient(max_concurrency=C)``: ``async for card in client.sim_cards(...)``
    counting the items (``list``, ``first``), or ``export(client.sim_cards(...), path)``
    (``export``, with ``format`` and, if ``checkpoint``, a checkpoint file).
``floor``
    the least work a client must do (issue 13's floor): page 1, then ``C`` workers that
    pull page numbers from one shared counter, so ``C`` requests are always in flight;
    each page read with aiohttp and decoded by one ``msgspec`` decoder into
    ``data: list[SimCard]`` (the library's own ``SimCard``), then a loop touching each
    item. No order, no hand-over, no dedupe, no async iteration per item. With ``op``
    ``read``, the same reads without decoding any page but the first: what the HTTP
    part of the floor costs, the least any export must pay.
``sdk``
    the official SDK, ``AsyncTelnyx``, ``async for card in client.sim_cards.list(...)``;
    it reads pages one after the other.
``sequential``
    a hand-written loop: aiohttp, ``await resp.json()``, next page, in order.
``reference``
    (``first`` only) one GET of page 1 and its decode: one round trip.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import msgspec
import psutil
from yarl import URL

from simcards_async import ExportFormat, PaginationMeta, SimCard, SimCardsClient, export

API_KEY = "bench"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}


class FloorPage(msgspec.Struct):
    """The floor's page: a list of the library's ``SimCard``, and the meta."""

    data: list[SimCard]
    meta: PaginationMeta | None = None


FLOOR_DECODER = msgspec.json.Decoder(FloorPage)


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
    #: ``export`` only: the format, and whether the listing keeps a checkpoint file.
    format: ExportFormat = "jsonl"
    checkpoint: bool = False


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


class Clock:
    """Marks the first item: ``first`` seconds after ``started``."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first = -1.0

    def mark(self) -> None:
        """The first item is here (later calls change nothing)."""
        if self.first < 0:
            self.first = time.perf_counter() - self.started


# --- contenders ---------------------------------------------------------------------------
# Each sets up its client, then yields ``read(clock) -> items``, which runs the listing;
# the clocks run from that call to its return; set-up and tear-down are not timed.

Read = Callable[[Clock], Awaitable[int]]


async def count(items: AsyncIterable[object], clock: Clock, op: str) -> int:
    """Count a listing's items, marking the first (and stopping there when ``op`` is "first")."""
    n = 0
    async for _item in items:
        n += 1
        if n == 1:
            clock.mark()
            if op == "first":
                break
    return n


@asynccontextmanager
async def ours(cmd: Command) -> AsyncIterator[Read]:
    """This library: iterate, or export."""
    async with SimCardsClient(
        api_key=API_KEY, base_url=cmd.url, max_concurrency=cmd.concurrency
    ) as client:
        with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
            runs = iter(range(1 << 30))

            async def read(clock: Clock) -> int:
                if cmd.op == "export":
                    n = next(runs)
                    checkpoint = Path(scratch, f"{n}.checkpoint") if cmd.checkpoint else None
                    stream = client.sim_cards(
                        page_size=cmd.page_size, checkpoint=checkpoint, keep_checkpoint=False
                    )
                    stream.on_progress(lambda _progress: clock.mark())
                    target = Path(scratch, f"{n}.out")
                    result = await export(stream, target, format=cmd.format)
                    target.unlink()  # noqa: ASYNC240  (timed, but an unlink costs microseconds)
                    return result.items
                async with client.sim_cards(page_size=cmd.page_size) as stream:
                    return await count(stream, clock, cmd.op)

            yield read


@asynccontextmanager
async def floor(cmd: Command) -> AsyncIterator[Read]:
    """Reads and decodes only: page 1, then ``C`` workers pulling page numbers."""
    connector = aiohttp.TCPConnector(limit=cmd.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:

        async def get(number: int) -> FloorPage:
            async with session.get(page_url(cmd.url, number, cmd.page_size)) as resp:
                body = await resp.read()
            if cmd.op == "read" and number > 1:  # the reads alone: no decode, no items touched
                return FloorPage(data=[])
            return FLOOR_DECODER.decode(body)

        async def read(clock: Clock) -> int:
            first = await get(1)
            clock.mark()
            items = 0
            for _card in first.data:
                items += 1
            if cmd.op == "first":
                return items
            # The mock server's meta gives both counts.
            total = (first.meta and first.meta.total_pages) or 1
            numbers = iter(range(2, total + 1))
            if cmd.op == "read":  # the pages after the first are not decoded: count them
                items = (first.meta and first.meta.total_results) or items

            async def worker() -> int:
                count = 0
                for number in numbers:
                    page = await get(number)
                    for _card in page.data:
                        count += 1
                return count

            counts = await asyncio.gather(*(worker() for _ in range(cmd.concurrency)))
            return items + sum(counts)

        yield read


@asynccontextmanager
async def sdk(cmd: Command) -> AsyncIterator[Read]:
    """The official SDK."""
    from telnyx import AsyncTelnyx  # noqa: PLC0415  (only the SDK's runs pay for its import)

    async with AsyncTelnyx(api_key=API_KEY, base_url=cmd.url) as client:

        async def read(clock: Clock) -> int:
            return await count(client.sim_cards.list(page_size=cmd.page_size), clock, cmd.op)

        yield read


@asynccontextmanager
async def sequential(cmd: Command) -> AsyncIterator[Read]:
    """The loop one writes by hand: one page after the other, ``resp.json()``."""
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        async def read(clock: Clock) -> int:
            number, items = 1, 0
            while True:
                async with session.get(page_url(cmd.url, number, cmd.page_size)) as resp:
                    resp.raise_for_status()
                    body = await resp.json()
                clock.mark()
                for _card in body["data"]:
                    items += 1
                if not body["data"] or number >= body["meta"]["total_pages"]:
                    return items
                number += 1

        yield read


@asynccontextmanager
async def reference(cmd: Command) -> AsyncIterator[Read]:
    """One round trip: GET page 1 and decode it (what no client can beat to a first item)."""
    async with aiohttp.ClientSession(headers=HEADERS) as session:

        async def read(clock: Clock) -> int:
            async with session.get(page_url(cmd.url, 1, cmd.page_size)) as resp:
                page = FLOOR_DECODER.decode(await resp.read())
            clock.mark()
            return len(page.data)

        yield read


CONTENDERS: dict[str, Callable[[Command], AbstractAsyncContextManager[Read]]] = {
    "ours": ours,
    "floor": floor,
    "sdk": sdk,
    "sequential": sequential,
    "reference": reference,
}


# --- measuring ---------------------------------------------------------------------------


async def measure(cmd: Command) -> Result:
    """Run ``cmd.loops`` listings back to back (one client) and add up what they cost."""
    rss_before = psutil.Process().memory_info().rss
    items = 0
    wall = cpu = user = sys_ = 0.0
    first = -1.0
    async with CONTENDERS[cmd.contender](cmd) as read:
        for _ in range(cmd.loops):
            usage0 = resource.getrusage(resource.RUSAGE_SELF)
            clock = Clock()
            cpu0 = time.process_time()
            items += await read(clock)
            wall += time.perf_counter() - clock.started
            cpu += time.process_time() - cpu0
            usage = resource.getrusage(resource.RUSAGE_SELF)
            user += usage.ru_utime - usage0.ru_utime
            sys_ += usage.ru_stime - usage0.ru_stime
            first = clock.first if first < 0 else first
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return Result(
        items=items,
        wall=wall,
        cpu=cpu,
        user=user,
        sys=sys_,
        first=first,
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
