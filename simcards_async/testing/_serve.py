"""Run the mock server until cancelled: the body of the ``simcards mock-server`` command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import anyio

from ._server import MockTelnyxServer

if TYPE_CHECKING:
    from typing import TextIO

    from ._options import ServerOptions

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack


async def serve(
    *, host: str, port: int, out: TextIO, **server_kwargs: Unpack[ServerOptions]
) -> None:
    """Start a `MockTelnyxServer` on host:port, print its base URL to ``out``, serve forever.

    The URL (``http://HOST:PORT/v2``, with the real port when ``port`` is 0) is printed alone
    on one line and flushed, so a parent process can read it and start its client. Returns
    only by cancellation, closing the server on the way out. ``CannotListenError`` when it
    cannot listen on host:port (an address that does not resolve, a port in use).

    It keeps no `RequestRecord` unless ``keep_requests`` says otherwise: nobody can read
    them here, and a server that runs for days would grow with every request.
    """
    server_kwargs.setdefault("keep_requests", 0)
    server = MockTelnyxServer(host=host, port=port, **server_kwargs)
    try:
        try:
            await server.start()
        except OSError as exc:  # an address that does not resolve, a port in use
            raise CannotListenError(exc) from exc
        out.write(f"{server.url}\n")
        out.flush()
        await anyio.sleep_forever()
    finally:
        await server.close()


class CannotListenError(Exception):
    """The server could not start listening; ``reason`` is the OSError that said why."""

    def __init__(self, reason: OSError) -> None:
        super().__init__(str(reason))
        self.reason = reason
