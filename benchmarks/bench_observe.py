"""What watching costs: the CPU of a listing with a hook, with logging, with tracing, against none.

``python benchmarks/bench_observe.py`` (about a minute) starts the mock server in a process
of its own (``bench_server.py``, 100,000 cards, no latency, pages cached) and one client
process per contender, each running a fresh client's full listing (page size 250, C=8) per
command and reporting the CPU time (``time.process_time``) the listing took:

``none``
    nothing watches: no hook, no handler, OpenTelemetry not importable.
``hook``
    ``SimCardsClient(on_response=...)``, a hook that keeps the last event.
``logging``
    ``logging.basicConfig(level=WARNING)``: a handler, and the library's records filtered
    by level (the default level, as an application that configures logging has it).
``tracing``
    ``opentelemetry-api`` importable and no SDK configured: the spans are the API's no-ops.

The contenders run one after the other in each round, in a new order every round, over
several rounds; the claim is each one's median CPU against the median of ``none``. It prints
a table and writes ``benchmarks/results/observe.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "observe.json"
CONTENDERS = ("none", "hook", "logging", "tracing")
API_KEY = "bench"


# --- the client process -------------------------------------------------------------------


def worker(contender: str, url: str, page_size: int, concurrency: int) -> None:
    """Answer each line of standard input with one listing's costs, as a JSON line."""
    if contender != "tracing":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # not importable
    elif "opentelemetry" not in {m.split(".")[0] for m in sys.modules}:
        import opentelemetry.trace  # noqa: F401, PLC0415  (must be installed for this one)
    if contender == "logging":
        logging.basicConfig(level=logging.WARNING)

    from simcards_async import ResponseEvent, SimCardsClient  # noqa: PLC0415

    last: list[ResponseEvent] = []

    def keep(event: ResponseEvent) -> None:
        last[:] = [event]

    hook = keep if contender == "hook" else None

    async def listing() -> dict[str, Any]:
        async with SimCardsClient(
            API_KEY, url, max_concurrency=concurrency, on_response=hook
        ) as client:
            items = 0
            wall, cpu = time.perf_counter(), time.process_time()
            async for _ in client.sim_cards(page_size=page_size):
                items += 1
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
        return {"items": items, "cpu": cpu, "wall": wall}

    for _ in sys.stdin:
        result = asyncio.run(listing())
        print(json.dumps(result), flush=True)


# --- the parent -----------------------------------------------------------------------------


def start(argv: list[str]) -> subprocess.Popen[str]:
    """A child process of ours with pipes for its standard input and output."""
    env = os.environ | {"PYTHONPATH": str(ROOT.parent)}
    env.pop("TELNYX_LOG", None)
    return subprocess.Popen(  # noqa: S603  (our own interpreter and scripts)
        [sys.executable, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def run(sim_cards: int, rounds: int, page_size: int, concurrency: int) -> dict[str, Any]:
    """Every contender once per round, in a shuffled order; the CPU of each listing."""
    server = start([str(ROOT / "bench_server.py"), "--sim-cards", str(sim_cards)])
    assert server.stdout is not None  # noqa: S101  (a pipe was asked for)
    url = server.stdout.readline().strip()
    options = ["--url", url, "--page-size", str(page_size), "--concurrency", str(concurrency)]
    workers = {name: start([__file__, "--worker", name, *options]) for name in CONTENDERS}
    cpu: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    wall: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    try:
        order = list(CONTENDERS)
        for n in range(rounds + 1):  # round 0 warms each process up and is not counted
            random.shuffle(order)
            for name in order:
                process = workers[name]
                assert process.stdin is not None  # noqa: S101
                assert process.stdout is not None  # noqa: S101
                process.stdin.write("list\n")
                process.stdin.flush()
                result = json.loads(process.stdout.readline())
                if result["items"] != sim_cards:
                    raise RuntimeError(f"{name}: {result['items']} items, not {sim_cards}")
                if n:
                    cpu[name].append(result["cpu"])
                    wall[name].append(result["wall"])
            if n:
                print(f"round {n}/{rounds}", file=sys.stderr)
    finally:
        for process in [*workers.values(), server]:
            if process.stdin is not None:
                process.stdin.close()
            process.wait()
    base = statistics.median(cpu["none"])
    return {
        "sim_cards": sim_cards,
        "page_size": page_size,
        "concurrency": concurrency,
        "rounds": rounds,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "contenders": {
            name: {
                "cpu_median": statistics.median(cpu[name]),
                "cpu_ratio": statistics.median(cpu[name]) / base,
                "wall_median": statistics.median(wall[name]),
                "cpu": cpu[name],
            }
            for name in CONTENDERS
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, be one of its client processes)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-cards", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.url, args.page_size, args.concurrency)
        return 0
    results = run(args.sim_cards, args.rounds, args.page_size, args.concurrency)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(
        f"{results['sim_cards']:,} cards, page size {results['page_size']}, "
        f"C={results['concurrency']}, median of {results['rounds']} rounds"
    )
    print(f"{'contender':<10} {'CPU s':>7} {'vs none':>8}")
    for name, row in results["contenders"].items():
        print(f"{name:<10} {row['cpu_median']:>7.3f} {row['cpu_ratio']:>7.3f}x")
    print(f"wrote {RESULTS.relative_to(ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
