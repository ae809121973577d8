"""Input that used to end in a bare Python exception gets a named, typed error instead.

Each was found by feeding the client what a careless or unlucky user might: the error
names the parameter and what it accepts, and nothing is sent first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from small_fleet import KEY

import simcards_async as sc
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=300, seed=3) as srv:
        yield srv


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[sc.SimCardsClient]:
    async with sc.SimCardsClient(KEY, server.url) as c:
        yield c


async def test_a_path_with_a_nul_character_is_refused_by_name(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """No file system takes a NUL in a name: os raised a bare ValueError."""
    bad = str(tmp_path / "a\0b.json")
    for name in ("checkpoint", "resume_from"):
        with pytest.raises(sc.InvalidParameterError, match="NUL") as caught:
            client.sim_cards(**{name: bad})  # type: ignore[arg-type]
        assert caught.value.parameter == name
    with pytest.raises(sc.InvalidParameterError, match="NUL") as caught:
        await sc.export(client.sim_cards(), bad.replace(".json", ".jsonl"))
    assert caught.value.parameter == "target"
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []


async def test_exporting_a_streams_pages_is_refused_before_sending(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """``export(stream.pages())`` raised a bare TypeError at the first page, after requests;
    now refused up front, saying to pass the stream itself. ``pages()`` still reads pages.
    """
    stream = client.sim_cards(page_size=100)
    with pytest.raises(sc.InvalidParameterError, match="not its pages") as caught:
        await sc.export(stream.pages(), tmp_path / "cards.jsonl")  # type: ignore[arg-type]
    assert caught.value.parameter == "items"
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []
    sizes = [len(page.data) async for page in client.sim_cards(page_size=100).pages()]
    assert sizes == [100, 100, 100]


@pytest.mark.parametrize("reader", ["chunks", "raw_chunks"])
async def test_exporting_a_streams_chunks_says_to_pass_the_stream(
    client: sc.SimCardsClient, tmp_path: Path, reader: str
) -> None:
    """``export(stream.chunks())`` is an async generator, which cannot say what it yields
    before it is read: its first page (a tuple of records) is refused with a TypeError
    that says what to pass instead, and nothing is written.
    """
    chunks = getattr(client.sim_cards(page_size=100), reader)()
    with pytest.raises(TypeError, match=r"not tuple: .*pass the stream itself, not its chunks"):
        await sc.export(chunks, tmp_path / "cards.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_a_retry_wait_past_the_largest_float_is_refused() -> None:
    """``RetryPolicy(base=10**400)`` raised a bare OverflowError."""
    for name in ("base", "cap", "max_hint"):
        with pytest.raises(sc.InvalidParameterError, match="finite") as caught:
            sc.RetryPolicy(**{name: 10**400})
        assert caught.value.parameter == name


def test_a_client_used_in_a_second_event_loop_says_why() -> None:
    """A client opened in one ``asyncio.run`` and used in the next failed with a bare "Event
    loop is closed" from deep in aiohttp; it now says what happened and what to do.
    """
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    client = sc.SimCardsClient(KEY, "http://127.0.0.1:9/v2")  # never reached

    async def listing() -> None:
        client.sim_cards()

    try:
        first.run_until_complete(client.__aenter__())
        with pytest.raises(RuntimeError, match="opened in another event loop"):
            second.run_until_complete(listing())
        first.run_until_complete(listing())  # its own loop is fine
        stray = client.sim_cards()  # made outside any loop: its requests check
        with pytest.raises(RuntimeError, match="opened in another event loop"):
            second.run_until_complete(stray.collect())
        # Closing it there closed nothing (its connections are the first loop's), yet marked
        # it closed and silenced its "never closed" warning: refused the same way.
        with pytest.raises(RuntimeError, match="opened in another event loop"):
            second.run_until_complete(client.aclose())
    finally:
        first.run_until_complete(client.aclose())
        first.close()
        second.close()


def test_a_stream_made_outside_any_event_loop_says_where_to_make_it() -> None:
    """The first stream of a client, made before any event loop runs, failed with aiohttp's
    bare "no running event loop"; it says what to do, and the client can still be used.
    """
    client = sc.SimCardsClient(KEY, "http://127.0.0.1:9/v2")  # never reached
    with pytest.raises(RuntimeError, match="inside an async function"):
        client.sim_cards()

    async def inside() -> None:
        async with client:
            client.sim_cards()

    asyncio.run(inside())
