"""CSV built a column at a time (decoded items) equals the per-cell way, byte for byte.

A stream's pages, and raw records, are written to CSV by ``CsvColumns``; Structs the caller
built by the per-cell path (``_sim_card_row`` and ``_csv_cell`` into the ``csv`` module).
These tests pin that both write the same bytes over the mock's fleet, edge records and random
ones, and that Parquet holds the same values whichever way the items come.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import functools
import io
import json
import re
import sys
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simcards_async import (
    ExportError,
    RawRecord,
    SimCard,
    SimCardAction,
    SimCardsClient,
    SimCardStatus,
)
from simcards_async._export import ExportFormat, _ParquetWriter, export
from simcards_async._models import DeviceLocation, PinPukCodes
from simcards_async._output import Output
from simcards_async._tabular import (
    _PATHS,
    KINDS,
    SIM_CARD_ACTION_COLUMNS,
    SIM_CARD_COLUMNS,
    CsvColumns,
    _csv_cell,
    _field_path,
    columns_of,
)
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYexport-column-tests"
_NAIVE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?")


def _naive_times(record: dict[str, Any]) -> dict[str, dt.datetime]:
    """The record's times written without an offset, as naive datetimes."""
    return {
        name: dt.datetime.fromisoformat(value)
        for name in ("created_at", "updated_at")
        if isinstance(value := record.get(name), str) and _NAIVE.fullmatch(value)
    }


class _Cards:
    """``list[SimCard]`` decoded, a time without an offset set on its Struct afterwards.

    The API's decoder refuses one (RFC 3339 requires an offset); a Struct the caller built
    may hold one, and the writers write it as it is (CSV without a zone).
    """

    _decoder = msgspec.json.Decoder(list[SimCard])

    def decode(self, body: bytes) -> list[SimCard]:
        records = json.loads(body)
        naive = [_naive_times(record) for record in records]
        offset = [{**r, **dict.fromkeys(n)} for r, n in zip(records, naive, strict=True)]
        cards = self._decoder.decode(json.dumps(offset).encode())
        return [
            msgspec.structs.replace(card, **times) if times else card
            for card, times in zip(cards, naive, strict=True)
        ]


CARDS = _Cards()
ACTIONS = msgspec.json.Decoder(list[SimCardAction])
ARROW_TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int": pa.int64(),
    "decimal": pa.decimal128(38, 9),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list": pa.list_(pa.string()),
    "json": pa.string(),
}


async def replay(items: Iterable[Any]) -> AsyncIterator[Any]:
    """An async iterable that is not a stream: its Structs take the per-cell path."""
    for item in items:
        yield item


def per_cell_csv(items: Iterable[SimCard | SimCardAction], kind: type[Any] = SimCard) -> str:
    """The CSV lines of ``items`` as the ``csv`` module writes ``_csv_cell`` of each value."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerows([_csv_cell(value) for value in KINDS[kind].row(item)] for item in items)
    return text.getvalue()


def written_parquet(
    items: list[Any], kind: type[Any] = SimCard, *, decoded: bool = False
) -> pa.Table:
    """What ``_ParquetWriter`` writes of ``items`` (``decoded``: as msgspec decoded them)."""
    sink = io.BytesIO()
    writer = _ParquetWriter(Output(sink, fmt="parquet"), KINDS[kind])
    writer.decoded = decoded  # timestamps and decimals then go through text Arrow parses
    try:
        writer.add(items)
        anyio.run(writer.close)
    finally:
        writer.abort()
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    assert table.schema == arrow_schema(kind)
    return table


def per_cell_arrow(items: list[Any], kind: type[Any] = SimCard) -> pa.Table:
    """Each column's Python values given to ``pa.array``, as for Structs the caller built."""
    schema = arrow_schema(kind)
    columns = zip(*map(KINDS[kind].row, items), strict=True)
    arrays = [pa.array(values, type=f.type) for values, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def arrow_schema(kind: type[Any]) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[type_]) for name, type_ in KINDS[kind].schema])


# --- edge records: what the API might send, decoded as a stream decodes it ------------------

BASE: dict[str, Any] = {
    "id": "6b1b1a1e-0000-4000-8000-000000000001",
    "record_type": "sim_card",
    "status": {"value": "enabled", "reason": "Active, ready to connect."},
    "type": "physical",
    "iccid": "89310410106543789301",
    "tags": ["a"],
    "created_at": "2025-05-29T23:39:45.894Z",
    "updated_at": "2025-06-10T14:34:24.287Z",
    "current_billing_period_consumed_data": {"amount": "20787.0", "unit": "MB"},
}
GROUP: dict[str, Any] = {
    "id": "g1",
    "name": 'Default, "main" group',
    "default": True,
    "data_limit": {"amount": "100.0", "unit": "GB"},
    "consumed_data": None,
    "created_at": "2022-05-25T07:49:14.023+02:00",
    "updated_at": None,
}
EDGES: list[dict[str, Any]] = [
    BASE,
    {"id": "only-an-id"},  # every other field missing: defaults and empty cells
    {
        **BASE,
        "status": {"value": None, "reason": 'line one\nline "two"\r\nend, done'},
        "tags": ["floor;3", 'say "hi"', "a,b", "ünï ☃", ""],
        "authorized_imeis": [],
        "msisdn": None,
        "iccid": "",
        "eid": "=cmd|' /C calc'!A0",
        "data_limit": None,
        "current_billing_period_consumed_data": {"amount": None, "unit": None},
        "actions_in_progress": True,
        "voice_enabled": False,
        "resources_with_in_progress_actions": [{"id": "r1", "type": "x,y"}],
        "version": "4.3",
        "not_in_the_spec": {"nested": [1, 2, 3]},
    },
    {**BASE, "sim_card_group": GROUP, "data_limit": {"amount": "1E+3", "unit": "MB"}},
    {**BASE, "sim_card_group": {**GROUP, "data_limit": None, "consumed_data": {"amount": "-0"}}},
    {**BASE, "sim_card_group": None, "authorized_imeis": ["490154203237518", "35,1"]},
    {**BASE, "created_at": "2025-05-29T23:39:45Z", "updated_at": "2025-05-29T23:39:45.000Z"},
    {**BASE, "created_at": "2025-05-29T23:39:45.000001Z", "updated_at": "2025-05-29T23:39:45.1Z"},
    {
        **BASE,
        "created_at": "2025-05-29T23:39:45.894+05:30",
        "updated_at": "2025-12-31T23:30:00-01:00",
    },
    {**BASE, "created_at": "0001-01-01T00:00:00Z", "updated_at": "9999-12-31T23:59:59.999999Z"},
    {**BASE, "created_at": "2025-05-29T23:39:45.894", "updated_at": "2025-05-29T23:39:45"},
    {
        **BASE,
        "current_billing_period_consumed_data": {"amount": "0.0000001", "unit": "kB"},
        "data_limit": {"amount": "12345678901234567890.123456789", "unit": "B"},
    },
    {
        **BASE,
        "current_device_location": {
            "latitude": "41.1",
            "longitude": "-8.6",
            "accuracy": 12,
            "accuracy_unit": "m",
        },
        "current_imei": "457032284023794",
        "ipv4": "10.0.0.1",
        "pin_puk_codes": {"pin1": "1234", "puk1": "5678"},
    },
    {**BASE, "current_device_location": {"accuracy": None}, "live_data_session": "connected"},
]
ACTION_EDGES: list[dict[str, Any]] = [
    {
        "id": "a1",
        "record_type": "sim_card_action",
        "sim_card_id": "c1",
        "action_type": "set_standby",
        "status": {"value": "completed", "reason": 'done, "ok"'},
        "settings": {"k": "v, w"},
        "created_at": "2025-05-29T23:39:45.894Z",
        "updated_at": "2025-05-29T23:39:45.894123+01:00",
    },
    {"id": "a2", "settings": None, "status": {}},
    {"id": "a3", "settings": {}, "bulk_sim_card_action_id": "b1", "extra": True},
]


def decoded_edges() -> list[SimCard]:
    return CARDS.decode(json.dumps(EDGES).encode())


def test_columns_hold_what_the_rows_hold() -> None:
    """``columns_of`` gives, column by column, exactly the values ``_sim_card_row`` gives."""
    for items, kind in (
        (decoded_edges(), SimCard),
        (ACTIONS.decode(json.dumps(ACTION_EDGES).encode()), SimCardAction),
        # Every card without a group, and groups that are all there (no missing object).
        (CARDS.decode(json.dumps(EDGES[:3]).encode()), SimCard),
        (CARDS.decode(json.dumps([EDGES[3], EDGES[3]]).encode()), SimCard),
    ):
        rows = list(zip(*map(KINDS[kind].row, items), strict=True))
        columns = columns_of(KINDS[kind], items, "csv")
        assert [(None,) * len(items) if c is None else tuple(c) for c in columns] == rows


def test_edge_records_give_the_same_csv_by_columns() -> None:
    """Nulls, missing objects, quotes, commas, newlines, offsets, odd amounts: same CSV bytes."""
    cards = decoded_edges()
    assert CsvColumns(KINDS[SimCard]).lines(cards) == per_cell_csv(cards)
    for card in cards:  # one at a time too: each column then holds one kind of value
        assert CsvColumns(KINDS[SimCard]).lines([card]) == per_cell_csv([card])
    actions = ACTIONS.decode(json.dumps(ACTION_EDGES).encode())
    by_columns = CsvColumns(KINDS[SimCardAction]).lines(actions)
    assert by_columns == per_cell_csv(actions, SimCardAction)


def test_an_empty_batch_gives_no_lines() -> None:
    """A batch of no items writes nothing (the header is the writer's)."""
    assert CsvColumns(KINDS[SimCard]).lines([]) == ""


@pytest.mark.parametrize("decoded", [False, True])
def test_edge_records_give_their_values_in_parquet(decoded: bool) -> None:
    """Parquet holds, for edge records, what ``pa.array`` makes of each column's values.

    Whichever way a column goes (Python objects, or text Arrow parses): zones other than
    UTC, exponents, the extreme years. (A timestamp without a zone is refused: the API's
    decoder refuses one, and Parquet one a Struct the caller built holds.)
    """
    edges = decoded_edges()[:-3] + decoded_edges()[-2:]  # the amount with 10 places: below
    cards = [c for c in edges if c.created_at is None or c.created_at.tzinfo is not None]
    assert len(cards) == len(edges) - 1
    assert written_parquet(cards, decoded=decoded).equals(per_cell_arrow(cards))
    for card in cards:  # one at a time too: a column then holds one kind of value
        assert written_parquet([card], decoded=decoded).equals(per_cell_arrow([card]))
    actions = ACTIONS.decode(json.dumps(ACTION_EDGES).encode())
    written = written_parquet(actions, SimCardAction, decoded=decoded)
    assert written.equals(per_cell_arrow(actions, SimCardAction))


@pytest.mark.parametrize("decoded", [False, True])
@pytest.mark.parametrize(
    "amount",
    [
        "1E-10",
        "0.0000000001",
        "1E+40",
        "NaN",
        # Arrow itself crashed the process on this one (pyarrow 26), in its text cast and
        # in pa.array alike: it must be refused before Arrow sees it.
        "1E-999999999",
        # And Arrow's text cast stored this as -1.000000000.
        "9" * 150,
    ],
)
def test_an_amount_parquet_would_round_is_refused(decoded: bool, amount: str) -> None:
    """0.0000001 fits decimal(38, 9); these do not, and are refused rather than rounded."""
    card = CARDS.decode(
        json.dumps([{**BASE, "data_limit": {"amount": amount, "unit": "B"}}]).encode()
    )
    with pytest.raises(ExportError, match="cannot write record") as caught:
        written_parquet(card, decoded=decoded)
    assert caught.value.column == "data_limit_amount"


@pytest.mark.parametrize("decoded", [False, True])
@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        ("1." + "0" * 2000, "1"),  # Arrow's pa.array stored this as 0
        ("0E-999999999", "0"),  # Arrow crashed on this one
        ("0E+50", "0"),  # Arrow refused this one
        ("-12.500000000000000000000", "-12.5"),
        ("99999999999999999999999999999.999999999", "99999999999999999999999999999.999999999"),
    ],
)
def test_an_exact_amount_of_many_digits_is_stored_exactly(
    decoded: bool, amount: str, stored: str
) -> None:
    """An amount decimal(38, 9) holds exactly is stored, however many digits its text takes."""
    card = CARDS.decode(
        json.dumps([{**BASE, "data_limit": {"amount": amount, "unit": "B"}}]).encode()
    )
    column = written_parquet(card, decoded=decoded).column("data_limit_amount")
    assert column.to_pylist() == [Decimal(stored)]


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_timestamp_past_utcs_range_is_written_in_its_own_offset(stamp: str) -> None:
    """In UTC this instant is in year 10000 (or year 0), which a datetime cannot hold.

    CSV wrote each timestamp in UTC and raised a bare OverflowError on these: now they keep
    their offset, the same instant, by columns and cell by cell alike.
    """
    cards = CARDS.decode(json.dumps([BASE, {**BASE, "created_at": stamp}]).encode())
    lines = CsvColumns(KINDS[SimCard]).lines(cards)
    assert lines == per_cell_csv(cards)
    rows = list(csv.DictReader(io.StringIO(",".join(SIM_CARD_COLUMNS) + "\r\n" + lines)))
    assert rows[0]["created_at"] == "2025-05-29T23:39:45.894Z"  # UTC still, where it can be
    assert dt.datetime.fromisoformat(rows[1]["created_at"]) == dt.datetime.fromisoformat(stamp)


def test_an_int_parquet_cannot_hold_is_refused() -> None:
    """An int past int64 (JSON has no limit) is an ExportError, not a bare OverflowError."""
    location = {"latitude": "1", "longitude": "2", "accuracy": 10**30, "accuracy_unit": "m"}
    card = CARDS.decode(json.dumps([{**BASE, "current_device_location": location}]).encode())
    with pytest.raises(ExportError, match="cannot write record") as caught:
        written_parquet(card, decoded=True)
    assert caught.value.column == "current_device_location_accuracy"


def test_each_column_is_found_by_its_path_in_the_struct() -> None:
    """Columns resolve to the fields they flatten; one named after a Struct holds its value."""
    paths = dict(zip(SIM_CARD_COLUMNS, _PATHS[SimCard], strict=True))
    assert paths["id"] == ("id",)
    assert paths["status"] == ("status", "value")
    assert paths["status_reason"] == ("status", "reason")
    assert paths["sim_card_group_id"] == ("sim_card_group_id",)
    assert paths["data_limit_amount"] == ("data_limit", "amount")
    assert paths["sim_card_group_data_limit_unit"] == ("sim_card_group", "data_limit", "unit")
    assert paths["current_device_location_accuracy_unit"] == (
        "current_device_location",
        "accuracy_unit",
    )
    assert _PATHS[SimCardAction][SIM_CARD_ACTION_COLUMNS.index("settings")] == ("settings",)
    with pytest.raises(LookupError, match="no_such_column"):
        _field_path(SimCard, "no_such_column")


def test_constant_columns_give_the_same_csv() -> None:
    """Lines alike in all, or all but the first, a middle or the last column: same bytes."""
    located = {
        **BASE,
        "current_device_location": {"latitude": "1", "accuracy": 3, "accuracy_unit": "m"},
    }
    batches = [
        [BASE, BASE, BASE],  # every column the same: one line repeated
        [BASE, {**BASE, "id": "other"}],  # only the first column varies
        [BASE, {**BASE, "version": "5, new"}],  # only a middle one (quoted)
        [located, {**located, "current_device_location": {"accuracy_unit": "km"}}],  # the last
        [{**BASE, "tags": []}, {**BASE, "tags": []}],
        [{"id": "a"}, {"id": "b"}],  # nearly every column empty
    ]
    for records in batches:
        cards = CARDS.decode(json.dumps(records).encode())
        assert CsvColumns(KINDS[SimCard]).lines(cards) == per_cell_csv(cards)


def test_list_cells_built_in_place_match_the_csv_module() -> None:
    """Once lists stop repeating they are built in place: escapes, quotes and empties as before."""
    columns = CsvColumns(KINDS[SimCard])
    unique = [{**BASE, "authorized_imeis": [str(n), f"{n}1"]} for n in range(10)]
    cards = CARDS.decode(json.dumps(unique).encode())
    assert columns.lines(cards) == per_cell_csv(cards)
    converter = columns.converters[SIM_CARD_COLUMNS.index("authorized_imeis")]
    assert isinstance(converter, functools.partial)
    assert converter.args[0].unique  # mostly new lists: no memo from now on
    for imeis in (
        [["1", ""], [], None, ["ünï ☃", "a,b", "x]y"]],  # nothing JSON escapes
        [['say "hi"'], ["back\\slash"], ["tab\there", "nl\n", "\x7f\x00"], None, []],
    ):
        records = [{**BASE, "authorized_imeis": value} for value in imeis]
        cards = CARDS.decode(json.dumps(records).encode())
        assert columns.lines(cards) == per_cell_csv(cards)


def test_odd_amounts_and_timestamps_fall_back_to_the_same_text() -> None:
    """Exponents, NaN, infinities, zero offsets, naive and whole-second stamps: per-cell text."""
    amounts = ["1E+3", "1e-7", "NaN", "-Infinity", "-0", "0E-10", "15023.2", None]
    stamps = [
        "2025-01-01T00:00:00+00:00",
        "2025-01-01T00:00:00.000100-00:00",
        "2025-01-01T00:00:00.5+01:00",
        "2025-01-01T00:00:00",
        None,
        "2025-01-01T23:59:59.999Z",
    ]
    batches = [
        [{**BASE, "data_limit": {"amount": a, "unit": "MB"}} for a in amounts],
        [{**BASE, "data_limit": {"amount": a, "unit": "MB"}} for a in ("1.5", None, "2")],
        [{**BASE, "created_at": s, "updated_at": stamps[0]} for s in stamps],
        [{**BASE, "created_at": s} for s in (stamps[0], None, stamps[-1])],
    ]
    for records in batches:
        cards = CARDS.decode(json.dumps(records).encode())
        assert CsvColumns(KINDS[SimCard]).lines(cards) == per_cell_csv(cards)


def test_the_csv_memos_start_over_past_their_limit() -> None:
    """Distinct quoted texts beyond the memo's limit still come out right (memory bounded)."""
    records = [
        {**BASE, "id": str(n), "tags": [f"t{n}"], "status": {"reason": f"r, {n}"}}
        for n in range(5000)
    ]
    cards = CARDS.decode(json.dumps(records).encode())
    columns = CsvColumns(KINDS[SimCard])
    for start in range(0, len(cards), 250):
        assert columns.lines(cards[start : start + 250]) == per_cell_csv(cards[start : start + 250])
    memos = [c.args[0] for c in columns.converters if isinstance(c, functools.partial)]
    assert memos
    assert all(len(memo) <= 4096 + 250 for memo in memos)


def test_the_csv_memos_start_over_past_their_size() -> None:
    """Long unique texts that need quoting are kept at most a page past ``_MEMO_CHARS``.

    Counted in entries only, 4,096 status reasons of 18 KB and their quoted cells were kept.
    """
    pad = "x" * 10_000
    records = [{**BASE, "id": str(n), "status": {"reason": f"{n}, {pad}"}} for n in range(1000)]
    cards = CARDS.decode(json.dumps(records).encode())
    columns = CsvColumns(KINDS[SimCard])
    for start in range(0, len(cards), 250):
        assert columns.lines(cards[start : start + 250]) == per_cell_csv(cards[start : start + 250])
    reasons = columns.converters[SIM_CARD_COLUMNS.index("status_reason")]
    assert isinstance(reasons, functools.partial)
    assert len(reasons.args[0]) <= 250  # the last page's


SURROGATE = b"89\xff01".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
@pytest.mark.parametrize(
    ("item", "column"),
    [
        (SimCard(id="b", iccid=SURROGATE), "iccid"),
        (SimCard(id="b", tags=("ok", SURROGATE)), "tags"),
        (SimCardAction(id="b", settings={"when": object()}), "settings"),
    ],
)
async def test_a_value_no_format_writes_is_refused_naming_record_and_column(
    tmp_path: Path, fmt: ExportFormat, item: Any, column: str
) -> None:
    """A lone surrogate or a non-JSON value in a Struct the caller built: an ExportError.

    It was a bare UnicodeEncodeError or TypeError, for CSV only at the write a batch later.
    """
    first = type(item)(id="a")
    with pytest.raises(ExportError, match="cannot write record 'b'") as caught:
        await export(replay([first, item]), tmp_path / "out", format=fmt)
    assert (caught.value.record, caught.value.column) == ("b", column)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("fmt", "refused"), [("jsonl", True), ("json", True), ("csv", False), ("parquet", False)]
)
async def test_a_value_only_json_lines_would_write_is_refused_there_only(
    tmp_path: Path, fmt: ExportFormat, refused: bool
) -> None:
    """A field no CSV or Parquet column holds (PIN and PUK codes) failed those formats with a
    bare AssertionError when JSON could not hold it; JSON lines name the field, a.b nested,
    and never show a PIN.
    """
    pin = "12" + b"\xff".decode("utf-8", "surrogateescape")  # a secret JSON cannot hold
    card = SimCard(id="a", pin_puk_codes=PinPukCodes(pin1=pin))
    if not refused:
        assert (await export(replay([card]), tmp_path / "out", format=fmt)).items == 1
        return
    with pytest.raises(ExportError, match="cannot write record 'a'") as caught:
        await export(replay([card]), tmp_path / "out", format=fmt)
    assert (caught.value.record, caught.value.column) == ("a", "pin_puk_codes.pin1")
    assert "12" not in str(caught.value)  # a PIN is never shown


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("accuracy", [2.9, True, "3"])
async def test_an_int_column_refuses_another_type(
    tmp_path: Path, fmt: ExportFormat, accuracy: object
) -> None:
    """An accuracy of 2.9 was written as it is to CSV and cut to 2 in Parquet.

    Built, a DeviceLocation refuses 2.9 itself: it is planted, as a subclass could.
    """
    location = DeviceLocation()
    msgspec.structs.force_setattr(location, "accuracy", accuracy)
    card = SimCard(id="a", current_device_location=location)
    with pytest.raises(ExportError, match="not an int") as caught:
        await export(replay([card]), tmp_path / "out", format=fmt)
    assert caught.value.column == "current_device_location_accuracy"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("item", "column"),
    [
        (SimCard(id="a", status="enabled"), "status"),  # type: ignore[arg-type]
        (SimCard(id="a", data_limit=5), "data_limit_amount"),  # type: ignore[arg-type]
        (SimCardAction(id="a", status={"value": "completed"}), "status"),  # type: ignore[arg-type]
    ],
)
async def test_a_nested_struct_built_as_another_type_is_refused(
    tmp_path: Path, fmt: ExportFormat, item: Any, column: str
) -> None:
    """``status="enabled"`` where a Struct belongs: a bare AttributeError in CSV and Parquet."""
    with pytest.raises(ExportError, match="not a Struct of its fields") as caught:
        await export(replay([item]), tmp_path / "out", format=fmt)
    assert (caught.value.record, caught.value.column) == ("a", column)


class _Status(str, enum.Enum):
    """A str Enum a caller may build its cards with: each member is the text it holds."""

    ENABLED = "enabled"


@pytest.mark.parametrize("tags", [tuple, list])
@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
async def test_a_str_subclass_built_into_a_struct_is_written_as_its_text(
    tmp_path: Path, fmt: ExportFormat, tags: type[tuple[str, ...] | list[str]]
) -> None:
    """A ``(str, Enum)`` member in a Struct the caller built: CSV wrote ``str()`` of it,
    ``_Status.ENABLED``, where JSON lines and Parquet wrote ``enabled``, in silence. Tags the
    caller gave as a list were written to CSV as the list's repr, ``[<_Status.ENABLED: ...>]``.
    """
    member = _Status.ENABLED
    given: Any = tags([member])  # a list too, which the annotation does not take
    card = SimCard(id=member, iccid=member, status=SimCardStatus(value=member), tags=given)
    path = tmp_path / f"out.{fmt}"
    await export(replay([card]), path)
    if fmt == "parquet":
        row = pq.read_table(path).to_pylist()[0]
    elif fmt == "csv":
        row = next(csv.DictReader(io.StringIO(path.read_text(), newline="")))
        row["tags"] = json.loads(row["tags"])
    else:
        row = json.loads(path.read_text())
        row["status"] = row["status"]["value"]
    assert (row["id"], row["iccid"], row["status"], row["tags"]) == ("enabled",) * 3 + (
        ["enabled"],
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_a_nested_struct_built_as_none_is_missing(tmp_path: Path, fmt: ExportFormat) -> None:
    """``status=None`` in a Struct the caller built: empty cells, not a bare AttributeError."""
    items = [
        SimCard(id="a", status=None, current_billing_period_consumed_data=None),  # type: ignore[arg-type]
        SimCardAction(id="b", status=None),  # type: ignore[arg-type]
    ]
    for item in items:
        path = tmp_path / f"{type(item).__name__}.{fmt}"
        await export(replay([item]), path)
        table = (
            pq.read_table(path)
            if fmt == "parquet"
            else pa.Table.from_pylist(
                list(csv.DictReader(io.StringIO(path.read_text(), newline="")))
            )
        )
        assert table.column("status").to_pylist() in ([None], [""])


# --- property: any strings, timestamps and amounts ------------------------------------------

#: Python 3.10's ``csv`` module, the reference here, cannot write a NUL (3.11 writes it as is).
NO_NUL = "\x00" if sys.version_info < (3, 11) else ""
TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=NO_NUL), max_size=12
) | st.sampled_from(['"', ",", "\n", "\r", "\r\n", " ", "", '""', "a,b", "null", "[]"])
# Hypothesis takes naive bounds and adds the zones itself.
STAMPS = st.datetimes(
    min_value=dt.datetime(1, 1, 2),  # noqa: DTZ001
    max_value=dt.datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from(
        [
            dt.timezone.utc,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(dt.timedelta(0)),
        ]
    ),
)
AMOUNTS = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: abs(d.adjusted()) < 20
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    optional = st.none() | TEXT
    record: dict[str, Any] = {
        "id": draw(TEXT),
        "status": {"value": draw(optional), "reason": draw(optional)},
        "iccid": draw(optional),
        "tags": draw(st.lists(TEXT, max_size=3)),
        "authorized_imeis": draw(st.none() | st.lists(TEXT, max_size=2)),
        "created_at": draw(st.none() | STAMPS.map(dt.datetime.isoformat)),
        "updated_at": draw(st.none() | STAMPS.map(dt.datetime.isoformat)),
        "voice_enabled": draw(st.booleans()),
        "version": draw(optional),
    }
    if draw(st.booleans()):
        record["data_limit"] = {"amount": str(draw(AMOUNTS)), "unit": draw(optional)}
    if draw(st.booleans()):
        record["sim_card_group"] = {"name": draw(optional), "created_at": None}
    return record


@settings(max_examples=150)
@given(st.lists(records(), max_size=6))
@example([{"id": "x", "status": {"reason": 'é,"\n'}, "created_at": "2020-01-01T00:00:00Z"}])
def test_any_records_give_the_same_csv_by_columns(batch: list[dict[str, Any]]) -> None:
    """Whatever the strings, zones and amounts, CSV by columns is the ``csv`` module's."""
    cards = CARDS.decode(msgspec.json.encode(batch))
    assert CsvColumns(KINDS[SimCard]).lines(cards) == per_cell_csv(cards)


@settings(max_examples=100)
@given(st.lists(records(), min_size=1, max_size=6))
def test_any_records_give_the_same_parquet_by_text(batch: list[dict[str, Any]]) -> None:
    """Timestamps and amounts parsed by Arrow from text hold what ``pa.array`` makes of them.

    Or both ways refuse the batch (an amount with more than 9 decimal places).
    """
    cards = CARDS.decode(msgspec.json.encode(batch))
    try:
        expected = written_parquet(cards)
    except ExportError:
        with pytest.raises(ExportError, match="cannot write record"):
            written_parquet(cards, decoded=True)
        return
    assert written_parquet(cards, decoded=True).equals(expected)


# --- whole exports: a stream's pages (by columns) against the same cards as Structs ---------


@pytest.fixture
async def fleet() -> AsyncIterator[SimCardsClient]:
    async with (
        MockTelnyxServer(sim_cards=1200, actions=600, seed=11) as server,
        SimCardsClient(KEY, server.url, max_concurrency=4) as client,
    ):
        yield client


def assert_same_output(one: Path, other: Path, fmt: ExportFormat) -> None:
    """The two exports hold the same: the same bytes, or for Parquet equal tables."""
    if fmt == "parquet":
        assert pq.read_table(one).equals(pq.read_table(other))
    else:
        assert one.read_bytes() == other.read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
@pytest.mark.parametrize("group", [False, True])
async def test_a_listing_exports_as_its_cards_do(
    tmp_path: Path, fleet: SimCardsClient, fmt: ExportFormat, group: bool
) -> None:
    """A listing (CSV by columns) writes the same file as its cards fed one by one (per cell)."""
    cards = await fleet.sim_cards(include_sim_card_group=group).collect()
    streamed, replayed = tmp_path / "streamed", tmp_path / "replayed"
    await export(fleet.sim_cards(include_sim_card_group=group), streamed, format=fmt)
    await export(replay(cards), replayed, format=fmt)
    assert_same_output(streamed, replayed, fmt)
    if fmt == "parquet":
        assert pq.read_table(streamed).num_rows == len(cards)


async def test_a_listing_cut_into_row_groups_mid_page_exports_as_its_cards_do(
    tmp_path: Path, fleet: SimCardsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups that end inside a page hold the same rows, split the same way, either path."""
    monkeypatch.setattr("simcards_async._export.PARQUET_ROW_GROUP_SIZE", 700)
    cards = await fleet.sim_cards(page_size=250).collect()
    streamed, replayed = tmp_path / "streamed.parquet", tmp_path / "replayed.parquet"
    await export(fleet.sim_cards(page_size=250), streamed)
    await export(replay(cards), replayed)
    for path in (streamed, replayed):
        metadata = pq.ParquetFile(path).metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        assert sizes == [700, 500]
    assert pq.read_table(streamed).equals(pq.read_table(replayed))
    assert pq.read_table(streamed).column("id").to_pylist() == [card.id for card in cards]


async def test_parquet_rows_that_take_too_much_memory_are_a_row_group_of_their_own(
    tmp_path: Path, fleet: SimCardsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``_PARQUET_HELD_BYTES``, the rows held are written, however few: large records.

    Counted in rows only, 10,000 records of 18 KB each were held at once (742 MB).
    """
    monkeypatch.setattr("simcards_async._export._PARQUET_HELD_BYTES", 1)  # every page passes it
    path = tmp_path / "cards.parquet"
    await export(fleet.sim_cards(page_size=250), path)
    metadata = pq.ParquetFile(path).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [250, 250, 250, 250, 200]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_actions_export_as_their_structs_do(
    tmp_path: Path, fleet: SimCardsClient, fmt: ExportFormat
) -> None:
    """SIM card actions too: the same file from the listing as from its Structs."""
    actions = await fleet.sim_card_actions().collect()
    streamed, replayed = tmp_path / "streamed", tmp_path / "replayed"
    await export(fleet.sim_card_actions(), streamed, format=fmt)
    await export(replay(actions), replayed, format=fmt)
    assert_same_output(streamed, replayed, fmt)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_raw_actions_are_written_with_the_actions_columns(
    tmp_path: Path, fleet: SimCardsClient, fmt: ExportFormat
) -> None:
    """Raw records of actions, handed over as a plain iterable, were written as SIM cards
    (a SIM card's columns, the actions' own fields dropped, defaults made up): their
    ``record_type`` says their kind, and a record of another kind than ``kind=`` is refused.
    """
    stream = fleet.sim_card_actions()
    chunks = stream.raw_chunks()
    assert chunks is not None
    raws = [record async for chunk in chunks for record in chunk]
    actions = await fleet.sim_card_actions().collect()
    from_raw, from_structs = tmp_path / "raw", tmp_path / "structs"
    await export(replay(raws), from_raw, format=fmt)
    await export(replay(actions), from_structs, format=fmt)
    assert_same_output(from_raw, from_structs, fmt)
    with pytest.raises(TypeError, match=r"got a 'sim_card_action' record .* among SimCard items"):
        await export(replay(raws), tmp_path / "cards", format=fmt, kind=SimCard)
    # A record type of any length is said cut, as every value a message quotes.
    long = msgspec.Raw(b'{"id": "x", "record_type": "%s"}' % (b"y" * 5000))
    with pytest.raises(TypeError, match=r"got a 'yyy.*\[cut, 5000 chars\] record") as info:
        await export(replay([long]), tmp_path / "long", format=fmt, kind=SimCard)
    assert len(str(info.value)) < 500
    bare = [record.raw for record in raws]  # msgspec.Raw: the same
    await export(replay(bare), tmp_path / "bare", format=fmt)
    assert_same_output(tmp_path / "bare", from_structs, fmt)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_raw_edge_records_export_as_their_structs_do(
    tmp_path: Path, fmt: ExportFormat
) -> None:
    """Raw records (decoded here, by columns) write what the same cards as Structs write."""
    # Raw records are the API's: none holds a time without an offset (refused, naming items).
    edges = [e for e in EDGES if not _naive_times(e)]
    if fmt == "parquet":
        edges.remove(EDGES[11])
    raws = [RawRecord(str(r["id"]), msgspec.Raw(json.dumps(r).encode())) for r in edges]
    cards = CARDS.decode(json.dumps(edges).encode())
    from_raw, from_structs = tmp_path / "raw", tmp_path / "structs"
    await export(replay(raws), from_raw, format=fmt)
    await export(replay(cards), from_structs, format=fmt)
    assert_same_output(from_raw, from_structs, fmt)
    if fmt != "parquet":
        assert from_raw.read_bytes().count(b"\r\n") > len(edges) + 1  # a quoted one too


@pytest.mark.parametrize(
    ("amount", "cell"),
    [
        ("1E+99", "1" + "0" * 99),
        ("1E+100", "1E+100"),
        ("1e100000000", "1E+100000000"),
        ("-1E+99999999999", "-1E+99999999999"),
        ("1E-100000000", "1E-100000000"),
        ("NaN", "NaN"),
    ],
)
def test_an_amount_too_long_to_write_plain_keeps_its_exponent(amount: str, cell: str) -> None:
    """Plain text up to 100 digits; past that the exponent stays (``1e100000000`` written out
    plain took 100 MB, and ``1E+99999999999`` raised a bare MemoryError). Exact either way.
    """
    card = CARDS.decode(
        json.dumps([{**BASE, "data_limit": {"amount": amount, "unit": "B"}}]).encode()
    )
    lines = CsvColumns(KINDS[SimCard]).lines(card)
    assert lines == per_cell_csv(card)
    row = next(csv.reader(io.StringIO(lines)))
    assert row[SIM_CARD_COLUMNS.index("data_limit_amount")] == cell
    assert Decimal(cell) == Decimal(amount) or amount == "NaN"  # the same number


def test_amounts_in_csv_stay_plain_decimal_by_columns() -> None:
    """Exponent forms are written out in full, by columns as per cell."""
    cards = CARDS.decode(json.dumps([EDGES[3], EDGES[11]]).encode())
    rows = list(csv.reader(io.StringIO(CsvColumns(KINDS[SimCard]).lines(cards))))
    index = [name for name, _ in KINDS[SimCard].schema].index
    assert rows[0][index("data_limit_amount")] == "1000"
    assert rows[1][index("current_billing_period_consumed_data_amount")] == "0.0000001"
    assert rows[1][index("data_limit_amount")] == "12345678901234567890.123456789"
