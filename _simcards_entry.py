"""The ``simcards`` console script's entry point, outside the package on purpose.

Importing ``simcards_async`` (aiohttp, ssl) takes about half a second, and a Ctrl-C
meanwhile raised ``KeyboardInterrupt`` where nothing caught it: a traceback, and the
process killed by the signal. A module inside the package would import the package's
``__init__`` before its own first line; this one imports nothing heavy, so the import of
the command is caught: exit 130, quietly, as for a Ctrl-C once the command runs.

SIGINT is held back (blocked) while the command is imported, and let through once it is:
a ``KeyboardInterrupt`` raised inside the import machinery could be swallowed there
("Exception ignored in ... _get_module_lock"), the export then running to its end and
exiting 0, or wrapped in another exception (a ``RuntimeError`` from a class being made),
a traceback and exit 1.
"""

from __future__ import annotations

import signal
import sys

__all__ = ["main"]

#: ``simcards_async._cli.EXIT_INTERRUPTED``, which cannot be imported before the command is.
EXIT_INTERRUPTED = 130


def main() -> int:
    """Run the ``simcards`` command; a Ctrl-C before it handles one exits 130, quietly.

    Or 0 for ``simcards mock-server``, which a Ctrl-C stops as it is meant to stop.
    """
    held = _hold_interrupts()
    try:
        try:
            from simcards_async._cli import main as run  # noqa: PLC0415  (the import to catch)
        finally:
            # A Ctrl-C that came meanwhile is raised here, by Python's own handler.
            _let_through(held)
        return run()
    except KeyboardInterrupt:
        return 0 if sys.argv[1:2] == ["mock-server"] else EXIT_INTERRUPTED


def _hold_interrupts() -> bool:
    """Block SIGINT, where signals can be (POSIX); whether this call blocked it."""
    if not hasattr(signal, "pthread_sigmask"):
        return False
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    return signal.SIGINT not in before


def _let_through(held: bool) -> None:
    """Unblock SIGINT if ``_hold_interrupts`` blocked it."""
    if held:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
