"""Benchmarks of simcards_async against the official SDK and hand-written loops.

``python benchmarks/run.py`` (or ``nox -s bench``) runs every scenario, prints the ratios and
a PASS/FAIL line per goal, and writes ``results.json``, ``RESULTS.md`` and ``benchmarks.png``
to ``--out``. ``--quick`` is a smoke run of the same code on small listings (under a minute);
its numbers say nothing about the goals. ``--scenario NAME`` (repeatable) runs only some of
``latency cpu memory first scale``.

The mock servers and the clients run in separate processes (``bench_server.py``,
``bench_worker.py``), so a client's CPU time is its own. Contenders run side by side in one
run, interleaved round by round, and every claim is a ratio of medians over the repeats,
never an absolute time: the machines this runs on are small and noisy.

The copy of the library measured is the first on ``PYTHONPATH``, else this checkout's; to
price a change, run once with ``PYTHONPATH`` set to a patched copy and compare the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_report
from bench_procs import ROOT, Processes, Worker

SCENARIOS = ("latency", "cpu", "memory", "first", "scale")
PAGE_SIZE = 250
LATENCY = 0.05
#: Seconds of tolerance on time to first item, as a fraction of one round trip (see goals).
FIRST_ITEM_TOLERANCE = 0.05

JSON = dict[str, Any]


@dataclass(frozen=True)
class Sizes:
    """How big each scenario's listings are: the full suite, or the ``--quick`` smoke run."""

    latency: int
    cpu: int
    memory: tuple[int, ...]
    scale: tuple[int, ...]
    #: Each scale measurement reads at least this many items (small listings loop).
    scale_items: int
    first_repeats: int


FULL = Sizes(
    latency=100_000,
    cpu=100_000,
    memory=(10_000, 100_000, 1_000_000),
    scale=(1_000, 10_000, 100_000, 1_000_000),
    scale_items=100_000,
    first_repeats=21,
)
QUICK = Sizes(
    latency=10_000,
    cpu=10_000,
    memory=(1_000, 10_000),
    scale=(1_000, 10_000),
    scale_items=10_000,
    first_repeats=7,
)


@dataclass
class Entry:
    """One contender of a scenario: where it runs, the command, how many repeats."""

    label: str
    worker: Worker
    command: JSON
    repeats: int
    runs: list[JSON] = field(default_factory=list)

    def median(self, key: str) -> float:
        """Median of one measure over this entry's runs."""
        return float(statistics.median(run[key] for run in self.runs))


def log(message: str) -> None:
    """Progress on standard error, so standard output keeps the tables."""
    print(message, file=sys.stderr, flush=True)


def interleave(entries: Sequence[Entry], ctx: Context) -> None:
    """Warm each worker up once, then run the entries round by round.

    Round ``r`` runs every entry that has more than ``r`` repeats, in a fixed order, so that
    contenders see the same moments of a noisy machine. Each run also records the CPU
    seconds the server spent meanwhile (``server_cpu``): a busy server slows every client.
    """
    for entry in entries:
        entry.worker.run(**{**entry.command, "url": ctx.warm_url, "op": "list", "loops": 1})
    for r in range(max(e.repeats for e in entries)):
        for entry in entries:
            if r < entry.repeats:
                url = entry.command["url"]
                before = ctx.procs.server_cpu(url)
                result = entry.worker.run(**entry.command)
                result["server_cpu"] = ctx.procs.server_cpu(url) - before
                entry.runs.append(result)
                log(
                    f"  round {r + 1}: {entry.label:<28} wall {result['wall']:8.3f} s  "
                    f"cpu {result['cpu']:8.3f} s  server cpu {result['server_cpu']:7.3f} s  "
                    f"items {result['items']}"
                )


def paired(a: Entry, b: Entry, key: str) -> list[float]:
    """Ratios a/b of the runs made in the same round."""
    return [x[key] / y[key] for x, y in zip(a.runs, b.runs, strict=False) if y[key] > 0]


def summary(entry: Entry, **extra: Any) -> JSON:  # noqa: ANN401  (JSON values)
    """An entry's medians and its raw runs."""
    return {
        "label": entry.label,
        "command": {k: v for k, v in entry.command.items() if k != "url"},
        "repeats": len(entry.runs),
        "wall_median": entry.median("wall"),
        "cpu_median": entry.median("cpu"),
        "user_median": entry.median("user"),
        "sys_median": entry.median("sys"),
        "server_cpu_median": entry.median("server_cpu"),
        "items": entry.runs[0]["items"],
        **extra,
        "runs": entry.runs,
    }


def spread(values: Sequence[float]) -> JSON:
    """Median, min and max of a list of ratios."""
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# --- scenarios -------------------------------------------------------------------------------


@dataclass
class Context:
    """What every scenario needs."""

    procs: Processes
    sizes: Sizes
    repeats: int
    slow_repeats: int
    _workers: dict[str, Worker] = field(default_factory=dict)

    def worker(self, name: str) -> Worker:
        """A long-lived client process: ``lib`` (aiohttp contenders) or ``sdk``."""
        if name not in self._workers:
            self._workers[name] = self.procs.worker(name)
        return self._workers[name]

    def url(self, sim_cards: int, latency: float = 0.0) -> str:
        """The base URL of a warm server."""
        return self.procs.server(sim_cards, latency).url

    @property
    def warm_url(self) -> str:
        """A small, fast server to warm workers up on."""
        return self.url(1_000)


def round_trip_bound(pages: int, concurrency: int, latency: float) -> float:
    """The fastest a listing can be read: page 1, then the rest ``concurrency`` at a time."""
    return (1 + math.ceil((pages - 1) / concurrency)) * latency


def scenario_latency(ctx: Context) -> JSON:
    """Wall time of a whole listing when each request takes 50 ms."""
    size = ctx.sizes.latency
    url = ctx.url(size, LATENCY)
    lib, sdk = ctx.worker("lib"), ctx.worker("sdk")
    base = {"url": url, "page_size": PAGE_SIZE, "op": "list"}
    entries = [
        Entry("ours C=8", lib, {**base, "contender": "ours", "concurrency": 8}, ctx.repeats),
        Entry("ours C=32", lib, {**base, "contender": "ours", "concurrency": 32}, ctx.repeats),
        Entry("floor C=8", lib, {**base, "contender": "floor", "concurrency": 8}, ctx.repeats),
        Entry("floor C=32", lib, {**base, "contender": "floor", "concurrency": 32}, ctx.repeats),
        Entry("official SDK", sdk, {**base, "contender": "sdk"}, ctx.slow_repeats),
        Entry("aiohttp sequential", lib, {**base, "contender": "sequential"}, ctx.slow_repeats),
    ]
    log(f"latency: {size} cards, {LATENCY * 1000:.0f} ms a request")
    interleave(entries, ctx)
    pages = math.ceil(size / PAGE_SIZE)
    ours8, ours32, floor8, floor32, official, manual = entries
    bounds = {
        "ours C=8": round_trip_bound(pages, 8, LATENCY),
        "ours C=32": round_trip_bound(pages, 32, LATENCY),
        "floor C=8": round_trip_bound(pages, 8, LATENCY),
        "floor C=32": round_trip_bound(pages, 32, LATENCY),
        "official SDK": pages * LATENCY,
        "aiohttp sequential": pages * LATENCY,
    }
    return {
        "sim_cards": size,
        "pages": pages,
        "latency": LATENCY,
        "contenders": [
            summary(
                e,
                bound=bounds[e.label],
                ratio_to_bound=e.median("wall") / bounds[e.label],
                sdk_over_this=official.median("wall") / e.median("wall"),
            )
            for e in entries
        ],
        "sdk_over_ours32": official.median("wall") / ours32.median("wall"),
        "sdk_over_ours8": official.median("wall") / ours8.median("wall"),
        "sequential_over_ours32": manual.median("wall") / ours32.median("wall"),
        "ours32_over_bound": ours32.median("wall") / bounds["ours C=32"],
        "ours8_over_bound": ours8.median("wall") / bounds["ours C=8"],
        # The floor reads the same pages with the same C: what this machine and server allow.
        "floor32_over_bound": floor32.median("wall") / bounds["floor C=32"],
        "ours32_over_floor32": ours32.median("wall") / floor32.median("wall"),
        "ours8_over_floor8": ours8.median("wall") / floor8.median("wall"),
    }


def scenario_cpu(ctx: Context) -> JSON:
    """Client CPU seconds of a whole listing on loopback, against the floor and the SDK."""
    size = ctx.sizes.cpu
    url = ctx.url(size)
    lib, sdk = ctx.worker("lib"), ctx.worker("sdk")
    base = {"url": url, "page_size": PAGE_SIZE, "op": "list"}
    entries = [
        Entry("floor C=8", lib, {**base, "contender": "floor", "concurrency": 8}, ctx.repeats),
        Entry("ours C=8", lib, {**base, "contender": "ours", "concurrency": 8}, ctx.repeats),
        Entry("floor C=32", lib, {**base, "contender": "floor", "concurrency": 32}, ctx.repeats),
        Entry("ours C=32", lib, {**base, "contender": "ours", "concurrency": 32}, ctx.repeats),
        Entry("official SDK", sdk, {**base, "contender": "sdk"}, ctx.slow_repeats),
    ]
    log(f"cpu: {size} cards on loopback, no latency")
    interleave(entries, ctx)
    floor8, ours8, floor32, ours32, official = entries
    floor_of = {"ours C=8": floor8, "ours C=32": floor32, "floor C=8": floor8}
    floor_of |= {"floor C=32": floor32, "official SDK": floor8}
    return {
        "sim_cards": size,
        "contenders": [
            summary(
                e,
                cpu_per_item_us=e.median("cpu") / e.runs[0]["items"] * 1e6,
                cpu_over_floor=e.median("cpu") / floor_of[e.label].median("cpu"),
            )
            for e in entries
        ],
        "ours8_over_floor": ours8.median("cpu") / floor8.median("cpu"),
        "ours8_over_floor_paired": spread(paired(ours8, floor8, "cpu")),
        "ours32_over_floor": ours32.median("cpu") / floor32.median("cpu"),
        "ours32_over_floor_paired": spread(paired(ours32, floor32, "cpu")),
        "sdk_over_ours8": official.median("cpu") / ours8.median("cpu"),
    }


def scenario_memory(ctx: Context) -> JSON:
    """Peak RSS of a client process that streams and discards a whole listing."""
    sizes = ctx.sizes.memory
    repeats = min(ctx.repeats, 3)
    urls = {size: ctx.url(size) for size in sizes}
    log(f"memory: {', '.join(map(str, sizes))} cards, a fresh process for each run")
    rows: list[JSON] = []
    for concurrency in (8, 32):
        for size in sizes:
            runs: list[JSON] = []
            for r in range(repeats):
                worker = ctx.procs.worker(f"memory {size}")
                try:
                    result = worker.run(
                        contender="ours",
                        url=urls[size],
                        page_size=PAGE_SIZE,
                        concurrency=concurrency,
                    )
                finally:
                    worker.close()
                runs.append(result)
                log(
                    f"  C={concurrency} {size:>9} cards, run {r + 1}: peak RSS "
                    f"{result['peak_rss'] / 2**20:6.1f} MB (before the listing "
                    f"{result['rss_before'] / 2**20:.1f} MB), wall {result['wall']:.2f} s"
                )
            rows.append(
                {
                    "sim_cards": size,
                    "concurrency": concurrency,
                    "peak_rss_mb": statistics.median(r["peak_rss"] for r in runs) / 2**20,
                    "rss_before_mb": statistics.median(r["rss_before"] for r in runs) / 2**20,
                    "runs": runs,
                }
            )
    default = [row for row in rows if row["concurrency"] == 8]
    return {
        "sizes": list(sizes),
        "rows": rows,
        "peak_at_largest_mb": default[-1]["peak_rss_mb"],
        "growth_mb": default[-1]["peak_rss_mb"] - default[0]["peak_rss_mb"],
    }


def scenario_first(ctx: Context) -> JSON:
    """Time to the first item, against one raw round trip (GET page 1 and decode it)."""
    size = ctx.sizes.latency
    url = ctx.url(size, LATENCY)
    lib, sdk = ctx.worker("lib"), ctx.worker("sdk")
    base = {"url": url, "page_size": PAGE_SIZE, "op": "first", "concurrency": 8}
    repeats = ctx.sizes.first_repeats
    entries = [
        Entry("one round trip", lib, {**base, "contender": "reference"}, repeats),
        Entry("ours", lib, {**base, "contender": "ours"}, repeats),
        Entry("official SDK", sdk, {**base, "contender": "sdk"}, repeats),
    ]
    log(f"first item: {LATENCY * 1000:.0f} ms a request, {repeats} repeats")
    interleave(entries, ctx)
    reference, ours, official = entries
    return {
        "latency": LATENCY,
        "tolerance": FIRST_ITEM_TOLERANCE,
        "contenders": [
            summary(e, first_median=e.median("first"), first_min=min(r["first"] for r in e.runs))
            for e in entries
        ],
        "ours_over_round_trip": ours.median("first") / reference.median("first"),
        "ours_over_round_trip_paired": spread(paired(ours, reference, "first")),
        "ours_minus_round_trip_ms": (ours.median("first") - reference.median("first")) * 1e3,
        "sdk_over_round_trip": official.median("first") / reference.median("first"),
    }


def scenario_scale(ctx: Context) -> JSON:
    """Time per item from 1,000 to 1,000,000 items, next to the floor."""
    sizes = ctx.sizes.scale
    lib = ctx.worker("lib")
    log(f"scale: {', '.join(map(str, sizes))} cards on loopback")
    rows: list[JSON] = []
    for size in sizes:
        loops = max(1, ctx.sizes.scale_items // size)
        repeats = ctx.repeats if size < 1_000_000 else min(ctx.repeats, 3)
        base = {"url": ctx.url(size), "page_size": PAGE_SIZE, "concurrency": 8, "loops": loops}
        entries = [
            Entry(f"floor {size}", lib, {**base, "contender": "floor"}, repeats),
            Entry(f"ours {size}", lib, {**base, "contender": "ours"}, repeats),
        ]
        interleave(entries, ctx)
        floor, ours = entries
        items = ours.runs[0]["items"]
        rows.append(
            {
                "sim_cards": size,
                "loops": loops,
                "ours_cpu_us": ours.median("cpu") / items * 1e6,
                "ours_wall_us": ours.median("wall") / items * 1e6,
                "floor_cpu_us": floor.median("cpu") / items * 1e6,
                "floor_wall_us": floor.median("wall") / items * 1e6,
                "cpu_over_floor": ours.median("cpu") / floor.median("cpu"),
                "wall_over_floor": ours.median("wall") / floor.median("wall"),
                "contenders": [summary(floor), summary(ours)],
            }
        )
    return {"sizes": list(sizes), "rows": rows}


RUNNERS: dict[str, Callable[[Context], JSON]] = {
    "latency": scenario_latency,
    "cpu": scenario_cpu,
    "memory": scenario_memory,
    "first": scenario_first,
    "scale": scenario_scale,
}


# --- goals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """One goal of issue 5 and whether the run met it."""

    name: str
    claim: str
    value: float
    target: str
    passed: bool
    note: str = ""

    def line(self) -> str:
        """``PASS  name: claim (measured ..., target ...)``."""
        verdict = "PASS" if self.passed else "FAIL"
        note = f"; {self.note}" if self.note else ""
        return f"{verdict}  {self.name}: {self.claim} (target {self.target}{note})"


def goals(scenarios: JSON, *, quick: bool) -> list[Goal]:
    """Check the goals against whatever scenarios were run."""
    note = "--quick sizes, not the goal's" if quick else ""
    out: list[Goal] = []
    if "latency" in scenarios:
        s = scenarios["latency"]
        out.append(
            Goal(
                "latency vs SDK",
                f"ours at C=32 is {s['sdk_over_ours32']:.1f}x faster than the official SDK",
                s["sdk_over_ours32"],
                ">= 25x",
                s["sdk_over_ours32"] >= 25,
                note,
            )
        )
        out.append(
            Goal(
                "latency vs bound",
                f"ours at C=32 takes {s['ours32_over_bound']:.2f}x the round-trip bound",
                s["ours32_over_bound"],
                "<= 1.3x",
                s["ours32_over_bound"] <= 1.3,
                note,
            )
        )
    if "cpu" in scenarios:
        s = scenarios["cpu"]
        out.append(
            Goal(
                "cpu vs floor",
                f"ours (C=8) uses {s['ours8_over_floor']:.2f}x the floor's CPU",
                s["ours8_over_floor"],
                "<= 1.3x",
                s["ours8_over_floor"] <= 1.3,
                note,
            )
        )
        out.append(
            Goal(
                "cpu vs SDK",
                f"the official SDK uses {s['sdk_over_ours8']:.1f}x ours' CPU",
                s["sdk_over_ours8"],
                ">= 20x",
                s["sdk_over_ours8"] >= 20,
                note,
            )
        )
    if "memory" in scenarios:
        s = scenarios["memory"]
        first, last = s["sizes"][0], s["sizes"][-1]
        out.append(
            Goal(
                "memory flat",
                f"peak RSS grows {s['growth_mb']:+.1f} MB from {first:,} to {last:,} cards (C=8)",
                s["growth_mb"],
                "<= 10 MB for 100x the cards",
                s["growth_mb"] <= 10,
                note,
            )
        )
        out.append(
            Goal(
                "memory cap",
                f"peak RSS {s['peak_at_largest_mb']:.1f} MB at {last:,} cards (C=8)",
                s["peak_at_largest_mb"],
                "<= 80 MB at 1,000,000 cards",
                s["peak_at_largest_mb"] <= 80,
                note,
            )
        )
    if "first" in scenarios:
        s = scenarios["first"]
        out.append(
            Goal(
                "first item",
                f"ours takes {s['ours_over_round_trip']:.3f}x one round trip + decode "
                f"({s['ours_minus_round_trip_ms']:+.2f} ms)",
                s["ours_over_round_trip"],
                f"<= {1 + FIRST_ITEM_TOLERANCE:.2f}x (tolerance {FIRST_ITEM_TOLERANCE:.0%})",
                s["ours_over_round_trip"] <= 1 + FIRST_ITEM_TOLERANCE,
                note,
            )
        )
    return out


# --- the run -----------------------------------------------------------------------------------


def machine() -> JSON:
    """What the numbers were measured on."""
    cpu_model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions: JSON = {}
    for dist in ("aiohttp", "anyio", "msgspec", "telnyx", "httpx", "pydantic", "psutil"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    sys.path.append(str(ROOT))  # as for the workers: PYTHONPATH first, then this checkout
    import simcards_async  # noqa: PLC0415  (the copy being measured)

    versions["simcards_async"] = simcards_async.__version__
    library = str(Path(simcards_async.__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607  (git from PATH)
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu_model": cpu_model,
        "logical_cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "commit": commit,
        "library": library,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark simcards_async against the official SDK; write results and a plot."
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke run (under a minute), not for claims"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--repeats", type=int, help="repeats of each fast contender (default 5; --quick 3)"
    )
    parser.add_argument(
        "--slow-repeats",
        type=int,
        help="repeats of the official SDK and the sequential loop, which take 20-40 s a run "
        "at 50 ms latency (default 3; --quick 1)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="directory for results.json, RESULTS.md and benchmarks.png (default: %(default)s)",
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 if any goal fails")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.slow_repeats is None:
        args.slow_repeats = 1 if args.quick else 3
    if args.repeats < 1 or args.slow_repeats < 1:
        parser.error("--repeats and --slow-repeats must be at least 1")
    return args


def servers_needed(names: Sequence[str], sizes: Sizes) -> list[tuple[int, float]]:
    """The (cards, latency) of every server the chosen scenarios use."""
    needed = [(1_000, 0.0)]
    for name in names:
        if name in ("latency", "first"):
            needed.append((sizes.latency, LATENCY))
        elif name == "cpu":
            needed.append((sizes.cpu, 0.0))
        elif name == "memory":
            needed += [(size, 0.0) for size in sizes.memory]
        elif name == "scale":
            needed += [(size, 0.0) for size in sizes.scale]
    return list(dict.fromkeys(needed))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios, print ratios and goals, write the results."""
    args = parse_args(argv)
    names = [n for n in SCENARIOS if args.scenario is None or n in args.scenario]
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    results: JSON = {
        "machine": machine(),
        "config": {
            "quick": args.quick,
            "repeats": args.repeats,
            "slow_repeats": args.slow_repeats,
            "page_size": PAGE_SIZE,
            "latency": LATENCY,
            "first_item_tolerance": FIRST_ITEM_TOLERANCE,
        },
        "scenarios": {},
    }
    with Processes() as procs:
        # Every server builds and warms its cache at once; the largest takes ~15 s.
        needed = servers_needed(names, sizes)
        for cards, latency in needed:
            procs.start_server(cards, latency)
        # ... and no scenario starts before all are warm: their warm-up would steal its CPU.
        for cards, latency in needed:
            procs.server(cards, latency)
        ctx = Context(procs, sizes, args.repeats, args.slow_repeats)
        for name in names:
            results["scenarios"][name] = RUNNERS[name](ctx)
    checked = goals(results["scenarios"], quick=args.quick)
    results["goals"] = [
        {"name": g.name, "claim": g.claim, "value": g.value, "target": g.target}
        | {"passed": g.passed, "note": g.note}
        for g in checked
    ]
    results["elapsed_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    markdown = bench_report.markdown(results)
    bench_report.write(results, markdown, args.out)
    print(markdown)
    for goal in checked:
        print(goal.line())
    log(f"wrote {args.out} in {results['elapsed_s']:.0f} s")
    return 1 if args.check and not all(g.passed for g in checked) else 0


if __name__ == "__main__":
    sys.exit(main())
