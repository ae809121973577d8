"""Checkpointed exports resume to the same file: from Python, and from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from cli_runs import AS_MAIN, child_env, run
from polling import HANG_GUARD, eventually, loop_turns

import simcards_async as sc
from simcards_async import _output
from simcards_async._checkpoint import Checkpointer, ids_path
from simcards_async._output import _checkpoint_token, _partial_name
from simcards_async._paths import name_max
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYresume-tests"
#: An edit that removes the field.
GONE = object()


def failing_after(pages: int, failures: int = 1) -> FaultPlan:
    """The first ``pages`` requests succeed, then ``failures`` fail, then all succeed."""
    return FaultPlan(script=[None] * pages + [500] * failures)


@contextlib.asynccontextmanager
async def stopped_after_three_pages(
    target: Path, point: Path
) -> AsyncIterator[tuple[MockTelnyxServer, sc.SimCardsClient]]:
    """A server and client after a checkpointed export to ``target`` failed at page 4."""
    async with (
        MockTelnyxServer(sim_cards=600, seed=4, faults=failing_after(3)) as server,
        sc.SimCardsClient(KEY, server.url, max_concurrency=1, max_retries=0) as client,
    ):
        with pytest.raises(sc.InternalServerError):
            await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
        yield server, client


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
async def test_export_resumed_after_a_failure_equals_an_uninterrupted_one(
    tmp_path: Path, suffix: str
) -> None:
    """A checkpointed export that died midway, run again, ends with the very same bytes."""
    reference = tmp_path / f"reference.{suffix}"
    async with (
        MockTelnyxServer(sim_cards=1200, seed=4) as clean,
        sc.SimCardsClient(KEY, clean.url) as client,
    ):
        await sc.export(client.sim_cards(page_size=100), reference)
    target, point = tmp_path / f"cards.{suffix}", tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=1200, seed=4, faults=failing_after(5)) as server,
        sc.SimCardsClient(KEY, server.url, max_concurrency=1, max_retries=0) as client,
    ):
        with pytest.raises(sc.InternalServerError):
            await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
        assert not target.exists(), "an unfinished export never looks complete"
        partials = list(tmp_path.glob(f".cards.{suffix}.*.partial"))
        assert len(partials) == 1, "the partial output is kept for the resume"
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        result = await sc.export(stream, target)
        pages = [int(r.query["page[number]"][0]) for r in server.requests[before:]]
    assert target.read_bytes() == reference.read_bytes()
    assert result.items == 1200
    assert min(pages) == 6, "the five finished pages were not fetched again"
    assert not list(tmp_path.glob("*.partial"))
    assert msgspec.json.decode(point.read_bytes())["complete"] is True


def exported_ids(target: Path) -> list[str]:
    if target.suffix == ".csv":
        with target.open(newline="") as file:
            return [row["id"] for row in csv.DictReader(file)]
    return [msgspec.json.decode(line)["id"] for line in target.read_bytes().splitlines()]


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
async def test_a_resume_after_pages_of_inserts_repeats_no_record(
    tmp_path: Path, suffix: str
) -> None:
    """Records inserted at the head between the stop and the resume move 250 records the
    first run exported back past the resume point: two and a half pages of 100. The
    resumed export still holds each record once, and every record of the listing as it was.

    The checkpoint knew only the last page's ids: 150 came twice. Its ids file knows them all.
    """
    target, point = tmp_path / f"cards.{suffix}", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        listed = server.current_sim_card_ids()
        assert ids_path(point).is_file()
        server.insert_sim_cards(250)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.warns(sc.DriftWarning):
            result = await sc.export(stream, target)
    got = exported_ids(target)
    assert len(got) == len(set(got)) == result.items
    assert set(listed) <= set(got)  # the 250 new ones sit before the resume point: not reached
    assert stream.stats.drift.duplicates_dropped == 250
    assert not ids_path(point).exists(), "a finished listing needs no ids"


async def test_a_checkpoint_without_its_ids_file_is_refused(tmp_path: Path) -> None:
    """Without the ids it counts, a resume could repeat records: refused, naming resume_from
    with the checkpoint as given (it named the ids file as the value, which nobody typed:
    "invalid --checkpoint value 'scan.json.ids'") and the ids file in the reason.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        ids_path(point).unlink()
        before = len(server.requests)
        with pytest.raises(sc.InvalidParameterError, match=r"resume_from.*ids file") as caught:
            client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        assert caught.value.value == str(point)
        assert repr(str(ids_path(point))) in str(caught.value)
        assert len(server.requests) == before


async def test_an_ids_file_that_is_no_file_is_refused_naming_the_checkpoint(
    tmp_path: Path,
) -> None:
    """The ids file a directory: the refusal showed the ids file as the value given
    (``invalid --checkpoint value 'scan.json.ids'``), which nobody typed.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        ids = ids_path(point)
        ids.unlink()
        ids.mkdir()
        before = len(server.requests)
        typed = f"{tmp_path}/./scan.json"  # as typed: not the path worked out from the ids file
        for checkpoint in (None, typed):
            with pytest.raises(sc.InvalidParameterError, match="a directory") as caught:
                client.sim_cards(page_size=100, checkpoint=checkpoint, resume_from=typed)
            assert caught.value.value == typed, checkpoint
            assert repr(str(ids)) in str(caught.value)
        ids.rmdir()
        with pytest.raises(sc.InvalidParameterError, match="ids file beside it") as caught:
            client.sim_cards(page_size=100, resume_from=typed)
        assert caught.value.value == typed
        assert len(server.requests) == before


async def test_checkpointed_export_refuses_what_cannot_resume(tmp_path: Path) -> None:
    """Parquet (not appendable) and an open file (nothing to rename) are refused up front."""
    async with (
        MockTelnyxServer(sim_cards=100, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        point = tmp_path / "scan.json"
        with pytest.raises(sc.InvalidParameterError, match="format") as refused:
            await sc.export(client.sim_cards(checkpoint=point), tmp_path / "cards.parquet")
        # Every format a checkpoint can resume is named: all but Parquet.
        assert "'jsonl', 'json', 'csv', 'jsonl.gz', 'json.gz', 'csv.gz'" in str(refused.value)
        with (
            (tmp_path / "out.jsonl").open("wb") as file,
            pytest.raises(sc.InvalidParameterError, match="target"),
        ):
            await sc.export(client.sim_cards(checkpoint=point), file)
        assert server.requests == []


async def test_a_checkpointed_export_to_a_path_that_is_not_utf8_is_refused_first(
    tmp_path: Path,
) -> None:
    """A target name that is not UTF-8 (a legal POSIX name, or a C locale's reading of one)
    failed at the first save, after requests, with a bare ``UnicodeEncodeError``: the
    checkpoint keeps the target's absolute path as UTF-8. Refused, naming ``target``, first.
    """
    odd = b"caf\xe9".decode(errors="surrogateescape")
    async with (
        MockTelnyxServer(sim_cards=100, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        for target in (tmp_path / f"{odd}.csv", tmp_path / odd / "cards.csv"):
            target.parent.mkdir(exist_ok=True)
            stream = client.sim_cards(checkpoint=tmp_path / "scan.json")
            with pytest.raises(sc.InvalidParameterError, match="not UTF-8") as refused:
                await sc.export(stream, target)
            assert refused.value.parameter == "target"
        assert server.requests == []
        # Without a checkpoint, nothing keeps the name: it is written.
        await sc.export(client.sim_cards(), tmp_path / f"{odd}.csv")
    assert (tmp_path / f"{odd}.csv").stat().st_size > 0


async def test_resume_into_another_target_is_refused(tmp_path: Path) -> None:
    """A checkpoint made by an export to one file cannot continue into another."""
    point = tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4, faults=failing_after(2)) as server,
        sc.SimCardsClient(KEY, server.url, max_concurrency=1, max_retries=0) as client,
    ):
        with pytest.raises(sc.InternalServerError):
            await sc.export(client.sim_cards(page_size=100, checkpoint=point), tmp_path / "a.csv")
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="target"):
            await sc.export(stream, tmp_path / "b.csv")


async def test_resume_with_a_limit_below_what_was_delivered_is_refused(tmp_path: Path) -> None:
    """A limit may grow from one run to the next; below what the checkpoint says was
    delivered it cannot hold (the resumed file had 96,000 lines for --limit 1000): refused,
    nothing sent. A limit at or above it is kept exactly.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        before = len(server.requests)
        with pytest.raises(sc.InvalidParameterError, match="at least 300") as caught:
            client.sim_cards(page_size=100, limit=250, checkpoint=point, resume_from=point)
        assert caught.value.parameter == "limit"
        assert len(server.requests) == before, "nothing is sent"
        stream = client.sim_cards(page_size=100, limit=350, checkpoint=point, resume_from=point)
        result = await sc.export(stream, target)
    assert result.items == 350
    assert len(target.read_bytes().splitlines()) == 350


async def test_resume_refuses_a_partial_output_shorter_than_its_checkpoint(
    tmp_path: Path,
) -> None:
    """Bytes the checkpoint counted but the disk lost (a power cut) are never papered over.

    Checkpoints do not fsync the output: after a power cut the partial file may be
    shorter than the checkpoint says. The resume refuses, sending nothing, and leaves
    both files for the user to delete.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        (partial,) = tmp_path.glob(".cards.jsonl.*.partial")
        size = msgspec.json.decode(point.read_bytes())["extra"]["export"]["size"]
        assert partial.stat().st_size == size > 0
        with partial.open("r+b") as file:
            file.truncate(size - 1)
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="delete the checkpoint"):
            await sc.export(stream, target)
        assert len(server.requests) == before, "nothing is sent"
    assert partial.stat().st_size == size - 1, "the partial output is left as it was"
    assert point.is_file()
    assert not target.exists()


@pytest.mark.parametrize("cut", ["size", "file", "both"])
async def test_a_resume_refuses_a_partial_output_that_does_not_end_where_its_checkpoint_says(
    tmp_path: Path, cut: str
) -> None:
    """The checkpoint keeps the last bytes the export wrote; a resume checks them first.

    A size edited to another valid number (cut mid-record), or a partial output changed
    since, would otherwise be continued mid-line: a corrupt export reported as a success.
    Refused before anything is sent, both files left as they were.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        (partial,) = tmp_path.glob(".cards.jsonl.*.partial")
        checkpoint = msgspec.json.decode(point.read_bytes())
        size = checkpoint["extra"]["export"]["size"]
        content = partial.read_bytes()
        assert len(content) == size > 0
        assert checkpoint["extra"]["export"]["tail"] == content[-16:].hex()
        if cut in ("size", "both"):  # cut mid-record, a size a user might type
            checkpoint["extra"]["export"]["size"] = size - 10
            point.write_bytes(msgspec.json.encode(checkpoint))
        if cut in ("file", "both"):  # the same size, its last record changed
            content = content[:-3] + b"x}\n"
            partial.write_bytes(content)
        saved = point.read_bytes()
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="was the checkpoint or the file edit"):
            await sc.export(stream, target)
        assert len(server.requests) == before, "nothing is sent"
    assert partial.read_bytes() == content, "the partial output is left as it was"
    assert point.read_bytes() == saved
    assert not target.exists()


async def test_a_resume_refuses_an_output_of_nothing_after_records_done(tmp_path: Path) -> None:
    """A checkpoint's export state edited to size 0 (its tail then empty, so it matched):
    the partial output was cut to nothing and the rest written alone, a short file with
    exit 0 and a summary counting the whole listing. Refused, both files left as they were.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        (partial,) = tmp_path.glob(".cards.jsonl.*.partial")
        content = partial.read_bytes()
        checkpoint = msgspec.json.decode(point.read_bytes())
        checkpoint["extra"]["export"].update(size=0, tail="")
        point.write_bytes(msgspec.json.encode(checkpoint))
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="an output of 0 bytes; was it edited"):
            await sc.export(stream, target)
        assert len(server.requests) == before, "nothing is sent"
    assert partial.read_bytes() == content
    assert not target.exists()


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"partial": "notes.txt"}, "its partial output 'notes.txt' is not one an export"),
        ({"partial": "../cards.jsonl"}, "is not one an export"),
        ({"partial": ".cards.jsonl.0000000z.partial"}, "is not one an export"),
        ({"partial": None}, "Expected `str`, got `null`"),
        ({"size": -5}, "Expected `int` >= 0"),
        ({"size": "12"}, "Expected `int`, got `str`"),
        ({"size": 1.5}, "Expected `int`, got `float`"),
        ({"tail": "0a0"}, "Expected `str` matching"),
        ({"tail": "0A"}, "Expected `str` matching"),
        ({"tail": 10}, "Expected `str`, got `int`"),
        ({"tail": None}, "Expected `str`, got `null`"),
        ({"tail": GONE}, "missing required field `tail`"),
    ],
)
async def test_an_edited_export_checkpoint_is_refused_and_touches_no_file(
    tmp_path: Path, edit: dict[str, object], says: str
) -> None:
    """A checkpoint whose export state was edited (or is not one an export wrote) is refused,
    naming resume_from, before anything is sent. Its partial output must be a name an export
    to this target makes: resumed from any other file, the export cut that file to the size
    and renamed it onto the target (a file beside it was consumed).
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"a file of the user's\n" * 100)
    async with stopped_after_three_pages(target, point) as (server, client):
        checkpoint = msgspec.json.decode(point.read_bytes())
        state = checkpoint["extra"]["export"]
        state.update(edit)
        for name in [name for name, value in edit.items() if value is GONE]:
            del state[name]
        point.write_bytes(msgspec.json.encode(checkpoint))
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="resume_from") as caught:
            await sc.export(stream, target)
        assert len(server.requests) == before, "nothing is sent"
    assert caught.value.parameter == "resume_from"
    assert says in str(caught.value)
    assert notes.read_bytes() == b"a file of the user's\n" * 100
    assert not target.exists()
    assert len(list(tmp_path.glob(".cards.jsonl.*.partial"))) == 1, "the real one is kept"


async def test_cli_checkpoint_resumes_with_the_same_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--checkpoint`: a failed export says how to resume; the same command finishes the file.

    A command the checkpoint refuses (another -o) does not say to run it again.
    """
    async with MockTelnyxServer(sim_cards=900, seed=8) as clean:
        reference = tmp_path / "reference.jsonl"
        argv = ["--api-key", KEY, "--base-url", clean.url, "-q", "--page-size", "50"]
        assert await run("export", "sim-cards", *argv, "-o", str(reference)) == 0
    # Pages 5 and 6 are read ahead together; each fails its 1 + 4 tries, then all is well.
    async with MockTelnyxServer(sim_cards=900, seed=8, faults=failing_after(4, 10)) as server:
        command = [
            "export",
            "sim-cards",
            *["--api-key", KEY, "--base-url", server.url, "--page-size", "50"],
            *["--max-concurrency", "1", "--checkpoint", str(tmp_path / "ck.json")],
            *["-o", str(tmp_path / "cards.jsonl")],
        ]
        assert await run(*command) == 1
        assert (tmp_path / "ck.json").exists()
        assert "run the same command again to resume" in capsys.readouterr().err
        assert await run(*command[:-1], str(tmp_path / "other.jsonl")) == 2
        err = capsys.readouterr().err
        assert "invalid -o/--output value" in err
        assert "run the same command again" not in err
        assert await run(*command) == 0
    assert (tmp_path / "cards.jsonl").read_bytes() == reference.read_bytes()
    assert not (tmp_path / "ck.json").exists(), "a finished export removes its checkpoint"


async def test_a_relative_target_resumes_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint kept ``-o`` as typed (``cards.jsonl``): from the directory above, the
    same file (``job/cards.jsonl``, or its absolute path) was refused as another target.
    The target is kept as an absolute path: any spelling of the same file resumes it.
    """
    job = tmp_path / "job"
    job.mkdir()
    monkeypatch.chdir(job)
    async with stopped_after_three_pages(Path("cards.jsonl"), Path("scan.json")) as (_, client):
        monkeypatch.chdir(tmp_path)
        point = Path("job/scan.json")
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        result = await sc.export(stream, Path("job") / ".." / "job" / "cards.jsonl")
    lines = (job / "cards.jsonl").read_bytes().splitlines()
    assert result.items == len(lines) == 600
    assert len({msgspec.json.decode(line)["id"] for line in lines}) == 600


async def test_a_checkpoint_a_plain_scan_wrote_is_refused_by_an_export_naming_it(
    tmp_path: Path,
) -> None:
    """A checkpoint with no export state (a scan read with ``async for``) named ``items``
    and the stream's repr (``--checkpoint`` users never typed either): now ``resume_from``.
    """
    point = tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url, max_concurrency=1) as client,
    ):
        async with client.sim_cards(page_size=100, checkpoint=point) as stream:
            async for _ in stream.pages():
                break
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="holds no export's state") as caught:
            await sc.export(stream, tmp_path / "cards.jsonl")
        assert caught.value.parameter == "resume_from"
        assert str(point) in str(caught.value)
        assert len(server.requests) == before, "nothing is sent"


@pytest.mark.parametrize("limit", [250, None])
async def test_an_export_whose_checkpoint_says_it_finished_is_refused_not_emptied(
    tmp_path: Path, limit: int | None
) -> None:
    """An export that finished (at its limit, or at the listing's end) left no partial
    output to continue: resuming its checkpoint is refused, naming it and saying why,
    with nothing sent and the finished output as it was (not a claim that a partial file
    "is gone", nor an empty file written over it).
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        first = await sc.export(
            client.sim_cards(page_size=100, limit=limit, checkpoint=point), target
        )
        written = target.read_bytes()
        assert first.items == (limit or 600)
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="finished") as caught:
            await sc.export(stream, target)
        assert caught.value.parameter == "resume_from"
        assert f"{first.items:,} records" in str(caught.value)
        assert "not there" not in str(caught.value)
        assert len(server.requests) == before, "nothing is sent"
        # The output gone (moved, or never put in place by a process killed after the last
        # save): still refused, and said so rather than "written to" a file that is not there.
        moved = target.rename(tmp_path / "moved.jsonl")
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="not there now") as gone:
            await sc.export(stream, target)
        assert gone.value.parameter == "resume_from"
        assert len(server.requests) == before, "nothing is sent"
        assert not target.exists()
    assert moved.read_bytes() == written


@pytest.mark.parametrize("older", [False, True], ids=["no-target", "older-target"])
@pytest.mark.parametrize("name", ["cards.jsonl", "cards.json", "cards.csv", "cards.jsonl.gz"])
async def test_a_finished_export_killed_before_its_rename_is_put_in_place_on_resume(
    tmp_path: Path, name: str, *, older: bool
) -> None:
    """A process killed between the last save (which says the export finished) and the
    rename of its output left that checkpoint, the partial output beside it, and no target
    or the file an earlier export wrote: the resume was refused as finished, "written to" a
    file that was never there (or was the old one). Now the resume reads nothing more,
    closes the partial output and puts it in place: the very bytes of the export that was
    not killed.
    """
    target, point = tmp_path / name, tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        first = await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
        written, left = target.read_bytes(), sorted(p.name for p in tmp_path.iterdir())
        # The state of the kill: the output still under its partial name, as the last
        # save left it (the writer's close, a JSON array's "]", had not come yet, or had).
        partial = msgspec.json.decode(point.read_bytes())["extra"]["export"]["partial"]
        target.rename(tmp_path / partial)
        if older:
            target.write_bytes(b"an earlier export\n")
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        await sc.export(stream, target)
        assert len(server.requests) == before, "nothing more is read"
    assert target.read_bytes() == written
    assert first.items == 600
    assert sorted(p.name for p in tmp_path.iterdir()) == left  # no partial output left


async def test_a_partial_output_replaced_by_a_directory_is_refused_saying_so(
    tmp_path: Path,
) -> None:
    """A directory where the partial output was failed with an ``OSError`` once the resume
    had begun (the CLI: exit 1 and a resume hint that could never work): refused as what it
    is, naming the target, nothing sent.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        partial = tmp_path / msgspec.json.decode(point.read_bytes())["extra"]["export"]["partial"]
        partial.unlink()
        partial.mkdir()
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        with pytest.raises(sc.InvalidParameterError, match="not a directory") as caught:
            await sc.export(stream, target)
        assert caught.value.parameter == "target"
        assert "delete the checkpoint to start over" in str(caught.value)
        assert len(server.requests) == before, "nothing is sent"


async def test_a_checkpoint_another_export_is_writing_is_refused(tmp_path: Path) -> None:
    """The same command run twice: the second resumed the first's checkpoint and cut and
    wrote the partial output the first was still writing (a file of mixed lines and
    repeated records, renamed by whichever ended last, exit 0). The partial output is
    locked while an export writes it: a second is refused, naming the checkpoint, and the
    file is left as it was; once it is free, the resume goes on as usual.
    """
    fcntl = pytest.importorskip("fcntl")
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        whole = await sc.export(client.sim_cards(page_size=100), tmp_path / "whole.jsonl")
    async with stopped_after_three_pages(target, point) as (server, client):
        partial = tmp_path / msgspec.json.decode(point.read_bytes())["extra"]["export"]["partial"]
        written = partial.read_bytes()
        before = len(server.requests)
        with partial.open("r+b") as held:  # as the first export, still writing, holds it
            fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
            with pytest.raises(sc.InvalidParameterError, match="another process is writing") as no:
                await sc.export(stream, target)
            assert no.value.parameter == "resume_from"
            assert partial.read_bytes() == written
            assert len(server.requests) == before, "nothing is sent"
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        result = await sc.export(stream, target)
    assert result.items == whole.items == 600
    assert target.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


async def test_an_export_killed_before_its_first_save_leaves_no_partial_output_behind(
    tmp_path: Path,
) -> None:
    """A checkpointed export killed (SIGKILL) before its first save left its partial output,
    which no checkpoint names, under a random name: the same command run again started afresh
    beside it, and it stayed for good. The partial output is named after its checkpoint: the
    run again writes over it, and nothing is left behind.
    """
    async with MockTelnyxServer(sim_cards=600, seed=4) as clean:
        whole = tmp_path / "whole" / "cards.jsonl"
        whole.parent.mkdir()
        assert await run("export", "sim-cards", "--api-key", KEY, "--base-url", clean.url,
                         "-q", "-o", str(whole)) == 0  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    # Page 1 is held until the server closes: the child has made its partial output and
    # saved nothing when it is killed, however long the machine took to get there.
    held = FaultPlan(script=["hang"], hang_seconds=math.inf)
    async with MockTelnyxServer(sim_cards=600, seed=4, faults=held) as server:
        command = [
            *["export", "sim-cards", "--api-key", KEY, "--base-url", server.url, "-q"],
            *["--checkpoint", str(work / "ck.json"), "-o", str(work / "cards.jsonl")],
        ]
        child = await anyio.open_process([sys.executable, "-c", AS_MAIN, *command], env=child_env())
        try:
            # A child starts the interpreter and imports aiohttp first: slow on a busy machine.
            await eventually(lambda: server.requests, what="the child asked for page 1")
        finally:
            child.kill()
            await child.wait()
        left = sorted(p.name for p in work.iterdir())
        assert len(left) == 1, left
        assert left[0].startswith(".cards.jsonl."), left  # the partial output, and no save
        (work / left[0]).write_bytes(b'{"written": "before the kill"}\n')
        assert await run(*command) == 0
    assert sorted(p.name for p in work.iterdir()) == ["cards.jsonl"]
    assert (work / "cards.jsonl").read_bytes() == whole.read_bytes()


async def test_fresh_exports_over_an_earlier_checkpoint_leave_one_partial_output_at_most(
    tmp_path: Path,
) -> None:
    """Three fresh checkpointed exports (no resume_from) that each fail at page 4, then one
    that finishes: each wrote over the checkpoint before it, and the partial output that
    checkpoint named stayed for good (three hidden files of a listing each beside the
    finished one). The partial output a checkpoint no longer names goes once the new
    checkpoint is saved; only the latest, which a resume continues, is left.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    script: list[int | None] = ([None] * 3 + [500]) * 3
    async with (
        MockTelnyxServer(sim_cards=600, seed=4, faults=FaultPlan(script=script)) as server,
        sc.SimCardsClient(KEY, server.url, max_concurrency=1, max_retries=0) as client,
    ):
        named = []
        for _ in range(3):
            with pytest.raises(sc.InternalServerError):
                await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
            (partial,) = tmp_path.glob(".cards.jsonl.*.partial")
            saved = msgspec.json.decode(point.read_bytes())["extra"]["export"]["partial"]
            assert partial.name == saved
            named.append(saved)
        assert len(set(named)) == 3  # each run's own
        result = await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
    assert result.items == 600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cards.jsonl", "scan.json"]


async def test_an_emptied_checkpoint_leaves_no_partial_output_behind(tmp_path: Path) -> None:
    """An empty checkpoint file is a fresh scan, as a missing one is; but the export named
    its partial output at random, not after the checkpoint, and the stopped run's partial
    output (named after it) stayed beside the finished target for good.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (_, client):
        (left,) = tmp_path.glob(".cards.jsonl.*.partial")
        point.write_bytes(b"")  # as a user empties it to start over (the fault is spent)
        result = await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
    assert result.items == 600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cards.jsonl", "scan.json"]
    ids = [msgspec.json.decode(line)["id"] for line in target.read_bytes().splitlines()]
    assert len(ids) == len(set(ids)) == 600
    assert not left.exists()


async def test_a_partial_output_another_export_holds_is_not_removed(tmp_path: Path) -> None:
    """The partial output an earlier checkpoint names, locked by another export (a resume of
    it running now): a fresh export over that checkpoint leaves it alone.
    """
    fcntl = pytest.importorskip("fcntl")
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (_, client):
        (earlier,) = tmp_path.glob(".cards.jsonl.*.partial")
        with earlier.open("rb") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
            assert earlier.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
async def test_a_fifo_planted_at_the_earlier_partial_outputs_name_is_left_alone(
    tmp_path: Path,
) -> None:
    """A FIFO in place of the partial output an earlier checkpoint names: the fresh export
    over that checkpoint opened it to remove it and blocked its event loop for good.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (_, client):
        (earlier,) = tmp_path.glob(".cards.jsonl.*.partial")
        earlier.unlink()
        os.mkfifo(earlier)
        with anyio.fail_after(HANG_GUARD):  # a guard against the hang, not a measure
            result = await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
    assert result.items == 600
    assert stat.S_ISFIFO(earlier.lstat().st_mode)


async def test_a_fresh_checkpointed_export_run_twice_at_once_is_refused(tmp_path: Path) -> None:
    """Two fresh exports with one checkpoint, at once: each saved over the other's checkpoint.
    The second is refused, naming the checkpoint, while the first writes its partial output.
    """
    pytest.importorskip("fcntl")
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    held = FaultPlan(script=["hang"], hang_seconds=math.inf)  # until the server closes
    async with (
        MockTelnyxServer(sim_cards=600, seed=4, faults=held) as server,
        sc.SimCardsClient(KEY, server.url, timeout=3600) as client,  # not a stall's 30 s
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(sc.export, client.sim_cards(page_size=100, checkpoint=point), target)
        await eventually(lambda: server.requests, what="the first export asked for page 1")
        with pytest.raises(sc.InvalidParameterError, match="another process is writing") as no:
            await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
        assert no.value.parameter == "checkpoint"
        assert len(server.requests) == 1, "the second sent nothing"
        tasks.cancel_scope.cancel()
    assert not target.exists()


async def test_cli_export_stopped_by_its_limit_removes_its_checkpoint(tmp_path: Path) -> None:
    """`--limit` with `--checkpoint`: the export is done at its limit; its checkpoint goes
    as at the listing's end, so the same command exports afresh rather than refusing.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "ck.json"
    async with MockTelnyxServer(sim_cards=900, seed=8) as server:
        command = [
            *["export", "sim-cards", "--api-key", KEY, "--base-url", server.url, "-q"],
            *["--page-size", "50", "--limit", "120", "--checkpoint", str(point)],
            *["-o", str(target)],
        ]
        for _ in range(2):
            assert await run(*command) == 0
            assert len(target.read_bytes().splitlines()) == 120
            assert not point.exists()
            assert not ids_path(point).exists()


async def test_an_exports_checkpoint_resumed_without_a_checkpoint_is_refused(
    tmp_path: Path,
) -> None:
    """``resume_from=`` an export's checkpoint without ``checkpoint=``: the export wrote only
    the rest over the output (nothing at all after a finished one). Refused, naming
    resume_from and its file, before anything is sent or written; the refusal of a finished
    export names the checkpoint it continues, not the new one.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        await sc.export(client.sim_cards(page_size=100, limit=250, checkpoint=point), target)
        written = target.read_bytes()
        sent = len(server.requests)
        for stream in (
            client.sim_cards(page_size=100, resume_from=point),
            client.sim_cards(page_size=100, resume_from=point, checkpoint=tmp_path / "new.json"),
        ):
            with pytest.raises(sc.InvalidParameterError) as caught:
                await sc.export(stream, target)
            assert caught.value.parameter == "resume_from"
            assert caught.value.value == point
        assert len(server.requests) == sent
    assert target.read_bytes() == written


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
async def test_a_cancellation_after_the_finished_save_still_writes_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """A cancellation that comes once the checkpoint says the export finished, before its
    output is in place: the output is put in place all the same.

    The output was left unwritten (its partial file kept) while the checkpoint said the
    export had finished, so the resume was refused: no file, and no way to finish it.
    """
    reference, target = tmp_path / f"reference.{suffix}", tmp_path / f"cards.{suffix}"
    point = tmp_path / "scan.json"
    scope = anyio.CancelScope()
    loop = asyncio.get_running_loop()
    write_held = Checkpointer._write_held

    def cancel_after_the_finished_save(self: Checkpointer, files: Any) -> None:
        write_held(self, files)
        if files.point.complete:
            loop.call_soon_threadsafe(scope.cancel)

    async with (
        MockTelnyxServer(sim_cards=30, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        await sc.export(client.sim_cards(page_size=10), reference)
        monkeypatch.setattr(Checkpointer, "_write_held", cancel_after_the_finished_save)
        with scope:
            await sc.export(client.sim_cards(page_size=10, checkpoint=point), target)
    assert scope.cancel_called
    assert target.read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [reference.name, target.name, point.name]
    )


async def test_names_as_long_as_the_file_system_takes_export_and_resume(tmp_path: Path) -> None:
    """A target or checkpoint name the file system takes (255 bytes, on most) was refused as
    "file name too long": the partial output's name (``.NAME.TOKEN.partial``) was 19 bytes
    longer. Its NAME is cut short, by whole characters; an export stopped midway resumes
    from its partial output under that name and ends with the same file.
    """
    limit = name_max(tmp_path)
    # Two bytes a character: a name cut by bytes would end in half of one.
    target = tmp_path / ("a" + "é" * ((limit - len("a.jsonl")) // 2) + ".jsonl")
    whole = tmp_path / ("w" * (limit - len(".jsonl")) + ".jsonl")
    point = tmp_path / ("c" * (limit - len(".ids")))
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        await sc.export(client.sim_cards(page_size=100), whole)
    async with stopped_after_three_pages(target, point) as (server, client):
        partial = msgspec.json.decode(point.read_bytes())["extra"]["export"]["partial"]
        assert (tmp_path / partial).is_file()
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        result = await sc.export(stream, target)
    assert result.items == 600
    assert target.read_bytes() == whole.read_bytes()
    # The checkpoint is kept (marked complete); its ids file goes.
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([whole.name, target.name, point.name])


async def test_a_link_planted_at_a_fresh_exports_partial_output_name_is_refused(
    tmp_path: Path,
) -> None:
    """A fresh checkpointed export's partial output has a name anyone can work out
    (``.NAME.TOKEN.partial``, the token from the checkpoint's path). A symbolic link planted
    there was followed: the file it led to was emptied and filled with the export, and the
    target became a link to it. A link there, symbolic or hard, is refused, naming the
    checkpoint, before anything is sent; the file it leads to is left as it was.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"not an export\n")
    partial = tmp_path / _partial_name(target, _checkpoint_token(point))
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        for plant, kind in ((partial.symlink_to, "symbolic link"), (partial.hardlink_to, "hard")):
            plant(victim)
            with pytest.raises(sc.InvalidParameterError, match=kind) as caught:
                await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
            assert caught.value.parameter == "checkpoint"
            assert victim.read_bytes() == b"not an export\n"
            partial.unlink()
        assert server.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


@pytest.mark.parametrize("which", ["partial output", "ids file"])
async def test_a_resume_refuses_a_link_in_place_of_a_file_it_writes(
    tmp_path: Path, which: str
) -> None:
    """A resume followed a symbolic link in place of its partial output (cut, written, and
    the link renamed onto the target) or of its ids file (cut and appended to). Refused,
    naming the parameter, before anything is sent; the file it leads to is left as it was.
    """
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with stopped_after_three_pages(target, point) as (server, client):
        if which == "partial output":
            name = msgspec.json.decode(point.read_bytes())["extra"]["export"]["partial"]
        else:
            name = ids_path(point).name
        elsewhere = tmp_path / "elsewhere"
        (tmp_path / name).rename(elsewhere)
        (tmp_path / name).symlink_to(elsewhere)
        kept = elsewhere.read_bytes()
        before = len(server.requests)
        with pytest.raises(sc.InvalidParameterError, match="not a symbolic link") as caught:
            stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
            await sc.export(stream, target)
        assert caught.value.parameter == ("target" if which == "partial output" else "checkpoint")
        assert len(server.requests) == before, "nothing is sent"
    assert elsewhere.read_bytes() == kept
    assert not target.exists()


async def _bound_by_permissions(work: Path) -> list[str]:
    """What starts a child process that ``work``'s permission bits bind (a command's start).

    Root may read and write any file: as root, ``work`` and its files are given to the
    user ``nobody``, and the child runs as that user (``setpriv``); skipped where it cannot.
    """
    if os.geteuid() != 0:
        return []
    nobody = 65534
    prefix = ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups"]
    if shutil.which("setpriv") is None:
        pytest.skip("root, and no setpriv to run the command as another user")
    for path in (work, *work.iterdir()):
        os.chown(path, nobody, nobody, follow_symlinks=False)
    probe = [*prefix, sys.executable, "-c", "import simcards_async"]
    if (await anyio.run_process(probe, env=child_env(), check=False)).returncode != 0:
        pytest.skip("the other user cannot run this interpreter or import this checkout")
    return prefix


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
@pytest.mark.parametrize(
    ("which", "mode", "refusal"),
    [
        ("partial output", 0o444, "invalid -o/--output value.*can read and write"),
        ("ids file", 0o444, "invalid --checkpoint value.*can write"),
        ("ids file", 0o222, "invalid --checkpoint value.*can read"),
        ("ids file", 0o000, "invalid --checkpoint value.*can write"),
    ],
)
async def test_a_resume_whose_files_cannot_be_used_is_refused_before_sending(
    which: str, mode: int, refusal: str
) -> None:
    """A resume whose ids file or partial output this user may not write or read: an ids
    file read-only failed at the first save, after requests, exit 1, saying to run the
    same command again (which failed the same way); the others failed with exit 1 too.
    Refused before anything is sent: exit 2, naming the flag.
    """
    work = Path(tempfile.mkdtemp())  # not under tmp_path: another user must reach it
    try:
        work.chmod(0o755)
        target, point = work / "cards.jsonl", work / "scan.json"
        async with stopped_after_three_pages(target, point) as (server, _):
            if which == "partial output":
                name = msgspec.json.decode(point.read_bytes())["extra"]["export"]["partial"]
            else:
                name = ids_path(point).name
            prefix = await _bound_by_permissions(work)
            (work / name).chmod(mode)
            before = len(server.requests)
            command = [
                *["export", "sim-cards", "--api-key", KEY, "--base-url", server.url, "-q"],
                *["--page-size", "100", "--checkpoint", str(point), "-o", str(target)],
            ]
            done = await anyio.run_process(
                [*prefix, sys.executable, "-c", AS_MAIN, *command], env=child_env(), check=False
            )
            err = done.stderr.decode()
            assert done.returncode == 2, err
            assert re.search(refusal, err), err
            assert "run the same command again" not in err
            assert len(server.requests) == before, "nothing is sent"
    finally:
        shutil.rmtree(work)


async def test_an_export_cancelled_during_its_end_save_leaves_a_checkpoint_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``task.cancel()`` while the export's end save waited for its thread: asyncio does
    not wait for the thread, and the export gives up (its output not put in place). The
    stream's close lets a save under way stand, but not this one, which its reader gave up
    on: written, it said the export was complete, and the resume had no output to finish.
    The checkpoint before it stands, and the resume ends with the whole output.
    """
    held, go, done = threading.Event(), threading.Event(), threading.Event()
    real_write = Checkpointer._write

    def write(checkpointer: Checkpointer, files: Any) -> None:
        if files.point.complete and not held.is_set():
            held.set()
            go.wait(HANG_GUARD)
            try:
                real_write(checkpointer, files)
            finally:
                done.set()
        else:
            real_write(checkpointer, files)

    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        reference = tmp_path / "reference.jsonl"
        await sc.export(client.sim_cards(page_size=100), reference)
        monkeypatch.setattr(Checkpointer, "_write", write)
        task = asyncio.create_task(
            sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
        )
        await eventually(held.is_set, what="the end's save in its thread")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        go.set()
        await eventually(done.is_set, what="the end's save's thread done")
        assert not target.exists()
        assert msgspec.json.decode(point.read_bytes())["complete"] is False
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        result = await sc.export(stream, target)
    assert target.read_bytes() == reference.read_bytes()
    assert result.items == 600


class _EndFlushHeld:
    """Holds, in its thread, the flush an export's end save awaits (the exporter's state)
    once ``stream`` has yielded ``cards`` records, until ``go`` is set.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cards: int) -> None:
        self.held, self.go = threading.Event(), threading.Event()
        self.stream: sc.PageStream[sc.SimCard] | None = None
        real_put = _output.Output.put

        def put(out: Any, data: Any) -> None:
            stream = self.stream
            if stream is not None and stream.progress.items == cards and not self.held.is_set():
                self.held.set()
                self.go.wait(HANG_GUARD)
            real_put(out, data)

        monkeypatch.setattr(_output.Output, "put", put)


async def test_an_export_closed_while_its_end_state_is_given_leaves_no_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed from another task while the end's save awaited the exporter's state (its
    output flushed in a thread): the close found no save to let stand, the export finished
    with its checkpoint still mid-way, and, not kept, it stayed, naming a partial output
    that was gone: the same export run again was refused. The close waits for the state.
    """
    flush = _EndFlushHeld(monkeypatch, 600)
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        stream = flush.stream = client.sim_cards(
            page_size=100, checkpoint=point, keep_checkpoint=False
        )
        results: list[sc.ExportResult] = []

        async def exporter() -> None:
            results.append(await sc.export(stream, target))

        async with anyio.create_task_group() as tg:
            tg.start_soon(exporter)
            try:
                await eventually(flush.held.is_set, what="the end's save awaiting the state")
                tg.start_soon(stream.aclose)
                await loop_turns()  # a close that does not wait ends in these
            finally:
                flush.go.set()
        (result,) = results
        assert result.items == 600
        assert not point.exists(), "the export finished: its checkpoint, not kept, is gone"
        assert not ids_path(point).exists()
        again = client.sim_cards(page_size=100, checkpoint=point, keep_checkpoint=False)
        assert (await sc.export(again, target)).items == 600


async def test_a_close_that_gives_up_waiting_for_an_exporters_state_closes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close waits for the exporter's state an end's save awaits, but not past its
    caller's patience: under a timeout (a cancel scope cancelled here), ``aclose()`` waited,
    shielded, for as long as the flush was stuck. It returns at once now, the checkpoint
    closed: that save is dropped, as it was before the close waited at all.
    """
    flush = _EndFlushHeld(monkeypatch, 600)
    target, point = tmp_path / "cards.jsonl", tmp_path / "scan.json"
    async with (
        MockTelnyxServer(sim_cards=600, seed=4) as server,
        sc.SimCardsClient(KEY, server.url) as client,
    ):
        stream = flush.stream = client.sim_cards(page_size=100, checkpoint=point)
        closer = anyio.CancelScope()
        closed: list[bool] = []

        async def close() -> None:
            with closer:
                await stream.aclose()
            closed.append(True)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sc.export, stream, target)
            try:
                await eventually(flush.held.is_set, what="the end's save awaiting the state")
                tg.start_soon(close)
                await eventually(lambda: stream._closed, what="the close begun")
                await loop_turns()
                assert not closed, "the close waits for the state"
                closer.cancel()
                await eventually(lambda: bool(closed), what="the close given up on")
                assert not flush.go.is_set(), "returned while the flush was still stuck"
                assert stream._checkpointer is not None
                assert stream._checkpointer._closed
            finally:
                flush.go.set()  # the flush goes on (the export's thread waits for it)
    assert msgspec.json.decode(point.read_bytes())["complete"] is False, "that save dropped"
