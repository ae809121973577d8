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
several rounds; the claim is each one's median CPU against the median of ``none`` (and the
median of the per-round ratios). On a noisy machine a few percent is below what whole
listings can resolve, so each process also times what one attempt pays for being watched,
alone in a loop (``per_attempt_us``), and turns it into the ratio a listing of that many
pages would show (``estimated_ratio``). It prints a table and writes
``benchmarks/results/observe.json``.
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
from collections.abc import Callable
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
    else:
        import opentelemetry.trace  # noqa: F401, PLC0415  (must be installed for this one)
    if contender == "logging":
        logging.basicConfig(level=logging.WARNING)

    from simcards_async import ResponseEvent  # noqa: PLC0415

    last: list[ResponseEvent] = []

    def keep(event: ResponseEvent) -> None:
        last[:] = [event]

    hook = keep if contender == "hook" else None
    for line in sys.stdin:
        if line.strip() == "micro":
            result = micro(url, page_size, hook)
        else:
            result = asyncio.run(listing(url, page_size, concurrency, hook))
        print(json.dumps(result), flush=True)


async def listing(
    url: str, page_size: int, concurrency: int, hook: Callable[[Any], None] | None
) -> dict[str, Any]:
    """One full listing by a fresh client: its items, CPU and wall time."""
    from simcards_async import SimCardsClient  # noqa: PLC0415  (after the worker's set-up)

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


def micro(
    url: str, page_size: int, hook: Callable[[Any], None] | None, attempts: int = 50_000
) -> dict[str, Any]:
    """CPU per attempt of what watches it, alone: the probe, its event, log check and span."""
    from simcards_async._observe import Instruments  # noqa: PLC0415  (measured alone)
    from simcards_async._sansio import Secrets  # noqa: PLC0415

    instruments = Instruments(base_url=url, on_response=hook, secrets=Secrets(API_KEY))
    target = f"{url}/sim_cards?page%5Bnumber%5D=7&page%5Bsize%5D={page_size}"
    headers = {
        "content-type": "application/json",
        "content-length": "402117",
        "date": "Thu, 03 Dec 2026 04:14:23 GMT",
        "x-request-id": "2b7cdb5c-c7bb-4b8e-9d2f-0d8f8b0f1a11",
    }
    cpu = time.process_time()
    for _ in range(attempts):
        probe = instruments.probe(target, 1)
        if probe is not None:
            probe.sent()
            probe.answered(target, 200, headers)
            probe.done(None, None)
    return {"per_attempt": (time.process_time() - cpu) / attempts}


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
        per_attempt = {}
        for name, process in workers.items():
            assert process.stdin is not None  # noqa: S101
            assert process.stdout is not None  # noqa: S101
            costs = []
            for _ in range(5):
                process.stdin.write("micro\n")
                process.stdin.flush()
                costs.append(json.loads(process.stdout.readline())["per_attempt"])
            per_attempt[name] = statistics.median(costs)
    finally:
        for process in [*workers.values(), server]:
            if process.stdin is not None:
                process.stdin.close()
            process.wait()
    base = statistics.median(cpu["none"])
    pages = -(-sim_cards // page_size)
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
                # The same, paired round by round: the machine's drift cancels out.
                "cpu_ratio_paired": statistics.median(
                    c / b for c, b in zip(cpu[name], cpu["none"], strict=True)
                ),
                "wall_median": statistics.median(wall[name]),
                "cpu": cpu[name],
                # Measured alone, in a loop: what one attempt pays, and so a listing.
                "per_attempt_us": per_attempt[name] * 1e6,
                "estimated_ratio": 1 + (per_attempt[name] - per_attempt["none"]) * pages / base,
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
    print(
        f"{'contender':<10} {'CPU s':>7} {'vs none':>8} {'paired':>8} "
        f"{'us/attempt':>11} {'estimated':>10}"
    )
    for name, row in results["contenders"].items():
        print(
            f"{name:<10} {row['cpu_median']:>7.3f} {row['cpu_ratio']:>7.3f}x "
            f"{row['cpu_ratio_paired']:>7.3f}x {row['per_attempt_us']:>11.2f} "
            f"{row['estimated_ratio']:>9.4f}x"
        )
    print(f"wrote {RESULTS.relative_to(ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
