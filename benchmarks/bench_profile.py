"""Where the client's CPU goes, next to the floor: for checking a hot-path change.

``python benchmarks/bench_profile.py`` lists 100,000 cards from a mock server process on
loopback, alternating this library and the floor (raw aiohttp reads + one msgspec decode a
page) in this process, and prints for each the median CPU, and the event-loop turns and
callbacks per page; then a cProfile of the library's listing. Loop turns per page are the
number to watch: every ``await`` that always yields to the loop (an anyio checkpoint, a
rendezvous hand-over, an Event that is already set) costs a turn, and a turn costs more
than its own callbacks, since the I/O it polls is then handled in smaller batches.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.base_events
import asyncio.events
import cProfile
import gc
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_procs import Processes
from bench_worker import CONTENDERS, Clock, Command


class LoopCounter:
    """Counts event-loop turns and callbacks, by wrapping two asyncio internals."""

    def __init__(self) -> None:
        self.turns = 0
        self.callbacks = 0
        loop_cls: Any = asyncio.base_events.BaseEventLoop
        handle_cls: Any = asyncio.events.Handle
        run_once: Callable[[Any], None] = loop_cls._run_once  # noqa: SLF001
        run_handle: Callable[[Any], None] = handle_cls._run  # noqa: SLF001

        def counted_run_once(loop: object) -> None:
            self.turns += 1
            run_once(loop)

        def counted_run(handle: object) -> None:
            self.callbacks += 1
            run_handle(handle)

        loop_cls._run_once = counted_run_once  # noqa: SLF001
        handle_cls._run = counted_run  # noqa: SLF001

    def reset(self) -> None:
        """Start counting again."""
        self.turns = self.callbacks = 0


async def listing(cmd: Command) -> int:
    """Read the whole listing with one contender; the number of items."""
    async with CONTENDERS[cmd.contender](cmd) as read:
        return await read(Clock())


def main() -> None:
    """Measure, count, profile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-cards", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--top", type=int, default=30, help="functions in the profile")
    parser.add_argument(
        "--export", choices=("jsonl", "csv", "parquet"), help="profile an export to this format"
    )
    parser.add_argument("--checkpoint", action="store_true", help="export with a checkpoint")
    args = parser.parse_args()
    pages = -(-args.sim_cards // 250)
    with Processes() as procs:
        url = procs.server(args.sim_cards).url
        commands = {
            name: Command(contender=name, url=url, concurrency=args.concurrency)
            for name in ("ours", "floor")
        }
        if args.export:
            commands["ours"] = Command(
                contender="ours",
                url=url,
                concurrency=args.concurrency,
                op="export",
                format=args.export,
                checkpoint=args.checkpoint,
            )
        counter = LoopCounter()
        for name, cmd in commands.items():
            asyncio.run(listing(cmd))  # warm up
            counter.reset()
            asyncio.run(listing(cmd))
            print(
                f"{name:6} loop turns/page {counter.turns / pages:5.2f}  "
                f"callbacks/page {counter.callbacks / pages:5.2f}"
            )
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                gc.collect()
                start = time.process_time()
                asyncio.run(listing(cmd))
                cpu[name].append(time.process_time() - start)
        floor = statistics.median(cpu["floor"])
        for name, values in cpu.items():
            median = statistics.median(values)
            print(
                f"{name:6} CPU {median * 1000:7.1f} ms (median of {args.repeats}), "
                f"{median / floor:.2f}x the floor"
            )
        profile = cProfile.Profile()
        profile.enable()
        asyncio.run(listing(commands["ours"]))
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
