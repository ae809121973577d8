"""Tests of the ``simcards`` command's edges: output choice, signals, messages, -v, the width."""

from __future__ import annotations

import csv
import errno
import gzip
import importlib.util
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest
from aiohttp import web
from cli_runs import (
    HELD_EXPORT,
    FakeTerminal,
    child_env,
    held,
    held_after_three_pages,
    run,
    signalled_when_held,
)
from polling import HANG_GUARD, fifo_never_blocks_for_ever, killed_if_hung
from servers import refusing, serve, sorted_pages

from simcards_async import (
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    Progress,
    SimCardsClient,
    _checkpoint,
    _errors,
    export,
)
from simcards_async._cli import (
    ProgressBar,
    _api_message,
    _descending_sorts_joined,
    _os_message,
    _parser,
    _usage_message,
    format_progress,
    main,
)
from simcards_async._sansio import api_identity
from simcards_async._tabular import SIM_CARD_COLUMNS
from simcards_async.testing import Drift, FaultPlan, MockTelnyxServer

KEY = "KEYcli-edge-tests"
DEADLINE = HANG_GUARD  # a guard against a hang, not a measure


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=300, actions=300, seed=7) as server:
        yield server


def api(server: MockTelnyxServer) -> list[str]:
    return ["--api-key", KEY, "--base-url", server.url]


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def simcards() -> list[str]:
    """The installed ``simcards`` console script, else the module it runs."""
    script = shutil.which("simcards", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "simcards_async"]


def signalled_after_a_line(command: list[str], sig: signal.Signals) -> tuple[int, bytes, bytes]:
    """Run ``command`` exporting 2,000 records to stdout; send ``sig`` once a line is out.

    The rest waits for the pipe's reader (2,000 records are far more than a pipe holds), so
    the signal comes mid-export however slow the machine. Its status, stdout and stderr.
    """
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
        command,
        bufsize=0,  # communicate() reads past any buffer: readline() must keep none
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    with killed_if_hung(process):
        assert process.stdout is not None
        first = process.stdout.readline()
        process.send_signal(sig)
        out, err = process.communicate(timeout=DEADLINE)
    return process.returncode, first + out, err


def exporting(directory: Path) -> Callable[[], bool]:
    """Whether the export into ``directory`` has started: its temporary output is there."""
    return lambda: any(n.endswith(".partial") for n in names(directory))


# --- the output is chosen, never guessed -------------------------------------------------


@pytest.mark.anyio
async def test_an_unknown_suffix_is_refused_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o cards.xlsx`` exits 2 with one line naming -o/--output and --format, sends nothing."""
    assert await run("export", "sim-cards", "-o", str(tmp_path / "cards.xlsx"), *api(server)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "-o/--output" in err
    assert "--format" in err
    assert ".jsonl, .ndjson, .json, .csv, .parquet or .pq" in err
    assert server.requests == []
    assert names(tmp_path) == []
    argv = ["--format", "csv", "-o", str(tmp_path / "cards.xlsx")]
    assert await run("export", "sim-cards", *argv, *api(server)) == 0
    with (tmp_path / "cards.xlsx").open(newline="", encoding="utf-8") as file:
        assert tuple(next(csv.reader(file))) == SIM_CARD_COLUMNS


@pytest.mark.parametrize("name", [".jsonl", ".csv.gz"])
def test_a_suffix_alone_is_told_it_needs_a_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """``-o .jsonl`` (a hidden file's whole name: no suffix) was told "-o/--output must end
    in .jsonl, ...", which it does to the eye. The message says a name must come first,
    in the library's refusal said in flags (the command no longer writes its own sentence).
    """
    target = str(tmp_path / name)
    assert main(["export", "sim-cards", "--demo", "-o", target]) == 2
    assert capsys.readouterr().err == (
        f"simcards: error: invalid -o/--output value {target!r}: it must be a path with a name "
        f"before its suffix ({name!r} alone is a hidden file's whole name, with no suffix): a "
        "path ending in .jsonl, .ndjson, .json, .csv, .parquet or .pq (with .gz after any but "
        "Parquet), unless --format says what to write\n"
    )


@pytest.mark.anyio
async def test_gz_and_json_suffixes(tmp_path: Path, server: MockTelnyxServer) -> None:
    """``.csv.gz`` writes gzip'd CSV, ``.json`` one JSON array that json.load reads."""
    for name in ("cards.csv.gz", "cards.json", "cards.jsonl.gz"):
        assert await run("export", "sim-cards", "-q", "-o", str(tmp_path / name), *api(server)) == 0
    rows = list(
        csv.reader(io.StringIO(gzip.decompress((tmp_path / "cards.csv.gz").read_bytes()).decode()))
    )
    assert len(rows) == 301
    with (tmp_path / "cards.json").open(encoding="utf-8") as file:
        array = json.load(file)
    assert len(array) == 300
    lines = gzip.decompress((tmp_path / "cards.jsonl.gz").read_bytes()).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [item["id"] for item in array]


@pytest.mark.anyio
@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
async def test_an_output_directory_that_takes_no_file_is_found_before_any_request(
    server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``/proc`` is there, and ``os.access`` says root may write anywhere, yet it takes no
    new file: found when the partial output was created (exit 1). Now a file is made and
    removed there first: exit 2, one sentence with the path, nothing sent.
    """
    target = "/proc/cards.jsonl"
    assert await run("export", "sim-cards", "-o", target, *api(server)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: cannot use {target}: ")
    assert err.count("\n") == 1
    assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("problem", ["directory", "directory without a suffix", "missing parent"])
async def test_output_path_problems_are_found_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    """A directory or a missing directory as -o exits 2, one sentence with the path, no request."""
    if problem.startswith("directory"):
        target = tmp_path / ("out.csv" if problem == "directory" else "out")
        target.mkdir()
        reason = "it is a directory"
    else:
        target = tmp_path / "missing" / "out.csv"
        reason = "no such file or directory"
    assert await run("export", "sim-cards", "-o", str(target), *api(server)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: cannot use {target}: {reason}")
    assert "Errno" not in err
    assert err.count("\n") == 1
    assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "problem", ["the checkpoint", "a FIFO", "an unwritable checkpoint", "a FIFO checkpoint"]
)
async def test_outputs_and_checkpoints_that_would_lose_data_are_refused(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    """-o naming the --checkpoint file (the export then vanished, exit 0), a FIFO (replaced by
    a regular file), a --checkpoint no file can be written at (found after the whole export):
    exit 2 naming the flag, nothing sent, the FIFO still a FIFO.
    """
    output, checkpoint = tmp_path / "x.jsonl", tmp_path / "ck.json"
    if problem == "the checkpoint":
        checkpoint = output
        flag = "-o/--output"
    elif problem == "a FIFO":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs FIFOs")
        os.mkfifo(output)
        flag = "-o/--output"
    elif problem == "a FIFO checkpoint":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs FIFOs")
        os.mkfifo(checkpoint)  # resumed from, it was opened and the command hung for ever
        flag = "--checkpoint"
    else:
        checkpoint = tmp_path / ("c" * 300)  # longer than any file system's name
        flag = "--checkpoint"
    argv = ["export", "sim-cards", "--limit", "5", "-o", str(output)]
    with fifo_never_blocks_for_ever(checkpoint):
        assert await run(*argv, "--checkpoint", str(checkpoint), *api(server)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: invalid {flag} value")
    assert err.count("\n") == 1
    assert server.requests == []
    if problem == "a FIFO":
        assert stat.S_ISFIFO(output.stat().st_mode)
    else:
        assert not output.exists()


@pytest.mark.anyio
@pytest.mark.parametrize("how", [["-o", "cards.parquet"], ["-o", "cards", "--format", "parquet"]])
async def test_parquet_without_pyarrow_is_a_usage_error(
    tmp_path: Path,
    server: MockTelnyxServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: list[str],
) -> None:
    """Without pyarrow, ``-o cards.parquet`` exited 1 (failed mid-way) though nothing was
    sent: exit 2 naming how Parquet was chosen and the extra to install, nothing sent.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert await run("export", "sim-cards", *how, *api(server)) == 2
    err = capsys.readouterr().err
    chosen = "--format parquet" if "--format" in how else "-o cards.parquet"
    assert err.startswith(f"simcards: error: {chosen}: Parquet export needs pyarrow")
    assert "pip install 'simcards-async[parquet]'" in err
    assert err.count("\n") == 1
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="needs /dev/fd")
async def test_an_output_naming_a_pipe_by_its_fd_is_refused_as_a_fifo(
    server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o /dev/stdout`` into a pipe (or ``/dev/fd/N``, a shell's ``>(...)``) failed with exit 1
    and "no such file or directory" after the check: the path was resolved to
    ``/proc/self/fd/pipe:[N]``, which names no file. Refused as the FIFO it is: exit 2,
    the way to stream it said, nothing sent.
    """
    read_end, write_end = os.pipe()
    try:
        given = f"/dev/fd/{write_end}"
        assert await run("export", "sim-cards", "--format", "jsonl", "-o", given, *api(server)) == 2
    finally:
        os.close(read_end)
        os.close(write_end)
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: invalid -o/--output value {given!r}: ")
    assert "not a FIFO" in err
    assert "-o - and a redirect" in err
    assert server.requests == []


@pytest.mark.anyio
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("form", ["/dev/fd/{fd}", "/proc/self/fd/{fd}"])
async def test_an_output_naming_a_file_by_its_fd_is_refused(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """``-o /dev/fd/N`` (``/dev/stdout``) to a file the shell opened (``>> log``) replaced
    that file, what was written there before lost. Refused: exit 2, ``-o -`` said, nothing
    sent, the file as it was.
    """
    log = tmp_path / "log.txt"
    log.write_bytes(b"before\n")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        given = form.format(fd=fd)
        assert await run("export", "sim-cards", "-o", given, *api(server)) == 2
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: invalid -o/--output value {given!r}: ")
    assert "not an open descriptor's" in err
    assert "-o - and a redirect" in err
    assert err.count("\n") == 1
    assert server.requests == []
    assert log.read_bytes() == b"before\n"
    assert names(tmp_path) == ["log.txt"]


@pytest.mark.skipif(not Path("/dev/stdout").is_symlink(), reason="needs /dev/stdout as a link")
def test_o_dev_stdout_appended_to_a_file_leaves_what_was_there(tmp_path: Path) -> None:
    """``simcards ... -o /dev/stdout >> log`` replaced ``log`` (its first line lost): exit 2
    now, ``log`` as it was; ``-o -`` appends, as the refusal says.
    """
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"before\n")
    argv = [*simcards(), "export", "sim-cards", "--demo", "--demo-size", "3", "-q"]
    for output, status in (("/dev/stdout", 2), ("-", 0)):
        with log.open("ab") as appended:
            done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
                [*argv, "--format", "jsonl", "-o", output],
                stdout=appended,
                stderr=subprocess.PIPE,
                env=child_env(),
                timeout=DEADLINE,
                check=False,
            )
        assert done.returncode == status, done.stderr
        if output != "-":
            assert log.read_bytes() == b"before\n"
            assert b"-o - and a redirect" in done.stderr
    lines = log.read_bytes().splitlines()
    assert lines[0] == b"before"
    assert len(lines) == 4
    assert names(tmp_path) == ["log.jsonl"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("flag", "given"),
    [("--checkpoint", ""), ("--checkpoint", "."), ("--checkpoint", "nodir/"), ("-o", "out.jsonl/")],
)
async def test_a_path_that_names_no_file_is_refused_by_its_flag(
    tmp_path: Path,
    server: MockTelnyxServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    flag: str,
    given: str,
) -> None:
    """``--checkpoint .`` printed pathlib's "PosixPath('.') has an empty name" (exit 1);
    ``--checkpoint nodir/`` sent the requests, then failed at the first save; ``-o out/``
    wrote a file ``out``. Each is refused with exit 2, naming the flag, nothing sent.
    """
    monkeypatch.chdir(tmp_path)
    paths = {"-o": "x.jsonl", "--checkpoint": "ck.json", flag: given}
    argv = ["export", "sim-cards", "--limit", "5", "-o", paths["-o"]]
    assert await run(*argv, "--checkpoint", paths["--checkpoint"], *api(server)) == 2
    err = capsys.readouterr().err
    shown = "-o/--output" if flag == "-o" else flag
    assert err.startswith(f"simcards: error: invalid {shown} value {given!r}")
    assert "a name at its end" in err
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


def _on_a_terminal(argv: list[str]) -> tuple[int, bytes, str]:
    """Run the command with stdout on a pseudo-terminal: its status, what reached it, stderr."""
    leader, follower = os.openpty()
    shown = bytearray()

    def read_the_terminal() -> None:
        # Read as it comes: a terminal's buffer is small, and a full one blocks the writer.
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO once the command has exited and closed its end
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read_the_terminal, daemon=True)
    reader.start()
    try:
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            [*simcards(), *argv], stdout=follower, stderr=subprocess.PIPE, env=child_env()
        )
        os.close(follower)
        follower = -1
        _, err = process.communicate(timeout=DEADLINE)
        reader.join(timeout=DEADLINE)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    return process.returncode, bytes(shown).replace(b"\r\n", b"\n"), err.decode()


def test_no_data_to_a_terminal_unless_asked() -> None:
    """Without -o, a terminal gets no records (exit 2); with -o - it does; Parquet or gzip never."""
    demo = ["export", "sim-cards", "--demo", "--demo-size", "20", "-q"]
    status, shown, err = _on_a_terminal(demo)
    assert (status, shown) == (2, b"")
    assert "-o -" in err
    assert err.count("\n") == 1
    status, shown, err = _on_a_terminal([*demo, "-o", "-"])
    assert (status, err) == (0, "")
    assert len(shown.splitlines()) == 20
    for binary in ("parquet", "csv.gz"):
        status, shown, err = _on_a_terminal([*demo, "-o", "-", "--format", binary])
        assert (status, shown) == (2, b"")
        assert err.startswith(
            "simcards: error: invalid -o/--output value '-': it must be a file or a pipe, "
            "not a terminal, to write Parquet or gzip (binary)"
        )


@pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry") is None, reason="opentelemetry-api not installed"
)
def test_a_tracer_provider_the_environment_names_wrong_is_told_in_lines_not_a_traceback() -> None:
    """``OTEL_PYTHON_TRACER_PROVIDER`` naming no provider: OpenTelemetry logs a traceback,
    which went to logging's last resort across the bar, even with ``-q``. The command shows
    its record on one line, and the library's saying what it means, naming the variable.
    """
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [*simcards(), "export", "sim-cards", "--demo", "--demo-size", "30", "-q"],
        capture_output=True,
        text=True,
        env=child_env(OTEL_PYTHON_TRACER_PROVIDER="no-such-provider"),
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 30
    theirs = "simcards: ERROR opentelemetry.util._providers: Failed to load configured provider"
    ours = (
        "simcards: WARNING simcards_async: no OpenTelemetry spans: its tracer could not be made "
        "(StopIteration; OTEL_PYTHON_TRACER_PROVIDER is 'no-such-provider')"
    )
    assert done.stderr.splitlines() == [f"{theirs} tracer_provider (StopIteration)", ours]


def test_a_pipe_gets_the_records_without_o() -> None:
    """A pipe on stdout, not a terminal, gets JSON lines with no -o."""
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [*simcards(), "export", "sim-cards", "--demo", "--demo-size", "30", "-q"],
        capture_output=True,
        env=child_env(),
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 30


#: The command, run where no file may grow past 4,096 bytes: a write past that fails (EFBIG)
#: as a write to a full disk does (ENOSPC), with no file name on the error.
SMALL_FILES = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from simcards_async._cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
@pytest.mark.parametrize("suffix", ["jsonl", "csv.gz", "parquet"])
def test_a_write_that_fails_names_the_output(tmp_path: Path, suffix: str) -> None:
    """A write the system refuses (a full disk; here a file size limit) is one line naming
    the output, as the README promises (it said "no space left on the device", no path).
    """
    target = tmp_path / f"cards.{suffix}"
    argv = ["export", "sim-cards", "--demo", "--demo-size", "2000", "-q", "-o", str(target)]
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", SMALL_FILES, *argv],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=DEADLINE,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        1,
        f"simcards: error: cannot use {target}: file too large\n",
    )
    assert names(tmp_path) == []


#: The command under an open-files limit: soft and hard are its first two arguments.
FEW_FILES = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
from simcards_async._cli import main
sys.exit(main(sys.argv[3:]))
"""


def _under_open_files(soft: int, hard: int, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", FEW_FILES, str(soft), str(hard), *argv],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=DEADLINE,
        check=False,
    )


#: 40 requests in flight over 300 pages of 1: 80 descriptors with --demo, and 32 more.
DEMO_40 = ["--demo", "--demo-size", "300", "--page-size", "1", "--max-concurrency", "40"]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_demo_past_the_open_files_limit_is_refused_naming_max_concurrency(tmp_path: Path) -> None:
    """With --demo its server answers in the same process, two descriptors a request in
    flight: under a limit of 64 it could not accept the client's connections, and asyncio
    logged a traceback at every try (tens of MB of stderr, for minutes). The limit cannot
    be raised here (hard 64): refused before anything is sent, naming the flag and the
    most the limit holds.
    """
    target = tmp_path / "cards.jsonl"
    done = _under_open_files(64, 64, "export", "sim-cards", *DEMO_40, "-o", str(target))
    assert done.returncode == 2
    assert done.stderr == (
        "simcards: error: --max-concurrency 40 needs about 112 open files (two a request: the "
        "--demo server answers in this process), and this process may open 64 (ulimit -n): "
        "use at most 16\n"
    )
    assert names(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_a_demo_limit_bounds_the_requests_the_open_files_limit_is_checked_for(
    tmp_path: Path,
) -> None:
    """``--limit 12`` of pages of 1 asks for 12 pages at most: 40 requests in flight were
    counted from the demo fleet's 300 pages, and the run refused under a limit of 64 that
    its 12 hold (a ``--demo-size 12`` run of the same pages was not).
    """
    target = tmp_path / "cards.jsonl"
    done = _under_open_files(
        64, 64, "export", "sim-cards", *DEMO_40, "--limit", "12", "-o", str(target)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(target.read_bytes().splitlines()) == 12


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_a_soft_open_files_limit_is_raised_for_the_run(tmp_path: Path) -> None:
    """Under a soft limit of 64 and a higher hard one, the same export runs whole and
    quietly: the command raises its own soft limit as far as it needs.
    """
    resource = pytest.importorskip("resource")
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)
    if hard < 112:
        pytest.skip(f"this process may not open 112 files (hard limit {hard})")
    target = tmp_path / "cards.jsonl"
    done = _under_open_files(64, hard, "export", "sim-cards", *DEMO_40, "-o", str(target))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.startswith("simcards: exported 300 SIM cards (300 pages) in ")
    assert done.stderr.count("\n") == 1
    assert len(target.read_bytes().splitlines()) == 300


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_max_concurrency_past_the_open_files_limit_is_refused(tmp_path: Path) -> None:
    """Against an API, a request in flight is one descriptor: 100 under a hard limit of 64
    is refused before anything is sent (the port given refuses every connection: a
    request sent would have failed with exit 1).
    """
    target = tmp_path / "cards.jsonl"
    with refusing() as served:
        done = _under_open_files(
            64, 64, "export", "sim-cards", "--api-key", KEY, "--base-url", served.url,
            "--max-concurrency", "100", "-o", str(target),
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "simcards: error: --max-concurrency 100 needs about 132 open files, and this process "
        "may open 64 (ulimit -n): use at most 32\n"
    )
    assert names(tmp_path) == []


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_checkpoint_write_that_fails_names_the_checkpoint(tmp_path: Path) -> None:
    """A checkpoint (or its ids file) the system refuses to write names itself, not its
    temporary file, and not the export's output.
    """
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from simcards_async import _checkpoint\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "target = Path(sys.argv[1])\n"
        "try:\n"
        "    _checkpoint._replace(target, target.with_name('temp'), b'x' * 8192)\n"
        "except OSError as exc:\n"
        "    print(exc.filename)\n"
    )
    target = tmp_path / "ck.json"
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", script, str(target)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=DEADLINE,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{target}\n", "")
    assert names(tmp_path) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_names_the_file_being_written(tmp_path: Path) -> None:
    """ENOSPC from a write, which names no file, names the one the caller was writing."""
    path = tmp_path / "ck.json"
    fd = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    try:
        with pytest.raises(OSError, match="No space") as raised, _errors.named_after(path):
            os.write(fd, b"{}")
    finally:
        os.close(fd)
    assert (raised.value.errno, raised.value.filename) == (errno.ENOSPC, str(path))
    assert _os_message(raised.value) == f"cannot use {path}: no space left on the device"


def test_a_closed_stdout_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started with stdout closed (``>&-``, so ``sys.stdout`` is None): no traceback, exit 2
    before anything is sent, saying to give -o FILE; with -o FILE it exports as ever.
    """
    monkeypatch.setattr(sys, "stdout", None)
    demo = ["export", "sim-cards", "--demo", "--demo-size", "6", "-q"]
    for argv in (demo, [*demo, "-o", "-"]):
        assert main(argv) == 2
        assert capsys.readouterr().err == (
            "simcards: error: standard output is closed: give a file with -o FILE\n"
        )
    assert main([*demo, "-o", str(tmp_path / "cards.jsonl")]) == 0
    assert len((tmp_path / "cards.jsonl").read_bytes().splitlines()) == 6


@pytest.mark.skipif(sys.platform == "win32", reason="descriptor flags are POSIX")
@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["export", "sim-cards", "--demo", "--demo-size", "6"], "give a file with -o FILE"),
        (["mock-server", "--port", "0"], "the mock server prints its base URL there"),
    ],
    ids=["export", "mock-server"],
)
def test_a_read_only_stdout_is_a_usage_error(tmp_path: Path, argv: list[str], why: str) -> None:
    """Started with stdout open for reading only (``1< file``): exit 2 before anything is
    sent, saying so. Every write failed: the export read its pages and then said "bad file
    descriptor", naming nothing, exit 1; the mock server too, at its URL.
    """
    readable = tmp_path / "in.txt"
    readable.write_text("kept\n")
    with readable.open("rb") as stdout:
        done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
            [*simcards(), *argv],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            timeout=DEADLINE,
            check=False,
        )
    assert (done.returncode, done.stderr) == (
        2,
        f"simcards: error: standard output is open for reading only: {why}\n",
    )
    assert readable.read_text() == "kept\n"


def test_a_closed_stderr_leaves_the_export_working_and_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started with stderr closed (``2>&-``, so ``sys.stderr`` is None): the export works,
    and no summary, log line, note or traceback goes anywhere else (it crashed on the
    progress bar; ``print(file=None)`` would write to stdout, into the records).
    """
    monkeypatch.setattr(sys, "stderr", None)
    demo = ["export", "sim-cards", "--demo", "--demo-size", "300"]
    assert main([*demo, "-vv", "-o", str(tmp_path / "cards.jsonl")]) == 0
    assert len((tmp_path / "cards.jsonl").read_bytes().splitlines()) == 300
    assert main([*demo, "-v", "-o", "-"]) == 0
    records = capsys.readouterr().out.splitlines()
    assert len(records) == 300
    assert all(line.startswith('{"') for line in records)
    assert main([*demo, "--debug", "--tag", "a,b", "-o", "-"]) == 2
    assert main([*demo, "--debug", "--checkpoint", str(tmp_path / "ck"), "-o", "-"]) == 2
    assert capsys.readouterr() == ("", "")


def test_a_usage_error_with_stderr_closed_writes_nothing_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started with stderr closed (``2>&-``), argparse's usage errors exit 2 and say nothing:
    its usage went to stdout, into the records (``--limit abc 2>&- > cards.jsonl``);
    ``--help`` still goes to stdout.
    """
    monkeypatch.setattr(sys, "stderr", None)
    for flags in (["--limit", "abc"], ["--no-such-flag"], ["--limit", "1", "--limit", "2"]):
        assert main(["export", "sim-cards", *flags]) == 2
        assert capsys.readouterr() == ("", "")
    assert main(["export", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: simcards export")


class _GoneReader(io.StringIO):
    """A stderr whose reader went away: every write raises, as a pipe's does then."""

    def __init__(self, *, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "terminal"])
def test_a_stderr_whose_reader_went_away_leaves_the_export_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tty: bool
) -> None:
    """A stderr whose reader is gone (``2>&1 >/dev/null | head -1``, a dead log
    collector), or a closed terminal: a complete export exited 141 when its summary failed,
    and with ``-v`` the first log line raised out of the library and abandoned it. What is
    said there is lost; the export's outcome stands (141 is for stdout's reader).
    """
    monkeypatch.setattr(sys, "stderr", _GoneReader(tty=tty))
    demo = ["export", "sim-cards", "--demo", "--demo-size", "300", "--page-size", "10"]
    for verbosity in ([], ["-v"], ["-vv"]):
        target = tmp_path / f"cards{len(verbosity)}.jsonl"
        assert main([*demo, *verbosity, "-o", str(target)]) == 0
        assert len(target.read_bytes().splitlines()) == 300
    assert main([*demo, "--tag", "a,b", "-o", str(tmp_path / "x.jsonl")]) == 2


def test_a_command_started_with_stderr_closed_exports(tmp_path: Path) -> None:
    """``simcards export ... 2>&-`` in a shell writes its file and exits 0."""
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [
            "/bin/sh",
            "-c",
            'exec "$@" 2>&-',
            "sh",
            *simcards(),
            "export",
            "sim-cards",
            "--demo",
            "--demo-size",
            "300",
            "-o",
            str(tmp_path / "cards.jsonl"),
        ],
        capture_output=True,
        env=child_env(),
        timeout=DEADLINE,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, b"")
    assert len((tmp_path / "cards.jsonl").read_bytes().splitlines()) == 300


def test_a_checkpointed_parquet_export_is_refused_naming_what_chose_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Parquet cannot be appended to, so it cannot resume: refused before anything is sent,
    naming the -o suffix or the --format that chose it (the message named --format, which
    the user had not given, and listed only jsonl and csv as resumable).
    """
    demo = ["export", "sim-cards", "--demo", "--demo-size", "6", "-q"]
    point = ["--checkpoint", str(tmp_path / "scan.json")]
    target = str(tmp_path / "cards.parquet")
    assert main([*demo, *point, "-o", target]) == 2
    assert f"--checkpoint cannot resume a Parquet export (-o {target})" in capsys.readouterr().err
    other = str(tmp_path / "cards.out")
    assert main([*demo, *point, "-o", other, "--format", "parquet"]) == 2
    assert "(--format parquet)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- signals -----------------------------------------------------------------------------


LONG_DEMO = ["export", "sim-cards", "--demo", "--page-size", "25", "--max-concurrency", "2"]


#: Runs the command (``sys.argv[1:]``) with SIGTERM and SIGHUP at their defaults, whatever
#: the tests were started with: under ``nohup`` (SIGHUP ignored, inherited by every child)
#: the command keeps SIGHUP ignored, as it should, and a test of what SIGHUP does failed.
STOP_SIGNALS_DEFAULT = (
    "import os, signal, sys\n"
    "for sig in (signal.SIGTERM, signal.SIGHUP):\n"
    "    signal.signal(sig, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "status"), [("SIGTERM", 143), ("SIGHUP", 129)], ids=["SIGTERM", "SIGHUP"]
)
async def test_sigterm_and_sighup_are_ctrl_c(tmp_path: Path, name: str, status: int) -> None:
    """SIGTERM mid-export, or SIGHUP (the ssh session closed): exit 128 + its number, no
    traceback, neither output nor temporary file (a SIGHUP left a .partial file for good).
    """
    if not hasattr(signal, name):
        pytest.skip(f"{name} is not a signal of this platform")
    target = tmp_path / "cards.csv"
    async with held_after_three_pages() as server:
        argv = [*simcards(), *HELD_EXPORT, *api(server), "-v", "-o", str(target)]
        command = [sys.executable, "-c", STOP_SIGNALS_DEFAULT, *argv]
        code, err = await signalled_when_held(
            command, lambda: held(server) and exporting(tmp_path)(), signal.Signals[name]
        )
    assert code == status, err
    assert b"Traceback" not in err
    assert names(tmp_path) == []


#: Runs the command (``sys.argv[1:]``) with SIGINT ignored, as a non-interactive shell starts a
#: background job.
SIGINT_IGNORED = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def test_ctrl_c_stays_ignored_when_the_command_starts_with_it_ignored() -> None:
    """A shell starts a background job (``simcards export ... &`` in a script) with SIGINT
    ignored, so that a Ctrl-C at the script is not for it. The command took SIGINT anyway
    and stopped (130), where a SIGTERM or SIGHUP it started with ignored stays ignored. Now
    a Ctrl-C in the middle of the export is ignored, and the export finishes.
    """
    argv = [*simcards(), *LONG_DEMO, "--demo-size", "2000", "--format", "csv", "-o", "-"]
    code, out, err = signalled_after_a_line(
        [sys.executable, "-c", SIGINT_IGNORED, *argv], signal.SIGINT
    )
    assert code == 0, err
    assert b"Traceback" not in err
    rows = list(csv.reader(io.StringIO(out.decode())))
    assert len(rows) == 2001
    assert tuple(rows[0]) == SIM_CARD_COLUMNS


def _console_script(on_aiohttp: str) -> str:
    """The console script, run with ``on_aiohttp`` (a finder's code, indented twelve) as the
    command's import reaches aiohttp (aiohttp's and ssl's take about half a second).
    """
    return f"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the runner ignores it

class AtAiohttp:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "aiohttp":
{on_aiohttp}
        return None

sys.meta_path.insert(0, AtAiohttp)
from _simcards_entry import main
sys.exit(main())
"""


#: The command's import held up: once it says so on stdout, it waits for a Ctrl-C, held back
#: while the command is imported (pending) or raised where it landed.
SLOW_IMPORT = _console_script(
    """            print("importing aiohttp", flush=True)
            while signal.SIGINT not in signal.sigpending():
                time.sleep(0.01)"""
)


@pytest.mark.skipif(not hasattr(signal, "sigpending"), reason="needs signal.sigpending (POSIX)")
@pytest.mark.parametrize(
    ("argv", "status"),
    [(["export", "sim-cards", "--demo", "-o", "-"], 130), (["mock-server", "--port", "0"], 0)],
    ids=["export", "mock-server"],
)
def test_ctrl_c_while_the_command_is_imported_exits_quietly(argv: list[str], status: int) -> None:
    """Ctrl-C in the command's first half second, while the package is imported: exit 130
    and nothing on stderr (it was a KeyboardInterrupt traceback, the process killed by
    SIGINT). The console script's module imports nothing heavy, and catches it. The mock
    server, which Ctrl-C is how one stops, exits 0 as it does later.
    """
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", SLOW_IMPORT, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    with killed_if_hung(process):
        assert process.stdout is not None
        assert process.stdout.readline() == b"importing aiohttp\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=DEADLINE)
    assert (process.returncode, out, err) == (status, b"", b"")


#: A Ctrl-C that lands in the import machinery, which drops it.
SWALLOWED_IN_IMPORT = _console_script(
    """            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(10**6):
                    pass
            except KeyboardInterrupt:
                print("swallowed", flush=True)"""
)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX signal masks")
def test_a_ctrl_c_the_import_machinery_would_swallow_still_stops_the_command() -> None:
    """A ``KeyboardInterrupt`` raised inside CPython's import machinery may be dropped there
    ("Exception ignored in ... _get_module_lock"): about one early Ctrl-C in 400 let the
    export run to its end and exit 0. SIGINT is held back while the command is imported,
    and raised once it is: exit 130, nothing written.
    """
    argv = ["export", "sim-cards", "--demo", "--demo-size", "100", "-o", "-"]
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", SWALLOWED_IN_IMPORT, *argv],
        capture_output=True,
        env=child_env(),
        timeout=HANG_GUARD,  # a hang guard only
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, b"", b"")


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is a POSIX signal")
def test_an_export_started_with_sighup_ignored_outlives_a_hang_up() -> None:
    """Started with SIGHUP ignored (``nohup``), an export a SIGHUP reaches goes on to its
    end: the handler that ends it on a hang-up is not set.
    """
    nohup = (
        "import signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        "from simcards_async._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = ["export", "sim-cards", "--demo", "--demo-size", "2000", "--page-size", "25", "-q"]
    code, out, err = signalled_after_a_line([sys.executable, "-c", nohup, *argv], signal.SIGHUP)
    assert code == 0, err
    assert len(out.splitlines()) == 2000


@pytest.mark.anyio
async def test_sigterm_with_a_checkpoint_says_how_to_resume(tmp_path: Path) -> None:
    """SIGTERM while checkpointing: exit 143, the target untouched, the resume hint shown."""
    target, checkpoint = tmp_path / "cards.jsonl", tmp_path / "cards.ckpt"
    target.write_bytes(b"old")
    async with held_after_three_pages() as server:
        argv = [*HELD_EXPORT, *api(server), "-o", str(target), "--checkpoint", str(checkpoint)]
        code, err = await signalled_when_held(
            [*simcards(), *argv], checkpoint.exists, signal.SIGTERM
        )
    assert code == 143, err
    assert b"Traceback" not in err
    assert f"run the same command again to resume from {checkpoint}".encode() in err
    assert target.read_bytes() == b"old"


def test_a_broken_pipe_ends_quietly() -> None:
    """When the reader goes away (``| head -n 1``): exit 141, nothing on stderr."""
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
        [*simcards(), *LONG_DEMO, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    with killed_if_hung(process):  # a child that hangs: its pipe's read ends
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith(b"{")
            process.stdout.close()  # as head does once it has its line
            assert process.stderr is not None
            err = process.stderr.read()
            process.wait(timeout=DEADLINE)
        finally:
            process.kill()
            process.wait()
            if process.stderr is not None:
                process.stderr.close()
    assert (process.returncode, err) == (141, b"")


# --- messages in the user's words --------------------------------------------------------


@pytest.mark.anyio
async def test_a_misspelled_value_gets_a_did_you_mean(
    server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--status enabeld`` exits 2 and suggests ``enabled``; nothing is sent."""
    assert await run("export", "sim-cards", "--status", "enabeld", "-o", "-", *api(server)) == 2
    err = capsys.readouterr().err
    assert err.startswith("simcards: error: invalid --status value 'enabeld'")
    assert err.rstrip().endswith("did you mean 'enabled'?")
    argv = ["export", "sim-card-actions", "--action-type", "set-standby", "-o", "-"]
    assert await run(*argv, *api(server)) == 2
    assert "did you mean 'set_standby'?" in capsys.readouterr().err
    assert server.requests == []


@pytest.mark.anyio
async def test_a_misspelled_any_term_gets_a_did_you_mean(
    server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--any status=enabeld`` and ``--any stauts=enabled`` got no guess (the whole term was
    matched against the values): the term is mended by its value or its key.
    """
    for term, meant in [("status=enabeld", "status=enabled"), ("stauts=enabled", "status=enabled")]:
        argv = ["export", "sim-cards", "--any", term, "--any", "status=disabled", "-o", "-"]
        assert await run(*argv, *api(server)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"simcards: error: invalid --any value {term!r}: it must be "), err
        assert err.rstrip().endswith(f"; did you mean {meant!r}?"), err
    keys = "KEY=VALUE with KEY one of status, tag, iccid, msisdn, group-id"
    refused = InvalidParameterError("--any", keys, "group=x")
    assert _usage_message(refused).endswith("; did you mean 'group-id=x'?")
    # Both misspelled: both mended (a guess that would be refused too is no help), or none.
    refused = InvalidParameterError("--any", keys, "stauts=enabeld")
    assert _usage_message(refused).endswith("; did you mean 'status=enabled'?")
    refused = InvalidParameterError("--any", keys, "stauts=zzz")
    assert "did you mean" not in _usage_message(refused)
    for far in ("status=zzz", "stat", "color=red"):
        refused = InvalidParameterError(
            "--any", "status=VALUE with any of 'enabled'", far, choices=["enabled"]
        )
        assert "did you mean" not in _usage_message(refused)
    assert server.requests == []


@pytest.mark.anyio
async def test_a_descending_sort_is_taken_without_its_equals_sign(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--sort -current_billing_period_consumed_data.amount``, the likeliest way to write a
    descending sort, said only "argument --sort: expected one argument" (argparse takes a
    value starting with '-' for a flag): it is taken, as ``--sort=-...`` is.
    """
    descending = "-current_billing_period_consumed_data.amount"
    for flags in (["--sort", descending], [f"--sort={descending}"]):
        out = tmp_path / "cards.jsonl"
        argv = ["export", "sim-cards", "-q", "--limit", "5", "-o", str(out), *flags]
        assert await run(*argv, *api(server)) == 0
        assert [r.query["sort"] for r in server.requests[-1:]] == [[descending]]
        assert len(out.read_bytes().splitlines()) == 5
    assert capsys.readouterr().err == ""
    # A --sort before another flag is still one without its value; after "--", nothing.
    assert main(["export", "sim-cards", "--demo", "-o", "-", "--sort", "--rescan"]) == 2
    assert "argument --sort: expected one argument" in capsys.readouterr().err
    assert _descending_sorts_joined(["--", "--sort", descending]) == ["--", "--sort", descending]
    # Only where there is a --sort: another command's error shows what was typed.
    actions = ["export", "sim-card-actions", "--sort", descending]
    assert _descending_sorts_joined(actions) == actions
    # A misspelled descending sort is not joined: argparse's error, with how it is written.
    typo = "-current_billing_period_consumed_data.amout"
    assert main(["export", "sim-cards", "--demo", "-o", "-", "--sort", typo]) == 2
    assert capsys.readouterr().err.endswith(
        "error: argument --sort: expected one argument "
        "(descending: --sort -current_billing_period_consumed_data.amount)\n"
    )


@pytest.mark.anyio
async def test_a_value_of_another_listing_gets_no_far_fetched_guess(
    server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sim-card-actions --status enabled`` (a SIM card's status) suggested 'failed': only a
    close spelling is suggested; the allowed values are listed either way.
    """
    argv = ["export", "sim-card-actions", "--status", "enabled", "-o", "-"]
    assert await run(*argv, *api(server)) == 2
    err = capsys.readouterr().err
    assert "'in-progress', 'completed', 'failed'" in err
    assert "did you mean" not in err
    assert server.requests == []


def test_a_quoted_path_in_an_error_is_not_offered_as_the_guess(tmp_path: Path) -> None:
    """A checkpoint the user may not read said ``Permission denied: '…/cp.json'); did you mean
    '…/cp.json'?``: every quoted string in the reason was a candidate, the value itself
    included. Only a listed choice is a guess, and never the value that was refused.
    """
    path = str(tmp_path / "cp.json")
    reason = f"a readable checkpoint file ([Errno 13] Permission denied: {path!r})"
    message = _usage_message(InvalidParameterError("resume_from", reason, path))
    assert message == f"invalid --checkpoint value {path!r}: it must be {reason}"
    kept = str(tmp_path / "cards.jsonl")
    other = _usage_message(
        InvalidParameterError("target", f"{kept!r}, as when the checkpoint was made", kept + "x")
    )
    assert "did you mean" not in other
    listed = InvalidParameterError(
        "status", "one of 'enabled', 'disabled'", "enabeld", choices=["enabled", "disabled"]
    )
    assert _usage_message(listed).endswith("; did you mean 'enabled'?")


@pytest.mark.anyio
async def test_terminal_control_codes_in_a_server_message_are_shown_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server's error text reached the terminal with its escape codes raw: a hostile or
    broken server could recolour, retitle or rewrite the user's terminal. Shown escaped.
    """
    detail = "bad \x1b[2J\x1b]0;pwned\x07request\x9b31m"

    async def answer(_: web.Request) -> web.Response:
        body = {"errors": [{"code": "10015", "title": "Bad", "detail": detail}]}
        return web.json_response(body, status=400)

    async with serve(answer) as served:
        argv = ["export", "sim-cards", "--api-key", "KEYcli", "--base-url", served.url]
        assert await run(*argv, "-q", "-o", "-") == 1
    err = capsys.readouterr().err
    assert "request" in err
    assert not any(ch in err for ch in "\x1b\x07\x9b"), repr(err)
    assert "\\x1b[2J" in err


def test_a_path_with_a_newline_is_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary and the log lines show a target path's newline escaped, as messages do
    (the summary printed it raw: two lines, the second one a piece of the path).
    """
    target = tmp_path / "new\nline.jsonl"
    argv = ["export", "sim-cards", "--demo", "--demo-size", "5", "-v", "-o", str(target)]
    assert main(argv) == 0
    assert len(target.read_bytes().splitlines()) == 5
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("simcards: ") for line in lines), lines
    shown = str(target).replace("\n", "\\n")
    assert lines[-1].startswith("simcards: exported 5 SIM cards")
    assert lines[-1].endswith(f"; jsonl to {shown}")
    assert any(line.endswith(f" to {shown} as jsonl") for line in lines)


def test_a_path_with_a_newline_in_an_os_error_is_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An OS error names its path with the newline escaped, as the README promises: the
    error line turned it into a space (``cannot use .../no dir/x.csv``), a path not there.
    """
    target = tmp_path / "no\ndir" / "x.csv"
    argv = ["export", "sim-cards", "--demo", "--demo-size", "5", "-o", str(target)]
    assert main(argv) == 2
    shown = str(target).replace("\n", "\\n")
    (line,) = capsys.readouterr().err.splitlines()
    reason = "no such file or directory (is the directory there?)"
    assert line == f"simcards: error: cannot use {shown}: {reason}"


@pytest.mark.anyio
async def test_checkpoint_to_stdout_names_the_flags(
    server: MockTelnyxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--checkpoint without -o FILE exits 2 naming --checkpoint and -o, no file object's repr."""
    argv = ["export", "sim-cards", "-o", "-", "--checkpoint", str(tmp_path / "c")]
    assert await run(*argv, *api(server)) == 2
    err = capsys.readouterr().err
    assert err.startswith("simcards: error: invalid --checkpoint value")
    assert "-o FILE" in err
    assert "<" not in err
    assert server.requests == []


def test_a_demo_size_the_mock_cannot_hold_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--demo-size`` past the mock's ``MAX_RECORDS`` exits 2 naming the flag and the bound,
    before a server is built or the output touched (it was a bare OverflowError).
    """
    target = tmp_path / "cards.jsonl"
    argv = ["export", "sim-cards", "--demo", "--demo-size", "100000000000", "-o", str(target)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "simcards: error: --demo-size must be at most 10,000,000 (the mock server holds every "
        "record in memory); got 100,000,000,000\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
async def test_demo_size_without_demo_is_a_usage_error(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--demo-size 5`` without ``--demo`` was accepted and ignored: the export read the API
    the other flags name, every record of it. Exit 2 naming both flags, nothing sent.
    """
    target = tmp_path / "cards.jsonl"
    argv = ["export", "sim-cards", "--demo-size", "5", "-o", str(target), *api(server)]
    assert await run(*argv) == 2
    assert capsys.readouterr().err == (
        "simcards: error: --demo-size sizes the --demo server: use it with --demo\n"
    )
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
@pytest.mark.parametrize("given", ["--lim", "--check", "--demo-s"])
async def test_a_flag_is_taken_whole_not_by_a_prefix(
    tmp_path: Path, server: MockTelnyxServer, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """``--lim 5`` ran as ``--limit 5`` (argparse's prefixes): a script's abbreviation would
    change meaning, or fail, once a new flag shared its prefix. Refused, exit 2.
    """
    argv = ["export", "sim-cards", "-o", str(tmp_path / "c.jsonl"), given, "5", *api(server)]
    assert await run(*argv) == 2
    assert f"unrecognized arguments: {given} 5" in capsys.readouterr().err
    assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["export", "sim-card-actions", "--sort", "x"], "simcards export sim-card-actions [-h]"),
        (["export", "sim-cards", "--action-type", "x"], "simcards export sim-cards [-h]"),
        (["mock-server", "--limit", "3"], "simcards mock-server [-h]"),
    ],
)
async def test_a_flag_the_command_lacks_shows_the_commands_usage(
    tmp_path: Path,
    server: MockTelnyxServer,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    usage: str,
) -> None:
    """A flag of another command (``--sort`` on actions) showed the top-level usage, which
    names no flag: the command's own usage is shown, above the refusal, exit 2.
    """
    if argv[0] == "export":
        argv = [*argv, "-o", str(tmp_path / "c.jsonl"), *api(server)]
    assert await run(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {usage}")
    assert (
        f"error: unrecognized arguments: {' '.join(argv[2:4] if argv[0] == 'export' else argv[1:])}"
        in err
    )
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


def test_negative_demo_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--demo-size -5`` is refused by argparse with exit 2, in one line."""
    assert main(["export", "sim-cards", "--demo", "--demo-size", "-5"]) == 2
    assert capsys.readouterr().err == (
        "simcards: error: invalid --demo-size value '-5': it must be an integer >= 0\n"
    )


@pytest.mark.parametrize(
    ("variable", "value", "flags", "named"),
    [
        ("TELNYX_BASE_URL", "http://example.com/v2", ["--api-key", KEY], "TELNYX_BASE_URL"),
        ("TELNYX_API_KEY", "KEY with spaces", [], "TELNYX_API_KEY"),
        ("TELNYX_API_KEY", "KEY with spaces", ["--api-key", ""], "TELNYX_API_KEY"),
        (
            "TELNYX_BASE_URL",
            "https://api.telnyx.com/v2",
            ["--api-key", KEY, "--base-url", "http://x/v2"],
            "--base-url",
        ),
        ("TELNYX_API_KEY", KEY, ["--api-key", "KEY with spaces"], "--api-key"),
    ],
)
def test_a_bad_value_from_the_environment_is_named_as_such(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    variable: str,
    value: str,
    flags: list[str],
    named: str,
) -> None:
    """A value refused is told with the environment variable it came from, when no flag gave
    it (a bad TELNYX_BASE_URL was an "invalid --base-url value"); exit 2 before any request.
    """
    monkeypatch.setenv(variable, value)
    assert main(["export", "sim-cards", *flags, "-o", str(tmp_path / "c.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: invalid {named} value ")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("variable", "flags", "named"),
    [
        ("k", [], "TELNYX_API_KEY"),
        ("ab", ["--api-key", ""], "TELNYX_API_KEY"),
        (KEY, ["--api-key", "k"], "--api-key"),
        ("K" * 1025, [], "TELNYX_API_KEY"),
    ],
    ids=["one", "two", "flag", "long"],
)
async def test_a_key_of_an_implausible_length_is_a_usage_error(
    server: MockTelnyxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    variable: str,
    flags: list[str],
    named: str,
) -> None:
    """A key of one or two characters was sent, and every message of the run had each of its
    characters replaced by ``<redacted>``: it is refused, named as the flag or variable
    that gave it, with exit 2, nothing sent and nothing written; so is one of over 1,024.
    """
    monkeypatch.setenv("TELNYX_API_KEY", variable)
    argv = [*flags, "--base-url", server.url, "-o", str(tmp_path / "c.jsonl")]
    assert await run("export", "sim-cards", *argv) == 2
    assert capsys.readouterr().err == (
        f"simcards: error: invalid {named} value '<redacted>': it must be a Telnyx API key, of "
        "3 to 1,024 characters (Telnyx keys begin KEY and run to tens of characters)\n"
    )
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "detail", ["Use sim_cards(page_size=007) instead.", "sim_cards(tags='\\x')"]
)
async def test_a_servers_text_that_looks_like_a_query_is_shown_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], detail: str
) -> None:
    """The command words the library's queries as its flags: it rewrote any text shaped like
    one, a server's included, and one that did not parse ended in a SyntaxError traceback.
    Only a checkpoint's refusal of another query, which the library wrote, is rewritten.
    """

    async def refuse(_request: web.Request) -> web.Response:
        body = {"errors": [{"code": "10015", "title": "Bad Request", "detail": detail}]}
        return web.json_response(body, status=400)

    async with serve(refuse) as served:
        argv = ["--api-key", KEY, "--base-url", served.url, "-o", str(tmp_path / "c.csv")]
        assert await run("export", "sim-cards", *argv) == 1
    err = capsys.readouterr().err
    assert err == f"simcards: error: HTTP 400: 10015 Bad Request: {detail}\n"


@asynccontextmanager
async def _stopped_after_a_page(out: Path, point: Path) -> AsyncIterator[MockTelnyxServer]:
    """A mock server of 500 cards, an export of it to ``out`` stopped after its first page of
    100 (checkpointed at ``point``) done: the server, still running.
    """
    async with (
        MockTelnyxServer(sim_cards=500, faults=FaultPlan(script=[None, 404])) as server,
        SimCardsClient(KEY, server.url, max_concurrency=1) as client,
    ):
        with pytest.raises(NotFoundError):
            await export(client.sim_cards(page_size=100, checkpoint=point), out)
        yield server


@pytest.mark.anyio
async def test_a_checkpoint_of_another_api_names_the_variable_the_url_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resume refused for another API blamed ``--base-url`` when no flag gave it: named as
    ``TELNYX_BASE_URL``, or as the default base URL when that is unset, with the URL as given.
    The same server by another loopback name is the same API.
    """
    out, point = tmp_path / "cards.csv", tmp_path / "ck.json"
    async with _stopped_after_a_page(out, point) as server:
        monkeypatch.setenv("TELNYX_API_KEY", KEY)
        monkeypatch.setenv("TELNYX_BASE_URL", server.url + "/eu")
        argv = ["--page-size", "100", "-o", str(out), "--checkpoint", str(point)]
        assert await run("export", "sim-cards", *argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"simcards: error: invalid TELNYX_BASE_URL value '{server.url}/eu'")
        monkeypatch.delenv("TELNYX_BASE_URL")  # the default base URL, refused before a request
        assert await run("export", "sim-cards", *argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("simcards: error: invalid default base URL value 'https://api.")
        assert "(give one with --base-url or TELNYX_BASE_URL)" in err
        monkeypatch.setenv("TELNYX_BASE_URL", server.url.replace("127.0.0.1", "localhost"))
        assert await run("export", "sim-cards", *argv) == 0
    with out.open(newline="") as written:
        assert len(list(csv.reader(written))) == 501


@pytest.mark.anyio
async def test_a_checkpoint_of_another_api_resumed_with_demo_names_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint of Telnyx's API resumed with ``--demo``: refused as the API's, as it
    must be, but said as ``invalid --base-url value 'http://127.0.0.1:PORT/v2'``, a flag not
    given and a port nobody typed. It names ``--demo``.
    """
    out, point = tmp_path / "cards.csv", tmp_path / "ck.json"
    async with _stopped_after_a_page(out, point):
        pass
    saved = msgspec.json.decode(point.read_bytes(), type=_checkpoint.Checkpoint)
    api = api_identity("https://api.telnyx.com/v2")
    _checkpoint.save_checkpoint(point, msgspec.structs.replace(saved, api=api))
    argv = ["--demo", "--page-size", "100", "-o", str(out), "--checkpoint", str(point)]
    assert await run("export", "sim-cards", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("simcards: error: invalid --demo value 'its own server': it must be ")
    assert "https://api.telnyx.com" in err
    assert "--base-url" not in err


@pytest.mark.anyio
async def test_a_401_hints_at_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A refused key exits 1 with one line pointing at --api-key and TELNYX_API_KEY."""
    async with MockTelnyxServer(sim_cards=5, api_key=KEY) as server:
        argv = ["--api-key", "KEYwrong", "--base-url", server.url, "-o", str(tmp_path / "c.csv")]
        assert await run("export", "sim-cards", *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("simcards: error: HTTP 401")
    assert "check the API key" in err
    assert "TELNYX_API_KEY" in err
    assert err.count("\n") == 1


@pytest.mark.anyio
async def test_a_servers_line_breaks_and_tabs_fold_into_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error line folds a server's CR/LF and tabs into single spaces (the README says
    so), and shows its escape codes escaped: one line, whatever the server wrote.
    """
    error = {"code": "10015", "title": "Invalid\r\nparameter", "detail": "status\tmust\x1b[2J"}

    async def refuse(_request: web.Request) -> web.Response:
        return web.json_response({"errors": [error]}, status=422)

    async with serve(refuse) as served:
        argv = ["--api-key", KEY, "--base-url", served.url, "-o", str(tmp_path / "c.csv")]
        assert await run("export", "sim-cards", *argv) == 1
    assert capsys.readouterr().err == (
        "simcards: error: HTTP 422: 10015 Invalid parameter: status must\\x1b[2J\n"
    )


@pytest.mark.anyio
async def test_a_404_on_a_listing_hints_at_v2(
    server: MockTelnyxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A base URL without /v2 gives a 404, and the message says the URL must end in /v2."""
    base = server.url.removesuffix("/v2")
    argv = ["--api-key", KEY, "--base-url", base, "-o", str(tmp_path / "c.csv")]
    assert await run("export", "sim-cards", *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("simcards: error: HTTP 404")
    assert f"the base URL {base} must end in /v2" in err
    assert err.count("\n") == 1


def test_a_404_under_a_base_url_ending_in_v2_gives_no_v2_hint() -> None:
    """A 404 under a base URL that ends in /v2 (a page gone mid-listing) was told "the base
    URL .../v2 must end in /v2": the hint contradicted itself. It is left out there.
    """
    exc = NotFoundError(404, [], request_id=None, body=b"")
    for base in ("http://127.0.0.1:1/v2", "http://127.0.0.1:1/v2/"):
        args = _parser().parse_args(["export", "sim-cards", "--base-url", base])
        assert _api_message(exc, args) == "HTTP 404"
    args = _parser().parse_args(["export", "sim-cards", "--base-url", "http://127.0.0.1:1"])
    assert _api_message(exc, args).endswith("must end in /v2, as https://api.telnyx.com/v2 does")


def test_a_final_failure_says_how_many_attempts() -> None:
    """An API error that took several attempts says so; one attempt is not mentioned."""
    args = _parser().parse_args(["export", "sim-cards"])
    exc = InternalServerError(500, [], request_id=None, body=b"")
    assert "attempts" not in _api_message(exc, args)
    exc.attempts = 5  # set by the transport on a final failure
    assert _api_message(exc, args).endswith("HTTP 500, after 5 attempts")


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """--help of the command and of each export ends with every exit status."""
    for argv in ([], ["export", "sim-cards"], ["export", "sim-card-actions"]):
        assert main([*argv, "--help"]) == 0
        out = capsys.readouterr().out
        assert "exit status:" in out
        for status in ("0", "1", "2", "130", "141", "143"):
            assert f"\n  {status} " in out, (argv, status)


# --- -v and -vv --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "info", "debug"), [("-v", True, False), ("-vv", True, True), ("", False, False)]
)
def test_verbose_logs_to_stderr(tmp_path: Path, flag: str, *, info: bool, debug: bool) -> None:
    """-v logs INFO and -vv DEBUG records of the simcards_async logger to stderr."""
    argv = ["export", "sim-cards", "--demo", "--demo-size", "60", "--page-size", "20"]
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [*simcards(), *argv, *filter(None, [flag]), "-o", str(tmp_path / "c.jsonl")],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(line.startswith("simcards: INFO simcards_async") for line in lines) is info
    assert any(line.startswith("simcards: DEBUG simcards_async") for line in lines) is debug
    assert lines[-1].startswith("simcards: exported 60 SIM cards")


@pytest.mark.parametrize(
    ("level", "flag", "debug"),
    [("info", "", False), ("debug", "", True), ("warning", "-v", False), ("debug", "-v", True)],
)
def test_telnyx_log_shows_each_record_once(
    tmp_path: Path, level: str, flag: str, *, debug: bool
) -> None:
    """With ``TELNYX_LOG`` the command shows each record once, in its own form, at the lower
    of the level asked and -v's (each was shown twice: by the handler TELNYX_LOG added, and
    by the command's).
    """
    argv = ["export", "sim-cards", "--demo", "--demo-size", "60", "--page-size", "20", "-q"]
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [*simcards(), *argv, *filter(None, [flag]), "-o", str(tmp_path / "c.jsonl")],
        capture_output=True,
        text=True,
        env={**child_env(), "TELNYX_LOG": level},
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("simcards: ") for line in lines), lines
    assert [line for line in lines if "listing /sim_cards started" in line] == [
        "simcards: INFO simcards_async.listing: listing /sim_cards started (page size 20)"
    ]
    requests = [line for line in lines if line.startswith("simcards: DEBUG simcards_async.http")]
    assert len(requests) == (3 if debug else 0)


def test_telnyx_log_stays_for_the_library_after_the_command(tmp_path: Path) -> None:
    """The handler ``TELNYX_LOG`` added is set aside only while the command runs."""
    script = (
        "import logging, sys\n"
        "from simcards_async._cli import main\n"
        "status = main(sys.argv[1:])\n"
        "logging.getLogger('simcards_async.listing').info('after the command')\n"
        "sys.exit(status)\n"
    )
    argv = ["export", "sim-cards", "--demo", "--demo-size", "5", "-q", "-o"]
    done = subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", script, *argv, str(tmp_path / "c.jsonl")],
        capture_output=True,
        text=True,
        env={**child_env(), "TELNYX_LOG": "info"},
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert sum("listing /sim_cards started" in line for line in lines) == 1
    assert lines[-1].endswith(" INFO simcards_async.listing] after the command")


def test_a_log_line_is_drawn_above_the_bar() -> None:
    """A record clears the bar's line, takes a line of its own, and the bar is drawn again."""
    terminal = FakeTerminal()
    bar = ProgressBar(terminal, "SIM cards", enabled=True)
    bar.update(Progress(1, 10, 250, 2500, 0, 0.0, 1.0))
    drawn = terminal.getvalue().removeprefix("\r")
    terminal.seek(0)
    terminal.truncate()
    bar.above("simcards: INFO simcards_async: hello")
    assert terminal.getvalue() == (
        "\r" + " " * len(drawn) + "\r" + "simcards: INFO simcards_async: hello\n" + drawn
    )
    bar.close()
    terminal.seek(0)
    terminal.truncate()
    bar.above("after")
    assert terminal.getvalue() == "after\n"


# --- the progress line fits -------------------------------------------------------------


PROGRESS = Progress(
    pages_done=533,
    total_pages=1000,
    items=53_300,
    total_results=100_000,
    retries=12,
    throttled_seconds=0.0,
    elapsed=3.075,
)


@pytest.mark.parametrize("width", range(20, 201))
def test_the_progress_line_fits_any_width(width: int) -> None:
    """Never longer than the width; the counts always, the rate and ETA from 40 columns."""
    line = format_progress(PROGRESS, "SIM cards", width)
    assert len(line) <= width
    assert "53,300/100,000" in line
    if width >= 40:
        assert "17,333/s" in line
        assert "ETA 0:00:03" in line
    if width >= 85:
        assert "533/1,000 pages" in line
    if width >= 100:
        assert "[" in line  # a bar once there is room: it is the first thing to go


def test_the_eta_outlasts_the_rate() -> None:
    """Too narrow for the counts, the rate and the ETA: the rate goes, the ETA stays."""
    narrowest_with_all = len("53,300/100,000  17,333/s  ETA 0:00:03")
    assert format_progress(PROGRESS, "SIM cards", narrowest_with_all) == (
        "53,300/100,000  17,333/s  ETA 0:00:03"
    )
    for width in range(len("53,300/100,000  ETA 0:00:03"), narrowest_with_all):
        assert format_progress(PROGRESS, "SIM cards", width) == "53,300/100,000  ETA 0:00:03"
    no_eta = replace(PROGRESS, total_results=None, total_pages=None)
    assert format_progress(no_eta, "SIM cards", 20) == "53,300  17,333/s"


def test_the_bar_goes_first() -> None:
    """Shrinking the width drops the bar before anything else."""
    wide = format_progress(PROGRESS, "SIM cards", 200)
    without_bar = wide[:4] + wide[wide.index("]") + 1 :]
    assert format_progress(PROGRESS, "SIM cards", len(without_bar)) == without_bar


def test_a_bar_short_of_done_does_not_say_done() -> None:
    """59,800 of 60,000 (99.67%) was drawn ``100% [####################]``: rounded up. The
    percentage and the bar are rounded down, so only the end says 100%.
    """
    almost = replace(PROGRESS, items=59_800, total_results=60_000, pages_done=598, total_pages=600)
    line = format_progress(almost, "SIM cards", 200)
    assert line.startswith(" 99% [###################.] 59,800/60,000 SIM cards")
    done = replace(almost, items=60_000, pages_done=600)
    assert format_progress(done, "SIM cards", 200).startswith("100% [####################]")
    assert format_progress(replace(almost, items=0), "SIM cards", 200).startswith("  0% [....")
    # Whole percents in ints: 29 of 100 as a float times 100 is 28.999...
    for items in range(101):
        exact = replace(almost, items=items, total_results=100)
        assert format_progress(exact, "SIM cards", 200).startswith(f"{items:3}% [")
    assert format_progress(replace(almost, total_results=0, items=0), "x", 200).startswith("100%")


def test_one_page_is_one_page() -> None:
    """The first frame of a listing with no count yet read ``1 pages``."""
    first = replace(PROGRESS, pages_done=1, total_pages=None, total_results=None, items=250)
    assert "  1 page  " in format_progress(first, "SIM cards", 200)
    assert "  1/1 page  " in format_progress(replace(first, total_pages=1), "SIM cards", 200)
    assert "  2 pages  " in format_progress(replace(first, pages_done=2), "SIM cards", 200)


@pytest.mark.anyio
async def test_a_warning_on_a_terminal_takes_a_line_above_the_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drift warning clears the bar's line, is written on its own line, and the bar goes on."""
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    async with MockTelnyxServer(sim_cards=600, drift=Drift(every=2, insert=5)) as server:
        argv = ["--page-size", "50", "--max-concurrency", "2", "-o", str(tmp_path / "c.jsonl")]
        assert await run("export", "sim-cards", *argv, *api(server)) == 0
    before, found, after = terminal.getvalue().partition("simcards: warning: the listing changed")
    assert found
    assert before == "" or before.endswith("\r")  # the bar's line was cleared, not run into
    assert "\n" in after
    assert after.rstrip().rsplit("\r", 1)[-1].startswith("simcards: exported")


@pytest.mark.anyio
async def test_a_sorted_unions_drift_warning_advises_what_the_command_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``--any`` and ``--sort`` the drift warning advised ``--rescan``, which the command
    then refused with them: it advises ``--rescan`` without ``--sort``, which it takes.
    """
    drift = Drift(seed=3, every=2, insert=0, delete=5)
    async with MockTelnyxServer(sim_cards=600, drift=drift) as server:
        union = ["--any", "status=enabled", "--any", "status=disabled"]
        sort = ["--sort", "current_billing_period_consumed_data.amount"]
        argv = [*union, "--page-size", "50", "-q", "-o", str(tmp_path / "c.jsonl"), *api(server)]
        assert await run("export", "sim-cards", *argv, *sort) == 0
        err = capsys.readouterr().err
        assert "(--rescan, without --sort, reads the listing again for them)" in err
        assert "rescan=True" not in err
        assert await run("export", "sim-cards", *argv, "--rescan") == 0  # what it advised


@pytest.mark.anyio
async def test_rescan_is_a_flag_and_the_drift_warning_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drift warning advised ``rescan=True``, which the command had no flag for. It has
    ``--rescan`` (a second pass after a pass that saw the listing change), and its warning
    says so in the command's words; with --checkpoint, or with --sort and --any, it is refused.
    """
    drift = Drift(seed=3, every=2, insert=0, delete=5)
    async with MockTelnyxServer(sim_cards=600, drift=drift) as server:
        argv = [
            "--page-size",
            "50",
            "--max-concurrency",
            "2",
            "-q",
            "-o",
            str(tmp_path / "c.jsonl"),
        ]
        assert await run("export", "sim-cards", "--rescan", *argv, *api(server)) == 0
        asked = [int(r.query["page[number]"][0]) for r in server.requests]
    assert asked.count(1) == 2, "the second pass starts again at page 1"
    err = capsys.readouterr().err
    # It advised --rescan, which it had: it says the second pass will follow.
    assert "(--rescan reads the listing again for them once this pass ends)" in err
    assert "rescan=True" not in err
    ids = [json.loads(line)["id"] for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids))
    sort = "--sort=-current_billing_period_consumed_data.amount"
    for refused, says in (
        (["--checkpoint", str(tmp_path / "ck.json")], "which a --checkpoint cannot resume"),
        ([sort, "--any", "status=enabled", "--any", "tag=vip"], "drop --sort or --rescan"),
    ):
        assert await run("export", "sim-cards", "--demo", "--rescan", *refused, *argv[-2:]) == 2
        assert says in capsys.readouterr().err


@pytest.mark.anyio
async def test_the_drift_warning_points_at_no_library_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drift warning said ``stats.drift`` has the final counts, which the command has no
    place for: it gives the counts so far, and no such pointer.
    """
    drift = Drift(seed=3, every=2, insert=0, delete=5)
    async with MockTelnyxServer(sim_cards=600, drift=drift) as server:
        argv = ["--page-size", "50", "--max-concurrency", "2", "-q"]
        assert (
            await run("export", "sim-cards", *argv, "-o", str(tmp_path / "c.jsonl"), *api(server))
            == 0
        )
    err = capsys.readouterr().err
    assert err.startswith("simcards: warning: the listing changed while it was read (so far: ")
    assert " short pages); records deleted or moved during the scan may have been missed" in err
    assert "stats.drift" not in err


@pytest.mark.anyio
async def test_a_checkpoint_of_another_query_is_told_in_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --checkpoint made for other flags is refused naming both queries in flags, as typed
    (``--page-size 40``), not as the library's calls (``sim_cards(page_size=40)``).
    """
    checkpoint = tmp_path / "ck.json"
    async with MockTelnyxServer(sim_cards=100) as server:
        async with SimCardsClient(KEY, server.url) as client:
            tags = ["a b", "c"]
            async with client.sim_cards(tags=tags, page_size=40, checkpoint=checkpoint) as stream:
                async for _ in stream:
                    break
        sort = "--sort=-current_billing_period_consumed_data.amount"
        argv = ["--status", "enabled", sort, "--checkpoint", str(checkpoint)]
        assert (
            await run("export", "sim-cards", *argv, "-o", str(tmp_path / "c.jsonl"), *api(server))
            == 2
        )
    assert capsys.readouterr().err.endswith(
        "it was made for sim-cards --tag 'a b' --tag c --page-size 40, "
        f"not sim-cards --status enabled --page-size 250 {sort}\n"
    )


#: A sorted union's two failures: a page out of its own order (refused), a page that starts
#: before its previous one ended (a warning); how the command ends, and what it says.
_MERGE_ADVICE = {
    "out-of-order": (
        ["4.0", "2.0"],
        1,
        (
            "refusing to yield an unsorted union (drop --sort to take the items as their "
            "pages arrive)\n"
        ),
        "ordered=False",
    ),
    "late-pages": (
        ["2.0", "4.0"],
        0,
        "such pages' items are yielded late, so the union is in order within each page\n",
        "late_pages",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(_MERGE_ADVICE))
async def test_the_merges_advice_is_given_in_the_commands_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """A sorted ``--any`` union that failed (a page out of its own order) or drifted (a
    page that starts before its previous one ended) advised ``ordered=False`` or pointed
    at ``merged.stats.late_pages``, which the command has no flags for: its own words.
    """
    second_page, status, said, library_words = _MERGE_ADVICE[case]

    def card_id(request: web.Request, number: int, i: int) -> str:
        base = 10 if "filter[tags]" in request.query else 0
        return f"00000000-0000-4000-8000-{base + number * 2 + i:012d}"

    handler = sorted_pages({1: ["1.0", "3.0"], 2: second_page}, card_id)
    argv = ["--any", "status=enabled", "--any", "tag=vip", "--page-size", "2", "-q"]
    sort = "--sort=current_billing_period_consumed_data.amount"
    async with serve(handler) as served:
        where = ["--api-key", KEY, "--base-url", served.url, "-o", str(tmp_path / "u.jsonl")]
        assert await run("export", "sim-cards", *argv, sort, *where) == status
    err = capsys.readouterr().err
    assert err.endswith(said)
    assert library_words not in err


def test_a_checkpoint_flag_naming_an_empty_file_starts_a_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--checkpoint "$(mktemp)"`` was refused as a broken checkpoint ("it must be a
    checkpoint file (Input data was truncated)"); the README says an empty file is written
    over. A file nested past the decoder's depth ended in a traceback, exit 1: now exit 2,
    one line naming the flag.
    """
    made = tmp_path / "made.checkpoint"
    made.touch()
    argv = ["export", "sim-cards", "--demo", "--demo-size", "60", "-q"]
    out = tmp_path / "cards.jsonl"
    assert main([*argv, "-o", str(out), "--checkpoint", str(made)]) == 0
    assert len(out.read_bytes().splitlines()) == 60
    deep = tmp_path / "deep.checkpoint"
    deep.write_bytes(b'{"version": 4, "junk": ' + b"[" * 2000 + b"]" * 2000 + b"}")
    capsys.readouterr()
    assert main([*argv, "-o", str(tmp_path / "other.jsonl"), "--checkpoint", str(deep)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simcards: error: invalid --checkpoint value {str(deep)!r}: "), err
    assert err.count("\n") == 1
