"""Tests of the export formats: the JSON array, gzip, CSV cells, raw records, the column audit."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiohttp import web
from servers import Handler, serve
from sinks import Sink

from simcards_async import (
    APIResponseValidationError,
    ExportError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    RawRecord,
    RetryPolicy,
    SimCard,
    SimCardAction,
    SimCardGroup,
    SimCardsClient,
)
from simcards_async._export import _WRITERS, ExportFormat, export
from simcards_async._output import Output
from simcards_async._tabular import KINDS, SIM_CARD_ACTION_COLUMNS, SIM_CARD_COLUMNS
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYexport-format-tests"
SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "spec"
SPEC_FILE = SPEC / "telnyx-simcards-openapi.json"
#: Fields that are deliberately not columns: secrets, never written to CSV or Parquet.
SECRET = {"pin_puk_codes"}


async def replay(items: Iterable[Any]) -> AsyncIterator[Any]:
    """An async iterable that is not a ``PageStream``."""
    for item in items:
        yield item


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- every field of the spec has a column ------------------------------------------------


def _flat_fields(schemas: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """The flat column names a schema's properties give, nested objects joined with ``_``."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    fields: set[str] = set()
    for part in schema.get("allOf", []):
        fields |= _flat_fields(schemas, part, prefix)
    for name, prop in schema.get("properties", {}).items():
        resolved = schemas[prop["$ref"].rsplit("/", 1)[-1]] if "$ref" in prop else prop
        if name in SECRET:
            continue
        if resolved.get("type") == "object" and resolved.get("properties"):
            # status and status_reason: the value of a status is the column itself.
            sub = _flat_fields(schemas, resolved, f"{prefix}{name}_")
            fields |= {f"{prefix}{name}" if f == f"{prefix}{name}_value" else f for f in sub}
        else:
            fields.add(prefix + name)
    return fields


@pytest.mark.skipif(not SPEC_FILE.exists(), reason="the API spec is kept beside the repository")
def test_every_spec_field_has_a_column() -> None:
    """Each field of SIMCard and SIMCardAction in the spec, nested ones flattened, is a column."""
    schemas = json.loads(SPEC_FILE.read_text(encoding="utf-8"))["components"]["schemas"]
    assert _flat_fields(schemas, schemas["SIMCard"]) <= set(SIM_CARD_COLUMNS)
    assert _flat_fields(schemas, schemas["SIMCardAction"]) <= set(SIM_CARD_ACTION_COLUMNS)
    # Filtered on by the listing, so kept although the published schema leaves it out.
    assert "bulk_sim_card_action_id" in SIM_CARD_ACTION_COLUMNS


# --- CSV cells ---------------------------------------------------------------------------


async def test_csv_list_cells_are_json_arrays() -> None:
    """Tags that differ give different cells: a JSON array, ``[]`` for none, empty for null."""
    cards = [
        SimCard(id="a", tags=("floor;3", "vip")),
        SimCard(id="b", tags=("floor", "3", "vip")),
        SimCard(id="c", tags=(), authorized_imeis=None),
        SimCard(id="d", tags=('say "hi", ok',), authorized_imeis=()),
    ]
    out = io.BytesIO()
    await export(replay(cards), out, format="csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [row["tags"] for row in rows] == [
        '["floor;3","vip"]',
        '["floor","3","vip"]',
        "[]",
        '["say \\"hi\\", ok"]',
    ]
    assert [json.loads(row["tags"]) for row in rows] == [list(card.tags) for card in cards]
    assert [row["authorized_imeis"] for row in rows] == ["", "", "", "[]"]


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (
            dt.datetime(2018, 2, 2, 22, 25, 27, 521000, tzinfo=dt.timezone.utc),
            "2018-02-02T22:25:27.521Z",
        ),
        (dt.datetime(2018, 2, 2, 22, 25, 27, tzinfo=dt.timezone.utc), "2018-02-02T22:25:27Z"),
        (
            dt.datetime(2018, 2, 2, 22, 25, 27, 521123, tzinfo=dt.timezone.utc),
            "2018-02-02T22:25:27.521123Z",
        ),
        (
            dt.datetime(2018, 2, 3, 0, 25, 27, 5000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2018-02-02T22:25:27.005Z",
        ),
    ],
)
async def test_csv_timestamps_are_in_the_api_form(when: dt.datetime, text: str) -> None:
    """CSV writes a timestamp as the API does: UTC with ``Z``, milliseconds unless finer."""
    out = io.BytesIO()
    await export(replay([SimCard(id="a", created_at=when)]), out, format="csv")
    (row,) = csv.DictReader(io.StringIO(out.getvalue().decode()))
    assert row["created_at"] == text
    assert dt.datetime.fromisoformat(text.replace("Z", "+00:00")) == when  # 3.10 reads no Z


async def test_csv_of_structs_writes_a_nul_as_it_is() -> None:
    """A NUL character in a Struct the caller built is written as it is, as the columns of a
    listing write it: Python 3.10's ``csv`` module, which wrote these rows, refused it
    (``_csv.Error: need to escape, but no escapechar set``).
    """
    out = io.BytesIO()
    card = SimCard(id="a", iccid="89\x0001", msisdn="+1,\x00")
    await export(replay([card]), out, format="csv")
    header, line, end = out.getvalue().split(b"\r\n")  # 3.10's csv cannot read it back
    assert end == b""
    assert line.startswith(b'a,,,,,89\x0001,,"+1,\x00",')  # id, ..., iccid, imsi, msisdn
    assert header.startswith(b"id,record_type,status,status_reason,type,iccid,imsi,msisdn,")


async def test_csv_timestamps_need_no_datetime_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.10, which the project supports, has no ``datetime.UTC`` (new in 3.11).

    CSV of Structs, or of a listing whose timestamps carry an offset, raised a bare
    ``AttributeError: module 'datetime' has no attribute 'UTC'`` there.
    """
    monkeypatch.delattr(dt, "UTC", raising=False)  # as on Python 3.10
    when = dt.datetime(2018, 2, 3, 0, 25, 27, 5000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    out = io.BytesIO()
    await export(replay([SimCard(id="a", created_at=when)]), out, format="csv")
    (row,) = csv.DictReader(io.StringIO(out.getvalue().decode()))
    assert row["created_at"] == "2018-02-02T22:25:27.005Z"


async def test_csv_timestamps_are_the_text_the_server_sent(tmp_path: Path) -> None:
    """The mock server's timestamps come out of CSV as the very text it sent."""
    async with MockTelnyxServer(sim_cards=30, actions=30, seed=2) as server:
        async with SimCardsClient(KEY, server.url) as client:
            await export(client.sim_card_actions(), tmp_path / "a.csv")
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{server.url}/sim_card_actions",
                params={"page[size]": "250"},
                headers={"Authorization": f"Bearer {KEY}"},
            ) as answer,
        ):
            sent = json.loads(await answer.read())["data"]
    with (tmp_path / "a.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["created_at"] for row in rows] == [item["created_at"] for item in sent]
    assert [row["updated_at"] for row in rows] == [item["updated_at"] for item in sent]


# --- the JSON array ----------------------------------------------------------------------


async def test_json_is_one_array_that_json_load_reads(tmp_path: Path) -> None:
    """``.json`` is one JSON array of the records, an object per line, readable by json.load."""
    cards = [SimCard(id=str(i), tags=("t",)) for i in range(1200)]
    result = await export(replay(cards), tmp_path / "cards.json")
    assert result.format == "json"
    with (tmp_path / "cards.json").open(encoding="utf-8") as file:
        loaded = json.load(file)
    assert [msgspec.convert(item, SimCard) for item in loaded] == cards
    text = (tmp_path / "cards.json").read_text(encoding="utf-8")
    assert text.startswith("[\n{")
    assert text.endswith("}\n]\n")


async def test_an_empty_json_export_is_an_empty_array(tmp_path: Path) -> None:
    """No records give ``[]``, still valid JSON."""
    await export(replay([]), tmp_path / "none.json")
    assert json.loads((tmp_path / "none.json").read_text(encoding="utf-8")) == []


# --- gzip --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "plain"), [("a.jsonl.gz", "jsonl"), ("a.json.gz", "json"), ("a.csv.gz", "csv")]
)
async def test_gz_holds_what_the_plain_format_holds(tmp_path: Path, name: str, plain: str) -> None:
    """``.gz`` gives the same bytes as the plain format, compressed; gzip reads it whole."""
    cards = [SimCard(id=str(i), tags=("x" * 50,)) for i in range(30_000)]  # several writes
    await export(replay(cards), tmp_path / name)
    await export(replay(cards), tmp_path / f"plain.{plain}")
    unpacked = gzip.decompress((tmp_path / name).read_bytes())
    assert unpacked == (tmp_path / f"plain.{plain}").read_bytes()
    assert (tmp_path / name).stat().st_size < len(unpacked) // 5


async def test_an_empty_gz_export_is_valid_gzip(tmp_path: Path) -> None:
    """No records still give a gzip file (CSV: of the header alone)."""
    await export(replay([]), tmp_path / "a.jsonl.gz", kind=SimCard)
    await export(replay([]), tmp_path / "a.csv.gz", kind=SimCardAction)
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()) == b""
    header = gzip.decompress((tmp_path / "a.csv.gz").read_bytes()).decode()
    assert header == ",".join(SIM_CARD_ACTION_COLUMNS) + "\r\n"


async def test_a_plain_format_for_a_gz_path_is_refused(tmp_path: Path) -> None:
    """``format="csv"`` with ``cards.csv.gz`` is a contradiction: refused, nothing created."""
    with pytest.raises(InvalidParameterError, match=r"format='csv'.*\.gz"):
        await export(replay([SimCard(id="a")]), tmp_path / "cards.csv.gz", format="csv")
    assert names(tmp_path) == []


def _opened(how: str, path: Path) -> Any:
    """``path`` opened to write bytes: by ``gzip.open``, or ``open`` given its name as text or
    as bytes. The caller's ``with`` closes it.
    """
    if how == "gzip.open":
        return gzip.open(path, "wb")
    name = os.fsencode(path) if how == "open bytes" else path
    return open(name, "wb")  # noqa: PTH123  (a name in bytes: Path takes none)


@pytest.mark.parametrize(
    ("opened", "name", "fmt", "written"),
    [
        ("open", "cards.gz", None, None),
        ("open", "cards.parquet.gz", None, None),
        ("open bytes", "cards.gz", None, None),  # a name in bytes: open(b"cards.gz")
        ("open", "cards.gz", "csv.gz", "gzip csv"),
        ("open", "cards.gz", "jsonl", "jsonl"),  # the caller's word: what it asked for
        ("open", "cards.jsonl.gz", None, "gzip jsonl"),
        ("gzip.open", "cards.gz", None, "gzip jsonl"),  # the file compresses itself
        ("gzip.open", "cards.gz", "jsonl", "gzip jsonl"),
        # Its name's format without the .gz: a csv.gz written to it was gzip inside gzip.
        ("gzip.open", "cards.csv.gz", None, "gzip csv"),
        ("gzip.open", "cards.jsonl.gz", None, "gzip jsonl"),
        ("gzip.open", "cards.parquet.gz", None, "gzip parquet"),
    ],
)
async def test_a_file_object_named_gz_is_written_gzip_or_refused(
    tmp_path: Path, opened: str, name: str, fmt: ExportFormat | None, written: str | None
) -> None:
    """A file object opened as ``cards.gz`` got plain JSON lines, which no gzip reader takes
    (the same name as a path is refused). Refused as the path is, naming ``target``, before
    anything is written, unless ``format`` says what to write or the name names a gzip
    format; a ``gzip.GzipFile`` compresses what it is given, and gets it plain.
    """
    path = tmp_path / name
    with _opened(opened, path) as file:
        if written is not None:
            assert (await export(replay([SimCard(id="a")]), file, format=fmt)).items == 1
        else:
            with pytest.raises(InvalidParameterError) as info:
                await export(replay([SimCard(id="a")]), file, format=fmt)
            assert info.value.parameter == "target"
    data = path.read_bytes()
    if written is None:
        assert data == b""
    elif written == "jsonl":
        assert data.startswith(b'{"id":"a"')
    else:
        text = gzip.decompress(data)
        starts = {"gzip jsonl": b'{"id":"a"', "gzip csv": b"id,", "gzip parquet": b"PAR1"}
        assert text.startswith(starts[written])


@pytest.mark.parametrize("fmt", ["jsonl.gz", "csv.gz", "json.gz"])
async def test_a_gzip_format_for_a_gzip_file_is_refused(tmp_path: Path, fmt: ExportFormat) -> None:
    """A ``gzip.GzipFile`` compresses what it is given: ``format="csv.gz"`` wrote gzip
    inside gzip, which one gunzip left binary. Refused, naming ``format`` and the format
    without ``.gz``, nothing written.
    """
    path = tmp_path / "cards.gz"
    with gzip.open(path, "wb") as file, pytest.raises(InvalidParameterError) as info:
        await export(replay([SimCard(id="a")]), file, format=fmt)
    assert info.value.parameter == "format"
    assert f"must be {fmt[:-3]!r}" in str(info.value)
    assert gzip.decompress(path.read_bytes()) == b""


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "jsonl.gz"])
async def test_an_object_with_write_and_flush_alone_takes_every_format(fmt: ExportFormat) -> None:
    """Parquet to an object with ``write`` and ``flush`` alone (no ``closed``, which Arrow
    reads) failed once the first page was in: a bare ``ValueError`` ("I/O operation on
    closed file") and Arrow's own traceback on standard error. It takes Parquet as it takes
    every other format.
    """
    sink = Sink()
    async with MockTelnyxServer(sim_cards=500, seed=1) as server:
        async with SimCardsClient(KEY, server.url) as client:
            result = await export(client.sim_cards(page_size=100), sink, format=fmt)
        expected = sorted(server.current_sim_card_ids())
    data = bytes(sink.data)
    if fmt == "parquet":
        ids = pq.read_table(io.BytesIO(data), columns=["id"]).column("id").to_pylist()
    else:
        text = gzip.decompress(data) if fmt.endswith(".gz") else data
        ids = [json.loads(line)["id"] for line in text.splitlines()]
    assert result.items == 500
    assert sorted(ids) == expected


class _KeepingSink:
    """A sink that keeps what ``write`` is given, as a list of parts (no ``io`` file)."""

    def __init__(self) -> None:
        self.parts: list[bytes | bytearray | memoryview] = []

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.parts.append(data)
        return len(data)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "jsonl.gz"])
async def test_an_object_that_keeps_what_it_is_given_gets_every_byte(fmt: ExportFormat) -> None:
    """JSON lines and JSON to an object that kept the views it was given (a list of the
    parts) stopped after the first page with a bare ``BufferError``: the writer refills
    the buffer those views are of. An object not of ``io`` is given ``bytes``, every format.
    """
    sink = _KeepingSink()
    async with MockTelnyxServer(sim_cards=500, seed=1) as server:
        async with SimCardsClient(KEY, server.url) as client:
            result = await export(client.sim_cards(page_size=100), sink, format=fmt)
        expected = sorted(server.current_sim_card_ids())
    assert {type(part) for part in sink.parts} == {bytes}  # which it may keep, or decode
    data = b"".join(sink.parts)
    if fmt == "parquet":
        ids = pq.read_table(io.BytesIO(data), columns=["id"]).column("id").to_pylist()
    elif fmt == "csv":
        ids = [row["id"] for row in csv.DictReader(io.StringIO(data.decode()))]
    elif fmt == "json":
        ids = [record["id"] for record in json.loads(data)]
    else:
        text = gzip.decompress(data) if fmt.endswith(".gz") else data
        ids = [json.loads(line)["id"] for line in text.splitlines()]
    assert result.items == 500
    assert sorted(ids) == expected


# --- raw records -------------------------------------------------------------------------


RAW = [
    b'{"id":"a","created_at":"2018-02-02T22:25:27.521Z","future_field":{"x":[1,2.50]}}',
    b'{"record_type":"sim_card","id":"b","tags":["floor;3"],"status":{"value":"enabled"}}',
]


async def write(fmt: ExportFormat, items: list[Any]) -> bytes:
    """What one writer writes for ``items`` (Structs or raw records) to an open file."""
    out = io.BytesIO()
    writer = _WRITERS[fmt](Output(out, fmt=fmt), KINDS[SimCard])
    writer.add(items)
    await writer.close()
    return out.getvalue()


async def test_jsonl_and_json_write_raw_records_verbatim() -> None:
    """Raw records (``msgspec.Raw``) are written byte for byte, unknown fields included."""
    items = [msgspec.Raw(raw) for raw in RAW]
    assert await write("jsonl", items) == b"".join(raw + b"\n" for raw in RAW)
    assert await write("json", items) == b"[\n" + b",\n".join(RAW) + b"\n]\n"


async def test_csv_and_parquet_decode_raw_records() -> None:
    """CSV and Parquet read raw records into their columns, as they would the Structs."""
    items = [msgspec.Raw(raw) for raw in RAW]
    cards = [msgspec.json.decode(raw, type=SimCard) for raw in RAW]
    assert await write("csv", items) == await write("csv", cards)
    raw_table = pq.read_table(io.BytesIO(await write("parquet", items)))
    assert raw_table.equals(pq.read_table(io.BytesIO(await write("parquet", cards))))
    assert raw_table.column("tags").to_pylist() == [[], ["floor;3"]]


# --- where the output goes -------------------------------------------------------------


async def test_output_path_problems_are_found_before_any_request(tmp_path: Path) -> None:
    """A directory or a missing parent raises OSError naming the path, before any request."""
    async with MockTelnyxServer(sim_cards=10) as server:
        async with SimCardsClient(KEY, server.url) as client:
            (tmp_path / "cards.csv").mkdir()
            with pytest.raises(IsADirectoryError) as is_dir:
                await export(client.sim_cards(), tmp_path / "cards.csv")
            with pytest.raises(FileNotFoundError) as missing:
                await export(client.sim_cards(), tmp_path / "no" / "cards.csv")
            # A directory without a format's suffix: what it is, not that its suffix is wrong.
            (tmp_path / "out").mkdir()
            with pytest.raises(IsADirectoryError) as suffixless:
                await export(client.sim_cards(), tmp_path / "out")
        assert server.requests == []
    assert suffixless.value.filename == str(tmp_path / "out")
    assert is_dir.value.filename == str(tmp_path / "cards.csv")
    assert missing.value.filename == str(tmp_path / "no" / "cards.csv")
    assert names(tmp_path) == ["cards.csv", "out"]
    assert names(tmp_path / "cards.csv") == []


async def test_parquet_to_a_terminal_is_refused() -> None:
    """Parquet is never written to a terminal; JSON lines may be, when asked for."""
    leader, follower = os.openpty()
    try:
        with open(follower, "wb", closefd=False) as terminal:  # noqa: ASYNC230  (a pty, no wait)
            with pytest.raises(InvalidParameterError, match="terminal"):
                await export(replay([SimCard(id="a")]), terminal, format="parquet")
            result = await export(replay([SimCard(id="a")]), terminal, format="jsonl")
            assert result.items == 1
    finally:
        os.close(leader)
        os.close(follower)


async def test_parquet_to_a_pipe_or_file_object_is_written() -> None:
    """A file object that is not a terminal (a pipe, a buffer) gets Parquet when asked."""
    out = io.BytesIO()
    await export(replay([SimCard(id="a")]), out, format="parquet")
    assert pq.read_table(io.BytesIO(out.getvalue())).num_rows == 1


async def _exported_to_a_file_object(
    fmt: ExportFormat, listing: Handler, error: type[Exception]
) -> bytes:
    """What an export of ``listing`` to a file object wrote before it failed with ``error``."""
    out = io.BytesIO()
    async with (
        serve(listing) as served,
        SimCardsClient(KEY, served.url, max_retries=0) as client,
    ):
        with pytest.raises(error):
            await export(client.sim_cards(page_size=10), out, format=fmt)
    return out.getvalue()


def _failing_at(failed: int, status: int, *, pages: int) -> Handler:
    """A listing of ``pages`` pages of 10 cards whose page ``failed`` answers ``status``."""

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query["page[number]"])
        if number == failed:
            return web.json_response({"errors": [{"title": "no page"}]}, status=status)
        data = [{"id": f"card-{number}-{i}", "record_type": "sim_card"} for i in range(10)]
        meta = {"page_number": number, "page_size": 10, "total_pages": pages}
        return web.json_response({"data": data, "meta": {**meta, "total_results": 10 * pages}})

    return handler


@pytest.mark.parametrize("fmt", ["parquet", "json"])
async def test_a_failed_export_to_a_file_object_writes_no_ending(fmt: ExportFormat) -> None:
    """A Parquet export to a file object (stdout, a buffer) that failed at page 2 wrote its
    footer as it let go of the writer: a whole Parquet file of page 1's rows, which any
    reader took for the export (`simcards ... --format parquet > out.parquet`, exit 1, a
    file of 10,000 rows of 12,000). No ending is written, as JSON writes no closing ``]``.
    """
    written = await _exported_to_a_file_object(
        fmt, _failing_at(2, 500, pages=3), InternalServerError
    )
    if fmt == "parquet":
        assert written.startswith(b"PAR1")
        with pytest.raises(pa.ArrowInvalid):
            pq.read_table(io.BytesIO(written))
    else:  # page 1's records, if written yet, with no closing bracket
        with pytest.raises(json.JSONDecodeError):
            json.loads(written)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "jsonl.gz", "csv.gz"])
async def test_a_failed_export_to_a_file_object_keeps_every_record_before_the_failure(
    fmt: ExportFormat,
) -> None:
    """An export to a file object (stdout) whose listing failed at page 3 wrote nothing: the
    writer's batch (up to 1 MiB) was dropped, though ``async for`` yields every item before
    the failed page (``simcards ... -o - > out.jsonl``: 0 lines of 400 received). It writes
    those records, whole, and no ending.
    """
    written = await _exported_to_a_file_object(fmt, _failing_at(3, 404, pages=4), NotFoundError)
    if fmt.endswith(".gz"):
        written = gzip.decompress(written)
    text = written.decode()
    expected = [f"card-{number}-{i}" for number in (1, 2) for i in range(10)]
    if fmt.startswith("csv"):
        rows = list(csv.reader(io.StringIO(text)))
        assert tuple(rows[0]) == SIM_CARD_COLUMNS
        assert [row[0] for row in rows[1:]] == expected
    else:
        assert text.rstrip("\n").endswith("}")  # whole records, and no closing bracket
        if fmt == "json":
            text = text.removeprefix("[\n").replace("},\n", "}\n")
        assert [json.loads(line)["id"] for line in text.splitlines()] == expected


_HUGE = "1e400"  # valid JSON, past a float's range: read as infinity


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("path", "record"),
    [
        ("/v2/sim_cards", {"resources_with_in_progress_actions": [{"n": _HUGE, "m": 1.5}]}),
        ("/v2/sim_card_actions", {"settings": {"limit": _HUGE}}),
    ],
    ids=["card-resources", "action-settings"],
)
async def test_a_number_json_text_cannot_hold_is_refused_not_written_as_null(
    tmp_path: Path, fmt: str, path: str, record: dict[str, Any]
) -> None:
    """A free-form field with ``1e400`` (read as infinity): CSV and Parquet wrote its JSON
    text with ``null`` in its place, a different value, in silence. Refused, naming the
    record and the column; JSON lines keeps the record as sent.
    """
    kind = "sim_card" if path.endswith("cards") else "sim_card_action"
    fields = json.dumps(record).replace(f'"{_HUGE}"', _HUGE)
    body = (
        f'{{"data": [{{"id": "r-1", "record_type": "{kind}", {fields[1:-1]}}}], '
        '"meta": {"page_number": 1, "page_size": 250, "total_pages": 1, "total_results": 1}}'
    )

    async def answer(request: web.Request) -> web.Response:
        assert request.path == path
        return web.Response(body=body.encode(), content_type="application/json")

    async with serve(answer) as served, SimCardsClient(KEY, served.url) as client:
        listing = client.sim_cards if kind == "sim_card" else client.sim_card_actions
        with pytest.raises(ExportError, match="NaN or infinity") as caught:
            await export(listing(), tmp_path / f"out.{fmt}")
        assert caught.value.record == "r-1"
        assert caught.value.column == next(iter(record))
        kept = tmp_path / "out.jsonl"
        await export(listing(), kept)
    assert _HUGE in kept.read_text()
    assert names(tmp_path) == ["out.jsonl"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("kind", "record"),
    [
        (SimCard, {"resources_with_in_progress_actions": [{"n": _HUGE, "m": 1.5}]}),
        (SimCardAction, {"settings": {"limit": _HUGE}}),
    ],
    ids=["card-resources", "action-settings"],
)
async def test_a_raw_record_with_a_number_past_a_float_is_refused_as_a_page_is(
    tmp_path: Path, fmt: str, kind: type[SimCard | SimCardAction], record: dict[str, Any]
) -> None:
    """The same records as raw records the caller gives (``raw_chunks()``'s, say): each was
    decoded without the pages' reading of such a number (infinity), so it was refused as
    ``InvalidParameterError`` ("Number out of range"), a record not of the kind exported,
    though it is one. Refused as a page's is: ``ExportError`` naming the record and column.
    """
    fields = json.dumps(record).replace(f'"{_HUGE}"', _HUGE)
    raw = RawRecord("r-1", msgspec.Raw(f'{{"id": "r-1", {fields[1:-1]}}}'.encode()))
    with pytest.raises(ExportError, match="NaN or infinity") as caught:
        await export(replay([raw]), tmp_path / f"out.{fmt}", kind=kind)
    assert caught.value.record == "r-1"
    assert caught.value.column == next(iter(record))
    assert names(tmp_path) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
async def test_a_built_record_with_a_float_json_cannot_hold_is_refused(
    tmp_path: Path, fmt: str, value: float
) -> None:
    """The same for a Struct the caller built: its NaN was written as ``null``."""
    action = SimCardAction(id="a-1", settings={"nested": [1, {"x": value}]})
    with pytest.raises(ExportError, match="NaN or infinity") as caught:
        await export(replay([action]), tmp_path / f"out.{fmt}")
    assert caught.value.record == "a-1"
    assert caught.value.column == "settings"


@pytest.mark.parametrize(
    ("fmt", "sort"),
    [
        ("csv", None),
        ("parquet", None),
        ("jsonl", None),
        ("jsonl", "-current_billing_period_consumed_data.amount"),
    ],
)
async def test_a_record_of_another_kind_inside_a_page_is_refused(
    tmp_path: Path, fmt: str, sort: str | None
) -> None:
    """An action between two cards of a ``/sim_cards`` page: the listing checks a page's
    first and last records' type (an answer of another listing is of another type
    throughout), so it was decoded as a ``SimCard`` and written as one, its own fields
    dropped and a card's defaults made up. Refused, as the server's doing
    (``APIResponseValidationError``), not with the ``TypeError`` of items the caller mixed
    (the command printed its traceback). JSON lines, which checked a page's ends only (a
    sorted listing's too), wrote it among the cards as it came.
    """
    card = '{"id": "c-%d", "record_type": "sim_card"}'
    action = '{"id": "a-1", "record_type": "sim_card_action", "action_type": "enable"}'
    body = (
        f'{{"data": [{card % 1}, {action}, {card % 2}], '
        '"meta": {"page_number": 1, "page_size": 250, "total_pages": 1, "total_results": 3}}'
    )

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=body.encode(), content_type="application/json")

    async with (
        serve(answer) as served,
        SimCardsClient(KEY, served.url, retry=RetryPolicy(max_retries=0)) as client,
    ):
        with pytest.raises(
            APIResponseValidationError, match="'sim_card_action' record \\(id 'a-1'\\)"
        ):
            await export(client.sim_cards(sort=sort), tmp_path / f"out.{fmt}")
    assert names(tmp_path) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_a_json_null_and_deep_nesting_are_written_as_they_are(
    tmp_path: Path, fmt: str
) -> None:
    """A ``null`` in ``settings`` is JSON's own, written as it is; looked at for a float JSON
    cannot hold, a value nested deeper than Python's recursion limit was a bare
    ``RecursionError``.
    """
    deep: Any = None
    for _ in range(600):  # msgspec encodes it; a recursive look through it failed
        deep = [deep]
    actions = [
        SimCardAction(id="a-1", settings={"x": None, "y": "nullable"}),
        SimCardAction(id="a-2", settings={"deep": deep}),
    ]
    result = await export(replay(actions), tmp_path / f"out.{fmt}")
    assert result.items == 2
    if fmt == "csv":
        text = (tmp_path / "out.csv").read_text()
        assert '"{""x"":null,""y"":""nullable""}"' in text


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_a_built_record_type_that_is_no_string_is_the_type_error(
    tmp_path: Path, fmt: str
) -> None:
    """A Struct the caller built with an unhashable ``record_type`` (a list) was a bare
    ``TypeError: unhashable type`` from the check of every record's type.
    """
    card = SimCard(id="c-1", record_type=["sim_card"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="export\\(\\) got a \\['sim_card'\\] record"):
        await export(replay([card]), tmp_path / f"out.{fmt}")


async def test_a_built_naive_timestamp_is_refused_by_parquet_and_kept_by_csv(
    tmp_path: Path,
) -> None:
    """A Struct the caller built with a naive ``datetime``: Parquet wrote it as UTC, an
    instant nobody gave; refused, naming the record and the column. CSV keeps it, no zone.
    """
    card = SimCard(id="c-1", created_at=dt.datetime(2026, 1, 1, 10, 0))  # noqa: DTZ001
    with pytest.raises(ExportError, match="no offset") as caught:
        await export(replay([card]), tmp_path / "out.parquet")
    assert (caught.value.record, caught.value.column) == ("c-1", "created_at")
    await export(replay([card]), tmp_path / "out.csv")
    row = next(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert row["created_at"] == "2026-01-01T10:00:00"


@pytest.mark.parametrize(
    ("fields", "column", "cell"),
    [
        ({"tags": "iot"}, "tags", "iot"),  # was written as ["i", "o", "t"]
        ({"authorized_imeis": "35"}, "authorized_imeis", "35"),
        ({"created_at": 5}, "created_at", "5"),  # was 1970-01-01T00:00:00.000005Z
        ({"updated_at": 1.5}, "updated_at", "1.5"),
        ({"created_at": float("nan")}, "created_at", "nan"),  # was a bare ValueError
        ({"sim_card_group": SimCardGroup(created_at=7)}, "sim_card_group_created_at", "7"),  # type: ignore[arg-type]
    ],
)
async def test_a_built_value_arrow_would_change_is_refused_by_parquet(
    tmp_path: Path, fields: dict[str, Any], column: str, cell: str
) -> None:
    """A Struct the caller built with a str where a list of them goes, or a number where a
    timestamp goes: Arrow wrote another value (a tag per character, microseconds since 1970)
    or raised a bare ValueError. Refused, naming the record and the column; CSV writes it.
    """
    card = SimCard(id="c-1", **fields)
    with pytest.raises(ExportError, match=f"its {column} is of type") as caught:
        await export(replay([card]), tmp_path / "out.parquet")
    assert (caught.value.record, caught.value.column) == ("c-1", column)
    assert not (tmp_path / "out.parquet").exists()
    await export(replay([card]), tmp_path / "out.csv")
    row = next(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert row[column] == cell
