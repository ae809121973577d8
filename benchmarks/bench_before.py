"""This checkout against an earlier one, side by side: "no worse than before" as ratios.

``python benchmarks/bench_before.py REV`` checks ``REV`` (any git revision) out into a
temporary worktree and runs, interleaved round by round in one run, the client of this
checkout and the client of ``REV`` (each in its own worker process, the earlier one
importing its own copy of the library first), both next to the same floor: client CPU on
loopback at C=8 and C=32 (100,000 cards) and wall time at 50 ms a request at C=32; with
``--exports``, the CPU of an export to each format at C=8 as well. It prints and writes
``results/before.json``: each client's ratio to the floor and the ratio
of the two clients (now / before; below 1 is better). Absolute times are noise on these
machines; only the ratios are claims.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import run
from bench_procs import HERE, ROOT, Processes, Worker, child_env

JSON = dict[str, Any]


class _BeforeProcesses(Processes):
    """Also starts a worker that imports the library from another checkout first."""

    def worker_from(self, checkout: Path, name: str) -> Worker:
        env = child_env()
        env["PYTHONPATH"] = f"{checkout}:{env['PYTHONPATH']}"
        proc = subprocess.Popen(  # noqa: S603  (our own script, with our interpreter)
            [sys.executable, str(HERE / "bench_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._procs.append(proc)
        return Worker(proc, name)


def compare(
    procs: _BeforeProcesses, checkout: Path, repeats: int, *, exports: bool = False
) -> JSON:
    """The interleaved runs and their ratios."""
    ctx = run.Context(procs, run.FULL, repeats, 1)
    now, before = ctx.worker("lib"), procs.worker_from(checkout, "before")
    cards = run.FULL.cpu
    out: JSON = {"sim_cards": cards, "repeats": repeats}
    for latency, concurrencies in ((0.0, (8, 32)), (run.LATENCY, (32,))):
        url = ctx.url(cards, latency)
        key = "cpu" if latency == 0 else "wall"
        for c in concurrencies:
            base = {"url": url, "page_size": run.PAGE_SIZE, "op": "list", "concurrency": c}
            entries = [
                run.Entry(f"floor C={c}", now, {**base, "contender": "floor"}, repeats),
                run.Entry(f"now C={c}", now, {**base, "contender": "ours"}, repeats),
                run.Entry(f"before C={c}", before, {**base, "contender": "ours"}, repeats),
            ]
            run.log(f"{key} at C={c}, {latency * 1000:.0f} ms a request")
            run.interleave(entries, ctx)
            floor, ours, earlier = entries
            out[f"{key}_C{c}"] = {
                "now_over_floor": run.ratio(ours, floor, key),
                "before_over_floor": run.ratio(earlier, floor, key),
                "now_over_before": run.ratio(ours, earlier, key),
                "now_over_before_paired": run.paired(ours, earlier, key),
                "now_cpu_s": ours.median("cpu"),
                "now_wall_s": ours.median("wall"),
            }
    if exports:
        url = ctx.url(cards, 0.0)
        base = {"url": url, "page_size": run.PAGE_SIZE, "concurrency": 8, "contender": "ours"}
        floor = run.Entry("floor C=8", now, {**base, "op": "list", "contender": "floor"}, repeats)
        entries = [floor]
        for fmt in run.FORMATS:
            command = {**base, "op": "export", "format": fmt}
            entries.append(run.Entry(f"now {fmt}", now, command, repeats))
            entries.append(run.Entry(f"before {fmt}", before, command, repeats))
        run.log("export CPU at C=8")
        run.interleave(entries, ctx)
        for fmt, ours, earlier in zip(run.FORMATS, entries[1::2], entries[2::2], strict=True):
            out[f"export_{fmt}"] = {
                "now_over_floor": run.ratio(ours, floor, "cpu"),
                "before_over_floor": run.ratio(earlier, floor, "cpu"),
                "now_over_before": run.ratio(ours, earlier, "cpu"),
                "now_over_before_paired": run.paired(ours, earlier, "cpu"),
                "now_cpu_s": ours.median("cpu"),
            }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Check REV out, compare, print, write ``results/before.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the earlier git revision to compare with")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--exports", action="store_true", help="compare export CPU too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp) / "before"
        subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(checkout), args.rev],  # noqa: S607
            check=True,
            capture_output=True,
        )
        try:
            procs = _BeforeProcesses()
            with procs:
                result = compare(procs, checkout, args.repeats, exports=args.exports)
        finally:
            subprocess.run(  # noqa: S603
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)],  # noqa: S607
                check=False,
                capture_output=True,
            )
    rev = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    result = {"before": rev, "machine": run.machine(), **result}
    (HERE / "results" / "before.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, row in result.items():
        if isinstance(row, dict) and "now_over_before" in row:
            print(
                f"{name}: now {row['now_over_floor']:.2f}x the floor, before "
                f"{row['before_over_floor']:.2f}x; now / before {row['now_over_before']:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
