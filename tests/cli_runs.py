"""Running the ``simcards`` command in tests through its real entry point."""

from __future__ import annotations

import anyio

from simcards_async._cli import main


async def run(*argv: str) -> int:
    """Call ``main`` in a worker thread: it runs an event loop of its own."""
    return await anyio.to_thread.run_sync(main, list(argv))
