"""One tiny aiohttp.web server for answers the mock cannot give, on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from simcards_async.testing._server import close_runner, track_connections

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: A card's id in a ``sorted_pages`` answer: from the request, its page and its place on it.
CardId = Callable[[web.Request, int, int], str]


def amount_card(card_id: str, amount: str) -> dict[str, Any]:
    """A SIM card as a listing sorted by usage needs it: its id, kind and amount (MB)."""
    return {
        "id": card_id,
        "record_type": "sim_card",
        "current_billing_period_consumed_data": {"amount": amount, "unit": "MB"},
    }


def sorted_pages(amounts: Mapping[int, Sequence[str]], card_id: CardId) -> Handler:
    """A listing of two pages of two cards (its meta says 4), page ``n`` holding cards of
    ``amounts[n]`` (none if not given), in that order: sorted or not, as the test needs.
    """

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query.get("page[number]", "1"))
        data = [
            amount_card(card_id(request, number, i), amount)
            for i, amount in enumerate(amounts.get(number, ()))
        ]
        meta = {"page_number": number, "page_size": 2, "total_pages": 2, "total_results": 4}
        return web.json_response({"data": data, "meta": meta})

    return handler


@dataclass(frozen=True)
class Served:
    """Where a `serve` server listens."""

    port: int
    host: str = "127.0.0.1"

    @property
    def origin(self) -> str:
        """``http://HOST:PORT``, for redirects and other origins."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL a client is given, ``http://HOST:PORT/v2``."""
        return self.origin + "/v2"


@asynccontextmanager
async def serve(
    handler: Handler, *, route: str = "/{tail:.*}", method: str = "*", host: str = "127.0.0.1"
) -> AsyncIterator[Served]:
    """Serve ``handler`` for ``method`` on ``route`` (every path by default) until exit.

    It always binds 127.0.0.1; ``host`` only changes the name in ``origin``/``url``
    (say ``localhost``, another origin on the same port).
    """
    app = web.Application()
    app.router.add_route(method, route, handler)
    # A handler still waiting at exit (an answer the test never released) is cut short
    # instead of holding the test for aiohttp's default 60 s.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    track_connections(runner)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield Served(port=runner.addresses[0][1], host=host)
    finally:
        await close_runner(runner)


@asynccontextmanager
async def holding_page(
    upstream_url: str, number: int, released: asyncio.Event, arrived: asyncio.Event | None = None
) -> AsyncIterator[Served]:
    """A proxy to the API at ``upstream_url`` (a mock's ``url``) that holds the answers to
    page ``number`` until ``released`` is set: what a client does while a page is on its way.
    ``arrived``, if given, is set when a request for that page has come.
    """
    origin = upstream_url.removesuffix("/v2")
    async with aiohttp.ClientSession() as upstream:

        async def hold(request: web.Request) -> web.Response:
            if request.query.get("page[number]") == str(number):
                if arrived is not None:
                    arrived.set()
                await released.wait()
            async with upstream.get(origin + request.path_qs, headers=request.headers) as r:
                return web.Response(
                    status=r.status, body=await r.read(), content_type="application/json"
                )

        async with serve(hold) as held:
            yield held


@asynccontextmanager
async def serve_bytes(payload: bytes) -> AsyncIterator[Served]:
    """A TCP server on 127.0.0.1 answering any request with ``payload``, sent as it is (no
    HTTP server in between: a status line or headers aiohttp.web would never write), then
    closing the connection.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield Served(port=server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@contextmanager
def refusing() -> Iterator[Served]:
    """A port on 127.0.0.1 that refuses every connection, until exit.

    The port is bound but never listened on, so a connection is refused at once, and no
    other process can take the port meanwhile (as it could a port just closed).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield Served(port=bound.getsockname()[1])
