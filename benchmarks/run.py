"""Benchmarks of simcards_async against issue 13's floor and the official SDK.

``python benchmarks/run.py`` (or ``nox -s bench``) runs every scenario, prints the ratios and
a PASS/FAIL line per goal, and writes ``results.json``, ``RESULTS.md`` and ``benchmarks.png``
to ``--out``. ``--quick`` is a smoke run of the same code on small listings (about three
minutes); its numbers say nothing about the goals. ``--scenario NAME`` (repeatable) runs
only some of ``cpu latency memory export first scale scale10m``; ``--skip NAME`` leaves
one out (``--skip scale10m``: the 10,000,000-card point takes several minutes; add it to
that run's results later with ``--scenario scale10m --add``). A run writes
``results.partial.json`` after each scenario, so a run cut short keeps what it measured.

The floor (issue 13): raw aiohttp reads of the same pages with ``C`` requests always in
flight (``C`` workers pulling page numbers), each page decoded by one msgspec decoder into
``data: list[SimCard]``, a loop touching each item (``bench_worker.py``). The mock servers
and the clients run in separate processes (``bench_server.py``, ``bench_worker.py``), so a
client's CPU time is its own. Contenders run in one run, interleaved pair by pair round by
round (the order flips every round), and every claim is a ratio of medians over the rounds,
never an absolute time: the machines this runs on are small and noisy.

Each scenario also says whether the client was CPU-bound or latency-bound: its CPU seconds
against the round-trip bound (``(1 + ceil((pages - 1) / C)) * latency``), or, on loopback
where the bound is nil, its CPU seconds against its wall seconds.

The copy of the library measured is the first on ``PYTHONPATH``, else this checkout's; to
price a change, run once with ``PYTHONPATH`` set to a patched copy and compare the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
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

SCENARIOS = ("cpu", "latency", "memory", "export", "first", "scale", "scale10m")
PAGE_SIZE = 250
LATENCY = 0.05
FORMATS = ("jsonl", "csv", "parquet")
#: Parquet cannot be appended to, so a Parquet export refuses a checkpoint.
CHECKPOINT_FORMATS = ("jsonl", "csv")

JSON = dict[str, Any]


@dataclass(frozen=True)
class Sizes:
    """How big each scenario's listings are: the full suite, or the ``--quick`` smoke run."""

    cpu: int
    latency: int
    memory: int
    export: int
    scale: tuple[int, ...]
    #: The scale10m scenario's listing (skipped by --quick).
    huge: int
    #: Each scale measurement reads at least this many items (small listings loop).
    scale_items: int
    first_repeats: int
    #: Rounds of the checkpoint comparison (a checkpointed export against the same unchecked).
    checkpoint_rounds: int


FULL = Sizes(
    cpu=100_000,
    latency=100_000,
    memory=1_000_000,
    export=100_000,
    scale=(10_000, 100_000, 1_000_000),
    huge=10_000_000,
    scale_items=100_000,
    first_repeats=21,
    checkpoint_rounds=21,
)
QUICK = Sizes(
    cpu=20_000,
    latency=10_000,
    memory=100_000,
    export=20_000,
    scale=(10_000, 100_000),
    huge=0,
    scale_items=20_000,
    first_repeats=5,
    checkpoint_rounds=3,
)


@dataclass
class Entry:
    """One contender of a scenario: where it runs, the command, how many repeats."""

    label: str
    worker: Worker | None
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
    """Warm each worker up once, then run the entries round by round, in turns.

    Round ``r`` runs every entry that has more than ``r`` repeats; the order flips every
    round, so that no contender always follows the same one. An entry without a worker
    runs in a fresh process each time, warmed up on a 1,000-card listing (its peak RSS is
    then its own, give or take that warm-up's). Each run also records
    the CPU seconds the server spent meanwhile (``server_cpu``).
    """
    for entry in entries:
        if entry.worker is not None:
            entry.worker.run(**{**entry.command, "url": ctx.warm_url, "op": "list", "loops": 1})
    for r in range(max(e.repeats for e in entries)):
        order = entries if r % 2 == 0 else list(reversed(entries))
        for entry in order:
            if r >= entry.repeats:
                continue
            url = entry.command["url"]
            before = ctx.procs.server_cpu(url)
            if entry.worker is None:
                fresh = ctx.procs.worker(entry.label)
                try:
                    # Warm up on a small listing first, so that one-time costs (lazy
                    # imports, first calls) do not count against a small listing.
                    fresh.run(**{**entry.command, "url": ctx.warm_url, "loops": 1})
                    result = fresh.run(**entry.command)
                finally:
                    fresh.close()
            else:
                result = entry.worker.run(**entry.command)
            result["server_cpu"] = ctx.procs.server_cpu(url) - before
            entry.runs.append(result)
            log(
                f"  round {r + 1}: {entry.label:<30} wall {result['wall']:8.3f} s  "
                f"cpu {result['cpu']:8.3f} s  server {result['server_cpu']:7.3f} s  "
                f"rss {result['peak_rss'] / 2**20:6.1f} MB  items {result['items']}"
            )


def paired(a: Entry, b: Entry, key: str) -> JSON:
    """Median, min and max of the ratios a/b of runs made in the same round."""
    values = [x[key] / y[key] for x, y in zip(a.runs, b.runs, strict=False) if y[key] > 0]
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratio(a: Entry, b: Entry, key: str) -> float:
    """The ratio of medians a/b."""
    below = b.median(key)
    return a.median(key) / below if below > 0 else math.nan


def round_trip_bound(pages: int, concurrency: int, latency: float) -> float:
    """The fastest a listing can be read: page 1, then the rest ``concurrency`` at a time."""
    return (1 + math.ceil((pages - 1) / concurrency)) * latency


def verdict(cpu: float, wall: float, bound: float) -> str:
    """CPU-bound or latency-bound: the client's CPU seconds against the round-trip bound."""
    if bound > 0:
        share = cpu / bound
        if share < 0.5:
            return f"latency-bound (CPU {share:.0%} of the round-trip bound)"
        if share < 0.9:
            return f"mostly latency-bound (CPU {share:.0%} of the round-trip bound)"
        return f"CPU-bound (CPU {share:.0%} of the round-trip bound)"
    busy = cpu / wall if wall > 0 else math.nan
    kind = "CPU-bound" if busy >= 0.8 else "not CPU-bound: waiting for the server or a core"
    return f"{kind} (CPU {busy:.0%} of wall, loopback)"


def summary(entry: Entry, **extra: Any) -> JSON:  # noqa: ANN401  (JSON values)
    """An entry's medians and its raw runs."""
    items = entry.runs[0]["items"]
    return {
        "label": entry.label,
        "command": {k: v for k, v in entry.command.items() if k != "url"},
        "repeats": len(entry.runs),
        "items": items,
        "wall_median": entry.median("wall"),
        "cpu_median": entry.median("cpu"),
        "user_median": entry.median("user"),
        "sys_median": entry.median("sys"),
        "server_cpu_median": entry.median("server_cpu"),
        "peak_rss_mb": entry.median("peak_rss") / 2**20,
        "cpu_per_item_us": entry.median("cpu") / items * 1e6 if items else math.nan,
        "wall_per_item_us": entry.median("wall") / items * 1e6 if items else math.nan,
        **extra,
        "runs": entry.runs,
    }


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


def scenario_cpu(ctx: Context) -> JSON:
    """Client CPU seconds of a whole listing on loopback: ours against the floor, C=8 and 32."""
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
    floor_of = {e.label: floor8 for e in entries} | {"floor C=32": floor32, "ours C=32": floor32}
    return {
        "sim_cards": size,
        "contenders": [
            summary(
                e,
                cpu_over_floor=ratio(e, floor_of[e.label], "cpu"),
                verdict=verdict(e.median("cpu"), e.median("wall"), 0.0),
            )
            for e in entries
        ],
        "ours8_over_floor": ratio(ours8, floor8, "cpu"),
        "ours8_over_floor_paired": paired(ours8, floor8, "cpu"),
        "ours32_over_floor": ratio(ours32, floor32, "cpu"),
        "ours32_over_floor_paired": paired(ours32, floor32, "cpu"),
        "sdk_over_ours8": ratio(official, ours8, "cpu"),
    }


def scenario_latency(ctx: Context) -> JSON:
    """Wall time of a whole listing when each request takes 50 ms, next to the floor's."""
    size = ctx.sizes.latency
    url = ctx.url(size, LATENCY)
    lib, sdk = ctx.worker("lib"), ctx.worker("sdk")
    base = {"url": url, "page_size": PAGE_SIZE, "op": "list"}
    entries = [
        Entry("floor C=32", lib, {**base, "contender": "floor", "concurrency": 32}, ctx.repeats),
        Entry("ours C=32", lib, {**base, "contender": "ours", "concurrency": 32}, ctx.repeats),
        Entry("floor C=8", lib, {**base, "contender": "floor", "concurrency": 8}, ctx.repeats),
        Entry("ours C=8", lib, {**base, "contender": "ours", "concurrency": 8}, ctx.repeats),
        Entry("official SDK", sdk, {**base, "contender": "sdk"}, ctx.slow_repeats),
    ]
    log(f"latency: {size} cards, {LATENCY * 1000:.0f} ms a request")
    interleave(entries, ctx)
    pages = math.ceil(size / PAGE_SIZE)
    floor32, ours32, floor8, ours8, official = entries
    concurrency = {"floor C=32": 32, "ours C=32": 32, "floor C=8": 8, "ours C=8": 8}
    floor_of = {"ours C=32": floor32, "floor C=32": floor32, "official SDK": floor32}
    floor_of |= {"ours C=8": floor8, "floor C=8": floor8}
    rows = []
    for e in entries:
        c = concurrency.get(e.label)
        bound = round_trip_bound(pages, c, LATENCY) if c else pages * LATENCY
        rows.append(
            summary(
                e,
                bound=bound,
                ratio_to_bound=e.median("wall") / bound,
                wall_over_floor=ratio(e, floor_of[e.label], "wall"),
                sdk_over_this=ratio(official, e, "wall"),
                verdict=verdict(e.median("cpu"), e.median("wall"), bound),
            )
        )
    return {
        "sim_cards": size,
        "pages": pages,
        "latency": LATENCY,
        "contenders": rows,
        "ours32_over_floor32": ratio(ours32, floor32, "wall"),
        "ours32_over_floor32_paired": paired(ours32, floor32, "wall"),
        "ours8_over_floor8": ratio(ours8, floor8, "wall"),
        "sdk_over_ours32": ratio(official, ours32, "wall"),
        "verdict_ours32": rows[1]["verdict"],
    }


def scenario_memory(ctx: Context) -> JSON:
    """Peak RSS of a fresh client process that streams and discards a whole listing."""
    size = ctx.sizes.memory
    url = ctx.url(size)
    repeats = min(ctx.repeats, 3)
    base = {"url": url, "page_size": PAGE_SIZE, "op": "list"}
    entries = [
        Entry(f"floor C={c}", None, {**base, "contender": "floor", "concurrency": c}, repeats)
        for c in (8, 32)
    ]
    entries += [
        Entry(f"ours C={c}", None, {**base, "contender": "ours", "concurrency": c}, repeats)
        for c in (8, 32)
    ]
    log(f"memory: {size} cards, a fresh process for each run")
    interleave(entries, ctx)
    ours32 = entries[3]
    return {
        "sim_cards": size,
        "contenders": [summary(e, rss_before_mb=e.median("rss_before") / 2**20) for e in entries],
        "ours32_peak_mb": ours32.median("peak_rss") / 2**20,
    }


def scenario_export(ctx: Context) -> JSON:
    """Client CPU of an export per format against the floor; a checkpoint's cost apart."""
    size = ctx.sizes.export
    url = ctx.url(size)
    lib = ctx.worker("lib")
    base = {"url": url, "page_size": PAGE_SIZE, "concurrency": 8}
    floor8 = Entry("floor C=8", lib, {**base, "contender": "floor", "op": "list"}, ctx.repeats)
    # The floor's reads without its decode: what no export can go below.
    reads = Entry(
        "floor C=8, reads only", lib, {**base, "contender": "floor", "op": "read"}, ctx.repeats
    )
    exports = [
        Entry(f"export {fmt}", lib, export_command(base, fmt), ctx.repeats) for fmt in FORMATS
    ]
    log(f"export: {size} cards on loopback, C=8, formats {', '.join(FORMATS)}")
    interleave([floor8, reads, *exports], ctx)
    by_label = {e.label: e for e in exports}
    out: JSON = {"sim_cards": size, "contenders": []}
    out["contenders"].append(summary(floor8, cpu_over_floor=1.0))
    out["reads_over_floor"] = ratio(reads, floor8, "cpu")
    out["contenders"].append(
        summary(
            reads,
            cpu_over_floor=out["reads_over_floor"],
            cpu_over_floor_paired=paired(reads, floor8, "cpu"),
        )
    )
    for e in exports:
        out["contenders"].append(
            summary(
                e,
                cpu_over_floor=ratio(e, floor8, "cpu"),
                cpu_over_floor_paired=paired(e, floor8, "cpu"),
                verdict=verdict(e.median("cpu"), e.median("wall"), 0.0),
            )
        )
    for fmt in FORMATS:
        out[f"{fmt}_over_floor"] = ratio(by_label[f"export {fmt}"], floor8, "cpu")
    out["checkpoint"] = checkpoint_cost(ctx, base)
    for fmt in CHECKPOINT_FORMATS:
        out[f"{fmt}_checkpoint_over_plain"] = out["checkpoint"][fmt]["cpu_over_unchecked"]
    return out


def export_command(base: JSON, fmt: str) -> JSON:
    """The worker's command for an export of ours to ``fmt`` (unchecked)."""
    return {**base, "contender": "ours", "op": "export", "format": fmt, "checkpoint": False}


def checkpoint_cost(ctx: Context, base: JSON) -> JSON:
    """A checkpoint's CPU, per format: checkpointed and unchecked exports, back to back.

    A checkpoint costs a few percent, less than this machine's noise over the export
    scenario's 7 rounds: measured here alone, the two run back to back, the order flipping
    every round, over more rounds (and with no other contender between rounds): the ratio of
    medians, and the median and range of the ratios round by round.
    """
    lib, rounds = ctx.worker("lib"), ctx.sizes.checkpoint_rounds
    out: JSON = {"rounds": rounds}
    for fmt in CHECKPOINT_FORMATS:
        command = export_command(base, fmt)
        plain = Entry(f"export {fmt}", lib, command, rounds)
        checked = Entry(f"export {fmt} + checkpoint", lib, command | {"checkpoint": True}, rounds)
        log(f"checkpoint: {fmt}, {rounds} rounds of a checkpointed and an unchecked export")
        interleave([plain, checked], ctx)
        out[fmt] = {
            "cpu_over_unchecked": ratio(checked, plain, "cpu"),
            "cpu_over_unchecked_paired": paired(checked, plain, "cpu"),
            "unchecked_cpu_median": plain.median("cpu"),
            "checked_cpu_median": checked.median("cpu"),
        }
    return out


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
        "contenders": [
            summary(e, first_median=e.median("first"), first_min=min(r["first"] for r in e.runs))
            for e in entries
        ],
        "ours_over_round_trip": ratio(ours, reference, "first"),
        "ours_minus_round_trip_ms": (ours.median("first") - reference.median("first")) * 1e3,
        "sdk_over_round_trip": ratio(official, reference, "first"),
    }


def _scale_rows(ctx: Context, sizes: Sequence[int], repeats: int) -> list[JSON]:
    rows: list[JSON] = []
    for size in sizes:
        loops = max(1, ctx.sizes.scale_items // size)
        base = {"url": ctx.url(size), "page_size": PAGE_SIZE, "concurrency": 8, "loops": loops}
        entries = [
            Entry(f"floor {size}", None, {**base, "contender": "floor"}, repeats),
            Entry(f"ours {size}", None, {**base, "contender": "ours"}, repeats),
        ]
        interleave(entries, ctx)
        floor, ours = entries
        rows.append(
            {
                "sim_cards": size,
                "loops": loops,
                "ours_cpu_us": summary(ours)["cpu_per_item_us"],
                "ours_wall_us": summary(ours)["wall_per_item_us"],
                "ours_peak_mb": ours.median("peak_rss") / 2**20,
                "floor_cpu_us": summary(floor)["cpu_per_item_us"],
                "floor_wall_us": summary(floor)["wall_per_item_us"],
                "floor_peak_mb": floor.median("peak_rss") / 2**20,
                "cpu_over_floor": ratio(ours, floor, "cpu"),
                "wall_over_floor": ratio(ours, floor, "wall"),
                "contenders": [summary(floor), summary(ours)],
            }
        )
    return rows


def scenario_scale(ctx: Context) -> JSON:
    """Time per item and peak RSS from 10,000 to 1,000,000 items (fresh process, C=8)."""
    sizes = ctx.sizes.scale
    log(f"scale: {', '.join(map(str, sizes))} cards on loopback, a fresh process a run")
    return {"sizes": list(sizes), "rows": _scale_rows(ctx, sizes, min(ctx.repeats, 3))}


def scenario_scale10m(ctx: Context) -> JSON:
    """The 10,000,000-card point of the scale scenario: one listing, fresh processes."""
    size = ctx.sizes.huge
    if not size:
        return {"sizes": [], "rows": [], "skipped": "--quick"}
    log(f"scale10m: {size} cards on loopback, a fresh process a run")
    return {"sizes": [size], "rows": _scale_rows(ctx, [size], 2)}


RUNNERS: dict[str, Callable[[Context], JSON]] = {
    "cpu": scenario_cpu,
    "latency": scenario_latency,
    "memory": scenario_memory,
    "export": scenario_export,
    "first": scenario_first,
    "scale": scenario_scale,
    "scale10m": scenario_scale10m,
}


# --- goals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """One goal of issue 13 and whether the run met it."""

    name: str
    claim: str
    value: float
    target: str
    passed: bool
    note: str = ""

    def line(self) -> str:
        """``PASS  name: claim (target ...)``."""
        verdict = "PASS" if self.passed else "FAIL"
        note = f"; {self.note}" if self.note else ""
        return f"{verdict}  {self.name}: {self.claim} (target {self.target}{note})"


def _at_most(name: str, claim: str, value: float, limit: float, note: str) -> Goal:
    return Goal(name, claim, value, f"<= {limit:g}", value <= limit, note)


def goals(scenarios: JSON, *, quick: bool) -> list[Goal]:
    """Check issue 13's goals against whatever scenarios were run."""
    note = "--quick sizes, not the goal's" if quick else ""
    out: list[Goal] = []
    if "cpu" in scenarios:
        s = scenarios["cpu"]
        for c in (8, 32):
            value = s[f"ours{c}_over_floor"]
            claim = f"ours uses {value:.2f}x the floor's CPU at C={c}"
            out.append(_at_most(f"CPU vs floor, C={c}", claim, value, 1.2, note))
    if "latency" in scenarios:
        s = scenarios["latency"]
        value = s["ours32_over_floor32"]
        claim = f"ours C=32 takes {value:.3f}x the floor's wall at 50 ms a request"
        out.append(_at_most("wall vs floor, C=32", claim, value, 1.10, note))
        value = s["sdk_over_ours32"]
        claim = f"ours C=32 is {value:.1f}x faster than the official SDK"
        out.append(Goal("wall vs SDK", claim, value, ">= 25", value >= 25, note))
    if "memory" in scenarios:
        s = scenarios["memory"]
        value = s["ours32_peak_mb"]
        claim = f"peak RSS {value:.1f} MB streaming {s['sim_cards']:,} cards at C=32"
        out.append(_at_most("memory, C=32", claim, value, 60, note))
    if "export" in scenarios:
        s = scenarios["export"]
        for fmt, limit in zip(FORMATS, (0.6, 2.0, 1.5), strict=True):
            value = s[f"{fmt}_over_floor"]
            claim = f"export to {fmt} uses {value:.2f}x the floor's CPU (C=8)"
            out.append(_at_most(f"export {fmt} CPU", claim, value, limit, note))
        for fmt in CHECKPOINT_FORMATS:
            value = s[f"{fmt}_checkpoint_over_plain"]
            claim = f"a checkpoint costs {value - 1:+.1%} CPU on a {fmt} export"
            if "checkpoint" in s:  # measured apart, back to back (see checkpoint_cost)
                by_round = s["checkpoint"][fmt]["cpu_over_unchecked_paired"]
                claim += (
                    f" ({s['checkpoint']['rounds']} rounds back to back; round by round "
                    f"{by_round['median'] - 1:+.1%}, {by_round['min'] - 1:+.1%} to "
                    f"{by_round['max'] - 1:+.1%})"
                )
            out.append(_at_most(f"checkpoint, {fmt}", claim, value, 1.05, note))
    scales = [scenarios[name] for name in ("scale", "scale10m") if name in scenarios]
    rows = [row for scale in scales for row in scale["rows"]]
    if len(rows) >= 2:
        rows.sort(key=lambda r: r["sim_cards"])
        first, last = rows[0], rows[-1]
        # Per item against the floor measured beside it: the sizes run minutes apart, on a
        # machine whose speed changes meanwhile, so absolute microseconds do not compare.
        value = last["cpu_over_floor"] / first["cpu_over_floor"]
        claim = (
            f"CPU per item over the floor's at {last['sim_cards']:,} cards is {value:.2f}x "
            f"that at {first['sim_cards']:,} ({last['cpu_over_floor']:.2f}x against "
            f"{first['cpu_over_floor']:.2f}x); peak RSS {first['ours_peak_mb']:.1f} -> "
            f"{last['ours_peak_mb']:.1f} MB"
        )
        flat = value <= 1.2 and last["ours_peak_mb"] - first["ours_peak_mb"] <= 10
        out.append(Goal("scale flat", claim, value, "<= 1.2 and RSS +10 MB at most", flat, note))
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
    for dist in ("aiohttp", "anyio", "msgspec", "telnyx", "pyarrow", "psutil"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    sys.path.append(str(ROOT))  # as for the workers: PYTHONPATH first, then this checkout
    import simcards_async  # noqa: PLC0415  (the copy being measured)

    versions["simcards_async"] = simcards_async.__version__
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
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "cpu_model": cpu_model,
        "logical_cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "commit": commit,
        "load_at_start": list(load),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark simcards_async against the floor and the official SDK."
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke run (~3 minutes), not for claims"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--skip", action="append", choices=SCENARIOS, default=[], help="leave a scenario out"
    )
    parser.add_argument(
        "--repeats", type=int, help="rounds of each fast contender (default 7; --quick 3)"
    )
    parser.add_argument(
        "--slow-repeats",
        type=int,
        help="rounds of the official SDK, 10-30 s a run (default 3; --quick 1)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="directory for results.json, RESULTS.md and benchmarks.png (default: %(default)s)",
    )
    parser.add_argument(
        "--add",
        action="store_true",
        help="keep the other scenarios of the results.json already in --out (say, to add "
        "scale10m to an earlier run made with --skip scale10m)",
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 if any goal fails")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
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
            needed.append((sizes.memory, 0.0))
        elif name == "export":
            needed.append((sizes.export, 0.0))
        elif name == "scale":
            needed += [(size, 0.0) for size in sizes.scale]
    return list(dict.fromkeys(needed))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios, print ratios and goals, write the results."""
    args = parse_args(argv)
    names = [
        n for n in SCENARIOS if (args.scenario is None or n in args.scenario) and n not in args.skip
    ]
    sizes = QUICK if args.quick else FULL
    if args.quick and "scale10m" in names:
        names.remove("scale10m")
    started = time.perf_counter()
    results: JSON = {
        "machine": machine(),
        "config": {
            "quick": args.quick,
            "repeats": args.repeats,
            "slow_repeats": args.slow_repeats,
            "page_size": PAGE_SIZE,
            "latency": LATENCY,
            "scenarios": names,
        },
        "scenarios": {},
    }
    if args.add and (args.out / "results.json").exists():
        earlier = json.loads((args.out / "results.json").read_text())
        results["scenarios"] = {k: v for k, v in earlier["scenarios"].items() if k not in names}
        results["config"]["added"] = {"scenarios": names, "to_run_of": earlier["machine"]["date"]}
        results["machine"] = earlier["machine"] | {"added_run": results["machine"]}
    args.out.mkdir(parents=True, exist_ok=True)
    with Processes() as procs:
        # Every server builds and warms its cache at once; the 1,000,000-card one takes
        # ~15 s. The 10,000,000-card one starts only when its scenario does (see below).
        needed = servers_needed(names, sizes)
        for cards, latency in needed:
            procs.start_server(cards, latency)
        # ... and no scenario starts before all are warm: their warm-up would steal its CPU.
        for cards, latency in needed:
            procs.server(cards, latency)
        ctx = Context(procs, sizes, args.repeats, args.slow_repeats)
        for name in names:
            if name == "scale10m" and sizes.huge:
                log(f"scale10m: building and warming a {sizes.huge:,}-card server (minutes)")
                procs.server(sizes.huge, 0.0)
            results["scenarios"][name] = RUNNERS[name](ctx)
            # After each scenario, so that a run cut short keeps what it measured.
            (args.out / "results.partial.json").write_text(json.dumps(results, indent=2) + "\n")
    checked = goals(results["scenarios"], quick=args.quick)
    results["goals"] = [
        {"name": g.name, "claim": g.claim, "value": g.value, "target": g.target}
        | {"passed": g.passed, "note": g.note}
        for g in checked
    ]
    results["elapsed_s"] = time.perf_counter() - started
    results["load_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    markdown = bench_report.markdown(results)
    bench_report.write(results, markdown, args.out)
    print(markdown)
    for goal in checked:
        print(goal.line())
    (args.out / "results.partial.json").unlink(missing_ok=True)
    log(f"wrote {args.out} in {results['elapsed_s']:.0f} s")
    return 1 if args.check and not all(g.passed for g in checked) else 0


if __name__ == "__main__":
    sys.exit(main())
