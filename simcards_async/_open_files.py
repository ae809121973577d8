"""The process's limit on open files, raised for a command that needs more (``ulimit -n``).

Each request in flight holds a connection, and a connection is a descriptor (two with
``--demo``, whose server answers in the same process). A process may raise its own soft
limit up to the hard one, as a command that opens many connections does: past the soft
limit every new connection failed with EMFILE, retried until the attempts ran out, and a
``--demo`` server that could not accept logged asyncio's traceback at every try. Only the
``simcards`` command changes it, for the time of its run; the library never does.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

if sys.platform != "win32":  # Windows has no such limit to read or raise
    import resource

__all__ = ["RESERVED", "at_least"]

#: Descriptors a run holds besides its connections: the standard streams, the event loop's,
#: a server's listening socket, the output and its temporary file, a checkpoint and its ids,
#: and room to spare (about 10 are in use at once).
RESERVED = 32


@contextlib.contextmanager
def at_least(needed: int) -> Iterator[int | None]:
    """Raise the soft limit on open files to ``needed``, as far as the hard one allows.

    Set back at exit. Yields the limit in force meanwhile: the soft limit as it was if it
    was enough or could not be raised, or None where there is none (unlimited, Windows).
    """
    if sys.platform == "win32":
        yield None
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        yield None if soft == resource.RLIM_INFINITY else soft
        return
    raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    except (OSError, ValueError):  # refused (a sandbox): the limit stands as it was
        yield soft
        return
    try:
        yield raised
    finally:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
