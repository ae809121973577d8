"""Resumable scans: checkpoint files, resume_from, and their refusals."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import os
import threading
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from aiohttp import web
from polling import HANG_GUARD, eventually, fifo_never_blocks_for_ever, loop_turns
from servers import serve

import simcards_async as sc
from simcards_async import _checkpoint, _page_stream, _stream
from simcards_async._checkpoint import (
    Checkpoint,
    Checkpointer,
    fingerprint,
    ids_path,
    load_checkpoint,
    save_checkpoint,
    sealed,
)
from simcards_async._ids import DeliveredIds
from simcards_async._paths import locked, name_max
from simcards_async._query import sim_cards_query
from simcards_async._sansio import api_identity, same_api
from simcards_async.testing import FaultPlan, Misbehaviour, MockTelnyxServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=2000, actions=700, seed=11) as srv:
        yield srv


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[sc.SimCardsClient]:
    async with sc.SimCardsClient("test-key", server.url, max_concurrency=4) as c:
        yield c


async def _first_ids(stream: AsyncIterable[sc.SimCard], count: int) -> list[str]:
    """The ids of the first ``count`` cards of ``stream``, read with a ``break`` after them."""
    ids: list[str] = []
    async for card in stream:
        ids.append(card.id)
        if len(ids) == count:
            break
    return ids


def page_numbers(server: MockTelnyxServer, since: int) -> list[int]:
    return [int(r.query["page[number]"][0]) for r in server.requests[since:]]


async def test_checkpoint_records_the_pages_the_consumer_finished(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """After a break mid-page, the checkpoint names the first page not fully consumed."""
    path = tmp_path / "scan.json"
    consumed = 0
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        async for _ in stream:
            consumed += 1
            if consumed == 350:  # in the middle of page 4
                break
    point = json.loads(path.read_text())
    assert point["next_page"] == 4
    assert point["items_done"] == 300
    assert point["total_results"] == 2000
    assert point["complete"] is False
    assert len(point["last_ids"]) == 100
    assert point["params"] == {"page[size]": "100"}


async def test_resume_after_a_crash_gives_the_same_ids_and_refetches_nothing(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A scan that crashed midway, resumed, yields exactly the rest: together, the full listing.

    The crash came 34 items into page 13: the checkpoint counts 1200 items of finished
    pages and names those 34 as already yielded, so the resume starts at item 1235.
    """
    full = [c.id for c in await client.sim_cards(page_size=100).collect()]
    path = tmp_path / "scan.json"
    first: list[str] = []

    class CrashError(Exception):
        pass

    with pytest.raises(CrashError):
        async with client.sim_cards(page_size=100, checkpoint=path) as stream:
            async for card in stream:
                first.append(card.id)
                if len(first) == 1234:
                    raise CrashError
    done = json.loads(path.read_text())["items_done"]
    assert done == 1200
    before = len(server.requests)
    async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as stream:
        rest = [card.id async for card in stream]
    assert first + rest == full
    fetched = page_numbers(server, before)
    assert sorted(fetched) == list(range(13, 21)), "pages 1-12 were done and not fetched again"
    assert json.loads(path.read_text())["complete"] is True


async def test_a_resume_cancelled_while_it_loads_earlier_ids_waits_for_that_thread(
    client: sc.SimCardsClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resumed stream loads the ids delivered before the stop in a worker thread. Its
    task cancelled the asyncio way, the stream closed its id set (and the set's temporary
    files) while that thread was still adding to it: a ``ValueError`` in the thread, which
    ran on for a second at a million ids. The stream's producer now waits for the thread
    (told to stop) before it closes the set; the reader's task still ends at once.
    """
    path = tmp_path / "scan.json"
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        await _first_ids(stream, 1234)
    events: list[str] = []
    entered, go = threading.Event(), threading.Event()
    add, close = DeliveredIds.add, DeliveredIds.close

    def held_add(ids: DeliveredIds, new: Any) -> None:
        if threading.current_thread() is not threading.main_thread():  # the loading thread
            events.append("add")
            entered.set()
            go.wait(HANG_GUARD)
        add(ids, new)

    def recorded_close(ids: DeliveredIds) -> None:
        events.append("close")
        close(ids)

    monkeypatch.setattr(DeliveredIds, "add", held_add)
    monkeypatch.setattr(DeliveredIds, "close", recorded_close)

    async def resume() -> None:
        async for _ in client.sim_cards(page_size=100, checkpoint=path, resume_from=path):
            pass

    task = asyncio.create_task(resume())
    try:
        await eventually(entered.is_set, what="the earlier ids loading in their thread")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await loop_turns()  # the stream's producer task, still waiting for the thread
        assert events == ["add"]
    finally:
        go.set()
    await eventually(lambda: "close" in events, what="the id set closed after the thread")
    assert events[:2] == ["add", "close"]
    assert events.count("add") == 1


async def test_resume_of_a_listing_whose_engine_failed(tmp_path: Path) -> None:
    """A listing that dies on a server error resumes from its checkpoint once the server is back."""
    path = tmp_path / "scan.json"
    # Requests 1-5 succeed; then page 6 fails for good (1 try + 0 retries).
    faults = FaultPlan(script=[None] * 5 + [500])
    async with (
        MockTelnyxServer(sim_cards=1000, seed=3, faults=faults) as server,
        sc.SimCardsClient("any-key", server.url, max_concurrency=1, max_retries=0) as client,
    ):
        got: list[str] = []
        with pytest.raises(sc.InternalServerError):
            async for card in client.sim_cards(page_size=100, checkpoint=path):
                got.append(card.id)
        assert len(got) == 500
        async for card in client.sim_cards(page_size=100, checkpoint=path, resume_from=path):
            got.append(card.id)
        assert got == server.current_sim_card_ids()


async def test_resume_warns_when_the_listing_drifted_since(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """Records added between the crash and the resume raise a DriftWarning on resume."""
    path = tmp_path / "scan.json"
    async with client.sim_cards(page_size=100, checkpoint=path) as first:
        async for card in first:
            if card.id:
                break
    # Closed: a bare break left the stream holding the checkpoint (its first save took the
    # ids file's lock) until its iterator was finalized, and the next scan was refused.
    # The break ends the scan on page 1, before any page was finished: finish one page.
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        n = 0
        async for _ in stream:
            n += 1
            if n == 150:
                break
    server.insert_sim_cards(7)
    with pytest.warns(sc.DriftWarning, match="2000 -> 2007"):
        stream = client.sim_cards(page_size=100, resume_from=path)
        rest = await stream.collect()
    assert stream.stats.drift.first_total_results == 2000
    assert stream.stats.drift.last_total_results == 2007
    assert len(rest) > 0


async def test_a_checkpoint_of_another_query_is_refused(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """resume_from a checkpoint made for other filters or page size fails before any request."""
    path = tmp_path / "scan.json"
    async with client.sim_cards(status="enabled", page_size=50, checkpoint=path) as stream:
        async for _ in stream:
            break
    before = len(server.requests)
    made = "it was made for sim_cards(status='enabled', page_size=50), not "
    for other, this in (
        ({"status": "disabled", "page_size": 50}, "sim_cards(status='disabled', page_size=50)"),
        ({"status": "enabled", "page_size": 100}, "sim_cards(status='enabled', page_size=100)"),
        ({"page_size": 50}, "sim_cards(page_size=50)"),
        (
            {"status": ["standby", "enabled"], "tags": ["a"], "include_sim_card_group": True},
            (
                "sim_cards(status=['standby', 'enabled'], tags='a', "
                "include_sim_card_group=True, page_size=250)"
            ),
        ),
    ):
        with pytest.raises(sc.InvalidParameterError, match="resume_from") as info:
            client.sim_cards(resume_from=path, **other)
        # In the caller's words, not the wire's ({'filter[status]': 'enabled', ...}).
        assert f"a checkpoint of this same query; {made}{this}" in str(info.value)
    with pytest.raises(sc.InvalidParameterError, match="resume_from") as info:
        client.sim_card_actions(page_size=50, resume_from=path)
    assert f"{made}sim_card_actions(page_size=50)" in str(info.value)
    assert len(server.requests) == before


async def test_a_checkpoint_of_another_api_is_refused_and_a_restarted_mock_is_not(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A resume against another server (another fleet, another account's region) mixed
    its records with the first one's and reported the whole listing: refused, naming
    ``base_url``. A server on this machine on another port (a mock restarted, ``--demo``),
    or by another loopback name, is the same API: taken.
    """
    path = tmp_path / "scan.json"
    first: list[str] = []
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        async for card in stream:
            first.append(card.id)
            if len(first) == 250:
                break
    assert json.loads(path.read_text())["api"] == "http://localhost/v2"
    elsewhere = server.url + "/eu"  # another API (a path of its own) on the same host
    async with sc.SimCardsClient("any-key", elsewhere) as other:
        with pytest.raises(sc.InvalidParameterError, match="base_url") as info:
            other.sim_cards(page_size=100, checkpoint=path, resume_from=path)
    assert "the API http://localhost/v2 (or one naming it), which the scan" in str(info.value)
    assert info.value.value == elsewhere  # as given
    named = server.url.replace("127.0.0.1", "localhost")  # the same server by another name
    async with sc.SimCardsClient("any-key", named) as other:
        other.sim_cards(page_size=100, checkpoint=path, resume_from=path)  # taken
    full = await client.sim_cards(page_size=100).collect()
    async with (
        MockTelnyxServer(sim_cards=2000, actions=700, seed=11) as restarted,  # the same fleet
        sc.SimCardsClient("any-key", restarted.url) as again,
    ):
        assert restarted.url != server.url
        stream = again.sim_cards(page_size=100, checkpoint=path, resume_from=path)
        rest = [card.id async for card in stream]
    assert first + rest == [card.id for card in full]


def test_the_api_a_checkpoint_keeps() -> None:
    """Scheme, host and port and path, the host's case and a trailing slash aside; a
    loopback host's port left out (a mock server listens on another each time).
    """
    assert api_identity("https://API.telnyx.com/v2/") == "https://api.telnyx.com:443/v2"
    assert api_identity("https://eu.example.com:8443/v2") == "https://eu.example.com:8443/v2"
    assert api_identity("http://127.0.0.1:8080/v2") == "http://localhost/v2"
    assert api_identity("http://[::1]:1/v2") == "http://localhost/v2"
    assert api_identity("http://LocalHost:1/v2") == "http://localhost/v2"
    # A checkpoint kept before every loopback host was localhost named its own: the same.
    for kept in ("http://127.0.0.1/v2", "http://::1/v2", "http://localhost/v2"):
        assert same_api(kept, api_identity("http://localhost:9/v2"))
    assert not same_api("http://127.0.0.1/v2", api_identity("http://localhost:9/v3"))
    assert not same_api("https://api.telnyx.com:443/v2", api_identity("http://127.0.0.1:9/v2"))


async def test_a_broken_or_missing_checkpoint_is_a_clear_error(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A missing file, bad JSON or a foreign version names resume_from and says what is wrong."""
    with pytest.raises(sc.InvalidParameterError, match="readable checkpoint"):
        client.sim_cards(resume_from=tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(sc.InvalidParameterError, match="checkpoint file"):
        client.sim_cards(resume_from=bad)
    query = sim_cards_query()
    old = tmp_path / "old.json"
    old.write_text(
        json.dumps(
            {
                "version": 99,
                "fingerprint": fingerprint(query),
                "path": "/sim_cards",
                "params": {},
                "next_page": 2,
                "items_done": 250,
            }
        )
    )
    with pytest.raises(sc.InvalidParameterError, match="version 4"):
        client.sim_cards(resume_from=old)
    # JSON nested past msgspec's depth: a bare RecursionError escaped.
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'{"version": 4, "extra": {"a": ' + b"[" * 2000 + b"]" * 2000 + b"}}")
    with pytest.raises(sc.InvalidParameterError, match="checkpoint file") as caught:
        client.sim_cards(resume_from=deep)
    assert caught.value.parameter == "resume_from"
    with pytest.raises(sc.InvalidParameterError, match="not a checkpoint") as caught:
        client.sim_cards(checkpoint=deep, resume_from=deep)
    assert caught.value.parameter == "checkpoint"
    # A mistyped path to a large file (a database, a disk image) was read whole first.
    large = tmp_path / "large.img"
    with large.open("wb") as file:
        file.truncate(_checkpoint.MAX_CHECKPOINT_BYTES + 1)  # sparse: nothing written
    with pytest.raises(sc.InvalidParameterError, match="at most 1,048,576 bytes"):
        client.sim_cards(resume_from=large)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"next_page": 0}, "next_page is 0"),
        ({"next_page": -3}, "next_page"),
        ({"items_done": -1}, "items_done"),
        ({"total_results": -5}, "total_results"),
        ({"ids_size": -1}, "ids_size"),
    ],
)
async def test_a_checkpoint_no_scan_could_have_saved_is_refused_by_name(
    server: MockTelnyxServer,
    client: sc.SimCardsClient,
    tmp_path: Path,
    edit: dict[str, int],
    says: str,
) -> None:
    """A hand-edited next_page of 0 made the resumed scan ask for page 0 and blame the
    server's answer (PaginationError); negative counts were taken as they came. Refused,
    naming resume_from and the field, before anything is sent.
    """
    path = tmp_path / "scan.json"
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        async for _ in stream.pages():
            break
    sent = len(server.requests)
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    with pytest.raises(sc.InvalidParameterError, match=says) as caught:
        client.sim_cards(page_size=100, resume_from=path)
    assert caught.value.parameter == "resume_from"
    assert len(server.requests) == sent


@pytest.mark.parametrize(
    "edit",
    [
        {"next_page": 40},
        {"items_done": 2000},
        {"pages_done": 9},
        {"page_ids": ["x"]},
        {"last_ids": []},
        {"complete": True},
        {"limited": True},
        {"ids_size": 0},
        {"page_size": 10},
        # Checked for the query only after the digest: an edited fingerprint was said to be
        # another query's, "made for sim-cards --page-size 100, not sim-cards --page-size 100".
        {"fingerprint": "0" * 32},
    ],
    ids=lambda edit: next(iter(edit)),
)
async def test_a_checkpoint_edited_by_hand_is_refused_before_sending(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path, edit: dict[str, Any]
) -> None:
    """A valid value in the wrong place: next_page moved past the end made a resumed export
    yield nothing and report success (the records between missing); items_done inflated the
    count reported. The fields are sealed by a digest: an edit is refused, naming
    resume_from, before anything is sent.
    """
    path = tmp_path / "scan.json"
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        pages = 0
        async for _ in stream.pages():
            pages += 1
            if pages == 3:
                break
    saved = json.loads(path.read_text())
    assert all(saved[name] != value for name, value in edit.items())
    sent = len(server.requests)
    path.write_text(json.dumps({**saved, **edit}))
    with pytest.raises(sc.InvalidParameterError, match="was it edited") as caught:
        client.sim_cards(page_size=100, checkpoint=path, resume_from=path)
    assert caught.value.parameter == "resume_from"
    assert len(server.requests) == sent
    path.write_text(json.dumps(saved, indent=2))  # the same fields, laid out otherwise: fine
    async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as stream:
        assert len([card async for card in stream]) == 2000 - 300


async def test_a_checkpoint_path_no_file_can_be_written_at_is_refused_before_sending(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A checkpoint in a missing directory, or at a directory, names ``checkpoint`` up front."""
    before = len(server.requests)
    with pytest.raises(sc.InvalidParameterError, match="existing directory") as missing:
        client.sim_cards(checkpoint=tmp_path / "no-such-dir" / "cp.json")
    assert missing.value.parameter == "checkpoint"
    with pytest.raises(sc.InvalidParameterError, match="not a directory") as directory:
        client.sim_card_actions(checkpoint=tmp_path)
    assert directory.value.parameter == "checkpoint"
    assert len(server.requests) == before


@pytest.mark.parametrize("given", ["", ".", "/", "./", "nodir/", "nodir/.", "a/.."])
@pytest.mark.parametrize("parameter", ["checkpoint", "resume_from"])
async def test_a_checkpoint_path_that_names_no_file_is_refused_before_sending(
    server: MockTelnyxServer,
    client: sc.SimCardsClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    given: str,
    parameter: str,
) -> None:
    """``Path`` drops a trailing ``/`` and has no name for ``""``, ``.`` or ``/``: ``nodir/``
    was checked as ``nodir``, requests were sent and the first save raised a bare
    ``NotADirectoryError``; ``.`` gave a bare ``ValueError`` (no name for the ids file).
    Refused by name, as given, before anything is sent.
    """
    monkeypatch.chdir(tmp_path)
    before = len(server.requests)
    with pytest.raises(sc.InvalidParameterError, match="a name at its end") as caught:
        if parameter == "checkpoint":
            client.sim_cards(checkpoint=given)
        else:
            client.sim_cards(resume_from=given)
    assert caught.value.parameter == parameter
    assert f"{given!r}" in str(caught.value)
    assert len(server.requests) == before
    assert list(tmp_path.iterdir()) == []


class _BytesPath:
    """An ``os.PathLike`` whose path is bytes (``os.scandir(b".")``'s entries are)."""

    def __fspath__(self) -> bytes:
        return b"cp.json"


@pytest.mark.parametrize("parameter", ["checkpoint", "resume_from"])
@pytest.mark.parametrize(
    "given", [123, b"cp.json", _BytesPath()], ids=["int", "bytes", "bytes-pathlike"]
)
async def test_a_checkpoint_path_that_is_no_text_path_is_refused_in_one_way(
    server: MockTelnyxServer, client: sc.SimCardsClient, parameter: str, given: object
) -> None:
    """A checkpoint given as no path was refused by the client as "a file path or None",
    and one given as a bytes path (an ``os.PathLike`` too) by the checkpoint's own check as
    "a file path as text": two messages for one mistake. One check says it, by name.
    """
    before = len(server.requests)
    with pytest.raises(sc.InvalidParameterError, match="a file path as text") as caught:
        client.sim_cards(**{parameter: given})  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    # Named for what it is before rescan=True is refused beside a checkpoint.
    with pytest.raises(sc.InvalidParameterError, match="a file path as text") as caught:
        client.sim_cards(rescan=True, **{parameter: given})  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    assert len(server.requests) == before


async def test_the_scan_saving_a_checkpoint_removes_the_temporary_files_dead_runs_left(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A run killed between a save's write and its rename left ``.scan.json.TOKEN.tmp`` for
    good, a resume or a fresh run over that checkpoint included. The scan that takes the
    checkpoint's lock removes them (no running scan saves there then); nothing else goes.
    """
    path = tmp_path / "scan.json"
    stale = [tmp_path / ".scan.json.0123abcd.tmp", tmp_path / ".scan.json.deadbeef.tmp"]
    others = [
        tmp_path / ".scan.json.tmp",
        tmp_path / ".scan.json.0123abcd.tmp.x",
        tmp_path / ".other.json.0123abcd.tmp",
        tmp_path / ".scan.json.0123ABCD.tmp",
    ]
    for file in stale + others:
        file.write_bytes(b"{}")
    async with client.sim_cards(page_size=10, checkpoint=path) as stream:
        async for page in stream.pages():
            if page.meta is not None and page.meta.page_number == 5:
                break  # a stop: saved, and the ids file (and its lock) taken
    assert ids_path(path).exists()
    assert not [file.name for file in stale if file.exists()]
    assert all(file.exists() for file in others)


async def test_a_checkpoint_whose_temporaries_share_a_cut_name_removes_none(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A checkpoint name so long that its saves' temporary names are cut short shares their
    start with another long name's: removing what looked like its own dead runs' files took
    the other scan's save, about to be renamed. Such a scan removes none.
    """
    keep = name_max(tmp_path) - len(".ids") - 8
    path, other = (tmp_path / ("s" * keep + f"-{n}.json") for n in "ab")
    stem = _checkpoint._temp_stem(path)
    assert stem == _checkpoint._temp_stem(other) != f".{path.name}."  # cut, and shared
    theirs = tmp_path / f"{stem}0123abcd.tmp"
    theirs.write_bytes(b"{}")
    async with client.sim_cards(page_size=10, checkpoint=path) as stream:
        async for page in stream.pages():
            if page.meta is not None and page.meta.page_number == 5:
                break
    assert ids_path(path).exists()
    assert theirs.exists()


async def test_a_failed_checkpoint_save_leaves_no_partial_output(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """When a save fails mid-export, no checkpoint on disk refers to the partial output,
    so the export removes it: nothing is left but what was there before.
    """
    checkpoint = tmp_path / "cp.json"
    stream = client.sim_cards(page_size=100, checkpoint=checkpoint)
    seen: list[int] = []

    def break_the_checkpoint(progress: sc.Progress) -> None:
        seen.append(progress.pages_done)
        if len(seen) == 2 and checkpoint.is_file():
            # The next save replaces a file by a directory's name: it fails.
            checkpoint.unlink()
            checkpoint.mkdir()

    stream.on_progress(break_the_checkpoint)
    with pytest.raises(OSError):  # noqa: PT011  (the OS's own error for a failed write)
        await sc.export(stream, tmp_path / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json"]
    assert checkpoint.is_dir()


async def test_rescan_and_checkpoints_do_not_mix(client: sc.SimCardsClient, tmp_path: Path) -> None:
    """A re-scan would re-read pages a checkpoint counts as done, so the pair is refused."""
    with pytest.raises(sc.InvalidParameterError, match="rescan"):
        client.sim_cards(rescan=True, checkpoint=tmp_path / "c.json")


async def test_resuming_a_complete_scan_yields_nothing(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A checkpoint written at the end of a scan marks it complete; resuming it sends nothing."""
    path = tmp_path / "scan.json"
    assert len(await client.sim_card_actions(page_size=250, checkpoint=path).collect()) == 700
    before = len(server.requests)
    rest = await client.sim_card_actions(page_size=250, resume_from=path).collect()
    assert rest == []
    assert len(server.requests) == before


async def test_limit_counts_across_a_resume(client: sc.SimCardsClient, tmp_path: Path) -> None:
    """A limit caps the whole scan: stopped after 230 of 450, the resume yields the other 220."""
    path = tmp_path / "scan.json"
    got = 0
    async with client.sim_cards(page_size=100, limit=450, checkpoint=path) as stream:
        async for _ in stream:
            got += 1
            if got == 230:
                break
    rest = await client.sim_cards(page_size=100, limit=450, resume_from=path).collect()
    assert len(rest) == 220


async def test_a_resume_from_another_start_page_is_refused(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A scan from page 6 resumed with start_page=1 went on from its checkpoint, but counted
    its progress from page 1: it ended at 50% (and the other way round, past 100%). The
    start page is kept in the checkpoint, and another one is refused by name.
    """
    from_page_6 = [c.id for c in await client.sim_cards(page_size=100, start_page=6).collect()]
    path = tmp_path / "scan.json"
    async with client.sim_cards(page_size=100, start_page=6, checkpoint=path) as stream:
        first = await _first_ids(stream, 150)  # in the middle of page 7
    with pytest.raises(sc.InvalidParameterError, match="6, where the scan") as caught:
        client.sim_cards(page_size=100, start_page=1, resume_from=path)
    assert caught.value.parameter == "start_page"
    async with client.sim_cards(page_size=100, start_page=6, resume_from=path) as stream:
        rest = [card.id async for card in stream]
        assert stream.progress.fraction == 1.0
    assert first + rest == from_page_6


def test_fingerprint_ignores_where_a_scan_starts_and_stops() -> None:
    """start_page and limit do not change the listing a checkpoint belongs to; filters do."""
    base = fingerprint(sim_cards_query(status="enabled"))
    assert fingerprint(sim_cards_query(status="enabled", start_page=5, limit=10)) == base
    assert fingerprint(sim_cards_query(status="disabled")) != base
    assert fingerprint(sim_cards_query(status="enabled", page_size=20)) != base


def test_checkpoint_file_round_trips(tmp_path: Path) -> None:
    """A saved checkpoint loads back equal, sealed by its digest, and is written atomically
    (no temp file left).
    """
    query = sim_cards_query(tags=["a", "b"])
    point = Checkpoint(
        fingerprint=fingerprint(query),
        path=query.path,
        params=query.params,
        next_page=3,
        items_done=500,
        total_results=900,
        last_ids=("x", "y"),
        extra={"bytes": 123},
    )
    path = tmp_path / "c.json"
    save_checkpoint(path, point)
    assert load_checkpoint(path, query) == sealed(point)
    assert sealed(point).digest != ""
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


async def test_the_checkpointer_starts_afresh_and_removes_its_file_when_asked(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """resume_from the checkpoint file itself starts afresh when it is not there yet, and
    keep_checkpoint=False deletes it once the listing is done and the stream closed.
    """
    path = tmp_path / "scan.json"
    async with client.sim_card_actions(
        page_size=100, checkpoint=path, resume_from=path, keep_checkpoint=False
    ) as stream:
        n = 0
        async for _ in stream:
            n += 1
            if n == 150:
                break
    assert path.exists(), "an unfinished scan keeps its checkpoint"
    assert stream.resumable_from == path
    async with client.sim_card_actions(
        page_size=100, checkpoint=path, resume_from=path, keep_checkpoint=False
    ) as stream:
        rest = [a async for a in stream]
    assert len(rest) == 700 - 150
    assert not path.exists()
    assert stream.resumable_from is None
    with pytest.raises(sc.InvalidParameterError, match="keep_checkpoint"):
        client.sim_cards(keep_checkpoint="no")  # type: ignore[arg-type]


async def test_resume_from_the_checkpoint_by_another_name_starts_afresh_too(
    server: MockTelnyxServer,
    client: sc.SimCardsClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checkpoint file named relatively and resume_from by its absolute path (or through
    ``..``): the same file, not there yet, so a fresh scan. It was refused as a missing
    checkpoint ("No such file or directory"), as another file would be.
    """
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for resume_from in (tmp_path / "scan.json", Path("sub/../scan.json")):
        async with client.sim_card_actions(
            page_size=100, checkpoint="scan.json", resume_from=resume_from
        ) as stream:
            assert len([a async for a in stream]) == 700
        (tmp_path / "scan.json").unlink()
        (tmp_path / "scan.json.ids").unlink(missing_ok=True)
    before = len(server.requests)
    with pytest.raises(sc.InvalidParameterError, match="readable checkpoint") as caught:
        client.sim_card_actions(checkpoint="scan.json", resume_from=tmp_path / "other.json")
    assert caught.value.parameter == "resume_from"
    assert len(server.requests) == before


async def test_resume_after_a_break_mid_page_yields_exactly_the_rest(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A break after item 350 (page 4 of 100-item pages): the checkpoint names the 50 ids of
    page 4 already yielded, and the resume yields item 351 onwards, nothing else; its
    progress continues from 350 items and 3 pages.
    """
    full = [c.id for c in await client.sim_cards(page_size=100).collect()]
    path = tmp_path / "scan.json"
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        first = await _first_ids(stream, 350)
    point = json.loads(path.read_text())
    assert (point["next_page"], point["items_done"], point["pages_done"]) == (4, 300, 3)
    assert point["page_ids"] == first[300:]
    before = len(server.requests)
    stream = client.sim_cards(page_size=100, checkpoint=path, resume_from=path)
    assert (stream.progress.items, stream.progress.pages_done) == (350, 3)
    seen: list[tuple[int, int]] = []
    stream.on_progress(lambda p: seen.append((p.items, p.pages_done)))
    async with stream:
        rest = [card.id async for card in stream]
    assert first + rest == full
    assert stream.stats.drift.duplicates_dropped == 0
    assert seen[0][0] == 400  # page 4's other 50, counted on top of the 350
    assert seen[-1] == (2000, 3 + len(server.requests) - before)
    assert stream.progress.fraction == 1.0


async def test_a_second_break_in_the_same_page_adds_to_its_yielded_ids(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """Stopped twice inside page 2 (after 120, then 10 more): the third run starts at 131."""
    full = [c.id for c in await client.sim_cards(page_size=100).collect()]
    path = tmp_path / "scan.json"
    got: list[str] = []
    for stop in (120, 130):
        async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as s:
            async for card in s:
                got.append(card.id)
                if len(got) == stop:
                    break
    assert json.loads(path.read_text())["page_ids"] == got[100:]
    async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as s:
        got.extend([card.id async for card in s])
    assert got == full


#: Eight records, four a page, page 1 holding ``c1`` twice: a server's glitch a scan drops.
_TWICE_IN_PAGE_1 = ["c0", "c1", "c1", "c2", "c3", "c4", "c5", "c6"]


async def _twice_in_page_1(request: web.Request) -> web.Response:
    number = int(request.query.get("page[number]", "1"))
    ids = _TWICE_IN_PAGE_1[(number - 1) * 4 : number * 4]
    meta = {"page_number": number, "page_size": 4, "total_pages": 2, "total_results": 8}
    return web.json_response({"data": [{"id": i} for i in ids], "meta": meta})


@pytest.mark.parametrize("stop", ["pages", "items"])
async def test_a_stop_after_a_page_holding_a_record_twice_resumes(
    tmp_path: Path, stop: str
) -> None:
    """Stopped right after page 1, which holds ``c1`` twice (by ``pages()``, or a break after
    ``c2``, its last record): every resume of that checkpoint failed with a
    ``PaginationError`` calling page 1 a replay. The ids the stop had yielded were counted
    once each against the page's repeats counted by position, one left over. The resume
    yields the rest, as an uninterrupted scan does.
    """
    path = tmp_path / "scan.json"
    async with serve(_twice_in_page_1) as served, sc.SimCardsClient("k3y", served.url) as client:
        with pytest.warns(sc.DriftWarning, match="1 repeat dropped"):
            whole = [card.id for card in await client.sim_cards(page_size=4).collect()]
        assert whole == ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]
        got: list[str] = []
        stream = client.sim_cards(page_size=4, checkpoint=path)
        with pytest.warns(sc.DriftWarning, match="1 repeat dropped"):
            await _read_page_1(stream, stop, got)
        assert got == ["c0", "c1", "c2"]
        resumed = client.sim_cards(page_size=4, checkpoint=path, resume_from=path)
        async with resumed:
            rest = [card.id async for card in resumed]
        assert got + rest == whole
        assert resumed.stats.drift.duplicates_dropped == 0


async def _read_page_1(stream: sc.PageStream[sc.SimCard], stop: str, got: list[str]) -> None:
    """Read page 1 of ``stream`` into ``got``, by ``pages()`` or item by item, and stop."""
    async with stream:
        if stop == "pages":
            async for page in stream.pages():
                got.extend(card.id for card in page.data)
                break
        else:
            async for card in stream:
                got.append(card.id)
                if card.id == "c2":
                    break


class _Rows:
    """A listing served from ``rows``, ``size`` a page, its meta counting them; changeable."""

    def __init__(self, rows: list[str], size: int) -> None:
        self.rows, self.size = rows, size

    async def handle(self, request: web.Request) -> web.Response:
        number, size, rows = int(request.query["page[number]"]), self.size, self.rows
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": max(1, -(-len(rows) // size)),
            "total_results": len(rows),
        }
        data = [{"id": i, "record_type": "sim_card"} for i in rows[(number - 1) * size :][:size]]
        return web.json_response({"data": data, "meta": meta})


async def _resumed_ids(
    client: sc.SimCardsClient, path: Path, *, limit: int | None = None, stop_at: str = ""
) -> list[str]:
    """The ids a run of 2 a page yields, resuming ``path`` if it is there and saving to it;
    it breaks after ``stop_at``.
    """
    got: list[str] = []
    stream = client.sim_cards(page_size=2, checkpoint=path, resume_from=path, limit=limit)
    async with stream:
        async for card in stream:
            got.append(card.id)
            if card.id == stop_at:
                break
    return got


async def test_a_limit_reached_after_a_resumed_page_with_nothing_left_guards_its_seam(
    tmp_path: Path,
) -> None:
    """Run A stops at ``limit=4`` (page 2, c d); run B, ``limit=5``, finds page 2 with nothing
    left and stops at e on page 3. Its checkpoint kept page 1's ids (a b) as the last page's,
    which guard the seam: the listing then moved by a whole page (X Y in front, g h gone, the
    count the same), and every resume read page 3 as a replay (``PaginationError``). It keeps
    page 2's, as a break after e does, and the resume goes on.
    """
    path = tmp_path / "scan.json"
    listing = _Rows(list("abcdefgh"), 2)
    async with serve(listing.handle) as served, sc.SimCardsClient("k3y", served.url) as client:
        got = await _resumed_ids(client, path, limit=4)
        got += await _resumed_ids(client, path, limit=5)
        assert got == list("abcde")
        saved = json.loads(path.read_text())
        assert (saved["next_page"], saved["page_ids"], saved["last_ids"]) == (3, ["e"], ["c", "d"])
        listing.rows = list("XYabcdef")
        with pytest.warns(sc.DriftWarning):
            rest = await _resumed_ids(client, path)
    assert rest == ["f"]  # X and Y came in behind the scan: missed, and warned about


async def test_a_complete_checkpoint_resumed_with_a_limit_it_reached_stays_complete(
    tmp_path: Path,
) -> None:
    """A finished scan of 6 resumed with ``limit=6`` was saved as stopped by its limit, at
    page 0: every later resume refused the checkpoint as edited by hand. It stays complete.
    """
    path = tmp_path / "scan.json"
    listing = _Rows([f"c{i}" for i in range(6)], 2)
    async with serve(listing.handle) as served, sc.SimCardsClient("k3y", served.url) as client:
        assert len(await _resumed_ids(client, path)) == 6
        assert await _resumed_ids(client, path, limit=6) == []
        saved = json.loads(path.read_text())
        assert (saved["complete"], saved["limited"], saved["items_done"]) == (True, False, 6)
        assert await _resumed_ids(client, path) == []


async def test_a_resume_whose_page_was_the_last_counts_it_done(tmp_path: Path) -> None:
    """Stopped at the listing's last record (c5, page 3 carried), the resume finds nothing
    left and ends: its complete checkpoint said 4 items and 2 pages done, and a resume of it
    said 4. It says 6 and 3.
    """
    path = tmp_path / "scan.json"
    listing = _Rows([f"c{i}" for i in range(6)], 2)
    async with serve(listing.handle) as served, sc.SimCardsClient("k3y", served.url) as client:
        assert len(await _resumed_ids(client, path, stop_at="c5")) == 6
        assert await _resumed_ids(client, path) == []
        saved = json.loads(path.read_text())
        assert (saved["complete"], saved["items_done"], saved["pages_done"]) == (True, 6, 3)
        again = client.sim_cards(page_size=2, checkpoint=path, resume_from=path)
        assert (again.resumed_items, again.progress.items) == (6, 6)
        await again.aclose()


async def _no_state() -> dict[str, Any]:
    return {}


@pytest.mark.parametrize("closed", ["after", "during"])
async def test_a_late_close_leaves_the_checkpoint_another_scan_saved_since(
    client: sc.SimCardsClient, tmp_path: Path, closed: str
) -> None:
    """Stream A (not kept) read to its end by ``chunks(state=...)``, as an exporter reads,
    is closed later (an exporter closes once its output is in place); its reading over, scan
    B saved to the same path meanwhile. A's close removed B's checkpoint and ids file: B's
    position lost, or (closed while B read) a checkpoint left without its ids file, which no
    resume took. A removes only what is still its own.
    """
    path = tmp_path / "scan.json"
    a = client.sim_cards(page_size=100, checkpoint=path, keep_checkpoint=False)
    async for _ in a.chunks(state=_no_state):
        pass
    b = client.sim_cards(page_size=100, checkpoint=path)
    got: list[str] = []
    async with b:
        async for card in b:
            got.append(card.id)
            if len(got) == 300 and closed == "during":
                await a.aclose()
            if len(got) == 600:
                break
    await a.aclose()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.json", "scan.json.ids"]
    resumed = client.sim_cards(page_size=100, checkpoint=path, resume_from=path)
    async with resumed:
        rest = [card.id async for card in resumed]
    assert len(got) + len(rest) == len(set(got + rest)) == 2000


async def test_a_resume_into_another_file_that_saved_nothing_names_the_one_it_resumed(
    server: MockTelnyxServer, tmp_path: Path
) -> None:
    """Run 1 saves ``a.json`` at 300 cards, run 2 resumes it into ``b.json`` and reads 300
    more, run 3 resumes ``b.json`` into ``a.json`` and fails at its first page (nothing
    saved). Its ``resumable_from`` said ``a.json``, which still holds run 1's checkpoint:
    resumed from it, run 2's 300 cards came again. It names ``b.json``, which holds the
    scan's position.
    """
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    async with sc.SimCardsClient("test-key", server.url, max_retries=0) as client:
        async with client.sim_cards(page_size=100, checkpoint=a) as first:
            got = await _first_ids(first, 300)
        async with client.sim_cards(page_size=100, checkpoint=b, resume_from=a) as second:
            got += await _first_ids(second, 300)
        server.misbehaviour = Misbehaviour(error_detail_bytes=10)  # every answer a 500
        third = client.sim_cards(page_size=100, checkpoint=a, resume_from=b)
        with pytest.raises(sc.InternalServerError):
            async with third:
                got += await _first_ids(third, 2000)
        assert third.resumable_from == b
        server.misbehaviour = Misbehaviour()
        last = client.sim_cards(page_size=100, resume_from=third.resumable_from)
        async with last:
            got += [card.id async for card in last]
    assert len(got) == len(set(got)) == 2000


# --- a checkpoint every CHECKPOINT_SECONDS or CHECKPOINT_EVERY pages, and at every stop ---

#: The page cap these tests set (the library's is larger than their listings).
CHECKPOINT_EVERY = 8


@pytest.fixture(autouse=True)
def small_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_page_stream, "CHECKPOINT_EVERY", CHECKPOINT_EVERY)


class _Clock:
    """``time.monotonic`` for ``_page_stream`` alone, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


async def test_a_checkpoint_is_saved_once_checkpoint_seconds_went_by(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages finished within CHECKPOINT_SECONDS of the last save are not saved; the first
    page finished after is, with those before it. The clock is the test's, not the wall's.
    """
    clock = _Clock()
    monkeypatch.setattr(_page_stream, "time", clock)
    monkeypatch.setattr(_page_stream, "CHECKPOINT_SECONDS", 1.0)
    monkeypatch.setattr(_page_stream, "CHECKPOINT_EVERY", 1000)
    path = tmp_path / "scan.json"
    seen: list[int] = []
    async with client.sim_cards(page_size=20, checkpoint=path) as stream:
        async for page in stream.pages():  # page k arrives once pages 1..k-1 are finished
            seen.append(json.loads(path.read_text())["next_page"])
            if page.meta is not None and page.meta.page_number in (3, 4, 9):
                clock.now += 0.5  # while page 3, 4 or 9 is in the reader's hands
    # Saved at page 1, then when page 4 was finished (a second after page 1's save: the
    # file says 5 from then on), then not again before the end (0.5 s by page 9's end).
    assert seen == [1, 1, 1, 1, *[5] * 96]
    point = json.loads(path.read_text())
    assert (point["complete"], point["items_done"], point["pages_done"]) == (True, 2000, 100)


async def test_a_slow_save_does_not_make_every_page_save(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHECKPOINT_SECONDS counts from a save's end: a save that took a second (an exporter's
    flush, a slow disk) is not followed by one a page.
    """
    clock = _Clock()
    monkeypatch.setattr(_page_stream, "time", clock)
    monkeypatch.setattr(_page_stream, "CHECKPOINT_SECONDS", 1.0)
    monkeypatch.setattr(_page_stream, "CHECKPOINT_EVERY", 1000)
    saves = 0

    async def state() -> dict[str, object]:  # each save's flush takes a second
        nonlocal saves
        saves += 1
        clock.now += 1.0
        return {}

    async with client.sim_cards(page_size=20, checkpoint=tmp_path / "scan.json") as stream:
        async for _ in stream.chunks(state=state):
            pass  # the pages themselves take no time
    assert saves == 2  # the first page's and the end's


async def test_a_resume_from_in_a_symbolic_link_loop_is_refused_by_name(
    client: sc.SimCardsClient, server: MockTelnyxServer, tmp_path: Path
) -> None:
    """``resume_from`` naming a symbolic link loop, the checkpoint not saved yet: comparing the
    two as files resolved the loop, a bare ``RuntimeError`` before Python 3.13 ("Symlink
    loop"). It is the missing checkpoint it is, named, nothing sent.
    """
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    with pytest.raises(sc.InvalidParameterError) as caught:
        client.sim_cards(checkpoint=tmp_path / "scan.json", resume_from=tmp_path / "loop1")
    assert caught.value.parameter == "resume_from"
    assert server.requests == []


@pytest.mark.parametrize("raw", [False, True])
async def test_a_state_that_cannot_give_one_is_refused_by_name(
    client: sc.SimCardsClient, server: MockTelnyxServer, tmp_path: Path, *, raw: bool
) -> None:
    """``chunks(state=...)`` took anything: a dict failed at the first save with a bare
    ``TypeError`` ("'dict' object is not callable"), requests sent, and a plain function
    returning a dict likewise ("can't be used in 'await' expression"). Refused by name:
    what is not callable before anything is sent, what a callable gives as it is awaited.
    """

    def chunks_of(stream: sc.PageStream[sc.SimCard], state: Any) -> Any:
        return stream.raw_chunks(state=state) if raw else stream.chunks(state=state)

    async def a_list() -> Any:
        return []

    def no_await() -> dict[str, object]:
        return {}

    async def gen() -> AsyncIterator[dict[str, object]]:
        yield {}

    refused: object
    for refused in ({}, "state", gen):
        async with client.sim_cards(page_size=20, checkpoint=tmp_path / "a.json") as stream:
            with pytest.raises(sc.InvalidParameterError, match="an async function") as caught:
                chunks_of(stream, refused)
            assert caught.value.parameter == "state"
    assert server.requests == []
    for given, why in ((no_await, "cannot be awaited"), (a_list, "gave no dict")):
        path = tmp_path / f"{given.__name__}.json"
        async with client.sim_cards(page_size=20, checkpoint=path) as stream:
            with pytest.raises(sc.InvalidParameterError, match=why) as caught:
                async for _ in chunks_of(stream, given):
                    pass
        assert caught.value.parameter == "state"


async def test_a_checkpoint_is_saved_every_checkpoint_every_pages(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """However fast they come, the file moves on once per CHECKPOINT_EVERY finished pages."""
    path = tmp_path / "scan.json"
    seen: list[int] = []
    async with client.sim_cards(page_size=20, checkpoint=path) as stream:
        async for _ in stream.pages():  # page k arrives once pages 1..k-1 are finished
            seen.append(json.loads(path.read_text())["next_page"])
    pages = 2000 // 20
    assert seen == [1 + (k // CHECKPOINT_EVERY) * CHECKPOINT_EVERY for k in range(pages)]
    point = json.loads(path.read_text())
    assert (point["complete"], point["items_done"], point["pages_done"]) == (True, 2000, pages)


async def test_a_break_between_two_saves_saves_the_finished_pages(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A break after pages that were not saved yet: the stop saves them, and the page in the
    reader's hands as taken (pages() hands it over whole); the resume yields the rest.
    """
    full = [c.id for c in await client.sim_cards(page_size=20).collect()]
    path = tmp_path / "scan.json"
    stop = CHECKPOINT_EVERY + 3
    first: list[str] = []
    async with client.sim_cards(page_size=20, checkpoint=path) as stream:
        async for page in stream.pages():
            first += [card.id for card in page.data]
            if len(first) == stop * 20:  # page `stop` handed over, not yet finished
                break
    point = json.loads(path.read_text())
    assert (point["next_page"], point["items_done"], point["pages_done"]) == (
        stop,
        (stop - 1) * 20,
        stop - 1,
    )
    assert point["last_ids"] == first[(stop - 2) * 20 : (stop - 1) * 20]
    assert point["page_ids"] == first[(stop - 1) * 20 :]
    before = len(server.requests)
    async with client.sim_cards(page_size=20, checkpoint=path, resume_from=path) as stream:
        rest = [card.id async for card in stream]
    assert first + rest == full
    assert min(page_numbers(server, before)) == stop


async def test_an_exporter_stopped_between_two_saves_keeps_the_last_save(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A consumer with a state (an exporter) stopped between saves: the last save stands whole.

    Its state cannot be asked for while it stops, so the checkpoint is the one saved with
    the state after page CHECKPOINT_EVERY, not a mix of that state and a later position.
    """
    path = tmp_path / "scan.json"
    finished = 0

    async def state() -> dict[str, object]:
        return {"finished": finished}

    class StopError(Exception):
        pass

    with pytest.raises(StopError):
        async with client.sim_cards(page_size=20, checkpoint=path) as stream:
            async for chunk in stream.chunks(state=state):
                assert len(chunk) == 20
                if finished == CHECKPOINT_EVERY + 3:
                    raise StopError
                finished += 1
    point = json.loads(path.read_text())
    assert point["extra"] == {"finished": CHECKPOINT_EVERY}
    assert (point["next_page"], point["items_done"], point["pages_done"]) == (
        CHECKPOINT_EVERY + 1,
        CHECKPOINT_EVERY * 20,
        CHECKPOINT_EVERY,
    )
    assert point["page_ids"] == []


# --- the ids file: every id a checkpoint counts, without a socket --------------------------


def _saved(cp: Checkpointer, next_page: int, ids: list[str]) -> None:
    cp.save_now(
        cp.point(next_page=next_page, items_done=0, pages_done=0, total_results=None, last_ids=()),
        ids,
    )


def test_the_ids_file_holds_every_id_a_checkpoint_counts(tmp_path: Path) -> None:
    """Saves append; a resume reads them all back, a save at a time, and carries on."""
    query, path = sim_cards_query(), tmp_path / "scan.json"
    first = Checkpointer(query, path)
    _saved(first, 2, ["a", "b"])
    _saved(first, 3, [])  # nothing finished since: nothing appended
    _saved(first, 4, ["c"])
    resumed = Checkpointer(query, path, resume_from=path)
    assert list(resumed.earlier_ids()) == [["a", "b"], ["c"]]
    _saved(resumed, 5, ["d"])
    assert list(Checkpointer(query, path, resume_from=path).earlier_ids()) == [
        ["a", "b"],
        ["c"],
        ["d"],
    ]


def test_bytes_a_crash_left_past_the_checkpoint_are_cut_off(tmp_path: Path) -> None:
    """Ids appended by a save whose checkpoint never got written are not counted, and go."""
    query, path = sim_cards_query(), tmp_path / "scan.json"
    _saved(Checkpointer(query, path), 2, ["a"])
    with ids_path(path).open("ab") as file:
        file.write(b'["lost"]\n["half')  # appended, then the process died
    resumed = Checkpointer(query, path, resume_from=path)
    assert list(resumed.earlier_ids()) == [["a"]]
    _saved(resumed, 3, ["b"])
    assert ids_path(path).read_bytes() == b'["a"]\n["b"]\n'


def test_the_ids_of_a_failed_save_are_appended_by_the_next(tmp_path: Path) -> None:
    """A save whose checkpoint could not be written: its ids (records delivered all the same)
    are appended once by the next save, which cuts off what the failed one left.
    """
    query, path = sim_cards_query(), tmp_path / "scan.json"
    cp = Checkpointer(query, path)
    _saved(cp, 2, ["a"])
    path.unlink()
    path.mkdir()  # the rename onto it fails, after the ids were appended
    with pytest.raises(IsADirectoryError):
        _saved(cp, 3, ["lost"])
    assert ids_path(path).read_bytes() == b'["a"]\n["lost"]\n'
    path.rmdir()
    with ids_path(path).open("ab") as file:
        file.write(b'["half')  # as if the failed save's append had been cut short
    _saved(cp, 4, ["b"])
    assert ids_path(path).read_bytes() == b'["a"]\n["lost"]\n["b"]\n'
    resumed = Checkpointer(query, path, resume_from=path)
    assert list(resumed.earlier_ids()) == [["a"], ["lost"], ["b"]]
    # No temporary file left behind by the failed save.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.json", "scan.json.ids"]


def test_ids_no_checkpoint_counts_are_removed_at_close(tmp_path: Path) -> None:
    """The first save failed after its append: at close, nothing refers to the ids file."""
    query, path = sim_cards_query(), tmp_path / "scan.json"
    cp = Checkpointer(query, path)
    path.mkdir()  # the rename onto it fails
    with pytest.raises(IsADirectoryError):
        _saved(cp, 2, ["a"])
    assert ids_path(path).is_file()
    cp.close()
    assert [p.name for p in tmp_path.iterdir()] == ["scan.json"]  # the directory alone


def test_a_resume_whose_earlier_ids_file_was_cut_since_is_refused(tmp_path: Path) -> None:
    """Carrying the ids over to another file: one cut short meanwhile is refused, naming
    resume_from, not copied short (the new checkpoint would count ids it does not hold).
    """
    query, old, new = sim_cards_query(), tmp_path / "old.json", tmp_path / "new.json"
    _saved(Checkpointer(query, old), 2, ["a", "b"])
    moved = Checkpointer(query, new, resume_from=old)
    ids_path(old).write_bytes(b'["a"]\n')
    with pytest.raises(sc.InvalidParameterError, match=r"resume_from.*ids file is whole") as caught:
        _saved(moved, 3, ["c"])
    assert caught.value.value == str(old)
    assert not new.exists()
    _saved(Checkpointer(query, old), 2, ["a", "b"])
    moved = Checkpointer(query, new, resume_from=old)
    ids_path(old).write_bytes(b"")  # empty: no piece at all
    with pytest.raises(sc.InvalidParameterError, match=r"resume_from.*ids file is whole"):
        _saved(moved, 3, ["c"])


def test_crash_leftovers_are_cut_off_after_a_first_save_without_ids(tmp_path: Path) -> None:
    """A resumed scan's first save appends nothing: the bytes a crash left stay to be cut
    off by the next save that appends, not appended after.
    """
    query, path = sim_cards_query(), tmp_path / "scan.json"
    _saved(Checkpointer(query, path), 2, ["a"])
    with ids_path(path).open("ab") as file:
        file.write(b'["lost"]\n')  # appended, then the process died before the rename
    resumed = Checkpointer(query, path, resume_from=path)
    _saved(resumed, 2, [])  # what a resumed stream saves first, at its first page
    _saved(resumed, 3, ["b"])
    assert ids_path(path).read_bytes() == b'["a"]\n["b"]\n'
    assert list(Checkpointer(query, path, resume_from=path).earlier_ids()) == [["a"], ["b"]]


async def test_a_crash_between_an_append_and_its_checkpoint_resumes_twice(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """Crash leftovers in the ids file, then two resumes: every record once, in order."""
    path = tmp_path / "scan.json"
    full = [c.id for c in await client.sim_cards(page_size=20).collect()]
    got: list[str] = []
    async with client.sim_cards(page_size=20, checkpoint=path) as stream:
        async for card in stream:
            got.append(card.id)
            if len(got) == 10 * 20:
                break
    with ids_path(path).open("ab") as file:
        file.write(b'["x"]\n')  # a crash between an append and its rename
    async with client.sim_cards(page_size=20, checkpoint=path, resume_from=path) as stream:
        async for card in stream:
            got.append(card.id)
            if len(got) == 30 * 20:
                break
    async with client.sim_cards(page_size=20, checkpoint=path, resume_from=path) as stream:
        got += [card.id async for card in stream]
    assert got == full


def test_a_failed_complete_save_keeps_the_checkpoint_before_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ids file goes only once the complete checkpoint is written: a full disk then
    leaves the one before, with its ids, to resume from.
    """
    query, path = sim_cards_query(), tmp_path / "scan.json"
    cp = Checkpointer(query, path)
    _saved(cp, 2, ["a"])

    def full_disk(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_checkpoint, "_replace", full_disk)
    done = cp.point(
        next_page=0, items_done=1, pages_done=1, total_results=None, last_ids=(), complete=True
    )
    with pytest.raises(OSError, match="No space"):
        cp.save_now(done)
    monkeypatch.undo()
    cp.close()
    assert list(Checkpointer(query, path, resume_from=path).earlier_ids()) == [["a"]]


@pytest.mark.parametrize("chunk", [1 << 20, 3])
def test_a_resume_into_another_checkpoint_file_carries_the_ids_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """resume_from one file, checkpoint to another: the new file counts the earlier ids too.

    Copied a piece at a time (here of 3 bytes too): read whole, a long scan's ids file took
    as much memory as its size, twice over.
    """
    monkeypatch.setattr(_checkpoint, "_COPY_CHUNK", chunk)
    query, old, new = sim_cards_query(), tmp_path / "old.json", tmp_path / "new.json"
    _saved(Checkpointer(query, old), 2, ["a", "b"])
    _saved(Checkpointer(query, old, resume_from=old), 3, ["d"])
    moved = Checkpointer(query, new, resume_from=old)
    _saved(moved, 4, ["c"])
    assert list(Checkpointer(query, new, resume_from=new).earlier_ids()) == [
        ["a", "b"],
        ["d"],
        ["c"],
    ]


def test_an_ids_file_removed_between_its_open_and_its_lock_is_not_saved_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan holding the ids file removes it as it ends: another that opened it just
    before and locked it just after held the lock of a file no longer there, appended its
    ids to nothing, and saved a checkpoint no resume could read. It opens the file again.
    """
    query, path = sim_cards_query(), tmp_path / "scan.json"
    _saved(Checkpointer(query, path), 2, ["old"])
    real = locked
    removed: list[bool] = []

    def removed_first(fd: int) -> bool:
        if not removed:  # the holder's end, between this scan's open and its lock
            removed.append(True)
            ids_path(path).unlink()
        return real(fd)

    second = Checkpointer(query, path)
    monkeypatch.setattr(_checkpoint, "locked", removed_first)
    _saved(second, 2, ["new"])
    assert removed
    assert list(Checkpointer(query, path, resume_from=path).earlier_ids()) == [["new"]]


def test_the_ids_file_is_let_go_before_it_is_removed_where_an_open_file_cannot_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Windows a file open cannot be removed: a scan whose first save failed after its
    ids were appended (no checkpoint counts them) removed the ids file at its close while
    still holding it open, and the close raised ``PermissionError``.
    """
    query, path = sim_cards_query(), tmp_path / "scan.json"
    cp = Checkpointer(query, path)
    monkeypatch.setattr(_checkpoint, "_REMOVES_OPEN_FILES", False)
    unlink = Path.unlink

    def like_windows(self: Path, missing_ok: bool = False) -> None:
        if self == ids_path(path) and cp._ids_fd is not None:
            raise PermissionError(errno.EACCES, "in use", str(self))
        unlink(self, missing_ok=missing_ok)

    def full(target: object, temp: Path, data: bytes) -> None:  # noqa: ARG001  (_replace's)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "unlink", like_windows)
    monkeypatch.setattr(_checkpoint, "_replace", full)
    with pytest.raises(OSError, match="No space"):
        _saved(cp, 2, ["a"])
    cp.close()
    assert not ids_path(path).exists()
    assert not path.exists()


def test_a_fresh_scan_starts_a_new_ids_file(tmp_path: Path) -> None:
    """Not resuming: what an earlier scan left in the ids file is not counted."""
    query, path = sim_cards_query(), tmp_path / "scan.json"
    _saved(Checkpointer(query, path), 2, ["old"])
    _saved(Checkpointer(query, path), 2, ["new"])
    assert list(Checkpointer(query, path, resume_from=path).earlier_ids()) == [["new"]]


async def test_a_checkpoint_another_scan_saves_to_is_refused_before_anything_is_sent(
    client: sc.SimCardsClient, server: MockTelnyxServer, tmp_path: Path
) -> None:
    """Two scans given one checkpoint (two exports to two outputs, say) each appended their
    ids to the same ids file and replaced each other's checkpoint: a resume took the other
    scan's ids for records delivered, and left them out of its output (218 of 2,000, a
    drift warning, no error). While a scan saves to it, a second is refused, naming the
    checkpoint (``resume_from`` on a resume), nothing sent; once the first is over, not.
    """
    path = tmp_path / "scan.json"
    every = [c.id for c in await client.sim_cards(page_size=20).collect()]
    got: list[str] = []
    async with client.sim_cards(page_size=20, checkpoint=path) as first:
        items = aiter(first)
        while len(got) < (CHECKPOINT_EVERY + 1) * 20:  # past a save of ids
            got.append((await anext(items)).id)
        assert ids_path(path).stat().st_size
        before = len(server.requests)
        resumes: list[dict[str, Any]] = [{}, {"resume_from": path}]
        for again in resumes:
            with pytest.raises(sc.InvalidParameterError, match="no other scan") as no:
                client.sim_cards(page_size=20, checkpoint=path, **again)
            assert no.value.parameter == ("resume_from" if again else "checkpoint")
        with pytest.raises(sc.InvalidParameterError, match="no other scan"):
            client.sim_cards(status="enabled", page_size=20, checkpoint=path)  # another query
        assert len(server.requests) == before, "nothing is sent"
        got.extend([card.id async for card in items])
    assert got == every
    # Over: the same checkpoint is anyone's again, in this process too.
    assert await client.sim_cards(page_size=20, checkpoint=path).collect()


async def test_a_stream_of_this_process_not_closed_yet_is_named_as_the_one_saving(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A stream left open in this process (an iterator kept, a bare ``break`` whose iterator
    Python has not finalized yet) still holds its checkpoint: a resume made at once is refused
    with a message that points at that stream, not only at another process; once the stream
    is closed, the resume reads every record once.
    """
    path = tmp_path / "scan.json"
    every = [c.id for c in await client.sim_cards(page_size=20).collect()]
    items = aiter(client.sim_cards(page_size=20, checkpoint=path))
    got = [(await anext(items)).id for _ in range((CHECKPOINT_EVERY + 1) * 20)]
    with pytest.raises(sc.InvalidParameterError, match="no other scan") as no:
        client.sim_cards(page_size=20, checkpoint=path, resume_from=path)
    assert no.value.parameter == "resume_from"
    assert "a stream of this process not closed" in str(no.value)
    assert "aclose()" in str(no.value)
    await items.aclose()  # type: ignore[attr-defined]  # an async generator's
    resumed = client.sim_cards(page_size=20, checkpoint=path, resume_from=path)
    got.extend([card.id async for card in resumed])
    assert got == every


@pytest.mark.parametrize("taken", [25, (CHECKPOINT_EVERY + 1) * 20], ids=["page-2", "ids-saved"])
@pytest.mark.parametrize("saving", [True, False], ids=["saved-to", "read-from"])
async def test_a_resume_at_once_after_a_bare_break_is_refused_however_it_is_made(
    client: sc.SimCardsClient, tmp_path: Path, taken: int, saving: bool
) -> None:
    """A stream left open (a bare ``break``, its iterator not finalized yet) holds its
    checkpoint, and a resume made at once is refused (the README says so). It was not when the
    resume only read from it (``resume_from`` alone), and yielded again what the open stream
    had yielded since its last save; nor when the stream's ids had not been appended yet (a
    page or two in): only that took the checkpoint's lock. Once closed, every record once.
    """
    path = tmp_path / "scan.json"
    every = [c.id for c in await client.sim_cards(page_size=20).collect()]
    items = aiter(client.sim_cards(page_size=20, checkpoint=path))
    got = [(await anext(items)).id for _ in range(taken)]
    saved_to = path if saving else None
    with pytest.raises(sc.InvalidParameterError, match="no other scan") as no:
        client.sim_cards(page_size=20, checkpoint=saved_to, resume_from=path)
    assert no.value.parameter == "resume_from"
    await items.aclose()  # type: ignore[attr-defined]  # an async generator's
    resumed = client.sim_cards(page_size=20, checkpoint=saved_to, resume_from=path)
    got.extend([card.id async for card in resumed])
    assert got == every


async def test_a_scan_refused_at_a_save_writes_nothing_over_the_other_scans_checkpoint(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """Two scans of one checkpoint made before either saved ids: the one that finds the ids
    file locked at a save is refused there, writes neither file, and leaves nothing for a
    resume; the other's checkpoint resumes to every record once.
    """
    path = tmp_path / "scan.json"
    every = [c.id for c in await client.sim_cards(page_size=20).collect()]
    got: list[str] = []
    first = client.sim_cards(page_size=20, checkpoint=path)
    second = client.sim_cards(page_size=20, checkpoint=path)
    async with first:
        items = aiter(first)
        while len(got) < (CHECKPOINT_EVERY + 1) * 20:
            got.append((await anext(items)).id)
        saved = path.read_bytes(), ids_path(path).read_bytes()
        async with second:
            with pytest.raises(sc.InvalidParameterError, match="no other scan") as no:
                async for _ in second:
                    pass
            assert no.value.parameter == "checkpoint"
        assert second.resumable_from is None
        assert (path.read_bytes(), ids_path(path).read_bytes()) == saved
    resumed = client.sim_cards(page_size=20, checkpoint=path, resume_from=path)
    got.extend([card.id async for card in resumed])
    assert got == every


@pytest.mark.parametrize("damage", [b"", b'["a"]\n["b', b'["a"]\n{"b":1}\n'])
def test_an_ids_file_that_does_not_read_back_is_refused(tmp_path: Path, damage: bytes) -> None:
    """Short, cut or not ids: refused like a broken checkpoint, naming resume_from."""
    query, path = sim_cards_query(), tmp_path / "scan.json"
    first = Checkpointer(query, path)
    _saved(first, 2, ["a"])
    _saved(first, 3, ["b"])
    ids_path(path).write_bytes(damage.ljust(len(damage)))
    with pytest.raises(sc.InvalidParameterError, match=r"resume_from.*ids file"):
        list(Checkpointer(query, path, resume_from=path).earlier_ids())


@pytest.mark.parametrize(("limit", "larger"), [(450, 1234), (400, None)])
async def test_a_scan_stopped_by_its_limit_is_not_saved_as_complete(
    server: MockTelnyxServer,
    client: sc.SimCardsClient,
    tmp_path: Path,
    limit: int,
    larger: int | None,
) -> None:
    """A limit stops the scan, not the listing: run again with a larger limit (or none),
    the checkpoint yields exactly the records after the first ``limit``, the first time
    cutting a page (450) or ending on one's edge (400).
    """
    path = tmp_path / "scan.json"
    every = await client.sim_cards(page_size=100).collect()
    first = await client.sim_cards(page_size=100, limit=limit, checkpoint=path).collect()
    assert json.loads(path.read_text())["complete"] is False
    sent = len(server.requests)
    again = await client.sim_cards(page_size=100, limit=limit, resume_from=path).collect()
    assert again == []  # the same limit: reached already
    assert len(server.requests) == sent, "nothing is asked for"
    rest = await client.sim_cards(
        page_size=100, limit=larger, checkpoint=path, resume_from=path
    ).collect()
    assert [c.id for c in first + rest] == [c.id for c in every[: larger or len(every)]]


@pytest.mark.parametrize("limit", [400, 450])
async def test_records_deleted_between_limited_runs_lose_nothing_after_them(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path, limit: int
) -> None:
    """Records delivered before a limit's stop are deleted before the run with a larger
    limit: the records after the stop move back by as many, into the page the limit ended
    in, even when it ended on that page's edge (400). The resume still yields each of them.
    """
    path = tmp_path / "scan.json"
    first = [
        c.id for c in await client.sim_cards(page_size=100, limit=limit, checkpoint=path).collect()
    ]
    server.delete_sim_cards(first[10:12])
    with pytest.warns(sc.DriftWarning, match="2000 -> 1998"):  # told, as any change since
        rest = [c.id for c in await client.sim_cards(page_size=100, resume_from=path).collect()]
    now = server.current_sim_card_ids()
    assert rest == [i for i in now if i not in set(first)]


@pytest.mark.parametrize("stop", ["break", "error"])
async def test_a_page_taken_from_pages_counts_as_delivered_when_the_reader_stops(
    client: sc.SimCardsClient, tmp_path: Path, stop: str
) -> None:
    """``pages()`` hands a page over whole: once a reader has it, a resume does not yield
    it again, whether the reader breaks out or raises.
    """
    path = tmp_path / "scan.json"
    every = await client.sim_cards(page_size=100).collect()
    taken: list[sc.SimCard] = []
    with pytest.raises(KeyError) if stop == "error" else contextlib.nullcontext():
        async with client.sim_cards(page_size=100, checkpoint=path) as stream:
            async for page in stream.pages():
                taken += page.data
                if len(taken) == 300:
                    if stop == "error":
                        raise KeyError(stop)
                    break
    rest = await client.sim_cards(page_size=100, resume_from=path).collect()
    assert [c.id for c in taken + rest] == [c.id for c in every]


@pytest.mark.parametrize("read", ["items", "pages", "chunks"])
async def test_a_retry_loop_over_a_checkpointed_stream_gets_every_record_once(
    client: sc.SimCardsClient, tmp_path: Path, read: str
) -> None:
    """A job that fails now and then and resumes at once, in the same process: each run's
    stop is saved when its ``async with`` ends (pages() saved it only when its generator was
    collected, so the next run repeated pages).
    """
    path = tmp_path / "scan.json"
    every = [c.id for c in await client.sim_cards(page_size=100).collect()]
    failures = [150, 750, 1430]
    got: list[str] = []

    async def one_run() -> None:
        async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as s:
            reader: AsyncIterable[Any] = (
                s if read == "items" else s.pages() if read == "pages" else s.chunks()
            )
            async for x in reader:
                got.extend([x.id] if read == "items" else [c.id for c in getattr(x, "data", x)])
                if failures and len(got) >= failures[0]:
                    failures.pop(0)
                    raise KeyError(len(got))

    for _ in range(len(failures) + 1):
        with contextlib.suppress(KeyError):
            await one_run()
    assert got == every


@pytest.mark.parametrize("read", ["items", "pages"])
async def test_a_reader_kept_past_its_streams_close_saves_its_stop_at_the_close(
    client: sc.SimCardsClient, tmp_path: Path, read: str
) -> None:
    """The reader's iterator outlives ``async with`` (a local kept): its stop is saved when
    the stream closes, and dropping the iterator later writes nothing over a newer run's
    checkpoint of the same file.
    """
    path = tmp_path / "scan.json"
    every = [c.id for c in await client.sim_cards(page_size=100).collect()]
    got: list[str] = []
    async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as s:
        kept: AsyncIterator[Any] = aiter(s) if read == "items" else aiter(s.pages())
        async for x in kept:
            got.extend([x.id] if read == "items" else [c.id for c in x.data])
            if len(got) >= 250:
                break
    assert json.loads(path.read_text())["next_page"] == 3  # saved at the close
    async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as s:
        async for card in s:
            got.append(card.id)
            if len(got) >= 1000:
                break
    saved = path.read_bytes()
    del kept
    gc.collect()
    await anyio.lowlevel.checkpoint()  # the asyncgen finaliser's aclose runs as a task
    await anyio.lowlevel.checkpoint()
    assert path.read_bytes() == saved
    got += [c.id for c in await client.sim_cards(page_size=100, resume_from=path).collect()]
    assert got == every


# --- a save that fails, or that a cancellation leaves running, at a page boundary ---------


def _ids_file(path: Path) -> list[str]:
    """Every id the checkpoint at ``path`` counts as delivered, in the order saved."""
    point = json.loads(path.read_text())
    data = ids_path(path).read_bytes()[: point["ids_size"]]
    return [i for line in data.splitlines() for i in json.loads(line)]


#: The listing these tests read: 100 pages of 20, a save after each CHECKPOINT_EVERY (8).
_PAGE_SIZE = 20
#: Which save of the listing's goes wrong (the first is at page 1): the one after page 16.
_THIRD = 3


async def test_a_failed_save_leaves_its_pages_to_the_stop(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save after page 16 fails: the reader gets the error, and the stop saves pages
    9 to 16 with their ids, so a resume yields every record once.
    """
    full = [c.id for c in await client.sim_cards(page_size=_PAGE_SIZE).collect()]
    path = tmp_path / "scan.json"
    real, calls = _checkpoint._replace, 0

    def fails_once(target: Path, temp: Path, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == _THIRD:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(target, temp, data)

    monkeypatch.setattr(_checkpoint, "_replace", fails_once)
    got: list[str] = []
    with pytest.raises(OSError, match="No space"):
        async with client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path) as stream:
            async for card in stream:
                got.append(card.id)
    assert len(got) == 16 * _PAGE_SIZE
    point = json.loads(path.read_text())
    assert (point["next_page"], point["items_done"]) == (17, 16 * _PAGE_SIZE)
    assert _ids_file(path) == got
    monkeypatch.setattr(_checkpoint, "_replace", real)
    async with client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path, resume_from=path) as stream:
        rest = [card.id async for card in stream]
    assert got + rest == full


async def _read_into(
    stream: sc.PageStream[sc.SimCard], got: list[str], errors: list[RuntimeError]
) -> None:
    """``stream``'s ids into ``got``, its ``RuntimeError`` (closed under it) into ``errors``."""
    try:
        async for card in stream:
            got.append(card.id)
    except RuntimeError as exc:
        errors.append(exc)


class _HeldCall:
    """Holds a call of a function in its thread until ``go`` is set: the ``_THIRD``, or the
    first that ``when`` (given its arguments) picks.
    """

    def __init__(self, when: Callable[..., bool] | None = None) -> None:
        self.entered, self.go, self.done = threading.Event(), threading.Event(), threading.Event()
        self.calls = 0
        self.when = when

    def wrap(self, func: Callable[..., None]) -> Callable[..., None]:
        def held(*args: object) -> None:
            self.calls += 1
            if self.when is None:
                third = self.calls == _THIRD
            else:
                third = not self.entered.is_set() and self.when(*args)
            if third:
                self.entered.set()
                self.go.wait(HANG_GUARD)
            try:
                func(*args)
            finally:
                if third:
                    self.done.set()

        return held


@pytest.mark.parametrize("held", ["before its writes", "in its writes"])
async def test_a_save_a_native_cancellation_leaves_running(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: str
) -> None:
    """``task.cancel()`` while the save after page 16 is in its worker thread: asyncio does
    not wait for the thread. The stop saves pages 9 to 16 either way: after the thread's
    writes (which it waits for), or instead of them (a thread not begun yet is superseded
    and, the stream closed, writes nothing). Nothing is written after the stream closed,
    and a resume yields every record once.
    """
    full = [c.id for c in await client.sim_cards(page_size=_PAGE_SIZE).collect()]
    path = tmp_path / "scan.json"
    call = _HeldCall()
    if held == "before its writes":
        monkeypatch.setattr(Checkpointer, "_write", call.wrap(Checkpointer._write))
    else:  # in the file writes, the checkpointer's lock held
        monkeypatch.setattr(_checkpoint, "_replace", call.wrap(_checkpoint._replace))
    got: list[str] = []

    async def read() -> None:
        async with client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path) as stream:
            async for card in stream:
                got.append(card.id)

    task = asyncio.create_task(read())
    await eventually(call.entered.is_set, what="the save after page 16 in its thread")
    task.cancel()
    if held == "in its writes":
        call.go.set()  # the stop's save waits for these writes: let them end
    with pytest.raises(asyncio.CancelledError):
        await task
    on_disk = path.read_bytes()
    call.go.set()
    await eventually(call.done.is_set, what="the save's thread done")
    assert path.read_bytes() == on_disk, "nothing is written after the stream closed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.json", "scan.json.ids"]
    assert len(got) == 16 * _PAGE_SIZE
    assert json.loads(on_disk)["next_page"] == 17
    assert _ids_file(path) == got
    async with client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path, resume_from=path) as stream:
        rest = [card.id async for card in stream]
    assert got + rest == full


def _the_end_save(_checkpointer: Checkpointer, files: Any) -> bool:
    """Whether ``Checkpointer._write`` was given the save at the listing's end."""
    return bool(files.point.complete)


@pytest.mark.parametrize("save", ["after page 16", "at the end"])
async def test_a_save_under_way_as_the_stream_is_closed_in_another_task_stands(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, save: str
) -> None:
    """``aclose()`` from another task while the reader awaited a save whose thread had not
    begun: the close dropped it, so the save before stood, and the resume yielded again
    the 8 pages (or, at the end, 4) that the reader had finished since. The save stands
    now, as it would have a moment later; the thread writes nothing after the close.
    """
    full = [c.id for c in await client.sim_cards(page_size=_PAGE_SIZE).collect()]
    path = tmp_path / "scan.json"
    call = _HeldCall(None if save == "after page 16" else _the_end_save)
    monkeypatch.setattr(Checkpointer, "_write", call.wrap(Checkpointer._write))
    stream = client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path)
    got: list[str] = []
    errors: list[RuntimeError] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_read_into, stream, got, errors)
        await eventually(call.entered.is_set, what=f"the save {save} in its thread")
        await stream.aclose()
        on_disk = path.read_bytes()
        call.go.set()
    assert call.done.is_set()
    assert path.read_bytes() == on_disk, "nothing is written after the stream closed"
    point = json.loads(on_disk)
    if save == "after page 16":
        assert len(got) == 16 * _PAGE_SIZE
        assert (point["next_page"], point["items_done"]) == (17, len(got))
        assert _ids_file(path) == got
        assert len(errors) == 1
        assert "closed (aclose())" in str(errors[0])
    else:
        assert got == full
        assert (point["complete"], point["items_done"]) == (True, len(full))
        assert errors == [], "the listing was read to its end"
    async with client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path, resume_from=path) as again:
        rest = [card.id async for card in again]
    assert got + rest == full


async def test_a_save_the_close_writes_for_its_reader_and_fails_is_the_readers_error(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader awaits its end's save (its thread not begun) and another task closes the
    stream: the close writes that save, and the disk is full. The closer's ``aclose()``
    raised the reader's ``OSError``, and the reader's loop ended as if all were saved (the
    resume then yielded pages 97 to 100 again). The reader raises it, as it would its
    thread's; the close does not.
    """
    path = tmp_path / "scan.json"
    call = _HeldCall(_the_end_save)
    monkeypatch.setattr(Checkpointer, "_write", call.wrap(Checkpointer._write))
    real_replace = _checkpoint._replace

    def full_disk(target: Path, temp: Path, data: bytes) -> None:
        if call.entered.is_set():  # the end's save, written by the close
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(target, temp, data)

    monkeypatch.setattr(_checkpoint, "_replace", full_disk)
    stream = client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path)
    errors: list[OSError] = []

    async def reader() -> None:
        try:
            async for _ in stream:
                pass
        except OSError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await eventually(call.entered.is_set, what="the end's save in its thread")
        await stream.aclose()  # does not raise
        call.go.set()
    (error,) = errors
    assert error.errno == errno.ENOSPC
    assert json.loads(path.read_text())["next_page"] == 97, "the save before stands"


async def test_a_checkpointed_collect_whose_last_progress_report_raises_keeps_its_start(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """The last progress report came after ``collect()``'s end's save: a callback raising
    there ended ``collect()``, its list lost with a checkpoint saying the scan was done,
    and the resume yielded nothing. The report comes first now.
    """
    full = [c.id for c in await client.sim_cards(page_size=_PAGE_SIZE).collect()]
    path = tmp_path / "scan.json"
    stream = client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path)

    class SinkGoneError(Exception):
        pass

    whole: list[sc.Progress] = []

    def on_progress(progress: sc.Progress) -> None:
        if progress.items == len(full):
            whole.append(progress)
            if len(whole) == 2:  # the last page's report, then the end's
                raise SinkGoneError

    stream.on_progress(on_progress)
    async with stream:
        with pytest.raises(SinkGoneError):
            await stream.collect()
    async with client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path, resume_from=path) as again:
        rest = [card.id async for card in again]
    assert rest == full


@pytest.mark.parametrize("cancelled", ["at its last await", "once its end's save is written"])
async def test_a_checkpointed_collect_cancelled_at_its_end_keeps_its_list_or_its_start(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cancelled: str
) -> None:
    """``collect()`` is all or nothing. Its end's save was awaited in a thread: cancelled
    once the thread had written it, the list was lost with a checkpoint saying the scan was
    done, and the resume yielded nothing. The end's save is made as the list is returned
    now: cancelled at its last await (every page read), the checkpoint is where the reading
    started; no end's save goes through a thread, so the list comes back whole.
    """
    full = [c.id for c in await client.sim_cards(page_size=_PAGE_SIZE).collect()]
    path = tmp_path / "scan.json"
    at_end, written, go = asyncio.Event(), threading.Event(), threading.Event()
    real_wait, real_write = _stream.Producer.wait, Checkpointer._write

    async def wait(producer: Any) -> bool:  # collect()'s last await: every page read
        if cancelled == "at its last await" and not at_end.is_set():
            at_end.set()
            await asyncio.Event().wait()  # the cancellation lands here
        return await real_wait(producer)

    def write(checkpointer: Checkpointer, files: Any) -> None:
        real_write(checkpointer, files)
        if files.point.complete and not written.is_set():  # an end's save in a thread
            written.set()
            go.wait(HANG_GUARD)

    monkeypatch.setattr(_stream.Producer, "wait", wait)
    monkeypatch.setattr(Checkpointer, "_write", write)
    task = asyncio.create_task(client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path).collect())
    try:
        if cancelled == "at its last await":
            await eventually(at_end.is_set, what="collect() at its last await")
        else:
            await eventually(lambda: task.done() or written.is_set(), what="collect() at its end")
        task.cancel()
    finally:
        go.set()
    try:
        listed = [card.id for card in await task]
    except asyncio.CancelledError:
        listed = []  # lost with the cancellation: the checkpoint must not count it
    assert listed == ([] if cancelled == "at its last await" else full), "which case ran"
    async with client.sim_cards(page_size=_PAGE_SIZE, checkpoint=path, resume_from=path) as again:
        rest = [card.id async for card in again]
    assert listed + rest == full


# --- a checkpoint path that is not a regular file --------------------------------------


async def test_a_checkpoint_that_is_a_link_is_saved_where_it_leads(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A save renamed its new file over the link itself: the link was gone (a plain file in its
    place) and the file it led to, in another directory, never written. Saves, resume and the
    removal at the end now go through the link, which stays a link.
    """
    full = [c.id for c in await client.sim_cards(page_size=100).collect()]
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "scan.json"
    path = tmp_path / "scan.json"
    path.symlink_to(target)
    async with client.sim_cards(page_size=100, checkpoint=path) as stream:
        first = await _first_ids(stream, 450)
    assert path.is_symlink(), "the link is still a link"
    assert json.loads(target.read_text())["items_done"] == 400
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["scan.json"], "no temp left"
    async with client.sim_cards(
        page_size=100, checkpoint=path, resume_from=path, keep_checkpoint=False
    ) as stream:
        rest = [card.id async for card in stream]
    assert first + rest == full
    assert path.is_symlink()
    assert not target.exists(), "removed once complete: the file, not the link"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize(
    ("fifo", "parameter"),
    [
        ("scan.json", "checkpoint"),
        ("scan.json.ids", "checkpoint"),
        ("old.json", "resume_from"),
        ("old.json.ids", "resume_from"),
    ],
)
def test_a_fifo_for_a_checkpoint_or_its_ids_is_refused_not_opened(
    tmp_path: Path, fifo: str, parameter: str
) -> None:
    """Opening a FIFO blocks until another process opens its other end, with the event loop
    (and the CLI's SIGTERM handler) held: the command hung for ever. Refused by name instead.
    """
    query = sim_cards_query()
    _saved(Checkpointer(query, tmp_path / "old.json"), 2, ["a"])
    (tmp_path / fifo).unlink(missing_ok=True)
    os.mkfifo(tmp_path / fifo)
    with (
        fifo_never_blocks_for_ever(tmp_path / fifo),
        pytest.raises(sc.InvalidParameterError, match="a regular file, not a FIFO") as caught,
    ):
        Checkpointer(query, tmp_path / "scan.json", resume_from=tmp_path / "old.json")
    assert caught.value.parameter == parameter


async def test_a_resumed_pages_ids_stay_delivered_through_a_second_resume(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """Run 1 stops 5 records into page 2. Ten inserts at the head: the resumed page 2 now
    holds page 1's records, all delivered, and is handed over empty, so page 3 comes first.
    The 5 records run 1 took of the old page 2 (the checkpoint's ``page_ids``) count as
    delivered: their ids must reach the ids file. Run 2 stops in page 4; twenty more inserts
    move them back past run 3's start, which must not yield them again.
    """
    path, size = tmp_path / "scan.json", 10
    listed = server.current_sim_card_ids()
    runs: list[list[str]] = []
    for stop, inserts in ((15, 10), (8, 20), (None, 0)):
        got: list[str] = []
        resume_from = path if runs else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sc.DriftWarning)  # the inserts: counted, and expected
            async with client.sim_cards(
                page_size=size, checkpoint=path, resume_from=resume_from
            ) as stream:
                async for card in stream:
                    got.append(card.id)
                    if len(got) == stop:
                        break
        runs.append(got)
        server.insert_sim_cards(inserts)
    delivered = [i for run in runs for i in run]
    assert len(delivered) == len(set(delivered)), "no id twice across the three runs"
    assert [len(run) for run in runs[:2]] == [15, 8]
    assert set(listed) <= set(delivered), "every record of the listing as it was, once"


async def test_a_resume_after_the_listing_churned_by_more_than_a_page_is_drift(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """Run 1 stops 5 records into page 6. While no scan runs, 15 cards are added at the head
    and 15 removed at the tail (``total_results`` unchanged): the resumed page 6 holds only
    records run 1 delivered. It was taken for a replay (nothing changed by the count), and
    every resume failed there for ever. It is drift: dropped, warned about, never twice; run
    2 stops on the way and run 3 completes the listing as it is now.
    """
    path, size = tmp_path / "scan.json", 10
    listed = server.current_sim_card_ids()
    runs: list[list[str]] = []
    for stop in (55, 30, None):
        got: list[str] = []
        resume_from = path if runs else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", sc.DriftWarning)
            async with client.sim_cards(
                page_size=size, checkpoint=path, resume_from=resume_from
            ) as stream:
                async for card in stream:
                    got.append(card.id)
                    if len(got) == stop:
                        break
        runs.append(got)
        if len(runs) == 1:
            assert not caught
            tail = server.current_sim_card_ids()[-15:]
            server.insert_sim_cards(15)
            server.delete_sim_cards(tail)
        elif len(runs) == 2:
            told = [str(w.message) for w in caught if issubclass(w.category, sc.DriftWarning)]
            assert len(told) == 1
            assert "shifted by a page or more since the checkpoint" in told[0]
            assert stream.stats.drift.duplicates_dropped == 20  # pages 6 and 7, whole
    delivered = [i for run in runs for i in run]
    assert delivered == listed[:-15], "the listing as it was, less the deleted, in order, once"
    assert json.loads(path.read_text())["complete"] is True


async def _read_to_the_end(
    client: sc.SimCardsClient, path: Path, limit: int | None, got: list[str]
) -> None:
    async with client.sim_cards(
        page_size=10, limit=limit, checkpoint=path, resume_from=path
    ) as stream:
        async for card in stream:
            got.append(card.id)


async def test_a_collect_that_fails_saves_none_of_what_it_gathered(tmp_path: Path) -> None:
    """collect() on a checkpointed stream, and the API fails for good at page 6: its list
    is lost with the exception, so the checkpoint must not count those records. It saved
    the five pages as delivered, and the resume returned the other 250 of 500 (no error).
    """
    path = tmp_path / "scan.json"
    retry = sc.RetryPolicy(max_retries=1, base=0, cap=0)
    async with (
        MockTelnyxServer(sim_cards=500, seed=1, faults=FaultPlan(script=[None] * 5 + [500] * 2))
        as server,
        sc.SimCardsClient("test-key", server.url, max_concurrency=1, read_ahead=1, retry=retry)
        as client,
    ):  # fmt: skip
        everything = server.current_sim_card_ids()
        with pytest.raises(sc.InternalServerError):
            await client.sim_cards(page_size=50, checkpoint=path).collect()
        assert path.is_file()  # resumable, from the start
        resumed = await client.sim_cards(page_size=50, checkpoint=path, resume_from=path).collect()
    assert [card.id for card in resumed] == everything


async def test_a_cancelled_collect_saves_none_of_what_it_gathered(
    client: sc.SimCardsClient, server: MockTelnyxServer, tmp_path: Path
) -> None:
    """collect() cancelled once it gathered 3 pages (a timeout around it, as
    ``asyncio.wait_for`` does): the resume reads them again. It skipped them, lost.
    """
    path = tmp_path / "scan.json"
    stream = client.sim_cards(page_size=100, checkpoint=path)
    with anyio.CancelScope() as scope:

        def cancel_after_three(progress: sc.Progress) -> None:
            if progress.pages_done >= 3:
                scope.cancel()

        stream.on_progress(cancel_after_three)
        await stream.collect()
    assert scope.cancelled_caught
    resumed = await client.sim_cards(page_size=100, checkpoint=path, resume_from=path).collect()
    assert [card.id for card in resumed] == server.current_sim_card_ids()


async def test_a_refused_collect_leaves_the_readers_saves_alone(
    client: sc.SimCardsClient, server: MockTelnyxServer, tmp_path: Path
) -> None:
    """collect() on a checkpointed stream another reader has is refused, and that reader's
    stop is still saved: its resume yields the rest, each record once.
    """
    path = tmp_path / "scan.json"
    got: list[str] = []
    async with client.sim_cards(page_size=10, checkpoint=path) as stream:
        async for card in stream:
            got.append(card.id)
            if len(got) == 15:
                with pytest.raises(RuntimeError, match="read already"):
                    await stream.collect()
                break
    await _read_to_the_end(client, path, None, got)
    assert got == server.current_sim_card_ids()


@pytest.mark.parametrize("limit", [20, 25])
async def test_a_cancellation_after_the_page_the_limit_cut_is_saved(
    client: sc.SimCardsClient, tmp_path: Path, limit: int
) -> None:
    """A reader cancelled once it took the scan's last page (the one ``limit`` cuts), before
    the end was saved: the resume yields nothing more. It yielded that page again.
    """
    everything = [c.id for c in await client.sim_cards(page_size=10, limit=limit).collect()]
    path = tmp_path / "scan.json"
    got: list[str] = []
    with anyio.CancelScope() as scope:
        async with client.sim_cards(page_size=10, limit=limit, checkpoint=path) as stream:
            async for page in stream.pages():
                got.extend(card.id for card in page.data)
                if len(got) == limit:
                    scope.cancel()
    await _read_to_the_end(client, path, limit, got)
    assert got == everything


@pytest.mark.parametrize("limit", [None, 25])
async def test_a_cancellation_in_the_ends_save_leaves_the_stop_saved(
    client: sc.SimCardsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    """Cancelled while saving the end (complete, or at the limit), with pages not saved
    before it: the stop saves them, and a resume yields each record once. They came twice.
    """
    monkeypatch.setattr(_page_stream, "CHECKPOINT_EVERY", 7)  # 30 pages: the last 2 unsaved
    everything = [c.id for c in await client.sim_cards(page_size=10, limit=limit).collect()]
    path = tmp_path / "scan.json"
    scope = anyio.CancelScope()
    save = Checkpointer.save

    async def cancelled_at_the_end(self: Checkpointer, point: Any, *args: Any) -> None:
        if point.complete or point.limited:
            scope.cancel()
        await save(self, point, *args)

    monkeypatch.setattr(Checkpointer, "save", cancelled_at_the_end)
    got: list[str] = []
    with scope:
        async with client.sim_cards(page_size=10, limit=limit, checkpoint=path) as stream:
            async for card in stream:
                got.append(card.id)
    assert scope.cancelled_caught
    monkeypatch.setattr(Checkpointer, "save", save)
    await _read_to_the_end(client, path, limit, got)
    assert got == everything


async def test_a_cancellation_in_the_save_after_an_api_error_leaves_the_stop_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API failed at page 4 and the save of pages 1 to 3 that follows was cancelled:
    the stop saves them, and a resume yields each record once. They came twice.
    """
    monkeypatch.setattr(_page_stream, "CHECKPOINT_EVERY", 1000)  # saved at the failure only
    path = tmp_path / "scan.json"
    scope = anyio.CancelScope()
    save = Checkpointer.save

    async def cancelled_after_the_first(self: Checkpointer, point: Any, *args: Any) -> None:
        if point.next_page > 1:  # not the first save, at page 1: the one after the failure
            scope.cancel()
        await save(self, point, *args)

    faults = FaultPlan(script=[None, None, None, 500])
    async with (
        MockTelnyxServer(sim_cards=100, seed=2, faults=faults) as server,
        sc.SimCardsClient("test-key", server.url, max_concurrency=1, max_retries=0) as client,
    ):
        everything = server.current_sim_card_ids()
        monkeypatch.setattr(Checkpointer, "save", cancelled_after_the_first)
        got: list[str] = []
        with scope:
            async with client.sim_cards(page_size=10, checkpoint=path) as stream:
                async for card in stream:
                    got.append(card.id)
        assert scope.cancelled_caught
        assert len(got) == 30
        monkeypatch.setattr(Checkpointer, "save", save)
        await _read_to_the_end(client, path, None, got)
    assert got == everything


# --- the end of a reading, however it comes --------------------------------------------------


@pytest.mark.parametrize("read", ["collect", "async for", "pages"])
async def test_a_listing_read_to_its_end_deletes_its_checkpoint_at_once(
    server: MockTelnyxServer, tmp_path: Path, read: str
) -> None:
    """Read to its end without ``async with`` (``collect()``, a plain ``async for``), a
    checkpoint not kept (``keep_checkpoint=False``) stayed, marked complete, until the stream
    was closed, which nothing did: the README's "resume if it exists" run after it resumed a
    finished scan and got no card.
    """
    path = tmp_path / "scan.json"
    expected = len(server.current_sim_card_ids())

    async def run() -> int:
        resume = path if path.exists() else None
        async with sc.SimCardsClient("test-key", server.url) as client:
            stream = client.sim_cards(
                page_size=100, checkpoint=path, resume_from=resume, keep_checkpoint=False
            )
            if read == "collect":
                return len(await stream.collect())
            if read == "pages":
                return sum([len(page.data) async for page in stream.pages()])
            return len([card async for card in stream])

    assert await run() == expected
    assert not path.exists()
    assert not _checkpoint.ids_path(path).exists()
    assert await run() == expected  # afresh, not a finished scan resumed


async def test_a_stream_closed_after_its_end_leaves_a_new_runs_checkpoint(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """Closing a stream whose end deleted its checkpoint deletes nothing more: not the
    checkpoint a later run of the same path has written since.
    """
    path = tmp_path / "scan.json"
    first = client.sim_cards(page_size=100, checkpoint=path, keep_checkpoint=False)
    await first.collect()
    assert not path.exists()
    async with client.sim_cards(page_size=100, checkpoint=path) as second:
        await _first_ids(second, 150)
        assert path.exists()
        await first.aclose()
        assert path.exists()


async def test_a_reader_stopped_by_the_client_closing_is_saved_where_it_got(
    server: MockTelnyxServer, tmp_path: Path
) -> None:
    """A plain reader whose client another task closed got its ``RuntimeError``, but where it
    got was never saved: the resume yielded every card it had taken again.
    """
    path = tmp_path / "scan.json"
    got: list[str] = []
    client = sc.SimCardsClient("test-key", server.url, max_concurrency=2)
    await client.__aenter__()
    taken = anyio.Event()
    go_on = anyio.Event()

    errors: list[RuntimeError] = []

    async def reader() -> None:
        try:
            async for card in client.sim_cards(page_size=100, checkpoint=path):
                got.append(card.id)
                if len(got) == 250:
                    taken.set()
                    await go_on.wait()
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await taken.wait()
        await client.aclose()
        go_on.set()
    # It stops at its next step: none of the page in its hands after the close (it went on
    # through that page, which the resume yielded as well, from the position saved).
    assert len(got) == 250
    (error,) = errors
    assert "client was closed" in str(error)
    async with (
        sc.SimCardsClient("test-key", server.url) as again,
        again.sim_cards(page_size=100, checkpoint=path, resume_from=path) as resumed,
    ):
        rest = [card.id async for card in resumed]
    assert not set(rest) & set(got)
    assert sorted(got + rest) == sorted(server.current_sim_card_ids())


@pytest.mark.parametrize("closing", ["client", "stream"])
async def test_a_page_handed_over_during_a_save_is_not_yielded_after_a_close(
    server: MockTelnyxServer, tmp_path: Path, closing: str
) -> None:
    """Closed (the client, or the stream, from another task) while the reader awaited a
    checkpoint save before its first page reached it: the stop saved none of that page as
    taken, yet the page was then yielded whole, and the resume yielded it again.
    """
    path = tmp_path / "scan.json"
    client = sc.SimCardsClient("test-key", server.url, max_concurrency=2)
    await client.__aenter__()
    stream = client.sim_cards(page_size=100, checkpoint=path)
    checkpointer = stream._checkpointer
    assert checkpointer is not None
    saving, go_on = anyio.Event(), anyio.Event()
    real_save = checkpointer.save

    async def held_save(*args: Any, **kwargs: Any) -> None:
        if not saving.is_set():  # the first save, as page 1 is about to be handed over
            saving.set()
            await go_on.wait()
        await real_save(*args, **kwargs)

    checkpointer.save = held_save  # type: ignore[method-assign]
    got: list[str] = []
    errors: list[RuntimeError] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_read_into, stream, got, errors)
        await saving.wait()
        await (client.aclose() if closing == "client" else stream.aclose())
        go_on.set()
    assert got == []
    (error,) = errors
    assert ("client was closed" if closing == "client" else "closed (aclose())") in str(error)
    await client.aclose()
    async with (
        sc.SimCardsClient("test-key", server.url) as again,
        again.sim_cards(page_size=100, checkpoint=path, resume_from=path) as resumed,
    ):
        rest = [card.id async for card in resumed]
    assert sorted(rest) == sorted(server.current_sim_card_ids())


async def test_a_failed_save_as_the_client_closes_is_the_readers_and_the_client_closes(
    server: MockTelnyxServer, tmp_path: Path
) -> None:
    """The client's close saves where each stream's reader got: a save that failed (the
    checkpoint's directory gone, a full disk) raised out of ``aclose()`` before the client's
    tasks were cancelled and its session closed, and a second ``aclose()`` did nothing. The
    reader raises it now, and the client closes.
    """
    folder = tmp_path / "gone"
    folder.mkdir()
    client = sc.SimCardsClient("test-key", server.url, max_concurrency=2)
    await client.__aenter__()
    stream = client.sim_cards(page_size=100, checkpoint=folder / "scan.json")
    taken, go_on = anyio.Event(), anyio.Event()
    errors: list[BaseException] = []

    async def reader() -> None:
        try:
            async for _ in stream:
                if not taken.is_set():
                    taken.set()
                    await go_on.wait()
        except OSError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await taken.wait()
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
        await client.aclose()  # does not raise
        go_on.set()
    (error,) = errors
    assert isinstance(error, FileNotFoundError)
    assert client._session is not None
    assert client._session.closed
    assert all(task.done() for task in client._tasks)


async def test_a_cancellation_as_the_listing_ends_is_saved_as_a_stop(
    client: sc.SimCardsClient, server: MockTelnyxServer, tmp_path: Path
) -> None:
    """A cancellation landing in the one turn the stream waits for its producer after the
    last card (a timeout firing then) skipped both the end's save and the stop's: the resume
    yielded every card again.
    """
    path = tmp_path / "scan.json"
    total = len(server.current_sim_card_ids())
    stream = client.sim_cards(page_size=100, checkpoint=path)
    got: list[str] = []

    async def reader() -> None:
        me = asyncio.current_task()
        assert me is not None
        async for card in stream:
            got.append(card.id)
            if len(got) == total:
                # The producer ends; then the cancellation lands in the stream's wait for it.
                producer = stream._producer.task
                assert producer is not None
                await eventually(producer.done, what="the producer ended")
                asyncio.get_running_loop().call_soon(me.cancel)

    task = asyncio.create_task(reader())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(got) == total
    async with client.sim_cards(page_size=100, checkpoint=path, resume_from=path) as resumed:
        assert [card.id async for card in resumed] == []


def test_a_checkpoint_name_as_long_as_the_file_system_takes_saves(tmp_path: Path) -> None:
    """A checkpoint name the file system takes was refused as too long: a save's temporary
    file (``.NAME.RANDOM.tmp``) had a name 14 bytes longer. Its NAME is cut short; the ids
    file's name is the checkpoint's and ``.ids``, so a name without room for that is refused
    as such, naming ``checkpoint`` (it was refused as in a directory it could not write in).
    """
    limit = name_max(tmp_path)
    query = sim_cards_query()
    longest = tmp_path / ("c" * (limit - len(".ids")))
    _saved(Checkpointer(query, longest), 2, ["a"])
    _saved(Checkpointer(query, longest, resume_from=longest), 3, ["b"])
    assert list(Checkpointer(query, longest, resume_from=longest).earlier_ids()) == [["a"], ["b"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name, f"{longest.name}.ids"]
    too_long = tmp_path / ("c" * (limit - len(".ids") + 1))
    with pytest.raises(sc.InvalidParameterError, match=f"at most {limit - 4} bytes") as caught:
        Checkpointer(query, too_long)
    assert caught.value.parameter == "checkpoint"
    assert len(list(tmp_path.iterdir())) == 2, "nothing made"


async def test_a_checkpoint_naming_an_open_descriptor_is_refused(
    client: sc.SimCardsClient, server: MockTelnyxServer, tmp_path: Path
) -> None:
    """``checkpoint="/dev/fd/N"`` (``/dev/stdout`` onto a file) leads to the file a shell
    opened: a save's rename would replace it, what was written there lost. Refused naming
    ``checkpoint`` before anything is sent, the file as it was.
    """
    log = tmp_path / "log.txt"
    log.write_bytes(b"before\n")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        with pytest.raises(sc.InvalidParameterError, match="open descriptor") as caught:
            client.sim_cards(checkpoint=f"/dev/fd/{fd}")
    finally:
        os.close(fd)
    assert caught.value.parameter == "checkpoint"
    assert server.requests == []
    assert log.read_bytes() == b"before\n"


@pytest.mark.parametrize("stop", [20, 25])
async def test_a_resume_meeting_repeats_after_fresh_pages_of_inserts_is_drift(
    tmp_path: Path, stop: int
) -> None:
    """Stopped after 20 of 100 (a page's end), then 30 inserted at the head and the last 30
    deleted: the resume's first pages hold the inserted records (fresh), and its first page of
    repeats came later. Only a resume's first page had its checkpoint's last page read again,
    so this one was "a replayed page", at every resume (each saved the pages after the churn,
    which then held what they held). The first page of repeats a resumed pass meets, wherever
    it falls, is judged by that re-read: moved, so drift, and the listing completes.
    """
    path = tmp_path / "scan.json"
    async with (
        MockTelnyxServer(seed=1, sim_cards=100, actions=0) as server,
        sc.SimCardsClient("test-key", server.url, max_retries=0) as client,
    ):
        async with client.sim_cards(page_size=10, checkpoint=path) as stream:
            got = await _first_ids(stream, stop)
        tail = server.current_sim_card_ids()[-30:]
        server.insert_sim_cards(30)
        server.delete_sim_cards(tail)
        resumed = client.sim_cards(page_size=10, checkpoint=path, resume_from=path)
        with pytest.warns(sc.DriftWarning, match="since the checkpoint"):
            async with resumed:
                got += [card.id async for card in resumed]
        assert resumed.stats.drift.rereads == 1
        left = set(server.current_sim_card_ids())
        inserted = set(server.current_sim_card_ids()[:30])
    assert len(got) == len(set(got))
    # What a scan after the stop can reach: everything left but the records inserted ahead
    # of the resume point (a resume never reads back).
    assert set(got) - set(tail) <= left
    assert left - set(got) <= inserted


@pytest.mark.parametrize(
    "content",
    [
        b"id,iccid\r\n1,8931\r\n",
        b"[1, 2]",
        b'{"version": 4}',
        # Nested past msgspec's depth: a bare RecursionError escaped.
        b'{"version": 4, "junk": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    ],
)
async def test_a_checkpoint_path_naming_a_file_that_is_no_checkpoint_is_refused(
    server: MockTelnyxServer, client: sc.SimCardsClient, tmp_path: Path, content: bytes
) -> None:
    """``checkpoint="cards.csv"`` (a typo for ``resume_from``, an output's name) replaced the
    file with a checkpoint at the first save: its records were gone. Refused before anything
    is sent, the file left as it was; a checkpoint file, or an empty one, is taken.
    """
    target = tmp_path / "cards.csv"
    target.write_bytes(content)
    with pytest.raises(sc.InvalidParameterError, match="not a checkpoint") as caught:
        client.sim_cards(checkpoint=target)
    assert caught.value.parameter == "checkpoint"
    assert target.read_bytes() == content
    assert server.requests == []


async def test_a_checkpoint_path_naming_an_old_checkpoint_or_an_empty_file_is_taken(
    client: sc.SimCardsClient, tmp_path: Path
) -> None:
    """A new scan may write over an earlier scan's checkpoint, or over an empty file."""
    old = tmp_path / "old.checkpoint"
    stream = client.sim_cards(page_size=50, limit=60, checkpoint=old)
    async for _ in stream:
        break
    await stream.aclose()
    assert old.stat().st_size > 0
    empty = tmp_path / "empty.checkpoint"
    empty.touch()
    for path in (old, empty):
        cards = await client.sim_cards(page_size=50, limit=60, checkpoint=path).collect()
        assert len(cards) == 60
    # As the README and the command pass it, resume_from the same path: an empty file was
    # refused as a broken checkpoint ("Input data was truncated").
    made = tmp_path / "made.checkpoint"
    made.touch()
    stream = client.sim_cards(page_size=50, limit=60, checkpoint=made, resume_from=made)
    assert len(await stream.collect()) == 60
