"""A stream stopped early (``break``, a dropped stream, ``aclose``, a closed client) ends
every request and task at once.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from leaks import library_tasks
from polling import eventually, loop_turns
from small_fleet import CARDS, KEY

from simcards_async import (
    InvalidParameterError,
    Page,
    SimCard,
    SimCardsClient,
    TelnyxError,
    export,
    merge,
)
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


async def _settle() -> None:
    """Let cancelled tasks and finalizers run to their end (a hang fails the test)."""
    await eventually(lambda: not library_tasks(), what="the library's tasks to end")
    await loop_turns()


# --- stopping early -------------------------------------------------------------------


@pytest.fixture
async def slow_server() -> AsyncIterator[MockTelnyxServer]:
    """A fleet whose every answer takes 20 ms, so requests are still in flight on a break."""
    async with MockTelnyxServer(sim_cards=CARDS, actions=1, seed=1, latency=0.02) as mock:
        yield mock


async def test_break_inside_async_with_stops_everything(slow_server: MockTelnyxServer) -> None:
    """A ``break`` in ``async with stream`` leaves no task and sends nothing past the window."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        async with client.sim_cards(page_size=10) as stream:
            async for card in stream:
                assert card.id
                break
        assert library_tasks() == []
        sent = len(slow_server.requests)
        assert 1 <= sent <= 1 + client.read_ahead
        await loop_turns()
        assert len(slow_server.requests) == sent
        assert stream.stats.items_yielded == 1


async def test_async_with_waits_for_a_reader_stopped_by_a_hook(
    slow_server: MockTelnyxServer,
) -> None:
    """A reader stopped by an exception raised inside the read (an ``on_progress`` hook's)
    stopped the requests without waiting for them, and ``async with`` then found nothing
    to wait for: right after the block its task was still running. It waits now.
    """

    def refuse(_progress: object) -> None:
        raise LookupError("stop")

    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        stream.on_progress(refuse)
        with pytest.raises(LookupError):
            async with stream:
                async for _ in stream:
                    pass
        assert library_tasks() == []


async def test_async_with_waits_for_a_reader_cut_by_a_cancel_scope(
    slow_server: MockTelnyxServer,
) -> None:
    """A read cut by a cancel scope (``move_on_after`` around the block) left its task
    running after ``async with``: the reader's stop forgot it, and the wait for it was
    cancelled by the same scope. The wait is shielded, and finds the task.
    """
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        with anyio.CancelScope() as scope:
            async with stream:
                async for _ in stream:
                    scope.cancel()  # the read's next wait is cut
        assert scope.cancelled_caught
        assert library_tasks() == []
        assert 1 <= stream.stats.items_yielded < CARDS


async def test_break_without_async_with_stops_everything(slow_server: MockTelnyxServer) -> None:
    """A bare ``break`` (stream still referenced) ends the engine too: no task is left running."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        async for _ in stream:
            break
        await _settle()
        sent = len(slow_server.requests)
        assert sent <= 1 + client.read_ahead
        assert stream.stats.items_yielded == 1
        assert library_tasks() == []


async def test_dropped_stream_is_cancelled(slow_server: MockTelnyxServer) -> None:
    """A stream dropped mid-way (no reference left) stops its engine when collected."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        async for _ in stream:
            break
        del stream
        gc.collect()
        await _settle()
        assert library_tasks() == []
        sent = len(slow_server.requests)
        await loop_turns()
        assert len(slow_server.requests) == sent


async def test_stream_aclose_mid_way(slow_server: MockTelnyxServer) -> None:
    """``await stream.aclose()`` mid-way ends the engine and its requests at once."""
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        count = 0
        async for _ in stream:
            count += 1
            if count == 15:
                break
        await stream.aclose()
        assert library_tasks() == []
        assert count == 15


async def test_client_aclose_stops_running_streams(slow_server: MockTelnyxServer) -> None:
    """Closing the client cancels the engines of its unfinished streams."""
    client = SimCardsClient(KEY, slow_server.url, max_concurrency=2)
    streams = [client.sim_cards(page_size=10), client.sim_cards(page_size=20)]
    readers = [asyncio.create_task(stream.collect()) for stream in streams]
    # Close while both listings have requests in flight (20 ms answers).
    await eventually(lambda: len(slow_server.requests) >= len(streams))
    await client.aclose()
    assert library_tasks() == []
    for reader in readers:
        with pytest.raises(RuntimeError, match="the client was closed before"):
            await reader
    for stream in streams:
        await stream.aclose()


async def test_a_stream_entered_and_left_unread_leaves_nothing_open(
    client: SimCardsClient,
) -> None:
    """`async with stream:` and no read: the producer's task is cancelled before its first
    step, and its end of the hand-over was left open (a ResourceWarning once collected).
    """
    async with client.sim_cards(page_size=100):
        pass
    await _settle()
    gc.collect()  # an unclosed hand-over warns here, which fails the test


async def test_reading_after_client_close_is_not_a_silent_end(
    slow_server: MockTelnyxServer,
) -> None:
    """A stream whose client was closed mid-way raises instead of ending as if complete."""
    client = SimCardsClient(KEY, slow_server.url, max_concurrency=2)
    stream = client.sim_cards(page_size=10)
    got: list[SimCard] = []

    async def read_closing_midway() -> None:
        async for card in stream:
            got.append(card)
            if len(got) == 5:
                await client.aclose()

    with pytest.raises((RuntimeError, TelnyxError)):
        await read_closing_midway()
    assert len(got) < CARDS


# --- a stream is read once ---------------------------------------------------------------


async def test_a_stream_read_twice_says_so_instead_of_yielding_nothing(
    client: SimCardsClient, everything: list[SimCard]
) -> None:
    """A second read of a stream (collect, items, pages) raises, naming the rule: it used to
    yield nothing, as if the listing were empty.
    """
    stream = client.sim_cards(page_size=100)
    assert await stream.collect() == everything
    with pytest.raises(RuntimeError, match="this stream was read already"):
        await stream.collect()
    with pytest.raises(RuntimeError, match="read once, by one reader"):
        async for _ in stream.pages():
            pass


@pytest.mark.parametrize("merged", [False, True])
async def test_raw_chunks_of_a_stream_read_already_says_so(
    client: SimCardsClient, *, merged: bool
) -> None:
    """``raw_chunks()`` of a stream read already (``collect()``, a ``break``) returned None,
    and ``async for chunk in stream.raw_chunks()`` failed with a bare ``TypeError``: it raises
    the rule, as every other read does.
    """
    stream: Any = client.sim_cards(page_size=100)
    if merged:
        stream = merge(stream, client.sim_cards(status="enabled"))
    async for _ in stream:
        break
    with pytest.raises(RuntimeError, match="this stream was read already"):
        stream.raw_chunks()
    await stream.aclose()


@pytest.mark.parametrize("first", ["pages", "chunks"])
async def test_raw_chunks_after_a_typed_reader_was_handed_out_is_refused(
    client: SimCardsClient, first: str
) -> None:
    """``pages()`` (or ``chunks()``) handed out and not yet read, then ``raw_chunks()``: both
    were given, and the first yielded pages of ``RawRecord``s typed as ``SimCard``s (an
    ``AttributeError`` in the caller's code). The second reader is refused.
    """
    async with client.sim_cards(page_size=100) as stream:
        typed: Any = stream.pages() if first == "pages" else stream.chunks()
        with pytest.raises(RuntimeError, match="read once, by one reader"):
            stream.raw_chunks()
        page = await anext(aiter(typed))
        items = page.data if isinstance(page, Page) else page
        assert all(isinstance(item, SimCard) for item in items)
        await typed.aclose()


async def test_export_after_a_break_refuses_instead_of_writing_an_empty_file(
    client: SimCardsClient, tmp_path: Path
) -> None:
    """After `break` the stream has stopped: exporting it raised nothing and wrote no record;
    now it raises before the target is created.
    """
    stream = client.sim_cards(page_size=100)
    async for _ in stream:
        break
    target = tmp_path / "cards.jsonl"
    with pytest.raises(RuntimeError, match="this stream was read already"):
        await export(stream, target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("again", ["export.jsonl", "export.csv", "items", "pages"])
async def test_a_stream_exported_once_says_it_was_read_when_read_again(
    client: SimCardsClient, tmp_path: Path, again: str
) -> None:
    """An export to JSON lines reads the records as sent (raw_chunks); any read after it said
    the stream "was asked for raw_chunks()", as if that were the mistake. It names the rule.
    """
    stream = client.sim_cards(page_size=100)
    await export(stream, tmp_path / "cards.jsonl")
    with pytest.raises(RuntimeError, match="this stream was read already"):
        if again.startswith("export"):
            await export(stream, tmp_path / f"again.{again.split('.')[1]}")
        elif again == "items":
            await stream.collect()
        else:
            async for _ in stream.pages():
                pass


async def test_a_second_reader_of_a_stream_in_use_is_refused(
    server: MockTelnyxServer, client: SimCardsClient, everything: list[SimCard], tmp_path: Path
) -> None:
    """While one reader holds a page part-read, another (a merge, an export) got only the
    pages after it, silently short; now it is refused. A merge refuses it when it is made,
    before any request of its other streams (it used to take the stream, send the others'
    requests, then fail and close the stream under its first reader), and that reader goes
    on to the end.
    """
    stream = client.sim_cards(page_size=100)
    items = aiter(stream)
    first = await anext(items)
    before = len(server.requests)
    with pytest.raises(InvalidParameterError, match="streams not read yet") as caught:
        merge(stream, client.sim_cards(status="enabled"))
    assert caught.value.parameter == "streams"
    rest = [card async for card in items]
    assert [first, *rest] == everything
    assert all(r.query.get("filter[status]") is None for r in server.requests[before:])
    with pytest.raises(InvalidParameterError, match="streams not read yet"):
        merge(stream)  # read to its end
    with pytest.raises(RuntimeError, match="this stream was read already"):
        await export(stream, tmp_path / "never.jsonl")


async def test_an_export_refused_as_a_second_reader_leaves_the_first_reading(
    client: SimCardsClient, everything: list[SimCard], tmp_path: Path
) -> None:
    """``export()`` of a stream another reader holds is refused, and that reader goes on to
    the end. The export closed the stream as it failed (it closes the streams it reads),
    and the first reader ended with "closed while it was being read".
    """
    stream = client.sim_cards(page_size=100)
    items = aiter(stream)
    first = await anext(items)
    with pytest.raises(RuntimeError, match="this stream was read already"):
        await export(stream, tmp_path / "never.jsonl")
    rest = [card async for card in items]
    assert [first, *rest] == everything
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("reader", ["pages", "chunks", "raw_chunks"])
async def test_an_export_refused_for_a_handed_out_reader_leaves_that_reader_the_stream(
    server: MockTelnyxServer, client: SimCardsClient, tmp_path: Path, reader: str
) -> None:
    """``pages()`` (or ``chunks()``, ``raw_chunks()``) handed out, not yet read from, then
    ``export()`` of the stream: refused, as it should be, saying the stream "was read
    already" (nothing was), and the export closed the stream, so the reader it had ended
    with "closed before it was read" and nobody got the listing. The export is refused
    before it takes the stream over, naming the reader handed out, and that reader reads it.
    """
    stream = client.sim_cards(page_size=100)
    handed: Any = getattr(stream, reader)()
    with pytest.raises(RuntimeError, match="reader was handed out already"):
        await export(stream, tmp_path / "never.jsonl")
    assert server.requests == []
    assert list(tmp_path.iterdir()) == []
    records = [record async for chunk in handed for record in getattr(chunk, "data", chunk)]
    assert [record.id for record in records] == server.current_sim_card_ids()


@pytest.mark.parametrize("reader", ["pages", "chunks", "raw_chunks"])
async def test_check_unread_agrees_with_unread_once_a_reader_was_handed_out(
    client: SimCardsClient, everything: list[SimCard], reader: str
) -> None:
    """With a reader handed out, ``unread`` was False but ``check_unread()`` raised nothing,
    and a second reader (``async for``) took the items while the first then failed. Both say
    the same now: the second reader is refused, and the first reads the listing.
    """
    stream = client.sim_cards(page_size=100)
    handed: Any = getattr(stream, reader)()
    assert not stream.unread
    with pytest.raises(RuntimeError, match="read once, by one reader"):
        stream.check_unread()
    with pytest.raises(RuntimeError, match="read once, by one reader"):
        await stream.collect()
    with pytest.raises(RuntimeError, match="read once, by one reader"):
        async for _ in stream:
            pass
    records = [record async for chunk in handed for record in getattr(chunk, "data", chunk)]
    assert [record.id for record in records] == [card.id for card in everything]


@pytest.mark.parametrize("ordered", [False, True], ids=["as-they-arrive", "in-order"])
async def test_a_merge_refused_a_stream_read_since_leaves_its_reader_reading(
    client: SimCardsClient, ordered: bool
) -> None:
    """A stream merged while unread, then read by another reader before the merge was: the
    merge fails (its stream read already), and the other reader goes on to the end. The
    merge closed the stream as it failed, and both readings ended, nobody with the listing.
    """
    sort = "current_billing_period_consumed_data.amount" if ordered else None
    everything = await client.sim_cards(page_size=100, sort=sort).collect()
    stream = client.sim_cards(page_size=100, sort=sort)
    merged = merge(stream, client.sim_cards(status="enabled", sort=sort), ordered=ordered)
    items = aiter(stream)
    first = await anext(items)
    with pytest.raises(RuntimeError, match="this stream was read already"):
        await merged.collect()
    rest = [card async for card in items]
    assert [first, *rest] == everything


@pytest.mark.parametrize("reader", ["pages", "chunks", "raw_chunks"])
async def test_a_stream_handed_to_a_reader_is_refused_by_a_merge(
    server: MockTelnyxServer, client: SimCardsClient, reader: str
) -> None:
    """A stream whose ``pages()`` or ``chunks()`` was handed out (not yet read) was taken by a
    merge, which then read every stream as Structs: its JSON-lines export lost the fields no
    model knows, in silence (a ``raw_chunks()`` one failed inside the merge). Refused when
    the merge is made, as a stream being read is, before any request.
    """
    stream = client.sim_cards(page_size=100)
    handed = getattr(stream, reader)()
    with pytest.raises(InvalidParameterError, match="handed to a reader") as caught:
        merge(stream, client.sim_cards(status="enabled"))
    assert caught.value.parameter == "streams"
    assert server.requests == []
    await handed.aclose()


async def test_a_merge_whose_chunks_were_handed_out_is_not_exported_again(
    server: MockTelnyxServer, client: SimCardsClient, tmp_path: Path
) -> None:
    """``merged.chunks()`` handed out, then ``export(merged)``: the export read the merge as
    Structs through it (``raw_chunks()`` said None), its JSON lines lossy. A second reader is
    refused, as for a stream.
    """
    merged = merge(client.sim_cards(status="enabled"), client.sim_cards(status="disabled"))
    handed = merged.chunks()
    with pytest.raises(RuntimeError, match="reader was handed out already"):
        await export(merged, tmp_path / "never.jsonl")
    assert server.requests == []
    await handed.aclose()
    await merged.aclose()


@pytest.mark.parametrize("reader", ["tagged", "chunks", "raw_chunks"])
async def test_a_merge_handed_to_a_reader_refuses_a_second_one(
    server: MockTelnyxServer, client: SimCardsClient, reader: str
) -> None:
    """``merged.tagged()`` handed out, not yet read: ``unread`` stayed True, and
    ``collect()`` took the items while the tagged reader then failed. Every reader handed
    out counts, as for a stream; the one handed out reads the union.
    """
    everything = await merge(
        client.sim_cards(status="enabled"), client.sim_cards(status="disabled")
    ).collect()
    before = len(server.requests)
    merged = merge(client.sim_cards(status="enabled"), client.sim_cards(status="disabled"))
    handed: Any = getattr(merged, reader)()
    assert not merged.unread
    for second in (merged.check_unread, merged.tagged, merged.chunks, merged.raw_chunks):
        with pytest.raises(RuntimeError, match="read once, by one reader") as caught:
            second()
        assert "this merge's reader" in str(caught.value)  # a merge's, tagged() among them
        assert "tagged()" in str(caught.value)
    with pytest.raises(RuntimeError, match="read once, by one reader"):
        await merged.collect()
    assert len(server.requests) == before  # the refused readers sent nothing
    if reader == "tagged":
        ids = [pair.item.id async for pair in handed]
    else:
        ids = [record.id async for chunk in handed for record in chunk]
    assert sorted(ids) == sorted(card.id for card in everything)
    await merged.aclose()


@pytest.mark.parametrize("reader", ["pages", "tagged"])
async def test_pages_and_tagged_closed_from_another_task_stop_their_reader(
    client: SimCardsClient, reader: str
) -> None:
    """``aclose()`` of what ``pages()`` or ``tagged()`` returned, from another task while
    its reader is in its loop body: the reader's next step raises, instead of its loop
    ending as if the listing had (or ``aclose`` raising "generator is already running").
    """
    stream = client.sim_cards(page_size=100)
    handed = stream.pages() if reader == "pages" else merge(stream).tagged()
    first = asyncio.Event()
    closed = asyncio.Event()
    steps = 0

    async def read() -> None:
        nonlocal steps
        async for _ in handed:
            steps += 1
            first.set()
            await closed.wait()

    task = asyncio.create_task(read())
    await first.wait()
    await handed.aclose()
    closed.set()
    with pytest.raises(RuntimeError, match="while it was being read"):
        await task
    assert steps < (CARDS // 100 if reader == "pages" else CARDS)


@pytest.mark.parametrize("reader", ["pages", "tagged"])
@pytest.mark.parametrize("how", ["break", "raise", "dropped"])
async def test_pages_and_tagged_kept_stop_everything_when_their_loop_stops(
    slow_server: MockTelnyxServer, reader: str, how: str
) -> None:
    """What ``pages()`` or ``tagged()`` returned, kept in a variable: a ``break`` (an
    exception out of the loop, or its iterator dropped) left the engine running, its
    read-ahead still sending requests, and a second loop over it yielded the rest. Now the
    stream stops at once, as after a ``break`` out of the stream itself, and reading it
    again raises.
    """
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=2) as client:
        stream = client.sim_cards(page_size=10)
        merged = merge(stream) if reader == "tagged" else None
        handed = stream.pages() if merged is None else merged.tagged()
        if how == "break":
            async for _ in handed:
                break
        elif how == "raise":
            with pytest.raises(KeyError):
                async for _ in handed:
                    raise KeyError(reader)
        else:
            items = aiter(handed)
            await anext(items)
            del items
        await _settle()
        sent = len(slow_server.requests)
        assert sent <= 1 + client.read_ahead
        await loop_turns()
        assert len(slow_server.requests) == sent
        with pytest.raises(RuntimeError, match="read already"):
            async for _ in handed:
                pass
        with pytest.raises(RuntimeError, match="read already"):
            await anext(handed)
        # One page went to the reader (whole, from pages()), or one pair.
        yielded = stream.stats.items_yielded if merged is None else merged.stats.items_yielded
        assert yielded == (10 if merged is None else 1)


async def test_pages_read_by_anext_then_a_loop_are_one_reader(
    client: SimCardsClient, everything: list[SimCard]
) -> None:
    """``anext()`` on what ``pages()`` returned, then a loop over it: one reader, which gets
    every page once; a loop after that one ended raises.
    """
    pages = client.sim_cards(page_size=100).pages()
    first = await anext(pages)
    rest = [card async for page in pages for card in page.data]
    assert [*first.data, *rest] == everything
    with pytest.raises(RuntimeError, match="read already"):
        async for _ in pages:
            pass


async def test_pages_read_to_the_end_says_so_when_read_again(client: SimCardsClient) -> None:
    """The object ``pages()`` returned, read again after its end, yielded nothing."""
    pages = client.sim_cards(page_size=100).pages()
    assert [len(page.data) async for page in pages]
    with pytest.raises(RuntimeError, match="read already"):
        async for _ in pages:
            pass


async def test_a_stream_closed_under_its_reader_says_so(
    client: SimCardsClient, everything: list[SimCard]
) -> None:
    """`aclose()` while a reader is mid-listing: the reader's next step raises, instead of the
    listing ending there as if complete.
    """
    stream = client.sim_cards(page_size=100)
    items = aiter(stream)
    first = await anext(items)
    await stream.aclose()
    with pytest.raises(RuntimeError, match=r"closed \(aclose\(\)\) while it was being read"):
        async for _ in items:
            pass
    assert first == everything[0]


async def test_a_stream_closed_before_it_is_read_says_so(
    server: MockTelnyxServer, client: SimCardsClient, tmp_path: Path
) -> None:
    """Read after its `async with` block ended, a stream yielded nothing, as if the listing
    were empty; closed by `aclose()` before it started, it read everything, as if open. Both
    now raise, naming the close, and an export of it writes nothing.
    """
    closed_by_block = client.sim_cards(page_size=100)
    async with closed_by_block:
        pass
    closed_unstarted = client.sim_cards(page_size=100)
    await closed_unstarted.aclose()
    server.requests.clear()
    for stream in (closed_by_block, closed_unstarted):
        with pytest.raises(RuntimeError, match=r"closed \(aclose\(\), or the end of its"):
            await stream.collect()
    exported = client.sim_cards(page_size=100)
    await exported.aclose()
    with pytest.raises(RuntimeError, match="before it was read"):
        await export(exported, tmp_path / "cards.jsonl")
    assert list(tmp_path.iterdir()) == []
    assert server.requests == []


async def test_a_stream_of_a_client_closed_before_it_is_read_says_so(
    server: MockTelnyxServer,
) -> None:
    """A stream made before its client closed and read after: the error says the client
    closed before the stream was read to its end (it said "while ... being read").
    """
    client = SimCardsClient(KEY, server.url)
    stream = client.sim_cards(page_size=100)
    await client.aclose()
    with pytest.raises(RuntimeError, match="the client was closed before this stream was read"):
        await stream.collect()
    assert server.requests == []


async def test_a_checkpointed_stream_closed_under_its_reader_is_not_saved_complete(
    client: SimCardsClient, tmp_path: Path
) -> None:
    """Closed mid-listing, a checkpointed stream keeps a checkpoint to resume from, never one
    that says the listing is complete.
    """
    path = tmp_path / "scan.json"
    stream = client.sim_cards(page_size=100, checkpoint=path)
    items = aiter(stream)
    await anext(items)
    await stream.aclose()
    with pytest.raises(RuntimeError, match="while it was being read"):
        async for _ in items:
            pass
    point = json.loads(path.read_text())
    assert point["complete"] is False
    assert point["items_done"] < CARDS


# --- closed under the reader: nothing more after the close ------------------------------


@pytest.mark.parametrize("closed", ["stream", "client", "client in another task"])
@pytest.mark.parametrize("read", ["items", "merge", "tagged"])
async def test_a_reader_gets_nothing_after_the_close_returns(closed: str, read: str) -> None:
    """``aclose()`` (the stream's, or its client's) under a reader: the reader went on
    through the page (or a merge's batch) in its hands, up to 249 items after the close had
    returned, then raised. It stops at its next step now: ``RuntimeError``, nothing more.
    """
    async with MockTelnyxServer(sim_cards=CARDS, actions=1, seed=1) as server:
        async with SimCardsClient(KEY, server.url, max_concurrency=2) as client:
            stream: Any = client.sim_cards(page_size=100)
            if read != "items":
                stream = merge(stream, client.sim_cards(page_size=100, status="standby"))
            reader = stream.tagged() if read == "tagged" else stream
            got = after = 0
            done = False
            # The client's close is said as such, a merge's too (its reader is none of the
            # client's tasks: it was told the stream was closed).
            said = r"closed \(aclose\(\)\)" if closed == "stream" else "the client was closed"
            with pytest.raises(RuntimeError, match=said):
                async for _ in reader:
                    got += 1
                    if done:
                        after += 1
                    elif got == 10:
                        if closed == "stream":
                            await stream.aclose()
                        elif closed == "client":
                            await client.aclose()
                        else:
                            await asyncio.create_task(client.aclose())
                        done = True
            assert (got, after) == (10, 0)
        await _settle()


async def test_a_merge_stopped_cancels_its_listings_requests_at_once(
    slow_server: MockTelnyxServer,
) -> None:
    """A ``break`` out of a merge cancelled the readers' task only: its listings were told a
    few loop turns later, one sending up to 8 more requests meanwhile. Their producers are
    cancelled as the merge's reader stops, before the loop runs again.
    """
    async with SimCardsClient(KEY, slow_server.url, max_concurrency=4) as client:
        streams = [client.sim_cards(page_size=10), client.sim_cards(page_size=10, tags="x")]
        merged = merge(*streams, ordered=False)
        items: Any = aiter(merged)  # what ``async for`` runs: an async generator
        await anext(items)
        assert all(stream._producer.task is not None for stream in streams)
        await items.aclose()  # what a break does, once the loop drops the iterator
        # Nothing awaited a loop turn since: cancelled by the stop itself.
        assert [stream._producer.task for stream in streams] == [None, None]
        await _settle()


@pytest.mark.parametrize("read", ["merge", "tagged"])
async def test_a_merge_reader_stops_when_one_of_its_streams_is_closed(read: str) -> None:
    """``aclose()`` on one stream of a merge, in the merge's loop: the merge's reader went on
    through its batch (33 more items), though the stream said it was closed. It raises at
    its next item, as a reader the stream was closed under does.
    """
    async with MockTelnyxServer(sim_cards=CARDS, actions=1, seed=1) as server:
        async with SimCardsClient(KEY, server.url, max_concurrency=2) as client:
            first = client.sim_cards(page_size=100)
            merged = merge(first, client.sim_cards(page_size=100, status="standby"))
            reader: Any = merged.tagged() if read == "tagged" else merged
            got = after = 0
            with pytest.raises(RuntimeError, match=r"closed \(aclose\(\)\) while it was being"):
                async for _ in reader:
                    got += 1
                    if got > 10:
                        after += 1
                    elif got == 10:
                        await first.aclose()
            assert (got, after) == (10, 0)
        await _settle()
