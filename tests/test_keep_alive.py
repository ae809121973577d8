"""Keep-alive connections the server closed while they waited in the pool.

A server ends a keep-alive connection when it likes: after so many requests, after an idle
timeout, on a restart. A request that goes out on a pooled connection the server has just
closed (its FIN or RST still on the way) fails before any byte of answer: nothing reached
the server's application. aiohttp sends such a GET again once, on whatever connection its
pool gives next, which may be another one the server closed. The server here plays a
middlebox that forgot every connection open at one moment: each answers its next request
by hanging up, unread, and a new connection is served. No sleeps: the pool's connections
are made by two requests the server holds until both have come.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import uuid
from dataclasses import dataclass, field

import anyio
import msgspec
import pytest
from aiohttp import web
from servers import serve

from simcards_async import APIConnectionError, ResponseEvent, RetryPolicy, SimCardsClient

pytestmark = pytest.mark.anyio

KEY = "KEYkeepalive-0123456789abcdef"
PAGES, SIZE = 6, 2
#: No waiting: retries (when allowed) are sent at once.
INSTANT = RetryPolicy(max_retries=0, base=0, cap=0)
#: Connections left in the pool for the server to forget: two a request (aiohttp's own
#: resend takes the next), twice over.
POOLED = 4


def _card_id(number: int, index: int) -> str:
    return str(uuid.UUID(int=number * 100 + index))


EXPECTED = [_card_id(n, i) for n in range(1, PAGES + 1) for i in range(SIZE)]


@dataclass
class _Forgetful:
    """An honest listing, whose connections open at ``forget()`` die at their next request.

    Each is hung up (``reset``: with a RST) before any byte of answer, the request unread.
    """

    reset: bool = False
    open: set[asyncio.BaseTransport] = field(default_factory=set)
    doomed: set[asyncio.BaseTransport] = field(default_factory=set)
    hung_up: int = 0
    answered: int = 0
    #: Requests held until this many have come at once (0: none held).
    gather: int = 0
    waiting: int = 0
    together: anyio.Event = field(default_factory=anyio.Event)

    def forget(self) -> None:
        self.doomed = set(self.open)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        if transport in self.doomed:
            self.hung_up += 1
            if self.reset:
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                transport.close()
            # Never reaches the client: aiohttp drops a write to a closed transport.
            return web.Response(status=500)
        self.open.add(transport)
        if self.gather:
            self.waiting += 1
            if self.waiting >= self.gather:
                self.together.set()
            await self.together.wait()
        self.answered += 1
        if request.path.startswith("/v2/sim_cards/"):  # one card, by id
            card = {"id": request.path.rsplit("/", 1)[1], "record_type": "sim_card"}
            return web.Response(body=msgspec.json.encode({"data": card}))
        number = int(request.query.get("page[number]", "1"))
        data = [{"id": _card_id(number, i), "record_type": "sim_card"} for i in range(SIZE)]
        meta = {
            "page_number": number,
            "page_size": SIZE,
            "total_pages": PAGES,
            "total_results": PAGES * SIZE,
        }
        return web.Response(body=msgspec.json.encode({"data": data, "meta": meta}))


async def _pool_then_forget(server: _Forgetful, client: SimCardsClient) -> None:
    """Leave ``POOLED`` connections in the client's pool, then have the server forget them."""
    server.gather = POOLED
    async with anyio.create_task_group() as tg:
        for _ in range(POOLED):  # held by the server until all are in: one connection each
            tg.start_soon(client.get_sim_card, _card_id(1, 0))
    assert len(server.open) == POOLED
    server.gather = 0
    server.forget()


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("max_retries", [0, 4])
async def test_pooled_connections_the_server_closed_cost_no_retry(
    *, reset: bool, max_retries: int
) -> None:
    """Every pooled connection dead: the listing is whole, no retry spent, no attempt failed."""
    server = _Forgetful(reset=reset)
    retry = RetryPolicy(max_retries=max_retries, base=0, cap=0)
    events: list[ResponseEvent] = []
    async with (
        serve(server.handle) as served,
        SimCardsClient(
            KEY, served.url, max_concurrency=POOLED, retry=retry, on_response=events.append
        ) as client,
    ):
        await _pool_then_forget(server, client)
        events.clear()
        answered = server.answered
        stream = client.sim_cards(page_size=SIZE)
        assert [card.id for card in await stream.collect()] == EXPECTED
        assert stream.stats.retries == 0
        assert [(event.attempt, event.error) for event in events] == [(1, None)] * PAGES
        assert server.hung_up == POOLED  # each dead connection was tried once, then dropped
        assert server.answered - answered == PAGES


async def test_a_single_get_on_dead_pooled_connections_is_sent_until_a_live_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``get_sim_card`` with max_retries=0 after the pool died: answered; each resend logged."""
    server = _Forgetful()
    async with (
        serve(server.handle) as served,
        SimCardsClient(KEY, served.url, max_concurrency=POOLED, retry=INSTANT) as client,
    ):
        await _pool_then_forget(server, client)
        with caplog.at_level(logging.DEBUG, logger="simcards_async.http"):
            card = await client.get_sim_card(_card_id(1, 1))
        assert card.id == _card_id(1, 1)
        assert server.hung_up == POOLED
        resent = [r for r in caplog.records if "closed the pooled connection" in r.getMessage()]
        # aiohttp resends once itself: each of ours follows two dead connections.
        assert len(resent) == POOLED // 2
        assert KEY not in caplog.text


async def test_a_new_connection_dropped_twice_still_fails_at_max_retries_0() -> None:
    """Only a reused connection is free: a drop on a new one is a failure, as before."""

    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)

    async with (
        serve(drop) as served,
        SimCardsClient(KEY, served.url, retry=INSTANT) as client,
    ):
        with pytest.raises(APIConnectionError):
            await client.get_sim_card(_card_id(1, 0))
