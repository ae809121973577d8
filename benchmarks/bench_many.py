"""Many listings at once: peak RSS of an in-order merge of N sorted listings, exported.

``python benchmarks/bench_many.py`` starts two mock servers (50,000 cards; one answers at
once, one after 50 ms) in their own processes, then, in a fresh process a run, merges N
listings of one sorted by usage (an in-order merge: each stream waits while the merge takes
another's records, the case where every stream's read-ahead fills) and exports the union to
JSON lines, at C=32. ``--before REV`` runs an earlier revision's library the same way,
interleaved run by run, the order flipping every round. Claims are the peak RSS on loopback
and its growth a listing, and the wall time at 50 ms a request (what reading fewer pages
ahead costs); results go to ``benchmarks/results/many.json``. The listings are the same
query N times: each is read whole and keeps its own delivered ids (~6 MB for 50,000), which
no window bounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_procs import HERE, ROOT, Processes, child_env, compile_library

CARDS = 50_000
CONCURRENCY = 32
COUNTS = (1, 4, 10, 30, 50)
LATENCY = 0.05

#: Run in a fresh interpreter: the merge, its export, and the peak RSS, as one JSON line.
CHILD = """
import asyncio, json, os, resource, sys, tempfile, time
import simcards_async as sc

async def main(url, n, c):
    async with sc.SimCardsClient("KEYbench", url, max_concurrency=c) as client:
        sort = "-current_billing_period_consumed_data.amount"
        streams = [client.sim_cards(page_size=250, sort=sort) for _ in range(n)]
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            result = await sc.export(sc.merge(*streams), os.path.join(scratch, "o.jsonl"))
            return result.items, time.perf_counter() - started

items, wall = asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"items": items, "wall": wall, "peak_mb": peak / 1024}))
"""


def env_of(pythonpath: str) -> dict[str, str]:
    """A child's environment that imports the library from ``pythonpath`` first."""
    env = child_env()
    env["PYTHONPATH"] = pythonpath
    return env


def measure(url: str, n: int, pythonpath: str) -> dict[str, Any]:
    """One run in a fresh process: items, wall seconds and peak RSS."""
    env = env_of(pythonpath)
    out = subprocess.run(  # noqa: S603  (our own interpreter and code)
        [sys.executable, "-c", CHILD, url, str(n), str(CONCURRENCY)],
        # Not the repository's root: ``-c`` puts the directory it runs in first on the
        # path, and the root's library came before the earlier revision's.
        cwd=HERE,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def checkout(rev: str, into: Path) -> Path:
    """``rev``'s library, extracted into ``into``."""
    archive = subprocess.run(  # noqa: S603  (git, with a revision the caller named)
        ["git", "archive", rev, "simcards_async"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)  # noqa: S603, S607
    return into


def revision(rev: str) -> str:
    """``rev``'s commit, short; ``-dirty`` after this checkout's when it has changes on top."""
    args = ["--dirty"] if rev == "HEAD" else [rev]
    return subprocess.run(  # noqa: S603  (git, with a revision the caller named)
        ["git", "describe", "--always", "--abbrev=7", *args],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def main() -> int:
    """Measure, print, write ``many.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--before", metavar="REV", help="an earlier revision, run alongside")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    args = parser.parse_args()
    now = child_env()["PYTHONPATH"]
    with tempfile.TemporaryDirectory(prefix="bench-many-") as scratch, Processes() as procs:
        contenders = {"now": now}
        if args.before:
            contenders["before"] = f"{checkout(args.before, Path(scratch))}:{now}"
        for path in contenders.values():
            compile_library(env_of(path))  # bytecode, as an installed package runs
        url, slow = procs.server(CARDS).url, procs.server(CARDS, LATENCY).url
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {k: {} for k in contenders}
        for round_ in range(args.repeats):
            for n in COUNTS:
                order = list(contenders.items())
                for name, path in order[:: -1 if round_ % 2 else 1]:
                    run = measure(url, n, path)
                    run["wall_50ms"] = measure(slow, n, path)["wall"]
                    runs[name].setdefault(n, []).append(run)
    results: dict[str, Any] = {
        "sim_cards": CARDS,
        "concurrency": CONCURRENCY,
        "now": revision("HEAD"),
        "before": revision(args.before) if args.before else None,
        "contenders": {},
    }
    for name, by_n in runs.items():
        rows = {
            n: {
                "peak_mb": statistics.median(r["peak_mb"] for r in got),
                "wall_s": statistics.median(r["wall"] for r in got),
                "wall_s_at_50ms": statistics.median(r["wall_50ms"] for r in got),
                "items": got[0]["items"],
            }
            for n, got in by_n.items()
        }
        one = rows[COUNTS[0]]["peak_mb"]
        for n, row in rows.items():
            row["mb_a_listing_past_one"] = (row["peak_mb"] - one) / (n - 1) if n > 1 else 0.0
            print(
                f"{name:6} N={n:3}  peak RSS {row['peak_mb']:7.1f} MB  "
                f"(+{row['mb_a_listing_past_one']:5.1f} MB a listing past one)  "
                f"wall {row['wall_s']:6.2f} s, at 50 ms {row['wall_s_at_50ms']:6.2f} s  "
                f"items {row['items']}"
            )
        results["contenders"][name] = rows
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "many.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'many.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
