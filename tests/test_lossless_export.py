"""JSON lines and JSON exports hold each record exactly as the API sent it.

A server of our own sends records with fields no model knows, optional fields left out,
timestamps in the API's own form, numbers written in ways a re-encoding would change and
odd spacing; every export of a listing, through ``export()`` and through the ``simcards``
command, must hold those very bytes, one record per line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import msgspec
import pytest
from aiohttp import web
from exported_lines import read_lines
from polling import loop_turns
from servers import Served, serve

import simcards_async as sc
from simcards_async._cli import main
from simcards_async._models import decode_raw_page, decode_sim_card_page
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYlossless-tests"
PAGE_SIZE = 4
T = TypeVar("T")
INSTANT = sc.RetryPolicy(max_retries=0)


def record(i: int) -> bytes:
    """The bytes of record ``i``: three shapes in turn."""
    rid = f"3b1e6f9c-0000-4000-8000-{i:012d}"
    if i % 3 == 0:  # fields no model knows, nested ones too; numbers as a re-encoding never writes
        return (
            (
                '{"id":"%s","record_type":"sim_card","status":{"value":"enabled","reason":null,'
                '"since":"2026-01-01T00:00:27.521Z"},"future_field":{"x":[1,2.50,1e3,-0.0,'
                '12345678901234567890123]},"tags":["caf\\u00e9","\u00e9t\u00e9","a\\/b"],'
                '"created_at":"2026-01-01T00:00:27.521Z","updated_at":"2026-01-01T00:00:27Z"}'
            )
            .replace("%s", rid)
            .encode()
        )
    if i % 3 == 1:  # every optional field left out
        return b'{"id":"%s"}' % rid.encode()
    # spaces where the API might put them, keys in another order, amounts as text
    return (
        (
            '{ "updated_at" : "2026-01-01T00:00:27.521000+00:00", "id" : "%s", '
            '"current_billing_period_consumed_data" : {"amount": "2049.0", "unit": "MB"}, '
            '"voice_enabled": true, "eid": null }'
        )
        .replace("%s", rid)
        .encode()
    )


class Listing:
    """The pages of ``count`` records, served as ``GET /sim_cards`` answers."""

    def __init__(self, count: int, *, pretty: bool = False) -> None:
        self.records = [record(i) for i in range(count)]
        self.pretty = pretty
        self.requests = 0
        #: Requests (counted from 1) answered with a 500 instead.
        self.fail: set[int] = set()

    def page(self, number: int, size: int) -> bytes:
        """The answer for page ``number`` of ``size`` records, with its meta."""
        chunk = self.records[(number - 1) * size : number * size]
        total = len(self.records)
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": max(1, -(-total // size)),
            "total_results": total,
        }
        sep = b",\n  " if self.pretty else b","
        return b'{"data":[%s],"meta":%s}' % (sep.join(chunk), json.dumps(meta).encode())

    async def handle(self, request: web.Request) -> web.Response:
        """Answer a listing request from its ``page[...]`` parameters."""
        self.requests += 1
        if self.requests in self.fail:
            return web.Response(
                status=500,
                body=b'{"errors":[{"code":"10007","title":"Unexpected error"}]}',
                content_type="application/json",
            )
        number = int(request.query.get("page[number]", "1"))
        size = int(request.query.get("page[size]", "20"))
        return web.Response(body=self.page(number, size), content_type="application/json")


@asynccontextmanager
async def served(listing: Listing) -> AsyncIterator[Served]:
    async with serve(listing.handle) as where:
        yield where


FORMATS = ["jsonl", "json", "jsonl.gz", "json.gz"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_export_writes_every_record_as_sent(tmp_path: Path, fmt: str) -> None:
    """Unknown fields, absent fields, timestamps and numbers reach the file byte for byte."""
    listing = Listing(11)
    target = tmp_path / f"cards.{fmt}"
    async with served(listing) as where, sc.SimCardsClient(KEY, where.url) as client:
        result = await sc.export(client.sim_cards(page_size=PAGE_SIZE), target)
    assert result.items == 11
    assert read_lines(target) == listing.records
    assert listing.requests == 3


@pytest.mark.parametrize("fmt", FORMATS)
async def test_cli_export_writes_every_record_as_sent(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`simcards export sim-cards --base-url URL`, key from the environment: the records as sent."""
    listing = Listing(10)
    target = tmp_path / f"cards.{fmt}"
    monkeypatch.setenv("TELNYX_API_KEY", KEY)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)
    async with served(listing) as where:
        argv = ["export", "sim-cards", "--base-url", where.url, "-q", "--page-size", "3"]
        code = await anyio.to_thread.run_sync(main, [*argv, "-o", str(target)])
    assert code == 0
    assert read_lines(target) == listing.records


async def test_a_pretty_printed_answer_still_gives_one_record_a_line(tmp_path: Path) -> None:
    """Line breaks between a record's tokens are dropped; everything else is kept."""
    listing = Listing(7)
    listing.records = [r.replace(b",", b",\n    ", 2) for r in listing.records]
    listing.pretty = True
    target = tmp_path / "cards.jsonl"
    async with served(listing) as where, sc.SimCardsClient(KEY, where.url) as client:
        await sc.export(client.sim_cards(page_size=PAGE_SIZE), target)
    assert read_lines(target) == [r.replace(b"\n", b"") for r in listing.records]


async def test_entering_the_stream_first_still_exports_as_sent(tmp_path: Path) -> None:
    """`async with stream:` before `export(stream, ...)`: nothing was fetched, so still lossless."""
    listing = Listing(9)
    target = tmp_path / "cards.jsonl"
    async with (
        served(listing) as where,
        sc.SimCardsClient(KEY, where.url) as client,
        client.sim_cards(page_size=PAGE_SIZE) as stream,
    ):
        result = await sc.export(stream, target)
    assert result.items == 9
    assert read_lines(target) == listing.records


async def test_a_stream_entered_then_awaited_on_is_still_exported_as_sent(
    tmp_path: Path,
) -> None:
    """``async with stream:`` started its engine: page 1 came decoded as Structs while the
    caller awaited anything else, and the export then wrote them re-encoded (fields no model
    knows dropped), silently. Entering fetches nothing now: the first read decides.
    """
    listing = Listing(9)
    target = tmp_path / "cards.jsonl"
    async with (
        served(listing) as where,
        sc.SimCardsClient(KEY, where.url) as client,
        client.sim_cards(page_size=PAGE_SIZE) as stream,
    ):
        await loop_turns()  # time for a request, had one been sent
        assert listing.requests == 0
        result = await sc.export(stream, target)
    assert result.items == 9
    assert read_lines(target) == listing.records


async def test_typed_items_are_still_encoded(tmp_path: Path) -> None:
    """An iterable of Structs is written as before: each line decodes back to an equal Struct."""
    listing = Listing(9)
    target = tmp_path / "cards.jsonl.gz"
    async with served(listing) as where, sc.SimCardsClient(KEY, where.url) as client:
        typed = await client.sim_cards(page_size=PAGE_SIZE).collect()
        await sc.export(_aiter(typed), target)
    lines = read_lines(target)
    assert [msgspec.json.decode(line, type=sc.SimCard) for line in lines] == typed


async def test_csv_of_the_same_listing_reads_structs(tmp_path: Path) -> None:
    """CSV keeps its typed columns: unknown fields are ignored, known ones converted."""
    listing = Listing(6)
    target = tmp_path / "cards.csv"
    async with served(listing) as where, sc.SimCardsClient(KEY, where.url) as client:
        result = await sc.export(client.sim_cards(page_size=PAGE_SIZE), target)
    rows = target.read_text().splitlines()
    assert result.items == 6
    assert len(rows) == 7
    assert rows[1].startswith("3b1e6f9c-0000-4000-8000-000000000000,sim_card,enabled,")
    assert "2026-01-01T00:00:27.521Z" in rows[1]


async def test_raw_chunks_yields_records_with_their_ids() -> None:
    """`raw_chunks()` hands over each page's records as sent, each with its id."""
    listing = Listing(10)
    async with served(listing) as where, sc.SimCardsClient(KEY, where.url) as client:
        stream = client.sim_cards(page_size=PAGE_SIZE)
        chunks = stream.raw_chunks()
        assert chunks is not None
        with pytest.raises(RuntimeError, match="raw_chunks"):
            [card async for card in stream]  # asked for raw records: nothing else, even now
        got = [record async for chunk in chunks for record in chunk]
        with pytest.raises(RuntimeError, match="read already"):
            [card async for card in stream]  # ... and once read, that is what to say
    assert [bytes(r.raw) for r in got] == listing.records
    assert [r.id for r in got] == [msgspec.json.decode(r)["id"] for r in listing.records]
    assert stream.stats.items_yielded == 10
    assert stream.progress.pages_done == 3


async def test_a_merge_is_exported_as_sent(tmp_path: Path) -> None:
    """A merged stream gives raw records too (see test_lossless_merge): each id once, as sent."""
    listing = Listing(8)
    target = tmp_path / "union.jsonl"
    async with served(listing) as where, sc.SimCardsClient(KEY, where.url) as client:
        merged = sc.merge(client.sim_cards(page_size=PAGE_SIZE), client.sim_cards(page_size=3))
        result = await sc.export(merged, target)
    assert result.items == 8
    ids = {msgspec.json.decode(line, type=sc.SimCard).id for line in read_lines(target)}
    assert ids == {msgspec.json.decode(r)["id"] for r in listing.records}
    assert sorted(read_lines(target)) == sorted(listing.records)


async def test_a_record_repeated_in_a_page_is_written_once(tmp_path: Path) -> None:
    """Dedupe works on raw records as on Structs: the first of each id, as it was sent;
    the repeat is warned about, on the listing's only page too.
    """
    listing = Listing(4)
    listing.records.insert(2, listing.records[0])
    target = tmp_path / "cards.jsonl"
    async with served(listing) as where, sc.SimCardsClient(KEY, where.url) as client:
        stream = client.sim_cards(page_size=5)
        with pytest.warns(sc.DriftWarning, match="1 repeat dropped"):
            result = await sc.export(stream, target)
    assert result.items == 4
    assert stream.stats.drift.duplicates_dropped == 1
    assert read_lines(target) == [listing.records[i] for i in (0, 1, 3, 4)]


async def test_raw_records_from_any_iterable(tmp_path: Path) -> None:
    """`export()` takes RawRecords from any iterable: verbatim to JSON, decoded for CSV."""
    records = [
        sc.RawRecord(msgspec.json.decode(r)["id"], msgspec.Raw(r)) for r in Listing(5).records
    ]
    await sc.export(_aiter(records), tmp_path / "r.jsonl")
    assert read_lines(tmp_path / "r.jsonl") == [bytes(r.raw) for r in records]
    await sc.export(_aiter(records), tmp_path / "r.csv", kind=sc.SimCard)
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 6


@pytest.mark.parametrize("raw", ['{"id":"a"}', {"id": "a"}, None])
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
async def test_a_raw_record_whose_raw_is_not_bytes_is_refused(
    tmp_path: Path, raw: object, fmt: str
) -> None:
    """A RawRecord built with text, a dict or None: refused by name in every format.

    A str was written to CSV and a bare TypeError for JSON lines; a dict a bare TypeError.
    """
    record = sc.RawRecord("a", raw)  # type: ignore[arg-type]  # what the caller may build
    with pytest.raises(sc.InvalidParameterError, match=r"items='a'.*not JSON bytes"):
        await sc.export(_aiter([record]), tmp_path / f"r.{fmt}")
    assert not list(tmp_path.iterdir())


async def _aiter(items: Sequence[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


# --- checkpoints: a resumed export ends with the very bytes of an uninterrupted one ------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_resumed_export_is_the_records_as_sent(tmp_path: Path, fmt: str) -> None:
    """An export that failed midway, resumed from its checkpoint, holds each record as sent."""
    listing = Listing(23)
    listing.fail = {4}  # pages 1-3 are written, page 4 fails (one request at a time)
    target, point = tmp_path / f"cards.{fmt}", tmp_path / "scan.json"
    async with (
        served(listing) as where,
        sc.SimCardsClient(KEY, where.url, max_concurrency=1, retry=INSTANT) as client,
    ):
        with pytest.raises(sc.InternalServerError):
            await sc.export(client.sim_cards(page_size=PAGE_SIZE, checkpoint=point), target)
        assert not target.exists()
        assert msgspec.json.decode(point.read_bytes())["next_page"] == 4
        before = listing.requests
        stream = client.sim_cards(page_size=PAGE_SIZE, checkpoint=point, resume_from=point)
        result = await sc.export(stream, target)
    assert result.items == 23
    assert listing.requests - before == 3, "pages 4 to 6 only"
    assert read_lines(target) == listing.records
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_resumed_export_equals_an_uninterrupted_one(tmp_path: Path, fmt: str) -> None:
    """Against the mock server: JSON, JSON lines and their gzip forms resume byte-identical.

    A checkpointed export writes a gzip member per page, so its reference is an uninterrupted
    checkpointed export; once decompressed it equals one made without a checkpoint.
    """
    reference, plain = tmp_path / f"reference.{fmt}", tmp_path / f"plain.{fmt}"
    async with (
        MockTelnyxServer(sim_cards=1200, seed=4) as clean,
        sc.SimCardsClient(KEY, clean.url) as client,
    ):
        await sc.export(
            client.sim_cards(page_size=100, checkpoint=tmp_path / "ref.json"), reference
        )
        await sc.export(client.sim_cards(page_size=100), plain)
    target, point = tmp_path / f"cards.{fmt}", tmp_path / "scan.json"
    faults = FaultPlan(script=[None] * 5 + [500])
    async with (
        MockTelnyxServer(sim_cards=1200, seed=4, faults=faults) as server,
        sc.SimCardsClient(KEY, server.url, max_concurrency=1, retry=INSTANT) as client,
    ):
        with pytest.raises(sc.InternalServerError):
            await sc.export(client.sim_cards(page_size=100, checkpoint=point), target)
        before = len(server.requests)
        stream = client.sim_cards(page_size=100, checkpoint=point, resume_from=point)
        result = await sc.export(stream, target)
        pages = [int(r.query["page[number]"][0]) for r in server.requests[before:]]
    assert target.read_bytes() == reference.read_bytes()
    assert read_lines(target) == read_lines(plain)
    assert len(read_lines(target)) == result.items == 1200
    assert min(pages) == 6, "the five finished pages were not fetched again"
    assert msgspec.json.decode(point.read_bytes())["complete"] is True


# --- answers that are wrong raise the same errors on either path -----------------------


def _bodies() -> Iterator[tuple[str, bytes, type[sc.TelnyxError]]]:
    rec = record(0)
    meta = b'{"page_number":1,"page_size":4,"total_pages":1,"total_results":1}'
    yield "no data list", b'{"meta":%s}' % meta, sc.APIResponseValidationError
    yield "data not a list", b'{"data":{},"meta":%s}' % meta, sc.APIResponseValidationError
    yield (
        "a record without id",
        b'{"data":[{"iccid":"1"}],"meta":%s}' % meta,
        (sc.APIResponseValidationError),
    )
    yield (
        "an id not a string",
        b'{"data":[{"id":7}],"meta":%s}' % meta,
        (sc.APIResponseValidationError),
    )
    yield "a record not an object", b'{"data":[1],"meta":%s}' % meta, sc.APIResponseValidationError
    yield (
        "bad meta",
        b'{"data":[%s],"meta":{"page_number":"one"}}' % rec,
        (sc.APIResponseValidationError),
    )
    yield "truncated", b'{"data":[%s' % rec, sc.APIResponseValidationError
    yield (
        "another page number",
        b'{"data":[%s],"meta":%s}'
        % (
            rec,
            meta.replace(b'"page_number":1', b'"page_number":2'),
        ),
        sc.PaginationError,
    )
    yield (
        "more items than asked",
        b'{"data":[%s],"meta":%s}'
        % (
            b",".join(record(i) for i in range(5)),
            meta,
        ),
        sc.PaginationError,
    )


BAD = list(_bodies())


@pytest.mark.parametrize(("body", "error"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_a_bad_page_raises_the_same_error_raw_or_typed(
    tmp_path: Path, body: bytes, error: type[sc.TelnyxError]
) -> None:
    """A page without data, with bad meta or a record without an id fails alike on both paths."""

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with (
        serve(handle) as where,
        sc.SimCardsClient(KEY, where.url, retry=INSTANT) as client,
    ):
        with pytest.raises(error) as typed:
            await client.sim_cards(page_size=4).collect()
        with pytest.raises(error) as raw:
            await sc.export(client.sim_cards(page_size=4), tmp_path / "cards.jsonl")
    assert type(raw.value) is type(typed.value)
    assert not list(tmp_path.iterdir())


async def test_a_record_not_in_utf8_is_refused_not_written(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 in a field no model knows: a raw record would carry them into
    the file, which no JSON reader then takes. The export fails as for any answer that is
    not JSON, and leaves no file. The typed path (items, CSV, Parquet) passed over them, and
    took the answer that JSON lines refused: it refuses it too (no JSON is not UTF-8).
    """
    body = b'{"data":[{"id":"a","note":"caf\xe9"}],"meta":{"page_number":1,"page_size":4,'
    body += b'"total_pages":1,"total_results":1}}'
    async with one_page_served(body) as client:
        with pytest.raises(sc.APIResponseValidationError, match="invalid UTF-8 at byte"):
            await client.sim_cards(page_size=4).collect()
        for name in ("cards.jsonl", "cards.json", "cards.csv", "cards.parquet"):
            with pytest.raises(sc.APIResponseValidationError, match="invalid UTF-8 at byte"):
                await sc.export(client.sim_cards(page_size=4), tmp_path / name)
    assert not list(tmp_path.iterdir())


# --- the decoder, without a socket ------------------------------------------------------


def test_decode_raw_page_keeps_each_record_and_reads_its_id() -> None:
    """Each record's bytes as sent, its id, and the meta; nothing else is decoded."""
    listing = Listing(5)
    page = decode_raw_page(listing.page(1, 5))
    assert [bytes(r.raw) for r in page.data] == listing.records
    assert [r.id for r in page.data] == [f"3b1e6f9c-0000-4000-8000-{i:012d}" for i in range(5)]
    assert page.meta == sc.PaginationMeta(
        page_number=1, page_size=5, total_pages=1, total_results=5
    )


def test_decode_raw_page_without_meta_and_with_line_breaks() -> None:
    """No meta is None; CR and LF between tokens go, the spaces and tabs stay."""
    page = decode_raw_page(b'{\r\n "data": [\r\n  {"id": "a",\r\n\t"x": "1 2"}\n ]\n}')
    assert page.meta is None
    assert [(r.id, bytes(r.raw)) for r in page.data] == [("a", b'{"id": "a",\t"x": "1 2"}')]


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"data":[{"id":null}]}',
        b'{"data":[[]]}',
        b'{"data":[{"id":"a"}',
        b"[]",
        b'{"data":[{"id":"a","x":"line\nbreak"}]}',  # never joined: refused, as JSON says
        b'{"data":[{"id":"a","iccid":"caf\xe9"}]}',  # not UTF-8
    ],
)
def test_decode_raw_page_refuses_what_the_typed_decoder_refuses(body: bytes) -> None:
    """The raw decoder fails where paging would (no data, no string id), as the typed one does."""
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_raw_page(body)
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        msgspec.json.decode(body, type=sc.Page[sc.SimCard])


#: Records whose strings hold UTF-16 surrogate escapes outside a pair: JSON's grammar allows
#: them (Python's ``json`` reads them), though they are no Unicode characters.
LONE_SURROGATES = [
    b'{"id":"3b1e6f9c-0000-4000-8000-000000000001","status":{"reason":"bad \\ud800 byte"}}',
    b'{"id":"3b1e6f9c-0000-4000-8000-000000000002","future":"\\uDC00\\ud83d\\ude00\\\\ud800"}',
    (
        b'{"id":"3b1e6f9c-0000-4000-8000-000000000003","tags":["\\ue000","\xee\x80\x81",'
        b'"\\ud800\\u0041"]}'
    ),
]


@asynccontextmanager
async def lone_surrogates_served() -> AsyncIterator[sc.SimCardsClient]:
    """A client of a server whose one page holds the ``LONE_SURROGATES`` records."""
    body = b'{"data":[%s],"meta":{"page_number":1,"page_size":4,"total_pages":1,' % b",".join(
        LONE_SURROGATES
    )
    async with one_page_served(body + b'"total_results":3}}') as client:
        yield client


@asynccontextmanager
async def one_page_served(body: bytes) -> AsyncIterator[sc.SimCardsClient]:
    """A client of a server that answers every request with ``body``."""

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with (
        serve(handle) as where,
        sc.SimCardsClient(KEY, where.url, retry=INSTANT) as client,
    ):
        yield client


def test_lone_surrogate_escapes_are_kept_as_sent() -> None:
    r"""A record with a lone surrogate escape failed the whole page ("Input data was
    truncated"), for JSON lines too, which never decode it: each record keeps its bytes,
    private-use characters the body already holds (``\ue000``, U+E001 as UTF-8) included,
    and an escaped backslash before ``ud800`` (text) and a real pair are left alone.
    """
    body = b'{"data":[%s],"meta":null}' % b",".join(LONE_SURROGATES)
    page = decode_raw_page(body, "sim_card")
    assert [bytes(r.raw) for r in page.data] == LONE_SURROGATES
    assert [json.loads(bytes(r.raw)) for r in page.data] == [json.loads(r) for r in LONE_SURROGATES]
    assert [r.id[-1] for r in page.data] == ["1", "2", "3"]


def test_a_lone_surrogate_escape_in_an_id_is_refused() -> None:
    """An id is compared and saved as text: one no Unicode text holds is refused, by name."""
    with pytest.raises(msgspec.DecodeError, match="id holds a lone UTF-16 surrogate"):
        decode_raw_page(b'{"data":[{"id":"a\\ud800"}]}')


async def test_an_answer_with_a_lone_surrogate_is_exported_as_sent_or_refused_clearly(
    tmp_path: Path,
) -> None:
    """JSON lines hold the records as sent; the typed listing and CSV, which must decode
    the strings, say what they refuse and where (msgspec said the data was truncated).
    """
    async with lone_surrogates_served() as client:
        result = await sc.export(client.sim_cards(page_size=4), tmp_path / "cards.jsonl")
        assert result.items == 3
        assert read_lines(tmp_path / "cards.jsonl") == LONE_SURROGATES
        refused = r"lone UTF-16 surrogate escape \(\\ud800\) at byte \d+"
        with pytest.raises(sc.APIResponseValidationError, match=refused):
            await client.sim_cards(page_size=4).collect()
        with pytest.raises(sc.APIResponseValidationError, match=refused):
            await sc.export(client.sim_cards(page_size=4), tmp_path / "cards.csv")
    assert not (tmp_path / "cards.csv").exists()


def test_an_error_beside_a_lone_surrogate_is_said_as_it_is() -> None:
    """A body with a lone surrogate escape and something else wrong (an id of another type,
    a cut-off end) was said to fail for the surrogate: what else is wrong is said, with its
    class (``ValidationError`` for the type), at the same place.
    """
    with pytest.raises(
        msgspec.ValidationError, match=r"Expected `str`, got `int` - at `\$.data\[0\].id`"
    ):
        decode_raw_page(b'{"data":[{"id":5},{"id":"x","s":"\\ud800"}]}')
    with pytest.raises(msgspec.DecodeError, match="truncated"):
        decode_raw_page(b'{"data":[{"id":"x","s":"\\ud800"}')
    with pytest.raises(msgspec.ValidationError, match="Expected `str`, got `int`"):
        decode_sim_card_page(b'{"data":[{"id":5,"s":"\\ud800"}]}')


def test_a_lone_surrogate_escape_as_a_record_type_is_said_as_sent() -> None:
    r"""A record type that is a lone surrogate escape is no kind's: a typed page said msgspec's
    words of the stand-in it was read with (``Invalid enum value '\ue000'``, in no byte of the
    body), a raw page named that stand-in as the record's type. Each says the escape as sent.
    """
    body = b'{"data":[{"id":"a","record_type":"\\ud800"},{"id":"b"}]}'
    with pytest.raises(msgspec.DecodeError, match=r"lone UTF-16 surrogate escape \(\\ud800\)"):
        decode_sim_card_page(body)
    with pytest.raises(
        msgspec.ValidationError, match=r"holds a '\\ud800' record \(id 'a'\)$"
    ) as info:
        decode_raw_page(body, "sim_card")
    assert "ue000" not in str(info.value)


async def test_records_with_a_lone_surrogate_from_raw_chunks_can_be_exported_again(
    tmp_path: Path,
) -> None:
    """``raw_chunks()`` keeps such records; handed to ``export()`` (filtered by the caller's
    own generator) they were refused as no JSON object for JSON lines, and CSV said what
    msgspec says ("unexpected end of escaped utf-16 surrogate pair").
    """
    async with lone_surrogates_served() as client:
        chunks = client.sim_cards(page_size=4).raw_chunks()
        assert chunks is not None
        records = [record async for chunk in chunks for record in chunk]

    async def again() -> AsyncIterator[sc.RawRecord]:
        for record in records:
            yield record

    await sc.export(again(), tmp_path / "again.jsonl")
    assert read_lines(tmp_path / "again.jsonl") == LONE_SURROGATES
    with pytest.raises(sc.InvalidParameterError, match=r"lone UTF-16 surrogate escape \(\\ud800\)"):
        await sc.export(again(), tmp_path / "again.csv")
