"""Running the ``simcards`` command in tests through its real entry point."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
from polling import killed_if_hung

from simcards_async._cli import main

ROOT = Path(__file__).resolve().parent.parent
#: Runs the command as ``python -m simcards_async`` does, with Ctrl-C raising
#: KeyboardInterrupt even when the test runner was started with SIGINT ignored (say, in
#: the background).
AS_MAIN = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('simcards_async', run_name='__main__', alter_sys=True)"
)


async def run(*argv: str) -> int:
    """Call ``main`` in a worker thread: it runs an event loop of its own."""
    return await anyio.to_thread.run_sync(main, list(argv))


def child_env(**extra: str) -> dict[str, str]:
    """This environment for a child process: no ``TELNYX_*``, this checkout importable,
    and ``extra``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
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
