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
    return f"{value:.{digits}f}x"


def markdown(results: JSON) -> str:
    """The results as Markdown tables, for the README to quote."""
    m = results["machine"]
    config = results["config"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    lines = [
        "# Benchmark results",
        "",
        (
            f"{m['date']} on {m['cpu_model']} ({m['logical_cores']} logical cores), "
            f"{m['implementation']} {m['python']}, {m['platform']}; commit {m['commit']} "
            f"(library measured: `{m['library']}`)."
        ),
        f"Packages: {packages}.",
        "",
        (
            "Every number below comes from one run in which the contenders ran side by side, "
            "interleaved round by round; times are medians over the repeats (column *runs*). "
            "The claims are the ratios: absolute times depend on this noisy 2-core machine. "
            "The mock server runs in its own process; CPU is the client process's CPU time."
        ),
        "",
    ]
    if config["quick"]:
        lines += ["**`--quick` smoke run: small listings, not evidence for the goals.**", ""]
    if results.get("goals"):
        lines += ["## Goals", ""]
        rows = [
            [g["name"], g["claim"], g["target"], "PASS" if g["passed"] else "**FAIL**"]
            for g in results["goals"]
        ]
        lines += _table(["goal", "measured", "target", "result"], rows)
    scenarios = results["scenarios"]
    for name, render in _SECTIONS.items():
        if name in scenarios:
            lines += render(scenarios[name])
    return "\n".join(lines)


def _latency(s: JSON) -> list[str]:
    lines = [
        (
            f"## Latency-bound: {s['sim_cards']:,} SIM cards, {s['pages']} pages of 250, "
            f"{s['latency'] * 1000:.0f} ms a request"
        ),
        "",
        (
            "Round-trip bound: `(1 + ceil((pages - 1) / C)) * latency` for a client that keeps C "
            "requests in flight; `pages * latency` for a sequential one."
        ),
        "",
    ]
    rows = [
        [
            c["label"],
            f"{c['wall_median']:.2f}",
            f"{c['bound']:.2f}",
            _x(c["ratio_to_bound"]),
            _x(c["sdk_over_this"], 1),
            f"{c['cpu_median']:.2f}",
            f"{c['server_cpu_median']:.2f}",
            str(c["repeats"]),
        ]
        for c in s["contenders"]
    ]
    header = [
        "contender",
        "wall s",
        "bound s",
        "x bound",
        "SDK time / this",
        "client CPU s",
        "server CPU s",
        "runs",
    ]
    lines += _table(header, rows)
    lines += [
        (
            f"The floor (raw aiohttp reads and decodes, C at a time, no order) shows what this "
            f"machine and mock server allow: floor C=32 takes {_x(s['floor32_over_bound'])} the "
            f"bound, and ours C=32 takes {_x(s['ours32_over_floor32'])} the floor's time "
            f"(C=8: {_x(s['ours8_over_floor8'])})."
        ),
        "",
    ]
    return lines


def _cpu(s: JSON) -> list[str]:
    lines = [
        f"## CPU: {s['sim_cards']:,} SIM cards on loopback, no latency",
        "",
        (
            "The floor reads the same pages with aiohttp, C at a time in any order, and decodes "
            "each with one `msgspec.json.Decoder(Page[SimCard])`; it runs in the same process as "
            "ours, alternating with it."
        ),
        "",
    ]
    rows = [
        [
            c["label"],
            f"{c['cpu_median']:.3f}",
            f"{c['user_median']:.3f} / {c['sys_median']:.3f}",
            f"{c['cpu_per_item_us']:.2f}",
            _x(c["cpu_over_floor"]),
            f"{c['wall_median']:.3f}",
            str(c["repeats"]),
        ]
        for c in s["contenders"]
    ]
    header = [
        "contender",
        "CPU s",
        "user / sys s",
        "CPU us/item",
        "x floor (same C)",
        "wall s",
        "runs",
    ]
    lines += _table(header, rows)
    p8, p32 = s["ours8_over_floor_paired"], s["ours32_over_floor_paired"]
    lines += [
        (
            f"Ours / floor, run by run: C=8 median {_x(p8['median'])} (range {_x(p8['min'])} to "
            f"{_x(p8['max'])}); C=32 median {_x(p32['median'])} (range {_x(p32['min'])} to "
            f"{_x(p32['max'])}). Official SDK / ours (C=8): {_x(s['sdk_over_ours8'], 1)}."
        ),
        "",
    ]
    return lines


def _memory(s: JSON) -> list[str]:
    lines = [
        "## Memory: peak RSS of a client process that streams and discards the listing",
        "",
        "A fresh process for each run; *before* is the RSS after imports, before the listing.",
        "",
    ]
    rows = [
        [
            f"{r['sim_cards']:,}",
            str(r["concurrency"]),
            f"{r['peak_rss_mb']:.1f}",
            f"{r['rss_before_mb']:.1f}",
            str(len(r["runs"])),
        ]
        for r in s["rows"]
    ]
    lines += _table(["SIM cards", "C", "peak RSS MB", "before MB", "runs"], rows)
    return lines


def _first(s: JSON) -> list[str]:
    lines = [
        f"## Time to first item, {s['latency'] * 1000:.0f} ms a request",
        "",
        (
            "From asking for the listing to holding its first card, with a fresh client; "
            "*one round trip* is a raw aiohttp GET of page 1 and its msgspec decode."
        ),
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


def _scale(s: JSON) -> list[str]:
    lines = [
        "## Scale: time per item, 1,000 to 1,000,000 items (loopback, C=8)",
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
            f"{r['floor_cpu_us']:.2f}",
            f"{r['floor_wall_us']:.2f}",
            _x(r["cpu_over_floor"]),
            _x(r["wall_over_floor"]),
        ]
        for r in s["rows"]
    ]
    header = [
        "SIM cards",
        "loops",
        "ours CPU us/item",
        "ours wall us/item",
        "floor CPU us/item",
        "floor wall us/item",
        "CPU x floor",
        "wall x floor",
    ]
    lines += _table(header, rows)
    return lines


_SECTIONS = {
    "latency": _latency,
    "cpu": _cpu,
    "memory": _memory,
    "first": _first,
    "scale": _scale,
}


# --- plot --------------------------------------------------------------------------------------

_OURS, _OTHER, _FLOOR, _BOUND = "#1f77b4", "#d62728", "#7f7f7f", "#2ca02c"


def _color(label: str) -> str:
    if label.startswith("ours"):
        return _OURS
    if label.startswith(("floor", "one round")):
        return _FLOOR
    return _OTHER


def plot(results: JSON, path: Path) -> None:
    """Six panels: latency-bound, CPU, memory, first item, time per item, goals."""
    import matplotlib as mpl  # noqa: PLC0415  (only the report needs it)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    s = results["scenarios"]
    fig, axes = plt.subplots(2, 3, figsize=(17, 10), layout="constrained")
    title = "simcards_async benchmarks"
    if results["config"]["quick"]:
        title += " (--quick smoke run: not evidence)"
    m = results["machine"]
    fig.suptitle(f"{title}\n{m['cpu_model']}, {m['logical_cores']} cores, Python {m['python']}")
    panels = [
        ("latency", _plot_latency),
        ("cpu", _plot_cpu),
        ("memory", _plot_memory),
        ("first", _plot_first),
        ("scale", _plot_scale),
    ]
    for ax, (name, draw) in zip(axes.flat, panels, strict=False):
        if name in s:
            draw(ax, s[name])
        else:
            ax.set_axis_off()
            ax.set_title(f"{name}: not run")
    _plot_goals(axes.flat[5], results.get("goals", []))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ticks(labels: list[str]) -> list[str]:
    """Two-line tick labels, so that six bars fit side by side."""
    return [label.replace(" ", "\n", 1) for label in labels]


def _bar_labels(ax: Any, bars: Any, texts: list[str]) -> None:  # noqa: ANN401  (matplotlib)
    for bar, text in zip(bars, texts, strict=True):
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )


def _plot_latency(ax: Any, s: JSON) -> None:  # noqa: ANN401  (matplotlib)
    contenders = s["contenders"]
    labels = [c["label"] for c in contenders]
    walls = [c["wall_median"] for c in contenders]
    bars = ax.bar(_ticks(labels), walls, color=[_color(x) for x in labels])
    for i, c in enumerate(contenders):
        ax.hlines(c["bound"], i - 0.4, i + 0.4, colors=_BOUND, linestyles="--", linewidth=2)
    _bar_labels(
        ax, bars, [f"{c['wall_median']:.2f} s\n{_x(c['ratio_to_bound'])} bound" for c in contenders]
    )
    ax.set_yscale("log")
    ax.set_ylim(top=max(walls) * 4)
    ax.set_ylabel("wall seconds (median, log)")
    ax.set_title(
        f"Latency-bound: {s['sim_cards']:,} cards, {s['latency'] * 1000:.0f} ms/request\n"
        f"SDK / ours C=32 = {s['sdk_over_ours32']:.1f}x; dashed: round-trip bound"
    )
    ax.tick_params(axis="x", labelsize=9)


def _plot_cpu(ax: Any, s: JSON) -> None:  # noqa: ANN401  (matplotlib)
    contenders = s["contenders"]
    labels = [c["label"] for c in contenders]
    cpus = [c["cpu_median"] for c in contenders]
    bars = ax.bar(_ticks(labels), cpus, color=[_color(x) for x in labels])
    _bar_labels(
        ax, bars, [f"{c['cpu_median']:.2f} s\n{_x(c['cpu_over_floor'])} floor" for c in contenders]
    )
    ax.set_yscale("log")
    ax.set_ylim(top=max(cpus) * 4)
    ax.set_ylabel("client CPU seconds (median, log)")
    ax.set_title(
        f"CPU: {s['sim_cards']:,} cards on loopback\n"
        f"ours/floor (C=8) = {_x(s['ours8_over_floor'])}, SDK/ours = {_x(s['sdk_over_ours8'], 1)}"
    )
    ax.tick_params(axis="x", labelsize=9)


def _plot_memory(ax: Any, s: JSON) -> None:  # noqa: ANN401  (matplotlib)
    for concurrency, style in ((8, "o-"), (32, "s--")):
        rows = [r for r in s["rows"] if r["concurrency"] == concurrency]
        sizes = [r["sim_cards"] for r in rows]
        ax.plot(sizes, [r["peak_rss_mb"] for r in rows], style, label=f"peak, C={concurrency}")
        if concurrency == 8:
            before = [r["rss_before_mb"] for r in rows]
            ax.plot(sizes, before, ":", color=_FLOOR, label="before the listing")
    ax.axhline(80, color=_OTHER, linestyle="--", label="goal: 80 MB")
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel("SIM cards streamed")
    ax.set_ylabel("RSS MB (median)")
    ax.set_title(f"Memory: peak RSS of the client process\ngrowth {s['growth_mb']:+.1f} MB (C=8)")
    ax.legend(loc="lower right", fontsize=9)


def _plot_first(ax: Any, s: JSON) -> None:  # noqa: ANN401  (matplotlib)
    contenders = s["contenders"]
    labels = [c["label"] for c in contenders]
    ms = [c["first_median"] * 1000 for c in contenders]
    bars = ax.bar(labels, ms, color=[_color(x) for x in labels])
    reference = ms[0]
    _bar_labels(ax, bars, [f"{v:.1f} ms\n{_x(v / reference, 3)}" for v in ms])
    limit = reference * (1 + s["tolerance"])
    ax.axhline(limit, color=_BOUND, linestyle="--", label=f"round trip + {s['tolerance']:.0%}")
    ax.set_ylim(0, max(ms) * 1.3)
    ax.set_ylabel("ms to the first card (median)")
    ax.set_title(f"Time to first item, {s['latency'] * 1000:.0f} ms/request")
    ax.legend(loc="lower right", fontsize=9)


def _plot_scale(ax: Any, s: JSON) -> None:  # noqa: ANN401  (matplotlib)
    rows = s["rows"]
    sizes = [r["sim_cards"] for r in rows]
    ax.plot(sizes, [r["ours_cpu_us"] for r in rows], "o-", color=_OURS, label="ours CPU")
    ax.plot(sizes, [r["ours_wall_us"] for r in rows], "o--", color=_OURS, label="ours wall")
    ax.plot(sizes, [r["floor_cpu_us"] for r in rows], "s-", color=_FLOOR, label="floor CPU")
    ax.plot(sizes, [r["floor_wall_us"] for r in rows], "s--", color=_FLOOR, label="floor wall")
    ax.set_xscale("log")
    top = max(max(r["ours_wall_us"], r["floor_wall_us"]) for r in rows)
    ax.set_ylim(0, top * 1.3 if math.isfinite(top) else None)
    ax.set_xlabel("SIM cards listed")
    ax.set_ylabel("microseconds per item (median)")
    ax.set_title("Scale: time per item (loopback, C=8)")
    ax.legend(loc="lower right", fontsize=9)


def _plot_goals(ax: Any, goals: list[JSON]) -> None:  # noqa: ANN401  (matplotlib)
    ax.set_axis_off()
    ax.set_title("Goals")
    y = 1.0
    for goal in goals:
        verdict = "PASS" if goal["passed"] else "FAIL"
        color = _BOUND if goal["passed"] else _OTHER
        text = textwrap.fill(f"{goal['name']}: {goal['claim']}", 58)
        ax.text(0.0, y, verdict, color=color, fontweight="bold", fontsize=10, va="top")
        ax.text(0.12, y, f"{text}\ntarget {goal['target']}", fontsize=9, va="top")
        y -= 0.045 * (text.count("\n") + 2) + 0.03
