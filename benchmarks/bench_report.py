"""Write a benchmark run's results: ``results.json``, ``RESULTS.md`` and ``benchmarks.png``."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


def write(results: JSON, markdown_text: str, out: Path) -> None:
    """Write the three files into ``out``."""
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "RESULTS.md").write_text(markdown_text)
    plot(results, out / "benchmarks.png")


# --- markdown ----------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _x(value: float, digits: int = 2) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}x"


def _spread(p: JSON, digits: int = 2) -> str:
    return f"{_x(p['median'], digits)} ({_x(p['min'], digits)} to {_x(p['max'], digits)})"


def markdown(results: JSON) -> str:
    """The results as Markdown tables, for the README to quote."""
    m = results["machine"]
    config = results["config"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    load0 = ", ".join(f"{x:.2f}" for x in m.get("load_at_start", []))
    load1 = ", ".join(f"{x:.2f}" for x in results.get("load_at_end", []))
    lines = [
        "# Benchmark results",
        "",
        (
            f"{m['date']} on {m['cpu_model']} ({m['logical_cores']} logical cores), "
            f"{m['implementation']} {m['python']}, {m['platform']}; commit {m['commit']}. "
            f"Run took {results.get('elapsed_s', 0):.0f} s; load average at start {load0}, "
            f"at end {load1}."
        ),
        f"Packages: {packages}.",
        "",
        (
            "Every number below comes from one run in which the contenders ran in one process "
            "pool, interleaved pair by pair round by round (the order flips every round); "
            "times are medians over the rounds (column *runs*), and the claims are ratios of "
            "medians: absolute times depend on this small, noisy machine. The mock server "
            "runs in its own process; CPU is the client process's CPU time (all threads). "
            "Every process runs the library from bytecode, compiled before the run, as an "
            "installed package does."
        ),
        "",
        (
            "**The floor** (issue 13): raw aiohttp reads of the same pages with C requests "
            "always in flight (C workers pulling page numbers), each page decoded by one "
            "msgspec decoder into `data: list[SimCard]` (the library's `SimCard`), a loop "
            "touching each item."
        ),
        "",
    ]
    if config["quick"]:
        lines += ["**`--quick` smoke run: small listings, not evidence for the goals.**", ""]
    if results.get("goals"):
        lines += ["## Goals (issue 13)", ""]
        rows = [
            [g["name"], g["claim"], g["target"], "PASS" if g["passed"] else "**FAIL**"]
            for g in results["goals"]
        ]
        lines += _table(["goal", "measured", "target", "result"], rows)
    scenarios = results["scenarios"]
    if "latency" in scenarios:
        by_label = {c["label"]: c for c in scenarios["latency"]["contenders"]}
        lines += [
            (
                "**CPU-bound or latency-bound?** At 50 ms a request, ours at C=8 was "
                f"{by_label['ours C=8']['verdict']} and the floor "
                f"{by_label['floor C=8']['verdict']}; at C=32 ours was "
                f"{by_label['ours C=32']['verdict']} and the floor "
                f"{by_label['floor C=32']['verdict']}. Where the client's CPU seconds exceed "
                "the round-trip bound, every extra microsecond an item is wall time too."
            ),
            "",
        ]
    for name, render in _SECTIONS.items():
        if name in scenarios:
            lines += render(scenarios[name])
    return "\n".join(lines)


def _cpu(s: JSON) -> list[str]:
    lines = [f"## CPU: {s['sim_cards']:,} SIM cards on loopback, no latency", ""]
    rows = [
        [
            c["label"],
            f"{c['cpu_median']:.3f}",
            f"{c['user_median']:.3f} / {c['sys_median']:.3f}",
            f"{c['cpu_per_item_us']:.2f}",
            _x(c["cpu_over_floor"]),
            f"{c['wall_median']:.3f}",
            c["verdict"],
            str(c["repeats"]),
        ]
        for c in s["contenders"]
    ]
    header = ["contender", "CPU s", "user / sys s", "CPU us/item", "x floor (same C)"]
    lines += _table([*header, "wall s", "bound", "runs"], rows)
    lines += [
        (
            f"Ours / floor, run by run (median, range): C=8 {_spread(s['ours8_over_floor_paired'])}"
            f"; C=32 {_spread(s['ours32_over_floor_paired'])}. Official SDK / ours (C=8): "
            f"{_x(s['sdk_over_ours8'], 1)}."
        ),
        "",
    ]
    return lines


def _latency(s: JSON) -> list[str]:
    lines = [
        (
            f"## Latency: {s['sim_cards']:,} SIM cards, {s['pages']} pages of 250, "
            f"{s['latency'] * 1000:.0f} ms a request"
        ),
        "",
        (
            "Round-trip bound: `(1 + ceil((pages - 1) / C)) * latency` with C requests in "
            "flight; `pages * latency` for the SDK, which reads one page after the other. "
            "*Bound* compares the client's CPU seconds with that bound."
        ),
        "",
    ]
    rows = [
        [
            c["label"],
            f"{c['wall_median']:.3f}",
            _x(c["wall_over_floor"], 3),
            f"{c['bound']:.2f}",
            _x(c["ratio_to_bound"]),
            _x(c["sdk_over_this"], 1),
            f"{c['cpu_median']:.2f}",
            f"{c['server_cpu_median']:.2f}",
            c["verdict"],
            str(c["repeats"]),
        ]
        for c in s["contenders"]
    ]
    header = ["contender", "wall s", "x floor wall", "bound s", "x bound", "SDK / this"]
    lines += _table([*header, "client CPU s", "server CPU s", "bound", "runs"], rows)
    lines += [
        (
            f"Ours C=32 / floor C=32 wall, run by run: {_spread(s['ours32_over_floor32_paired'])}."
            f" Ours C=32 was {s['verdict_ours32']}."
        ),
        "",
    ]
    return lines


def _memory(s: JSON) -> list[str]:
    lines = [
        f"## Memory: peak RSS streaming {s['sim_cards']:,} cards (a fresh process a run)",
        "",
    ]
    rows = [
        [
            c["label"],
            f"{c['peak_rss_mb']:.1f}",
            f"{c['rss_before_mb']:.1f}",
            f"{c['cpu_per_item_us']:.2f}",
            str(c["repeats"]),
        ]
        for c in s["contenders"]
    ]
    lines += _table(["contender", "peak RSS MB", "before MB", "CPU us/item", "runs"], rows)
    return lines


def _export(s: JSON) -> list[str]:
    lines = [
        f"## Export: {s['sim_cards']:,} SIM cards on loopback, C=8, to a local file",
        "",
        (
            "CPU includes the writer threads. *x floor* is the export's CPU over the floor's "
            "(reading and decoding only). "
            "*floor, reads only* is the floor without its decode (page 1 aside): what the "
            "HTTP reads alone cost, which no export can go below."
        ),
        "",
    ]
    rows = []
    for c in s["contenders"]:
        paired = c.get("cpu_over_floor_paired")
        rows.append(
            [
                c["label"],
                f"{c['cpu_median']:.3f}",
                f"{c['cpu_per_item_us']:.2f}",
                _x(c["cpu_over_floor"]),
                _spread(paired) if paired else "",
                f"{c['wall_median']:.3f}",
                f"{c['peak_rss_mb']:.0f}",
                str(c["repeats"]),
            ]
        )
    header = ["contender", "CPU s", "CPU us/item", "x floor", "x floor by round"]
    lines += _table([*header, "wall s", "peak RSS MB (process)", "runs"], rows)
    checkpoint = s.get("checkpoint")
    if checkpoint:
        lines += [
            (
                f"**What a checkpoint costs**, measured apart (the goal's figure): "
                f"{checkpoint['rounds']} rounds of the checkpointed export and the same "
                "unchecked, back to back, the order flipping every round (the table's 7 rounds "
                "are too few for a cost of a few percent on this machine)."
            ),
            "",
        ]
        rows = []
        for fmt, c in checkpoint.items():
            if fmt == "rounds":
                continue
            rows.append(
                [
                    fmt,
                    f"{c['unchecked_cpu_median']:.3f}",
                    f"{c['checked_cpu_median']:.3f}",
                    _x(c["cpu_over_unchecked"], 3),
                    _spread(c["cpu_over_unchecked_paired"], 3),
                ]
            )
        header = ["format", "unchecked CPU s", "checkpointed CPU s", "x unchecked", "by round"]
        lines += _table(header, rows)
    return lines


def _first(s: JSON) -> list[str]:
    lines = [
        f"## Time to first item, {s['latency'] * 1000:.0f} ms a request",
        "",
        "From asking for the listing to holding its first card, with a fresh client.",
        "",
    ]
    reference = s["contenders"][0]["first_median"]
    rows = [
        [
            c["label"],
            f"{c['first_median'] * 1000:.2f}",
            f"{c['first_min'] * 1000:.2f}",
            _x(c["first_median"] / reference, 3),
            str(c["repeats"]),
        ]
        for c in s["contenders"]
    ]
    lines += _table(["contender", "median ms", "best ms", "x round trip", "runs"], rows)
    return lines


def _scale(s: JSON, title: str = "Scale") -> list[str]:
    if not s["rows"]:
        return [f"## {title}: skipped ({s.get('skipped', 'not run')})", ""]
    lines = [
        f"## {title}: time per item and peak RSS (loopback, C=8, a fresh process a run)",
        "",
        "Small listings are read several times back to back per measurement (*loops*).",
        "",
    ]
    rows = [
        [
            f"{r['sim_cards']:,}",
            str(r["loops"]),
            f"{r['ours_cpu_us']:.2f}",
            f"{r['ours_wall_us']:.2f}",
            f"{r['ours_peak_mb']:.1f}",
            f"{r['floor_cpu_us']:.2f}",
            f"{r['floor_wall_us']:.2f}",
            f"{r['floor_peak_mb']:.1f}",
            _x(r["cpu_over_floor"]),
            _x(r["wall_over_floor"]),
        ]
        for r in s["rows"]
    ]
    header = ["SIM cards", "loops", "ours CPU us/item", "ours wall us/item", "ours peak MB"]
    header += ["floor CPU us/item", "floor wall us/item", "floor peak MB"]
    lines += _table([*header, "CPU x floor", "wall x floor"], rows)
    return lines


def _scale10m(s: JSON) -> list[str]:
    return _scale(s, "Scale, 10,000,000 cards")


_SECTIONS = {
    "cpu": _cpu,
    "latency": _latency,
    "memory": _memory,
    "export": _export,
    "first": _first,
    "scale": _scale,
    "scale10m": _scale10m,
}


# --- plot --------------------------------------------------------------------------------------

_OURS, _OTHER, _FLOOR, _GOOD = "#1f77b4", "#d62728", "#7f7f7f", "#2ca02c"


def plot(results: JSON, path: Path) -> None:
    """Four panels: CPU per item, export CPU, scale, goals."""
    import matplotlib as mpl  # noqa: PLC0415  (only the report needs it)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    s = results["scenarios"]
    fig, axes = plt.subplots(2, 2, figsize=(15, 10), layout="constrained")
    title = "simcards_async benchmarks (issue 13 floor)"
    if results["config"]["quick"]:
        title += " (--quick smoke run: not evidence)"
    m = results["machine"]
    fig.suptitle(f"{title}\n{m['cpu_model']}, {m['logical_cores']} cores, Python {m['python']}")
    _plot_bars(axes[0][0], s.get("cpu"), "CPU us/item, loopback")
    _plot_bars(axes[0][1], s.get("export"), "Export CPU us/item, C=8")
    rows = [r for name in ("scale", "scale10m") if name in s for r in s[name]["rows"]]
    _plot_scale(axes[1][0], sorted(rows, key=lambda r: r["sim_cards"]))
    _plot_goals(axes[1][1], results.get("goals", []))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_bars(ax: Any, s: JSON | None, title: str) -> None:  # noqa: ANN401  (matplotlib)
    if not s:
        ax.set_axis_off()
        ax.set_title(f"{title}: not run")
        return
    contenders = [c for c in s["contenders"] if c["label"] != "official SDK"]
    labels = [c["label"].replace(" ", "\n", 1) for c in contenders]
    values = [c["cpu_per_item_us"] for c in contenders]
    colors = [_FLOOR if c["label"].startswith("floor") else _OURS for c in contenders]
    bars = ax.bar(labels, values, color=colors)
    for bar, c in zip(bars, contenders, strict=True):
        ax.annotate(
            f"{c['cpu_per_item_us']:.2f}\n{_x(c['cpu_over_floor'])}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylim(0, max(values) * 1.3)
    ax.set_ylabel("client CPU microseconds per item (median)")
    ax.set_title(f"{title}, {s['sim_cards']:,} cards (x floor above the bars)")
    ax.tick_params(axis="x", labelsize=8)


def _plot_scale(ax: Any, rows: list[JSON]) -> None:  # noqa: ANN401  (matplotlib)
    if not rows:
        ax.set_axis_off()
        ax.set_title("scale: not run")
        return
    sizes = [r["sim_cards"] for r in rows]
    ax.plot(sizes, [r["ours_cpu_us"] for r in rows], "o-", color=_OURS, label="ours CPU us/item")
    ax.plot(sizes, [r["floor_cpu_us"] for r in rows], "s-", color=_FLOOR, label="floor CPU")
    ax.set_xscale("log")
    ax.set_xlabel("SIM cards listed")
    ax.set_ylabel("microseconds per item (median)")
    ax.set_ylim(0, max(r["ours_cpu_us"] for r in rows) * 1.4)
    twin = ax.twinx()
    twin.plot(sizes, [r["ours_peak_mb"] for r in rows], "o--", color=_OTHER, label="ours peak MB")
    twin.set_ylabel("peak RSS MB")
    twin.set_ylim(0, max(r["ours_peak_mb"] for r in rows) * 1.4)
    ax.set_title("Scale: time per item and peak RSS (C=8)")
    ax.legend(loc="lower left", fontsize=9)
    twin.legend(loc="lower right", fontsize=9)


def _plot_goals(ax: Any, goals: list[JSON]) -> None:  # noqa: ANN401  (matplotlib)
    ax.set_axis_off()
    ax.set_title("Goals (issue 13)")
    y = 1.0
    for goal in goals:
        verdict = "PASS" if goal["passed"] else "FAIL"
        color = _GOOD if goal["passed"] else _OTHER
        text = textwrap.fill(f"{goal['name']}: {goal['claim']}", 70)
        ax.text(0.0, y, verdict, color=color, fontweight="bold", fontsize=9, va="top")
        ax.text(0.1, y, f"{text} (target {goal['target']})", fontsize=8, va="top")
        y -= 0.035 * (text.count("\n") + 1) + 0.025
