"""Running the ``simcards`` command in tests through its real entry point."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
from polling import HANG_GUARD, eventually, killed_if_hung

from simcards_async._cli import main
from simcards_async.testing import FaultPlan, MockTelnyxServer

ROOT = Path(__file__).resolve().parent.parent
#: Runs the command as ``python -m simcards_async`` does, with Ctrl-C raising
#: KeyboardInterrupt even when the test runner was started with SIGINT ignored (say, in
#: the background).
AS_MAIN = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('simcards_async', run_name='__main__', alter_sys=True)"
)


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal (the progress bar draws on it)."""

    def isatty(self) -> bool:
        """Say yes, as a terminal would."""
        return True


async def run(*argv: str) -> int:
    """Call ``main`` in a worker thread: it runs an event loop of its own."""
    return await anyio.to_thread.run_sync(main, list(argv))


#: Variables that turn on asyncio's debug mode in a child: it then writes "Executing <Task
#: ...> took 0.149 seconds" to its stderr whenever a step of its loop runs over 0.1 s, which
#: a busy machine decides, and the tests compare a child's stderr whole. Left to this
#: process (the runner's own loops), not passed on.
LOOP_DEBUG_VARIABLES = ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE")


def child_env(**extra: str) -> dict[str, str]:
    """This environment for a child process: no ``TELNYX_*``, no asyncio debug mode (see
    ``LOOP_DEBUG_VARIABLES``), this checkout importable, and ``extra``.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TELNYX_") and k not in LOOP_DEBUG_VARIABLES
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env | extra


@contextlib.contextmanager
def mock_server_process(*flags: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``simcards mock-server --port 0 FLAGS`` in a child process, and the URL it printed.

    The child is killed when the block ends, and after the hang guard if it hangs (a read
    of its pipe then ends, and the test fails instead of hanging the suite).
    """
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
        [sys.executable, "-c", AS_MAIN, "mock-server", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    with killed_if_hung(process):
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v2", url), url
            yield process, url
        finally:
            process.kill()
            process.wait()


#: An export of a ``held_after_three_pages`` server's listing, one request at a time; add
#: ``--api-key``/``--base-url`` (``held_api``) and an output.
HELD_EXPORT = ["export", "sim-cards", "--page-size", "25", "--max-concurrency", "1", "-q"]
#: Seconds a child process may take to start (imports included) and reach the held page,
#: on a busy machine: a guard against a hang, not a measure.
CHILD_DEADLINE = HANG_GUARD


def held_api(server: MockTelnyxServer) -> list[str]:
    return ["--api-key", "KEYheld-exports", "--base-url", server.url]


@contextlib.asynccontextmanager
async def held_after_three_pages() -> AsyncIterator[MockTelnyxServer]:
    """A server that answers three pages, then holds every request (each until the client
    gives up on it, at its 30 s timeout; all of them until the server closes): an export of
    it stays under way, its output and checkpoint made, until a signal ends it, however
    slow the machine. A timed window of a fast export was missed on a busy one.
    """
    plan = FaultPlan(script=[None] * 3 + ["hang"] * 10, hang_seconds=math.inf)
    async with MockTelnyxServer(sim_cards=300, actions=1, seed=7, faults=plan) as server:
        yield server


def held(server: MockTelnyxServer) -> bool:
    """Whether an export of ``server`` is held: three pages answered, the fourth asked for."""
    return len(server.requests) > 3


async def signalled_when_held(
    command: list[str], ready: Callable[[], bool], sig: signal.Signals
) -> tuple[int | None, bytes]:
    """Run ``command``; send ``sig`` once ``ready()`` (the export held mid-way); its exit
    status and stderr once it has ended.
    """
    process = await anyio.open_process(command, env=child_env())
    async with process:
        try:
            await eventually(
                lambda: ready() or process.returncode is not None,
                timeout=CHILD_DEADLINE,
                what="the export got under way",
            )
            assert process.returncode is None, "held: it cannot have ended"
            process.send_signal(sig)
            assert process.stderr is not None
            with anyio.fail_after(CHILD_DEADLINE):  # a guard against a hang, not a measure
                err = b"".join([chunk async for chunk in process.stderr])
                await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
    return process.returncode, err
