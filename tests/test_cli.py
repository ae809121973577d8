"""Tests of the ``simcards`` command, in-process and as a subprocess, against the mock server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import os
import re
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import types
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pyarrow.parquet as pq
import pytest
from cli_runs import (
    AS_MAIN,
    CHILD_DEADLINE,
    HELD_EXPORT,
    FakeTerminal,
    child_env,
    held,
    held_after_three_pages,
    held_api,
    mock_server_process,
    run,
    signalled_when_held,
)
from polling import HANG_GUARD, eventually, eventually_sync, killed_if_hung
from servers import holding_page

from simcards_async import Progress, SimCard, SimCardAction, SimCardsClient, _cli, _writes
from simcards_async._cli import ProgressBar, _parser, format_progress, main
from simcards_async._tabular import SIM_CARD_ACTION_COLUMNS, SIM_CARD_COLUMNS
from simcards_async.testing import Drift, FaultPlan, MockTelnyxServer

KEY = "KEYcli-tests"
SUMMARY = re.compile(
    r"simcards: exported (?P<items>[\d,]+) (SIM cards?|SIM card actions?) \((?P<pages>[\d,]+) "
    r"pages?\) in [\d.]+ s, (?P<retries>\d+) retr(y|ies); (?P<format>\w+) to (?P<where>.+)"
)


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=600, actions=600, seed=5) as server:
        yield server


def api(server: MockTelnyxServer) -> list[str]:
    return ["--api-key", KEY, "--base-url", server.url]


def read_jsonl(path: Path, kind: type[Any]) -> list[Any]:
    return [msgspec.json.decode(line, type=kind) for line in path.read_bytes().splitlines()]


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def list_queries(server: MockTelnyxServer) -> list[str]:
    """The raw query strings of the listing requests the server received."""
    return [r.raw_query for r in server.requests if r.path.endswith(("/sim_cards", "_actions"))]


async def listing(server: MockTelnyxServer, endpoint: str) -> list[Any]:
    async with SimCardsClient(KEY, server.url) as client:
        stream = client.sim_cards() if endpoint == "sim-cards" else client.sim_card_actions()
        items: list[Any] = await stream.collect()
    server.requests.clear()
    return items


# --- filters reach the wire and narrow the result ----------------------------------------

Flags = Callable[[list[Any], MockTelnyxServer], tuple[list[str], str, Callable[[Any], bool]]]


def _status(_cards: list[SimCard], _server: MockTelnyxServer) -> Any:
    return (
        ["--status", "enabled", "--status", "standby"],
        "filter%5Bstatus%5D=enabled%2Cstandby",
        lambda c: c.status.value in {"enabled", "standby"},
    )


def _tags(_cards: list[SimCard], _server: MockTelnyxServer) -> Any:
    return (
        ["--tag", "customers", "--tag", "vip"],
        "filter%5Btags%5D=customers%2Cvip",
        lambda c: {"customers", "vip"} <= set(c.tags),
    )


def _iccid(cards: list[SimCard], _: MockTelnyxServer) -> Any:
    iccid = cards[0].iccid
    assert iccid is not None
    part = iccid[-7:]
    return (["--iccid", part], f"filter%5Biccid%5D={part}", lambda c: part in c.iccid)


def _msisdn(cards: list[SimCard], _: MockTelnyxServer) -> Any:
    msisdn = cards[7].msisdn
    assert msisdn is not None
    return (
        ["--msisdn", msisdn],
        "filter%5Bmsisdn%5D=%2B" + msisdn[1:],
        lambda c: c.msisdn == msisdn,
    )


def _group(cards: list[SimCard], _: MockTelnyxServer) -> Any:
    group = cards[3].sim_card_group_id
    return (
        ["--group-id", group],
        f"filter%5Bsim_card_group_id%5D={group}",
        lambda c: c.sim_card_group_id == group,
    )


def _action_card(actions: list[SimCardAction], _: MockTelnyxServer) -> Any:
    card = actions[0].sim_card_id
    return (
        ["--sim-card-id", card],
        f"filter%5Bsim_card_id%5D={card}",
        lambda a: a.sim_card_id == card,
    )


def _action_status(_actions: list[SimCardAction], _server: MockTelnyxServer) -> Any:
    return (
        ["--status", "failed"],
        "filter%5Bstatus%5D=failed",
        lambda a: a.status.value == "failed",
    )


def _action_type(_actions: list[SimCardAction], _server: MockTelnyxServer) -> Any:
    return (
        ["--action-type", "set_standby"],
        "filter%5Baction_type%5D=set_standby",
        lambda a: a.action_type == "set_standby",
    )


def _bulk(_actions: list[SimCardAction], server: MockTelnyxServer) -> Any:
    # The Struct does not declare bulk_sim_card_action_id (the spec omits it): ask the fleet.
    raw = [a for a in server.fleet.actions() if a["bulk_sim_card_action_id"]]
    bulk = raw[0]["bulk_sim_card_action_id"]
    members = {a["id"] for a in raw if a["bulk_sim_card_action_id"] == bulk}
    return (
        ["--bulk-action-id", bulk],
        f"filter%5Bbulk_sim_card_action_id%5D={bulk}",
        lambda a: a.id in members,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("endpoint", "flags"),
    [
        ("sim-cards", _status),
        ("sim-cards", _tags),
        ("sim-cards", _iccid),
        ("sim-cards", _msisdn),
        ("sim-cards", _group),
        ("sim-card-actions", _action_card),
        ("sim-card-actions", _action_status),
        ("sim-card-actions", _action_type),
        ("sim-card-actions", _bulk),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__.strip("_"),
)
async def test_filter_reaches_the_wire_and_narrows(
    tmp_path: Path, server: MockTelnyxServer, endpoint: str, flags: Flags
) -> None:
    """Each filter flag is sent as the API's filter parameter and the export holds its matches."""
    everything = await listing(server, endpoint)
    argv, wire, matches = flags(everything, server)
    target = tmp_path / "out.jsonl"
    assert await run("export", endpoint, *argv, "-o", str(target), *api(server)) == 0
    kind = SimCard if endpoint == "sim-cards" else SimCardAction
    got = read_jsonl(target, kind)
    assert [item.id for item in got] == [item.id for item in everything if matches(item)]
    assert 0 < len(got) < len(everything)
    queries = list_queries(server)
    assert queries
    assert all(wire in query.split("&") for query in queries)


@pytest.mark.anyio
async def test_include_sim_card_group_embeds_the_group(
    tmp_path: Path, server: MockTelnyxServer
) -> None:
    """--include-sim-card-group is sent and fills the sim_card_group_* CSV columns."""
    target = tmp_path / "cards.csv"
    assert (
        await run(
            "export", "sim-cards", "--include-sim-card-group", "-o", str(target), *api(server)
        )
        == 0
    )
    assert all("include_sim_card_group=true" in q.split("&") for q in list_queries(server))
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 600
    assert all(row["sim_card_group_name"] for row in rows)


@pytest.mark.anyio
async def test_sort_is_sent_and_orders_the_export(tmp_path: Path, server: MockTelnyxServer) -> None:
    """--sort=-FIELD is sent as ``sort`` and the export comes in descending consumption."""
    target = tmp_path / "cards.jsonl"
    sort = "-current_billing_period_consumed_data.amount"
    assert await run("export", "sim-cards", f"--sort={sort}", "-o", str(target), *api(server)) == 0
    assert all(f"sort={sort}" in q.split("&") for q in list_queries(server))
    amounts = [c.current_billing_period_consumed_data.amount for c in read_jsonl(target, SimCard)]
    assert len(amounts) == 600
    assert amounts == sorted(amounts, reverse=True)


@pytest.mark.anyio
async def test_limit_and_page_size(tmp_path: Path, server: MockTelnyxServer) -> None:
    """--limit stops after that many records, reading few pages; --page-size is sent."""
    target = tmp_path / "cards.jsonl"
    everything = await listing(server, "sim-cards")
    argv = ["--limit", "35", "--page-size", "10", "-o", str(target)]
    assert await run("export", "sim-cards", *argv, *api(server)) == 0
    assert [c.id for c in read_jsonl(target, SimCard)] == [c.id for c in everything[:35]]
    queries = list_queries(server)
    assert all("page%5Bsize%5D=10" in q.split("&") for q in queries)
    assert len(queries) < 10  # of 60 pages


# --- output ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_output_dash_writes_jsonl_to_stdout(
    server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output - (and no --output) write JSON lines to stdout; the summary goes to stderr."""
    everything = await listing(server, "sim-card-actions")
    for output in (["--output", "-"], []):
        assert await run("export", "sim-card-actions", *output, *api(server)) == 0
        out, err = capsys.readouterr()
        lines = out.encode().splitlines()
        assert [msgspec.json.decode(line, type=SimCardAction) for line in lines] == everything
        assert SUMMARY.fullmatch(err.strip())
        assert err.strip().endswith("jsonl to stdout")


@pytest.mark.anyio
async def test_parquet_to_stdout(server: MockTelnyxServer, capsysbinary: Any) -> None:
    """--format parquet with -o - writes Parquet to a stdout that is not a terminal (a pipe)."""
    assert (
        await run("export", "sim-card-actions", "--format", "parquet", "-o", "-", *api(server)) == 0
    )
    out, _ = capsysbinary.readouterr()
    table = pq.read_table(io.BytesIO(out))
    assert (table.num_rows, tuple(table.column_names)) == (600, SIM_CARD_ACTION_COLUMNS)


@pytest.mark.anyio
async def test_summary_line_and_no_progress_when_not_a_terminal(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Off a terminal stderr gets only the one-line summary, no progress bar redraws."""
    target = tmp_path / "cards.csv"
    assert (
        await run("export", "sim-cards", "--page-size", "200", "-o", str(target), *api(server)) == 0
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert "\r" not in err
    assert err.count("\n") == 1
    summary = SUMMARY.fullmatch(err.strip())
    assert summary is not None
    assert summary["items"] == "600"
    assert summary["pages"] == "3"
    assert summary["retries"] == "0"
    assert summary["format"] == "csv"
    assert summary["where"] == str(target)
    with target.open(newline="", encoding="utf-8") as file:
        assert tuple(next(csv.reader(file))) == SIM_CARD_COLUMNS


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("listing", "noun"), [("sim-cards", "SIM card"), ("sim-card-actions", "SIM card action")]
)
async def test_the_summary_of_one_record_says_it_in_the_singular(
    tmp_path: Path,
    server: MockTelnyxServer,
    capsys: pytest.CaptureFixture[str],
    listing: str,
    noun: str,
) -> None:
    """``exported 1 SIM cards (1 page)``: the noun agrees with the count, as pages do."""
    argv = ["export", listing, "--limit", "1", "-o", str(tmp_path / "one.jsonl"), *api(server)]
    assert await run(*argv) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: exported 1 {noun} (1 page) in "), err


@pytest.mark.anyio
async def test_quiet_prints_nothing(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--quiet leaves stderr empty on success."""
    assert (
        await run("export", "sim-cards", "-q", "-o", str(tmp_path / "c.jsonl"), *api(server)) == 0
    )
    assert capsys.readouterr() == ("", "")


@pytest.mark.anyio
async def test_progress_bar_on_a_terminal(
    tmp_path: Path, server: MockTelnyxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the bar is redrawn in place, then erased (at most ten times a second:
    ``test_progress_bar_redraws_at_most_ten_times_a_second``, on a clock the test drives).
    """
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    server.latency = 0.01
    argv = ["--page-size", "10", "--max-concurrency", "2", "-o", str(tmp_path / "c.jsonl")]
    assert await run("export", "sim-cards", *argv, *api(server)) == 0
    text = terminal.getvalue()
    draws = [part for part in text.split("\r") if "SIM cards" in part and "pages" in part]
    assert draws
    assert "/600 SIM cards" in draws[0]
    assert "/60 pages" in draws[0]
    # Erased before the summary, which is the only thing left on the last line.
    assert SUMMARY.fullmatch(text.rsplit("\r", 1)[1].strip())


@pytest.mark.anyio
async def test_no_progress_bar_while_the_records_go_to_the_terminal(
    server: MockTelnyxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    r"""``-o -`` on a terminal: the bar, drawn on the same screen, was glued to the records
    (``\r600/600 ...\rid,record_type,...``) and overwrote their starts. No bar then; the
    summary still comes once they are written.
    """

    class Screen(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    records = io.BytesIO()
    errors = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", Screen(records))
    monkeypatch.setattr(sys, "stderr", errors)
    argv = ["--page-size", "10", "--format", "csv", "-o", "-"]
    assert await run("export", "sim-cards", *argv, *api(server)) == 0
    assert "\r" not in errors.getvalue()
    assert SUMMARY.fullmatch(errors.getvalue().strip())
    lines = records.getvalue().decode().splitlines()
    assert lines[0].startswith("id,record_type,")
    assert len(lines) == 601


def test_progress_line_format() -> None:
    """The progress line shows records and pages against their totals, the rate and the ETA."""
    progress = Progress(
        pages_done=50,
        total_pages=100,
        items=12_500,
        total_results=25_000,
        retries=2,
        throttled_seconds=0.0,
        elapsed=2.0,
    )
    assert format_progress(progress, "SIM cards", width=120) == (
        " 50% [##########..........] 12,500/25,000 SIM cards  50/100 pages  6,250/s  "
        "ETA 0:00:02  2 retries"
    )
    narrow = format_progress(progress, "SIM cards", width=60)
    assert narrow.startswith(" 50% 12,500/25,000 SIM cards")
    assert len(narrow) <= 60


def test_progress_line_during_a_rate_limit_pause() -> None:
    """A pause under way: its countdown (rounded up) in the ETA's place, which would be stale."""
    progress = Progress(50, 100, 12_500, 25_000, 0, 3.0, 2.0, pause_left=41.2)
    line = format_progress(progress, "SIM cards", width=120)
    assert line.endswith("12,500/25,000 SIM cards  50/100 pages  6,250/s  waiting 42s (rate limit)")
    assert "waiting 42s (rate limit)" in format_progress(progress, "SIM cards", width=60)


def test_progress_line_says_one_retry_in_the_singular() -> None:
    """``1 retries`` on the bar, where the summary line said ``1 retry``."""
    one = Progress(1, 4, 100, 400, 1, 0.0, 1.0)
    assert format_progress(one, "SIM cards", width=120).endswith("  1 retry")
    two = Progress(1, 4, 100, 400, 2, 0.0, 1.0)
    assert format_progress(two, "SIM cards", width=120).endswith("  2 retries")


@pytest.mark.parametrize("columns", ["\u00b2", "\u0663\u0660", "0", "wide"])
def test_a_columns_value_that_is_no_width_is_ignored(
    monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    """``COLUMNS=\u00b2`` passed ``isdigit()`` and failed ``int()``: the bar's ``ValueError``,
    raised in the progress callback, ended the export. A value that is no width is ignored.
    """
    monkeypatch.setenv("COLUMNS", columns)
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, "SIM cards", enabled=True)
    bar.update(Progress(1, 10, 250, 2500, 0, 0.0, 1.0))
    bar.close()
    assert "250/2,500" in terminal.getvalue()


@pytest.mark.parametrize("columns", [8, 15, 21])
def test_the_bar_fits_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """On a terminal under 21 columns, the bar drew lines of up to 20 (its width was floored
    at 20): each wrapped, and the redraw and erase missed the row above. Every line drawn fits.
    """
    monkeypatch.setenv("COLUMNS", str(columns))
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, "SIM cards", enabled=True)
    bar.update(Progress(100, 2000, 25_000, 500_000, 3, 0.0, 4.0))
    bar.close()
    drawn = [line for line in terminal.getvalue().split("\r") if line.strip()]
    assert drawn
    assert all(len(line) < columns for line in terminal.getvalue().split("\r"))


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal (POSIX)")
def test_a_terminal_that_says_zero_columns_gets_the_default_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pseudo-terminal whose size was never set says 0 columns (a CI's, expect's, docker
    -t's before a resize): the bar was drawn one column wide, the first digit of its count.
    A width of 0 is unknown: the default (``COLUMNS``, else 80), as ``shutil`` has it.
    """
    pty = pytest.importorskip("pty")
    monkeypatch.delenv("COLUMNS", raising=False)
    # What shutil falls back to, pinned: unpinned it asks the runner's own stdout (under -s,
    # a narrow terminal's width).
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *_: os.terminal_size((80, 24)))
    leader, follower = pty.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            assert os.get_terminal_size(terminal.fileno()).columns == 0
            bar = ProgressBar(terminal, "SIM cards", enabled=True)
            assert _cli._columns(terminal) == 80
            bar.update(Progress(1, 10, 250, 2500, 0, 0.0, 1.0))
            assert "250/2,500" in bar._line
            bar.close()
    finally:
        os.close(leader)
        os.close(follower)


def test_progress_bar_redraws_at_most_ten_times_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Updates closer together than a tenth of a second are not drawn."""
    # The bar's clock stands still, so a machine that stalls mid-loop cannot add a draw.
    monkeypatch.setattr(_cli, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, "SIM cards", enabled=True)
    progress = Progress(1, 10, 250, 2500, 0, 0.0, 1.0)
    for _ in range(100):
        bar.update(progress)
    bar.close()
    assert terminal.getvalue().count("SIM cards") == 1
    assert terminal.getvalue().endswith("\r")
    silent = FakeTerminal()
    ProgressBar(silent, "SIM cards", enabled=False).update(progress)
    assert silent.getvalue() == ""


@pytest.mark.anyio
async def test_the_bar_moves_on_while_no_page_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two pages (a rate-limit pause of up to a minute, a slow answer) the bar stood
    still, as if the export had hung: it is now redrawn every ``TICK_INTERVAL`` meanwhile.
    """
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(_cli, "REDRAW_INTERVAL", 0.0)
    monkeypatch.setattr(_cli, "TICK_INTERVAL", 0.001)
    released = asyncio.Event()

    def frames() -> list[str]:
        return [p for p in terminal.getvalue().split("\r") if "10/30 SIM cards" in p]

    async with (
        MockTelnyxServer(sim_cards=30, actions=0) as mock,
        holding_page(mock.url, 2, released) as held,
    ):
        target = tmp_path / "c.jsonl"
        argv = ["--page-size", "10", "--max-concurrency", "1", "-o", str(target)]
        argv += ["--api-key", KEY, "--base-url", held.url]
        exporting = asyncio.ensure_future(run("export", "sim-cards", *argv))
        try:
            # Page 1's frame, then others while page 2 is held: no page drew them.
            await eventually(lambda: len(frames()) >= 3, what="frames while page 2 is held")
            assert not exporting.done()
        finally:
            released.set()
        assert await exporting == 0
    assert len(target.read_bytes().splitlines()) == 30


@contextlib.contextmanager
def full_non_blocking_pipe() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """A text stream over a pipe's non-blocking write end, the pipe full; and the read end.

    As stderr can be, shared with a process that set it non-blocking: a write raises
    ``BlockingIOError`` until the reader takes some.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_fd, b"." * 65536)
    raw = io.FileIO(write_fd, "wb", closefd=True)
    out = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", line_buffering=True)
    try:
        yield out, read_fd
    finally:
        with contextlib.suppress(BlockingIOError):
            out.close()
        os.close(read_fd)


def _read_until(fd: int, end: bytes, writing: threading.Thread) -> bytes:
    """What ``fd`` gives until ``end`` and the writer finished (fails the test after a deadline)."""
    got = b""
    deadline = time.monotonic() + HANG_GUARD
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not (got.endswith(end) and not writing.is_alive()):
            assert time.monotonic() < deadline, got[-200:]
            if selector.select(timeout=0.05):  # a poll: never a read that blocks for ever
                got += os.read(fd, 65536)
    return got.lstrip(b".")


@pytest.mark.parametrize("writer", ["summary", "log line"])
def test_a_line_said_while_stderr_is_full_and_non_blocking_arrives_whole(
    monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    """Stderr non-blocking (shared with whoever set it so) and full for a moment: the line
    raised ``BlockingIOError``, taken for a reader gone. The summary was left unflushed (lost at
    exit if still full), and the progress bar stopped writing at all, log lines included.
    Each line now waits for room and arrives whole, and the next one too.
    """
    with full_non_blocking_pipe() as (out, read_fd):
        bar = ProgressBar(out, "SIM cards", enabled=True)
        monkeypatch.setattr(sys, "stderr", out)

        # The summary is the last line a command says: nothing after it would flush it.
        lines = ["the summary"] if writer == "summary" else ["first line", "second line"]

        def say() -> None:
            for text in lines:
                if writer == "summary":
                    _cli._say(text)
                else:
                    bar.above(text)

        waiting = threading.Event()
        wait_writable = _writes.wait_writable

        def waited(fd: int) -> None:
            waiting.set()
            wait_writable(fd)

        monkeypatch.setattr(_writes, "wait_writable", waited)
        thread = threading.Thread(target=say)
        thread.start()
        try:
            # The pipe is drained only once the writer met it full (or gave up on it).
            eventually_sync(lambda: waiting.is_set() or not thread.is_alive())
            got = _read_until(read_fd, lines[-1].encode() + b"\n", thread)
        finally:
            thread.join(timeout=HANG_GUARD)
        assert got == "".join(line + "\n" for line in lines).encode()


# --- refusals and failures -----------------------------------------------------------


@pytest.mark.anyio
async def test_missing_key_is_refused_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a key or --demo: exit 2, a message naming TELNYX_API_KEY and --demo, no request."""
    target = tmp_path / "cards.jsonl"
    assert await run("export", "sim-cards", "--base-url", server.url, "-o", str(target)) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("simcards: error: ")
    assert "TELNYX_API_KEY" in err
    assert "--demo" in err
    assert server.requests == []
    assert names(tmp_path) == []


@pytest.mark.anyio
async def test_key_and_base_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TELNYX_API_KEY and TELNYX_BASE_URL stand in for --api-key and --base-url."""
    async with MockTelnyxServer(sim_cards=10, api_key=KEY) as server:
        monkeypatch.setenv("TELNYX_API_KEY", KEY)
        monkeypatch.setenv("TELNYX_BASE_URL", server.url)
        assert await run("export", "sim-cards", "-q", "-o", str(tmp_path / "c.jsonl")) == 0
        assert len(server.requests) == 1
    assert len(read_jsonl(tmp_path / "c.jsonl", SimCard)) == 10


@pytest.mark.anyio
async def test_api_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An API error exits 1 with one readable line; --debug adds the traceback."""
    async with MockTelnyxServer(sim_cards=10, api_key=KEY) as server:
        argv = ["export", "sim-cards", "--api-key", "KEYwrong", "--base-url", server.url]
        assert await run(*argv, "-o", str(tmp_path / "c.jsonl")) == 1
        _, err = capsys.readouterr()
        assert err.startswith("simcards: error: HTTP 401: 10009 Authentication failed")
        assert err.count("\n") == 1
        assert await run(*argv, "--debug") == 1
        _, err = capsys.readouterr()
    assert "Traceback" in err
    assert "AuthenticationError" in err
    assert err.splitlines()[-1].startswith("simcards: error: HTTP 401")
    assert names(tmp_path) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("endpoint", "argv", "flag"),
    [
        ("sim-cards", ["--status", "bogus"], "--status"),
        ("sim-cards", ["--page-size", "0"], "--page-size"),
        ("sim-cards", ["--page-size", "251"], "--page-size"),
        ("sim-cards", ["--limit", "0"], "--limit"),
        ("sim-cards", ["--group-id", "not-a-uuid"], "--group-id"),
        ("sim-cards", ["--sort", "iccid"], "--sort"),
        ("sim-cards", ["--tag", "a,b"], "--tag"),
        ("sim-cards", ["--max-concurrency", "0"], "--max-concurrency"),
        ("sim-cards", ["--timeout", "0"], "--timeout"),
        ("sim-cards", ["--timeout", "1e999"], "--timeout"),  # as typed, not "inf"
        ("sim-card-actions", ["--max-retries", "-1"], "--max-retries"),
        ("sim-cards", ["--format", "xml"], "--format"),
        ("sim-card-actions", ["--action-type", "explode"], "--action-type"),
        ("sim-card-actions", ["--status", "done"], "--status"),
        ("sim-card-actions", ["--bulk-action-id", "x"], "--bulk-action-id"),
        ("sim-card-actions", ["--sim-card-id", "x"], "--sim-card-id"),
    ],
)
async def test_invalid_value_is_refused_by_the_library(  # noqa: PLR0917  (fixtures and parameters)
    tmp_path: Path,
    server: MockTelnyxServer,
    capsys: pytest.CaptureFixture[str],
    endpoint: str,
    argv: list[str],
    flag: str,
) -> None:
    """A refused value exits 2, one line naming the flag as typed, before any request."""
    target = tmp_path / "out.jsonl"
    assert await run("export", endpoint, *argv, "-o", str(target), *api(server)) == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"simcards: error: invalid {flag} value ")
    assert f" {argv[1]}: it must be " in err.replace("'", "")
    assert "=" not in err.split(":")[1]  # no library parameter name such as sim_card_group_id=
    assert err.count("\n") == 1
    assert server.requests == []
    assert names(tmp_path) == []


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--page-size", "many"),
        ("--limit", "5_0"),  # int() took it for 50
        ("--page-size", "\uff13"),  # a fullwidth 3: int() took it for 3
        ("--max-concurrency", "\u0663"),  # an Arabic-Indic 3
        ("--limit", " 5"),
        ("--demo-size", "1_000"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    """A count that is not written in ASCII digits is refused by argparse, exit status 2, in
    one line as the library's refusals are (argparse's usage block and its own words, which
    said no flag's form of the value, came before).
    """
    assert main(["export", "sim-cards", "--demo", flag, value]) == 2
    assert capsys.readouterr().err == (
        f"simcards: error: invalid {flag} value {value!r}: it must be an integer (ASCII digits)\n"
    )


@pytest.mark.parametrize(
    ("argv", "said", "length"),
    [
        (["--tag", "x" * 100_000], "invalid --tag value 'xxx", 100_000),
        (["--limit", "9" * 5_000], "invalid --limit value '999", 5_000),  # past int()'s limit
        (["--page-size", "1" + "0" * 4_299], "invalid --page-size value 1000", 4_300),
    ],
)
def test_a_huge_refused_value_is_said_cut(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str, length: int
) -> None:
    """A refused value is said back cut, as the library's messages cut it: a 100,000-character
    ``--tag`` was written whole to stderr, a 5,000-digit ``--limit`` too (argparse's words).
    The length said is the value's as typed (a text's repr, quotes and all, said 2 more).
    """
    assert main(["export", "sim-cards", "--api-key", KEY, *argv, "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: {said}")
    assert f"[cut, {length} chars]" in err
    assert len(err) < 1_000
    assert err.count("\n") == 1


@pytest.mark.anyio
async def test_failure_midway_leaves_the_target_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the API fails for good after some pages: exit 1, old target kept, no temp file."""
    target = tmp_path / "cards.csv"
    target.write_bytes(b"old")
    faults = FaultPlan(script=[None, None, None, *[400] * 100])
    async with MockTelnyxServer(sim_cards=3000, faults=faults) as server:
        argv = ["--page-size", "50", "--max-concurrency", "2", "-o", str(target)]
        assert await run("export", "sim-cards", *argv, *api(server)) == 1
        assert len(server.requests) > 3
    assert capsys.readouterr().err.startswith("simcards: error: HTTP 400")
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["cards.csv"]


@pytest.mark.anyio
@pytest.mark.parametrize(("retries", "code", "requests"), [("0", 1, 1), ("2", 0, 3)])
async def test_max_retries_is_how_often_a_failed_request_is_tried_again(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    retries: str,
    code: int,
    requests: int,
) -> None:
    """``--max-retries`` is the client's ``max_retries`` (the command had no say in it): two
    503s in a row end an export that may retry none, and one that may retry two goes on.
    """
    async with MockTelnyxServer(sim_cards=100, faults=FaultPlan(script=[503, 503])) as server:
        argv = ["--max-retries", retries, "-q", "-o", str(tmp_path / "c.jsonl")]
        assert await run("export", "sim-cards", *argv, *api(server)) == code
        assert len(server.requests) == requests
    err = capsys.readouterr().err
    assert err.startswith("simcards: error: HTTP 503") if code else err == ""


@pytest.mark.anyio
async def test_timeout_bounds_each_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--timeout`` is the client's per-request ``timeout``: a request the server holds
    for an hour ends at it (no retries left: exit 1, said in one line).
    """
    faults = FaultPlan(script=["hang"], hang_seconds=3600)
    async with MockTelnyxServer(sim_cards=100, faults=faults) as server:
        argv = ["--timeout", "0.2", "--max-retries", "0", "-q", "-o", str(tmp_path / "c.jsonl")]
        assert await run("export", "sim-cards", *argv, *api(server)) == 1
    err = capsys.readouterr().err
    assert err.startswith("simcards: error: no answer to GET ")
    assert err.endswith(" in time\n")
    assert names(tmp_path) == []


@pytest.mark.anyio
async def test_interrupt_exits_130_and_leaves_no_file(tmp_path: Path) -> None:
    """Ctrl-C during an export: exit 130, no traceback, neither output nor temporary file."""
    target = tmp_path / "cards.jsonl"
    async with held_after_three_pages() as server:
        command = [sys.executable, "-c", AS_MAIN, *HELD_EXPORT, *held_api(server)]
        code, err = await signalled_when_held(
            [*command, "-o", str(target)], lambda: held(server), signal.SIGINT
        )
    assert code == 130, err
    assert b"Traceback" not in err
    assert names(tmp_path) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (signal.SIGINT, signal.SIGINT),
        (signal.SIGTERM, signal.SIGINT),
        (signal.SIGINT, signal.SIGTERM),
        (signal.SIGTERM, signal.SIGTERM),
    ],
    ids=["int-int", "term-int", "int-term", "term-term"],
)
@pytest.mark.anyio
async def test_a_second_signal_while_the_export_stops_is_ignored(
    tmp_path: Path, first: signal.Signals, second: signal.Signals
) -> None:
    """Ctrl-C (or SIGTERM), then another once the checkpointed export is stopping (its
    resume hint is out): the first one's status (130, 143), no traceback, the checkpoint
    and the partial output kept. Python's KeyboardInterrupt for a second Ctrl-C cut the
    clean-up short or, landing in the event loop's close, left the loop half closed
    ("Exception ignored in BaseEventLoop.__del__"); once the handlers were given back, the
    second signal killed the process (a SIGTERM after Ctrl-C: 143, not 130).
    """
    target, checkpoint = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    err = bytearray()

    def stopping() -> bool:
        return b"run the same command again" in err

    async with held_after_three_pages() as server:
        command = [sys.executable, "-c", AS_MAIN, *HELD_EXPORT, *held_api(server)]
        command += ["-o", str(target), "--checkpoint", str(checkpoint)]
        process = await anyio.open_process(command, stdout=subprocess.DEVNULL, env=child_env())
        assert process.stderr is not None
        stderr = process.stderr

        async def read_stderr() -> None:
            async for chunk in stderr:
                err.extend(chunk)

        async with process, anyio.create_task_group() as tg:
            tg.start_soon(read_stderr)
            try:
                await eventually(
                    lambda: (
                        (held(server) and checkpoint.is_file()) or process.returncode is not None
                    ),
                    timeout=CHILD_DEADLINE,
                    what="the export held mid-way, with a checkpoint",
                )
                assert process.returncode is None, bytes(err)
                process.send_signal(first)
                await eventually(
                    lambda: stopping() or process.returncode is not None, timeout=CHILD_DEADLINE
                )
                with contextlib.suppress(ProcessLookupError):  # ended already: nothing to stop
                    process.send_signal(second)  # while it stops, or the loop closes (or after)
                with anyio.fail_after(CHILD_DEADLINE):  # a guard against a hang, not a measure
                    await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
    err_bytes = bytes(err)
    assert process.returncode == (130 if first == signal.SIGINT else 143), err_bytes
    assert stopping(), err_bytes
    assert b"Traceback" not in err_bytes
    assert b"Exception ignored" not in err_bytes
    assert b"Unclosed" not in err_bytes
    assert not target.exists()
    assert checkpoint.is_file()
    assert len(list(tmp_path.glob(".cards.jsonl.*.partial"))) == 1


def _full(read_end: int) -> bool:
    """Whether the pipe whose reading end is ``read_end`` holds all it can (Linux)."""
    import fcntl  # noqa: PLC0415  (Linux only, as the test that calls this)
    import termios  # noqa: PLC0415

    waiting = struct.unpack("i", fcntl.ioctl(read_end, termios.FIONREAD, b"\0" * 4))[0]
    return bool(waiting >= fcntl.fcntl(read_end, getattr(fcntl, "F_GETPIPE_SZ", 1032)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pipe's fill by Linux's fcntl")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
def test_a_signal_stops_an_export_to_an_output_nobody_reads(sig: signal.Signals) -> None:
    """``simcards export ... | consumer`` with the consumer stalled, then SIGTERM (a service
    manager's, ``timeout``'s) or Ctrl-C: the write in its thread never ends, and the command
    waited for that thread with every further signal ignored, until the reader went away.
    It leaves with the signal's status once its threads had a moment to end.
    """
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            [sys.executable, "-c", AS_MAIN, "export", "sim-cards", "--demo", "-q"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        os.close(write_end)
        with killed_if_hung(process):
            eventually_sync(
                lambda: _full(read_end) or process.poll() is not None,
                timeout=CHILD_DEADLINE,
                what="the export's output full: its next write blocks",
            )
            assert process.poll() is None
            process.send_signal(sig)
            _, err = process.communicate()
    finally:
        os.close(read_end)
    assert process.returncode == 128 + sig, err
    assert b"Traceback" not in err


def test_ctrl_c_has_its_handler_back_only_once_the_threads_of_the_run_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run in the main thread, the command gives SIGINT its handler back only once the
    threads its run started (anyio's workers, stopped as the loop closes) have ended: the
    interpreter waits for them at exit, and a second Ctrl-C during that wait raised
    ``KeyboardInterrupt`` there, with a traceback.
    """
    assert threading.current_thread() is threading.main_thread()
    worker = threading.Thread(target=time.sleep, args=(0.5,))  # ends on its own, after the run

    async def run(_args: argparse.Namespace) -> int:
        worker.start()
        return 0

    def callers_handler(_signum: int, _frame: object) -> None:
        """What the caller had: the one handler whose return is watched."""

    alive_when_restored: list[bool] = []
    set_handler = signal.signal

    def watched(signum: int, handler: Any) -> Any:
        if signum == signal.SIGINT and handler is callers_handler:
            alive_when_restored.append(worker.is_alive())
        return set_handler(signum, handler)

    had = set_handler(signal.SIGINT, callers_handler)
    try:
        monkeypatch.setattr(signal, "signal", watched)
        assert _cli._run(argparse.Namespace(run=run, command="export")) == 0
        assert signal.getsignal(signal.SIGINT) is callers_handler
    finally:
        set_handler(signal.SIGINT, had)
        worker.join()
    assert alive_when_restored == [False]


@pytest.mark.parametrize("stopped", [True, False], ids=["after-sigterm", "at-the-end"])
def test_a_ctrl_c_in_the_moment_sigint_has_pythons_default_back(
    monkeypatch: pytest.MonkeyPatch, stopped: bool
) -> None:
    """The loop gives SIGINT Python's default for a moment as its handler is removed. The
    main thread holds the signal back then, but a worker thread can take it, and the main
    thread runs the handler of that moment: after a SIGTERM, a Ctrl-C then raised
    ``KeyboardInterrupt`` and the command exited 130, not 143 (seen under load). Stopped,
    that Ctrl-C is ignored as any second signal is; at a command's normal end it stands.
    """
    assert threading.current_thread() is threading.main_thread()
    loop_class = asyncio.SelectorEventLoop  # what asyncio.run makes here
    remove = loop_class.remove_signal_handler

    def remove_then_ctrl_c(self: Any, sig: int) -> bool:
        removed = remove(self, sig)
        if sig == signal.SIGINT:
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            signal.default_int_handler(signal.SIGINT, None)  # what a Ctrl-C runs right then
        return removed

    async def run(_args: argparse.Namespace) -> int:
        if stopped:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)  # cancelled by the SIGTERM
        return 0

    had = {sig: signal.getsignal(sig) for sig in _cli.STOP_SIGNALS}
    try:
        # As from a terminal, even if the runner was started with SIGINT ignored (which the
        # command keeps ignored: no loop handler, nothing of this moment).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        monkeypatch.setattr(loop_class, "remove_signal_handler", remove_then_ctrl_c)
        if stopped:
            try:
                status = _cli._run(argparse.Namespace(run=run, command="export"))
            except KeyboardInterrupt:
                pytest.fail("the Ctrl-C of that moment escaped as KeyboardInterrupt: exit 130")
            assert status == 143
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        else:
            with pytest.raises(KeyboardInterrupt):
                _cli._run(argparse.Namespace(run=run, command="export"))
    finally:
        for sig, handler in had.items():
            signal.signal(sig, handler)


# --- --demo, subprocesses, mock-server and help ----------------------------------------


def test_demo_as_a_subprocess(tmp_path: Path) -> None:
    """`python -m simcards_async export sim-cards --demo` needs no key and writes the file."""
    target = tmp_path / "demo.csv"
    demo = ["--demo", "--demo-size", "300", "--output", str(target)]
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-m", "simcards_async", "export", "sim-cards", *demo],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=CHILD_DEADLINE,  # a hang guard: a starved machine took over 60 s
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    summary = SUMMARY.fullmatch(done.stderr.strip())
    assert summary is not None
    assert summary["items"] == "300"
    with target.open(newline="", encoding="utf-8") as file:
        assert len(list(csv.reader(file))) == 301


def test_demo_default_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--demo serves 25,000 records by default and exports every one of them."""
    target = tmp_path / "actions.jsonl"
    assert main(["export", "sim-card-actions", "--demo", "-o", str(target)]) == 0
    assert len(read_jsonl(target, SimCardAction)) == 25_000
    summary = SUMMARY.fullmatch(capsys.readouterr().err.strip())
    assert summary is not None
    assert (summary["items"], summary["pages"]) == ("25,000", "100")


def test_mock_server_prints_its_url_and_stops_quietly_on_ctrl_c() -> None:
    """`simcards mock-server --port 0` prints its URL alone on a line, serves, exits 0 on Ctrl-C."""
    with mock_server_process("--sim-cards", "20") as (process, url):
        request = urllib.request.Request(  # noqa: S310  (a loopback URL we just read)
            url + "/sim_cards?page%5Bsize%5D=5", headers={"Authorization": f"Bearer {KEY}"}
        )
        with urllib.request.urlopen(request, timeout=CHILD_DEADLINE) as answer:  # noqa: S310
            body = msgspec.json.decode(answer.read())
        assert body["meta"]["total_results"] == 20
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=CHILD_DEADLINE)
    assert process.returncode == 0
    assert (out, err) == ("", "")


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_flag_has_help() -> None:
    """Every argument of every (sub)command says what it does."""
    parsers = list(_all_parsers(_parser()))
    assert {p.prog for p in parsers} >= {
        "simcards export sim-cards",
        "simcards export sim-card-actions",
        "simcards mock-server",
    }
    for parser in parsers:
        for action in parser._actions:
            assert action.help, f"{parser.prog} {action.option_strings or action.dest}"


def test_a_one_value_flag_given_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Every flag that takes one value refuses a second (exit 2, naming it): argparse kept the
    last of ``--status completed --status failed`` without a word. Repeatable ones repeat.
    """
    checked = 0
    for parser in _all_parsers(_parser()):
        for action in parser._actions:
            if not action.option_strings or action.nargs is not None or action.const is not None:
                continue  # positional, a switch (store_true, count) or help
            if isinstance(action, argparse._AppendAction):
                continue
            flag, value = action.option_strings[-1], next(iter(action.choices or ["1"]))
            with pytest.raises(SystemExit) as exit_:
                parser.parse_args([flag, value, flag, value])
            assert exit_.value.code == 2
            err = capsys.readouterr().err
            assert f"argument {'/'.join(action.option_strings)}: takes one value" in err
            checked += 1
    assert checked >= 30
    args = _parser().parse_args(
        ["export", "sim-cards", "--status", "enabled", "--status", "disabled", "--tag", "a"]
    )
    assert args.status == ["enabled", "disabled"]
    assert args.tag == ["a"]


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        ([], ["export", "mock-server"]),
        (["export", "sim-cards"], ["--status", "--tag", "--iccid", "--msisdn", "--group-id"]),
        (["export", "sim-cards"], ["--include-sim-card-group", "--sort", "--demo-size"]),
        (["export", "sim-card-actions"], ["--sim-card-id", "--bulk-action-id", "--action-type"]),
        (["export", "sim-card-actions"], ["--page-size", "--max-concurrency", "--limit"]),
        (["export", "sim-cards"], ["--timeout", "--max-retries"]),
        (["export", "sim-card-actions"], ["--format", "--output", "--api-key", "--base-url"]),
        (["export", "sim-card-actions"], ["--quiet", "--debug", "--demo", "TELNYX_API_KEY"]),
        (["mock-server"], ["--host", "--port", "--sim-cards", "--actions", "--seed"]),
        (["mock-server"], ["--latency-ms"]),
    ],
)
def test_help_lists_the_flags(
    argv: list[str], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--help exits 0 and describes each command's flags."""
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    for flag in flags:
        assert flag in out


def test_an_exports_help_names_only_its_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """``export sim-card-actions --help`` said ``--rescan`` is "not with --checkpoint, nor with
    --sort and --any", flags that command does not have.
    """
    assert main(["export", "sim-card-actions", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--rescan" in out
    assert "--sort" not in out
    assert "--any" not in out
    assert main(["export", "sim-cards", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not with --checkpoint, nor with --sort and --any" in out


@pytest.mark.anyio
async def test_drift_warning_is_one_plain_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A listing that changes during the export warns on one line and still exits 0."""
    async with MockTelnyxServer(sim_cards=600, drift=Drift(every=2, insert=5)) as server:
        argv = ["--page-size", "50", "-o", str(tmp_path / "c.jsonl")]
        assert await run("export", "sim-cards", *argv, *api(server)) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("simcards: warning: the listing changed while it was read")
    assert SUMMARY.fullmatch(lines[1])


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_progress_bar_fits_the_terminal_it_draws_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bar is drawn on stderr; its width was asked of stdout (``shutil``), so with the
    records redirected to a file (``> cards.jsonl``) a 40-column terminal got 80-column
    lines, each redraw wrapping. It fits the terminal it is drawn on.
    """
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    monkeypatch.delenv("COLUMNS", raising=False)
    leader, follower = os.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
        with open(follower, "w", closefd=False) as terminal:
            bar = ProgressBar(terminal, "SIM cards", enabled=True)
            bar.update(Progress(3, 20, 600, 2000, 0, 0.0, 1.0))
        shown = os.read(leader, 65536).decode()
    finally:
        os.close(follower)
        os.close(leader)
    drawn = shown.strip("\r")
    assert "600/2,000" in drawn  # the counts stay; the bar and the pages go first
    assert 20 <= len(drawn) <= 39, drawn
