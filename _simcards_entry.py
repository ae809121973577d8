"""The ``simcards`` console script's entry point, outside the package on purpose.

Importing ``simcards_async`` (aiohttp, ssl) takes about half a second, and a Ctrl-C
meanwhile raised ``KeyboardInterrupt`` where nothing caught it: a traceback, and the
process killed by the signal. A module inside the package would import the package's
``__init__`` before its own first line; this one imports nothing heavy, so the import of
the command is caught: exit 130, quietly, as for a Ctrl-C once the command runs.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

#: ``simcards_async._cli.EXIT_INTERRUPTED``, which cannot be imported before the command is.
EXIT_INTERRUPTED = 130


def main() -> int:
    """Run the ``simcards`` command; a Ctrl-C before it handles one exits 130, quietly.

    Or 0 for ``simcards mock-server``, which a Ctrl-C stops as it is meant to stop.
    """
    try:
        from simcards_async._cli import main as run  # noqa: PLC0415  (the import to catch)

        return run()
    except KeyboardInterrupt:
        return 0 if sys.argv[1:2] == ["mock-server"] else EXIT_INTERRUPTED
