"""The processes of a benchmark run: mock servers and client workers, and their clean-up.

Every process is started with a pipe on its standard input and stopped by closing that pipe
(then, if it lingers, terminated, then killed, by its own pid), so an interrupted run, or
one that fails, leaves nothing behind: `Processes.close` runs from a ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child_env() -> dict[str, str]:
    """The environment of a child: the library importable from bytecode, no proxy for loopback.

    A ``PYTHONPATH`` given to the run comes first, so that another copy of the library can
    be measured (``PYTHONPATH=/path/to/other/checkout python benchmarks/run.py``); this
    checkout is the fallback.

    A child runs the library from bytecode, as an installed package does (pip compiles it).
    Where the environment says to write none (``PYTHONDONTWRITEBYTECODE``, set on the
    project's machines), every fresh process compiled the library from source: 3.5 MB more
    RSS before a listing began, about 1.2 MB more at the memory scenario's peak, the floor's
    alike (it imports the library's ``SimCard``). See ``compile_library``.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.setdefault("PYTHONHASHSEED", "0")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_library(env: dict[str, str]) -> None:
    """Write the bytecode of the library a child of ``env`` imports (the first on its path)."""
    script = (
        "import compileall, os, simcards_async; "
        "compileall.compile_dir(os.path.dirname(simcards_async.__file__), quiet=1)"
    )
    # Not from the repository's root, whose library ``-c`` would put first on the path.
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=HERE)  # noqa: S603


def _stop(proc: subprocess.Popen[str], grace: float = 10.0) -> None:
    """Close the child's stdin (its signal to exit), then terminate, then kill."""
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(OSError):  # a broken pipe: the child is already gone
            proc.stdin.close()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _readline(stream: IO[str] | None, what: str) -> str:
    assert stream is not None  # noqa: S101  (started with a pipe)
    line = stream.readline()
    if not line:
        raise RuntimeError(f"{what} exited early (see its standard error above)")
    return line.strip()


@dataclass(frozen=True)
class Server:
    """A mock server process: its fleet size, latency, base URL and pid."""

    sim_cards: int
    latency: float
    url: str
    pid: int


class Worker:
    """A client process (``bench_worker.py``) that runs one command at a time."""

    def __init__(self, proc: subprocess.Popen[str], name: str) -> None:
        self._proc = proc
        self.name = name

    def run(self, **command: Any) -> dict[str, Any]:  # noqa: ANN401  (JSON both ways)
        """Send one command, wait for its result."""
        stdin = self._proc.stdin
        assert stdin is not None  # noqa: S101  (started with a pipe)
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        result: dict[str, Any] = json.loads(_readline(self._proc.stdout, f"worker {self.name}"))
        return result

    def close(self) -> None:
        """Let the process exit."""
        _stop(self._proc)


class Processes:
    """Starts servers and workers, and stops every one of them on exit."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[str]] = []
        self._pending: dict[tuple[int, float], subprocess.Popen[str]] = {}
        self._servers: dict[tuple[int, float], Server] = {}

    def __enter__(self) -> Processes:
        compile_library(child_env())  # before any child starts: none compiles it on its own
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _spawn(self, script: str, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(  # noqa: S603  (our own scripts, with our interpreter)
            [sys.executable, str(HERE / script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        self._procs.append(proc)
        return proc

    def start_server(self, sim_cards: int, latency: float = 0.0) -> None:
        """Start (not wait for) a server; several warm up at once this way."""
        key = (sim_cards, latency)
        if key not in self._servers and key not in self._pending:
            args = ("--sim-cards", str(sim_cards), "--latency", str(latency))
            self._pending[key] = self._spawn("bench_server.py", *args)

    def server(self, sim_cards: int, latency: float = 0.0) -> Server:
        """The server for this fleet and latency, once it is warm."""
        key = (sim_cards, latency)
        if key not in self._servers:
            self.start_server(sim_cards, latency)
            proc = self._pending.pop(key)
            url = _readline(proc.stdout, f"mock server ({sim_cards} cards)")
            self._servers[key] = Server(sim_cards, latency, url, proc.pid)
        return self._servers[key]

    def server_cpu(self, url: str) -> float:
        """CPU seconds used so far by the server at ``url`` (to tell a busy server apart)."""
        for server in self._servers.values():
            if server.url == url:
                times = psutil.Process(server.pid).cpu_times()
                return float(times.user + times.system)
        return math.nan

    def worker(self, name: str) -> Worker:
        """A new client process."""
        return Worker(self._spawn("bench_worker.py"), name)

    def close(self) -> None:
        """Stop every process started here, newest first."""
        procs, self._procs = self._procs, []
        self._pending.clear()
        self._servers.clear()
        for proc in reversed(procs):
            if proc.poll() is None or proc.stdin is not None:
                _stop(proc)
