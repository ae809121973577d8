"""Functional tests of ``export``: each format, fed over loopback HTTP by ``MockTelnyxServer``."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import gc
import inspect
import io
import json
import os
import stat
import sys
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, get_args

import anyio
import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polling import HANG_GUARD, eventually, loop_turns
from sinks import Sink
from trickle import Trickle

from simcards_async import (
    Amount,
    BadRequestError,
    DeviceLocation,
    ExportError,
    ExportFormat,
    InvalidParameterError,
    Progress,
    RawRecord,
    SimCard,
    SimCardAction,
    SimCardGroup,
    SimCardsClient,
    _export,
    merge,
    merge_tagged,
)
from simcards_async._export import PARQUET_ROW_GROUP_SIZE, _ParquetWriter, export
from simcards_async._output import Output
from simcards_async._tabular import SIM_CARD_ACTION_COLUMNS, SIM_CARD_COLUMNS
from simcards_async._threads import StepsStoppedError
from simcards_async.testing import FaultPlan, MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYexport-tests"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

# The documented type of each flat column; every other column is text.
DECIMALS = {
    "data_limit_amount",
    "current_billing_period_consumed_data_amount",
    "sim_card_group_data_limit_amount",
    "sim_card_group_consumed_data_amount",
}
BOOLEANS = {"actions_in_progress", "voice_enabled", "sim_card_group_default"}
TIMESTAMPS = {
    "created_at",
    "updated_at",
    "sim_card_group_created_at",
    "sim_card_group_updated_at",
}
LISTS = {"tags", "authorized_imeis"}
JSON_TEXT = {"resources_with_in_progress_actions", "settings"}
INTEGERS = {"current_device_location_accuracy"}


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    async with MockTelnyxServer(sim_cards=700, actions=700, seed=3) as server:
        yield server


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[SimCardsClient]:
    async with SimCardsClient(KEY, server.url, max_concurrency=4) as client:
        yield client


@pytest.fixture
async def cards(client: SimCardsClient) -> list[SimCard]:
    """Listed cards with their group, the first few fetched one by one (every field set)."""
    listed = await client.sim_cards(include_sim_card_group=True).collect()
    detailed = [
        await client.get_sim_card(card.id, include_sim_card_group=True, include_pin_puk_codes=True)
        for card in listed[:5]
    ]
    return detailed + listed[5:]


@pytest.fixture
async def actions(client: SimCardsClient) -> list[SimCardAction]:
    return await client.sim_card_actions().collect()


async def replay(items: Iterable[Any]) -> AsyncIterator[Any]:
    """An async iterable that is not a ``PageStream``."""
    for item in items:
        yield item


# --- what each flat row should hold, written from the Structs -------------------------


def card_values(card: SimCard) -> dict[str, object]:
    """The documented flat columns of one card, as typed values, in the documented order."""
    group = card.sim_card_group or SimCardGroup()
    place = card.current_device_location or DeviceLocation()
    limit = card.data_limit or Amount()
    used = card.current_billing_period_consumed_data
    group_limit, group_used = group.data_limit or Amount(), group.consumed_data or Amount()
    return {
        "id": card.id,
        "record_type": card.record_type,
        "status": card.status.value,
        "status_reason": card.status.reason,
        "type": card.type,
        "iccid": card.iccid,
        "imsi": card.imsi,
        "msisdn": card.msisdn,
        "eid": card.eid,
        "esim_installation_status": card.esim_installation_status,
        "sim_card_group_id": card.sim_card_group_id,
        "tags": list(card.tags),
        "authorized_imeis": None if card.authorized_imeis is None else list(card.authorized_imeis),
        "data_limit_amount": limit.amount,
        "data_limit_unit": limit.unit,
        "current_billing_period_consumed_data_amount": used.amount,
        "current_billing_period_consumed_data_unit": used.unit,
        "actions_in_progress": card.actions_in_progress,
        "resources_with_in_progress_actions": list(card.resources_with_in_progress_actions),
        "version": card.version,
        "voice_enabled": card.voice_enabled,
        "created_at": card.created_at,
        "updated_at": card.updated_at,
        "sim_card_group_name": group.name,
        "sim_card_group_default": group.default,
        "sim_card_group_data_limit_amount": group_limit.amount,
        "sim_card_group_data_limit_unit": group_limit.unit,
        "sim_card_group_consumed_data_amount": group_used.amount,
        "sim_card_group_consumed_data_unit": group_used.unit,
        "sim_card_group_private_wireless_gateway_id": group.private_wireless_gateway_id,
        "sim_card_group_wireless_blocklist_id": group.wireless_blocklist_id,
        "sim_card_group_created_at": group.created_at,
        "sim_card_group_updated_at": group.updated_at,
        "current_imei": card.current_imei,
        "current_mcc": card.current_mcc,
        "current_mnc": card.current_mnc,
        "ipv4": card.ipv4,
        "ipv6": card.ipv6,
        "live_data_session": card.live_data_session,
        "current_device_location_latitude": place.latitude,
        "current_device_location_longitude": place.longitude,
        "current_device_location_accuracy": place.accuracy,
        "current_device_location_accuracy_unit": place.accuracy_unit,
    }


def action_values(action: SimCardAction) -> dict[str, object]:
    """The documented flat columns of one action, as typed values, in the documented order."""
    return {
        "id": action.id,
        "record_type": action.record_type,
        "sim_card_id": action.sim_card_id,
        "action_type": action.action_type,
        "status": action.status.value,
        "status_reason": action.status.reason,
        "settings": action.settings,
        "bulk_sim_card_action_id": action.bulk_sim_card_action_id,
        "created_at": action.created_at,
        "updated_at": action.updated_at,
    }


def plain_decimal(text: str) -> Decimal:
    assert "E" not in text.upper()  # plain decimal text, never an exponent
    return Decimal(text)


def api_timestamp(text: str) -> dt.datetime:
    """A timestamp in the API's form; a ``Z`` read as ``+00:00`` (Python 3.10 reads no ``Z``)."""
    return dt.datetime.fromisoformat(
        text.removesuffix("Z") + "+00:00" if text.endswith("Z") else text
    )


PARSERS: dict[str, Callable[[str], object]] = {
    **dict.fromkeys(DECIMALS, plain_decimal),
    **dict.fromkeys(BOOLEANS, {"true": True, "false": False}.__getitem__),
    **dict.fromkeys(TIMESTAMPS, api_timestamp),
    **dict.fromkeys(JSON_TEXT, json.loads),
    **dict.fromkeys(INTEGERS, int),
}


def from_csv(column: str, text: str) -> object:
    """A CSV cell back to a typed value, by the documented column types."""
    if column in LISTS:
        return json.loads(text) if text else None  # a JSON array; empty: the API sent none
    if text == "":
        return None
    return PARSERS.get(column, str)(text)


def csv_can_hold(values: dict[str, object]) -> dict[str, object]:
    """What CSV can tell apart: an empty text reads as absent (lists keep both apart)."""
    return {k: v if k in LISTS else (None if v == "" else v) for k, v in values.items()}


def from_parquet(row: dict[str, object]) -> dict[str, object]:
    return {
        k: json.loads(v) if k in JSON_TEXT and isinstance(v, str) else v for k, v in row.items()
    }


def parquet_type(column: str) -> pa.DataType:
    if column in DECIMALS:
        return pa.decimal128(38, 9)
    if column in BOOLEANS:
        return pa.bool_()
    if column in TIMESTAMPS:
        return pa.timestamp("us", tz="UTC")
    if column in LISTS:
        return pa.list_(pa.string())
    if column in INTEGERS:
        return pa.int64()
    return pa.string()


def leftovers(directory: Path) -> list[str]:
    """Temporary files left in ``directory``."""
    return [name for name in names(directory) if name.endswith(".partial")]


def names(directory: Path) -> list[str]:
    """Every file in ``directory``, sorted (a sync helper: async tests may call it)."""
    return sorted(p.name for p in directory.iterdir())


def partial_sizes(directory: Path) -> list[int]:
    return [(directory / name).stat().st_size for name in leftovers(directory)]


# --- the column sets ------------------------------------------------------------------


def test_documented_columns_are_the_flat_fields() -> None:
    """The column constants list every flat field once, in the documented order."""
    assert list(card_values(SimCard(id="x"))) == list(SIM_CARD_COLUMNS)
    assert list(action_values(SimCardAction(id="x"))) == list(SIM_CARD_ACTION_COLUMNS)
    assert len(set(SIM_CARD_COLUMNS)) == len(SIM_CARD_COLUMNS)
    assert "pin_puk_codes" not in " ".join(SIM_CARD_COLUMNS)


# --- JSON lines ---------------------------------------------------------------------


async def test_jsonl_lines_decode_to_equal_cards(tmp_path: Path, cards: list[SimCard]) -> None:
    """Each JSON line decodes to a SimCard equal to the one written, every field included."""
    target = tmp_path / "cards.jsonl"
    result = await export(replay(cards), target)
    assert (result.items, result.path, result.format) == (len(cards), target, "jsonl")
    lines = target.read_bytes().splitlines()
    assert [msgspec.json.decode(line, type=SimCard) for line in lines] == cards
    assert cards[0].pin_puk_codes is not None  # so the secrets round-trip too
    assert cards[0].current_device_location is not None


async def test_jsonl_from_a_stream_equals_the_listing(
    tmp_path: Path, client: SimCardsClient
) -> None:
    """Exporting a PageStream writes exactly what collecting the same listing gives."""
    expected = await client.sim_card_actions().collect()
    target = tmp_path / "actions.ndjson"
    result = await export(client.sim_card_actions(page_size=100), target)
    lines = target.read_bytes().splitlines()
    assert [msgspec.json.decode(line, type=SimCardAction) for line in lines] == expected
    assert result.items == len(expected) == 700


# --- CSV ----------------------------------------------------------------------------


async def test_csv_columns_and_values_match_the_cards(tmp_path: Path, cards: list[SimCard]) -> None:
    """CSV has the documented header, then one row per card holding its values exactly."""
    target = tmp_path / "cards.csv"
    result = await export(replay(cards), target)
    assert result.format == "csv"
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == SIM_CARD_COLUMNS
    assert len(rows) == len(cards) + 1
    for card, row in zip(cards, rows[1:], strict=True):
        got = {column: from_csv(column, text) for column, text in zip(rows[0], row, strict=True)}
        assert got == csv_can_hold(card_values(card))
    assert any(row[rows[0].index("sim_card_group_name")] for row in rows[1:])


async def test_csv_columns_and_values_match_the_actions(
    tmp_path: Path, actions: list[SimCardAction]
) -> None:
    """A SIM card action CSV has the documented header and each action's values."""
    target = tmp_path / "actions.csv"
    await export(replay(actions), target)
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == SIM_CARD_ACTION_COLUMNS
    for action, row in zip(actions, rows, strict=True):
        got = {column: from_csv(column, text) for column, text in row.items()}
        assert got == csv_can_hold(action_values(action))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json", "parquet"])
async def test_an_unbuffered_file_that_takes_part_of_a_write_gets_every_byte(
    fmt: ExportFormat,
) -> None:
    """An unbuffered file may write part of what it is given and say how much: the rest
    was dropped, and the export reported success (a stdout export under ``python -u``
    cut short, exit 0). What is left is written again.
    """
    cards = [SimCard(id=f"{i:04d}", iccid="8" * 19, tags=("t",) * 20) for i in range(300)]
    whole = io.BytesIO()
    await export(replay(cards), whole, format=fmt)
    trickle = Trickle(room=1000)
    result = await export(replay(cards), trickle, format=fmt)
    assert result.items == len(cards)
    assert bytes(trickle.got) == whole.getvalue()


async def test_csv_amounts_are_exact_and_plain() -> None:
    """Decimal amounts are written digit for digit, without exponent or rounding."""
    amounts = ["0.0000000001", "1E+3", "123456789012345678901234.5", "2049.0"]
    cards = [
        SimCard(id=str(i), current_billing_period_consumed_data=Amount(amount=Decimal(a)))
        for i, a in enumerate(amounts)
    ]
    out = io.BytesIO()
    await export(replay(cards), out, format="csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    column = "current_billing_period_consumed_data_amount"
    assert [row[column] for row in rows] == [
        "0.0000000001",
        "1000",
        "123456789012345678901234.5",
        "2049.0",
    ]


# --- Parquet ------------------------------------------------------------------------


async def test_parquet_typed_columns_read_back_equal(tmp_path: Path, cards: list[SimCard]) -> None:
    """Parquet columns have the documented types and read back equal, decimals exactly."""
    target = tmp_path / "cards.parquet"
    result = await export(replay(cards), target)
    assert result.format == "parquet"
    table = pq.read_table(target)
    assert tuple(table.column_names) == SIM_CARD_COLUMNS
    for field in table.schema:
        assert field.type == parquet_type(field.name), field.name
    rows = [from_parquet(row) for row in table.to_pylist()]
    assert rows == [card_values(card) for card in cards]


async def test_parquet_actions_read_back_equal(
    tmp_path: Path, actions: list[SimCardAction]
) -> None:
    """A SIM card action Parquet file reads back equal, settings as JSON text."""
    target = tmp_path / "actions.pq"
    await export(replay(actions), target)
    table = pq.read_table(target)
    assert tuple(table.column_names) == SIM_CARD_ACTION_COLUMNS
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    rows = [from_parquet(row) for row in table.to_pylist()]
    assert rows == [action_values(action) for action in actions]


async def test_parquet_is_written_in_row_groups(tmp_path: Path) -> None:
    """A large export is written as row groups of PARQUET_ROW_GROUP_SIZE rows."""
    total = 2 * PARQUET_ROW_GROUP_SIZE + 123
    actions = (SimCardAction(id=str(i), action_type="enable") for i in range(total))
    target = tmp_path / "actions.parquet"
    await export(replay(actions), target)
    metadata = pq.ParquetFile(target).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [PARQUET_ROW_GROUP_SIZE, PARQUET_ROW_GROUP_SIZE, 123]


async def test_parquet_dictionary_encodes_only_the_columns_that_repeat(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """Ids, numbers and timestamps are written plain; statuses, units and the rest by dictionary.

    The file reads back the same whatever the encoding: this pins only that a column of
    values that are all different gets no dictionary, which would cost time and bytes.
    """
    target = tmp_path / "cards.parquet"
    await export(client.sim_cards(page_size=250), target)
    group = pq.ParquetFile(target).metadata.row_group(0)
    chunks = [group.column(i) for i in range(group.num_columns)]
    # A list column's chunk is its leaf ("tags.list.element"): named by its first part.
    assert [chunk.path_in_schema.split(".")[0] for chunk in chunks] == list(SIM_CARD_COLUMNS)
    dictionary = {
        chunk.path_in_schema.split(".")[0]
        for chunk in chunks
        if chunk.dictionary_page_offset is not None
    }
    plain = {"id", "iccid", "imsi", "msisdn", "created_at", "updated_at"}
    assert not dictionary & plain
    assert {"status", "type", "record_type", "sim_card_group_id", "tags"} <= dictionary
    assert pq.read_table(target).num_rows == server.fleet.sim_card_count


@pytest.mark.parametrize("amount", ["0.0000000001", "NaN", "-Infinity", "1E+40"])
async def test_parquet_refuses_an_amount_it_cannot_hold(tmp_path: Path, amount: str) -> None:
    """An amount decimal(38, 9) would round, or cannot hold, fails loudly with an
    ExportError naming the record, the column and the value, and leaves no file.
    """
    cards = [
        SimCard(id="a", data_limit=Amount(amount=Decimal(1), unit="MB")),
        SimCard(id="b", data_limit=Amount(amount=Decimal(amount), unit="MB")),
    ]
    target = tmp_path / "cards.parquet"
    with pytest.raises(ExportError, match="record 'b'") as caught:
        await export(replay(cards), target)
    assert (caught.value.record, caught.value.column) == ("b", "data_limit_amount")
    assert caught.value.format == "parquet"
    assert repr(str(Decimal(amount))) in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert names(tmp_path) == []


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("where", ["iccid", "id"])
async def test_a_built_record_holding_an_int_too_long_to_show_is_refused_by_name(
    tmp_path: Path, fmt: str, where: str
) -> None:
    """A Struct the caller built holding an int of 5,000 digits (msgspec checks no type at
    construction) is an ``ExportError`` naming its column; the refusal's own message
    raised a bare ``ValueError`` ("Exceeds the limit (4300 digits) for integer string
    conversion") as it showed the value, or the record's id.
    """
    huge = 10**5000
    card = SimCard(id=huge, iccid="89") if where == "id" else SimCard(id="c", iccid=huge)  # type: ignore[arg-type]
    target = tmp_path / f"cards.{fmt}"
    with pytest.raises(ExportError, match="an integer of") as caught:
        await export(replay([card]), target)
    assert caught.value.column == where
    assert caught.value.format == fmt
    if where == "id":
        assert caught.value.record is not None
        assert "integer of" in caught.value.record
    else:
        assert caught.value.record == "c"
    assert names(tmp_path) == []


async def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient, monkeypatch: Any
) -> None:
    """Without pyarrow, Parquet fails before any request, naming the extra to install."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install 'simcards-async\[parquet\]'"):
        await export(client.sim_cards(), tmp_path / "cards.parquet")
    assert names(tmp_path) == []
    assert server.requests == []


async def test_tagged_items_are_refused_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """``merge_tagged()`` and ``tagged()`` yield ``Tagged`` pairs, not records: export says so
    naming ``items``, before a request is sent (it failed with a bare TypeError after them).
    """
    for shorthand in (True, False):
        enabled = client.sim_cards(status="enabled")
        disabled = client.sim_cards(status="disabled")
        tagged: Any = (  # not what export() takes: the point of the test
            merge_tagged(enabled, disabled) if shorthand else merge(enabled, disabled).tagged()
        )
        with pytest.raises(InvalidParameterError, match="items") as caught:
            await export(tagged, tmp_path / "cards.jsonl")
        assert caught.value.parameter == "items"
        assert "Tagged" in str(caught.value)
        assert "merge(" in str(caught.value)  # what to pass instead
    assert names(tmp_path) == []
    assert server.requests == []


# --- targets, formats and kinds ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", "jsonl"),
        ("a.NDJSON", "jsonl"),
        ("a.json", "json"),
        ("a.csv", "csv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.jsonl.gz", "jsonl.gz"),
        ("a.ndjson.gz", "jsonl.gz"),
        ("a.json.gz", "json.gz"),
        ("a.CSV.GZ", "csv.gz"),
    ],
)
async def test_format_follows_the_suffix(tmp_path: Path, name: str, fmt: str) -> None:
    """Without ``format``, the path's suffix picks it (``.json`` is one JSON array, not lines)."""
    result = await export(replay([SimCard(id="x")]), str(tmp_path / name))
    assert result.format == fmt


@pytest.mark.parametrize("name", ["a.txt", "a", "a.xlsx", "a.parquet.gz", "a.gz", "a.tar.gz"])
async def test_an_unknown_suffix_is_refused(tmp_path: Path, name: str) -> None:
    """A suffix that names no format raises InvalidParameterError naming target and the suffixes."""
    with pytest.raises(InvalidParameterError, match=r"target=.*\.jsonl, \.ndjson, \.json, \.csv"):
        await export(replay([SimCard(id="x")]), tmp_path / name)
    assert names(tmp_path) == []
    fmt: Any = "csv.gz" if name.endswith(".gz") else "csv"  # format= says what to write
    result = await export(replay([SimCard(id="x")]), tmp_path / name, format=fmt)
    assert result.format == fmt


async def test_a_suffix_alone_is_refused_saying_a_name_must_come_first(tmp_path: Path) -> None:
    """``.jsonl`` is a hidden file's whole name, with no suffix: said so, not "must end in
    .jsonl" (which it does, to the eye).
    """
    with pytest.raises(InvalidParameterError, match=r"a name before its suffix \('\.jsonl'"):
        await export(replay([SimCard(id="x")]), tmp_path / ".jsonl")
    assert names(tmp_path) == []


async def test_explicit_format_wins_over_the_suffix(tmp_path: Path) -> None:
    """``format`` overrides the suffix."""
    target = tmp_path / "cards.parquet"
    result = await export(replay([SimCard(id="x")]), target, format="csv")
    assert result.format == "csv"
    assert target.read_text(encoding="utf-8").startswith("id,record_type,status,")


async def test_invalid_format_is_refused_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """An unknown format raises InvalidParameterError, sends nothing and creates nothing;
    its ``choices`` are the formats.
    """
    with pytest.raises(InvalidParameterError, match="format") as info:
        await export(client.sim_cards(), tmp_path / "cards.csv", format="xml")  # type: ignore[arg-type]
    assert info.value.choices == get_args(ExportFormat)
    assert server.requests == []
    assert names(tmp_path) == []


async def test_items_must_be_an_async_iterable(tmp_path: Path) -> None:
    """A plain list is refused with InvalidParameterError naming ``items``."""
    with pytest.raises(InvalidParameterError, match="items"):
        await export([SimCard(id="x")], tmp_path / "a.jsonl")  # type: ignore[arg-type]


async def test_a_coroutine_given_as_items_is_refused_and_closed(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """``export(stream.collect(), ...)`` was refused, and the coroutine left for the garbage
    collector: a "never awaited" ``RuntimeWarning`` on top of the refusal. It is closed,
    and the refusal says to pass the stream itself. Nothing is sent.
    """
    coroutine = client.sim_cards().collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "never awaited" warning would fail the test
        with pytest.raises(InvalidParameterError, match=r"pass the stream itself") as info:
            await export(coroutine, tmp_path / "a.jsonl")  # type: ignore[arg-type]
        assert info.value.parameter == "items"
        assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED  # never warned of
        del coroutine, info
        gc.collect()
    assert server.requests == []
    # One a task runs already is the task's: refused, and left to it.
    released = asyncio.Event()
    waiting = released.wait()
    task = asyncio.ensure_future(waiting)
    await asyncio.sleep(0)  # a loop turn: the task starts, and waits
    with pytest.raises(InvalidParameterError, match=r"pass the stream itself"):
        await export(waiting, tmp_path / "b.jsonl")  # type: ignore[arg-type]
    released.set()
    assert await task is True


async def test_mixed_kinds_fail_and_leave_no_file(tmp_path: Path) -> None:
    """An action among cards raises TypeError and leaves neither target nor temporary file."""
    items = [SimCard(id="a"), SimCardAction(id="b")]
    with pytest.raises(TypeError, match="SimCardAction among SimCard"):
        await export(replay(items), tmp_path / "a.csv")
    assert names(tmp_path) == []


async def test_text_file_target_is_refused() -> None:
    """A file opened in text mode is refused: the writers write bytes."""
    with pytest.raises(InvalidParameterError, match="binary"):
        await export(replay([SimCard(id="x")]), io.StringIO())  # type: ignore[arg-type]


async def test_a_file_not_open_for_writing_is_refused_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """A binary file opened for reading only (``"rb"``), or closed, is refused up front: it
    failed at the first write, with requests sent and an ``io.UnsupportedOperation``.
    """
    (tmp_path / "old.jsonl").write_bytes(b"")
    with (
        (tmp_path / "old.jsonl").open("rb") as reading,
        pytest.raises(InvalidParameterError, match="opened for writing"),
    ):
        await export(client.sim_cards(), reading)
    closed = io.BytesIO()
    closed.close()
    with pytest.raises(InvalidParameterError, match="opened for writing"):
        await export(client.sim_cards(), closed)
    assert server.requests == []


async def test_a_closed_file_is_refused_as_closed_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """A file object closed already was refused as "a file opened for writing in binary
    mode", which it was, or (one with ``closed`` and no ``writable()``) taken and written
    to: the refusal says it is closed, naming ``target``, before anything is sent.
    """
    with (tmp_path / "out.jsonl").open("wb") as closed_file:
        pass
    closed_bytes = io.BytesIO()
    closed_bytes.close()

    class ClosedSink(Sink):
        closed = True

    for target in (closed_file, closed_bytes, ClosedSink()):
        for fmt in ("jsonl", "csv", "parquet"):
            with pytest.raises(InvalidParameterError, match="this one is closed") as caught:
                await export(client.sim_cards(), target, format=fmt)
            assert caught.value.parameter == "target"
    assert server.requests == []


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "jsonl.gz"])
async def test_a_file_closed_while_the_export_writes_to_it_is_an_export_error(
    tmp_path: Path, client: SimCardsClient, fmt: ExportFormat
) -> None:
    """A file object its caller closed while the export ran (here once the first page was
    read) failed with a bare ``ValueError`` ("write to closed file"): it is an
    ``ExportError`` saying the target was closed, the ``ValueError`` chained.
    """
    with (tmp_path / "out").open("wb") as out:
        stream = client.sim_cards(page_size=50)
        stream.on_progress(lambda _progress: out.close())
        with pytest.raises(ExportError, match="it was closed while the export") as caught:
            await export(stream, out, format=fmt)
    assert caught.value.format == fmt
    assert caught.value.record is None
    assert isinstance(caught.value.__cause__, ValueError)
    assert not isinstance(caught.value.__cause__, ExportError)
    assert names(tmp_path) == ["out"]


async def test_nothing_reaches_a_file_closed_under_a_parquet_export_after_it_failed(
    client: SimCardsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrow's writer, whose write and close failed on the closed file, held what it had
    and wrote it again as it was collected, at any later moment: into the caller's file,
    or raising there (a ``ValueError`` Arrow formatted from inside the garbage collector).
    Nothing reaches the file once ``export()`` has raised.
    """

    class ClosedLater(Sink):
        closed = False
        failed = False
        later: ClassVar[list[int]] = []

        def write(self, data: bytes | bytearray | memoryview) -> int:
            if self.failed:
                self.later.append(len(data))
            if self.closed:
                raise ValueError("I/O operation on closed file")
            return super().write(data)

    arrow_writers: list[weakref.ref[object]] = []
    made = _ParquetWriter.__init__

    def making(writer: _ParquetWriter, *args: Any, **kwargs: Any) -> None:
        made(writer, *args, **kwargs)
        arrow_writers.append(weakref.ref(writer.writer))

    monkeypatch.setattr(_ParquetWriter, "__init__", making)
    out = ClosedLater()
    stream = client.sim_cards(page_size=50)
    stream.on_progress(lambda _progress: setattr(out, "closed", True))
    with pytest.raises(ExportError, match="it was closed while the export") as caught:
        try:
            await export(stream, out, format="parquet")
        finally:
            out.failed = True  # Arrow's writer still held by the exception's frames
    del caught, stream

    def collected() -> bool:
        gc.collect()
        return all(ref() is None for ref in arrow_writers)

    await eventually(collected, what="Arrow's writer collected")
    assert len(arrow_writers) == 1
    assert out.later == []


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
async def test_a_file_closed_before_the_first_item_is_an_export_error(fmt: ExportFormat) -> None:
    """Closed before the first item came (Parquet writes its first bytes as it opens, in
    the event loop's thread): an ``ExportError`` too, not the writer's bare ``ValueError``.
    """
    out = io.BytesIO()

    async def records() -> AsyncIterator[SimCard]:
        out.close()
        yield SimCard(id="a")

    with pytest.raises(ExportError, match="it was closed while the export") as caught:
        await export(records(), out, format=fmt)
    assert isinstance(caught.value.__cause__, ValueError)


async def test_an_async_file_is_refused_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """An async file (``anyio.open_file``, aiofiles) passed the checks, its ``write``'s
    coroutines dropped: the export said every record was written to a file left empty. A
    writer without ``flush`` failed with a bare ``AttributeError`` after requests were sent.
    """

    class NoFlush:
        def write(self, data: bytes) -> int:
            return len(data)

    async with await anyio.open_file(tmp_path / "out.jsonl", "wb") as async_file:
        for target in (async_file, NoFlush()):
            with pytest.raises(InvalidParameterError, match="plain write") as caught:
                await export(client.sim_cards(), target)  # type: ignore[arg-type]
            assert caught.value.parameter == "target"
    assert server.requests == []


async def test_a_path_of_bytes_is_refused_by_name_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """An ``os.PathLike`` whose path is bytes (``os.scandir(b".")``'s entries) passed the
    checks, then failed with a bare ``TypeError``: refused naming its parameter.
    """
    (tmp_path / "named.json").write_bytes(b"")
    with os.scandir(os.fsencode(tmp_path)) as entries:
        entry = next(e for e in entries if e.name == b"named.json")
    for parameter in ("checkpoint", "resume_from"):
        given: dict[str, Any] = {parameter: entry}
        with pytest.raises(InvalidParameterError, match="a file path as text") as caught:
            client.sim_cards(**given)
        assert caught.value.parameter == parameter
    with pytest.raises(InvalidParameterError, match="a file path as text") as caught:
        await export(client.sim_cards(), entry)  # type: ignore[arg-type]
    assert caught.value.parameter == "target"
    assert server.requests == []


class _NoPath:
    """An ``os.PathLike`` whose ``__fspath__`` gives neither text nor bytes."""

    def __fspath__(self) -> Any:  # the wrong type on purpose
        return 5


async def test_a_path_like_giving_no_path_is_refused_by_name_before_any_request(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """An ``os.PathLike`` whose ``__fspath__`` returns an int failed with the bare
    ``TypeError`` of ``os.fspath``, no parameter named: refused naming it, nothing sent.
    """
    for parameter in ("checkpoint", "resume_from"):
        given: dict[str, Any] = {parameter: _NoPath()}
        with pytest.raises(InvalidParameterError, match="a file path as text") as caught:
            client.sim_cards(**given)
        assert caught.value.parameter == parameter
    with pytest.raises(InvalidParameterError, match="a file path as text") as caught:
        await export(client.sim_cards(), _NoPath())
    assert caught.value.parameter == "target"
    assert server.requests == []


async def test_a_rename_that_fails_names_the_target_not_the_partial_output(
    tmp_path: Path,
) -> None:
    """The target made a directory while the export ran: the rename's ``OSError`` named the
    hidden partial output (``cannot use .../.cards.jsonl.1a2b3c4d.partial: it is a
    directory``), a file the user never typed. It names the target as given.
    """
    target = tmp_path / "cards.jsonl"

    async def records() -> AsyncIterator[SimCard]:
        yield SimCard(id="a")
        target.mkdir()  # before the export's end, and its rename

    with pytest.raises(IsADirectoryError) as caught:
        await export(records(), target)
    assert caught.value.filename == str(target)
    assert caught.value.filename2 is None
    assert names(tmp_path) == ["cards.jsonl"], "the partial output is removed"


async def test_raw_records_a_caller_made_are_checked_and_written_one_a_line(
    tmp_path: Path,
) -> None:
    """``RawRecord``s (and ``msgspec.Raw``) a caller built were copied as they were: a
    pretty-printed one took several lines, lines read from a file kept their line break (a
    blank line between records), and bytes that are no JSON made a line no reader takes.
    CSV and Parquet raised msgspec's bare errors. Each is on one line now, or refused.
    """
    pretty = RawRecord("a", msgspec.Raw(b'{\n  "id": "a",\n  "future": [1,\n 2]\n}'))
    read_back = msgspec.Raw(b'{"id": "b", "record_type": "sim_card"}\n')
    result = await export(replay([pretty, read_back]), tmp_path / "cards.jsonl")
    assert result.items == 2
    lines = (tmp_path / "cards.jsonl").read_bytes().splitlines()
    assert [msgspec.json.decode(line) for line in lines] == [
        {"id": "a", "future": [1, 2]},
        {"id": "b", "record_type": "sim_card"},
    ]
    garbage = RawRecord("c", msgspec.Raw(b"not json at all"))
    wrong = RawRecord("d", msgspec.Raw(b'{"id": "d", "iccid": 5}'))
    refused = [("x.jsonl", garbage), ("x.json", garbage), ("x.csv", garbage), ("x.csv", wrong)]
    deep = RawRecord("e", msgspec.Raw(b'{"id": "e", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"))
    try:  # msgspec on Python 3.13 reads it; on earlier versions it runs out of recursion
        msgspec.json.decode(deep.raw)
    except RecursionError:
        refused += [("x.jsonl", deep), ("x.csv", deep)]
    else:
        await export(replay([deep]), tmp_path / "deep.jsonl")
        assert (tmp_path / "deep.jsonl").read_bytes() == bytes(deep.raw) + b"\n"
        (tmp_path / "deep.jsonl").unlink()
    for name, item in refused:
        with pytest.raises(InvalidParameterError, match="one JSON object") as caught:
            await export(replay([item]), tmp_path / name)
        assert caught.value.parameter == "items"
    assert names(tmp_path) == ["cards.jsonl"], "nothing left of the refused exports"


async def test_binary_file_target_is_written_and_left_open() -> None:
    """An open binary file gets the lines, is flushed, not closed, and has no path."""
    out = io.BytesIO()
    result = await export(replay([SimCard(id="a"), SimCard(id="b")]), out)
    assert result.path is None
    assert not out.closed
    lines = out.getvalue().splitlines()
    assert [msgspec.json.decode(line, type=SimCard).id for line in lines] == ["a", "b"]


async def test_empty_stream_writes_a_header_or_a_schema(
    tmp_path: Path, client: SimCardsClient
) -> None:
    """A listing with no match still gives a valid file: CSV header, Parquet schema, no lines."""
    await export(client.sim_card_actions(sim_card_id=UNKNOWN_ID), tmp_path / "a.csv")
    header = (tmp_path / "a.csv").read_text(encoding="utf-8").splitlines()
    assert header == [",".join(SIM_CARD_ACTION_COLUMNS)]
    await export(client.sim_card_actions(sim_card_id=UNKNOWN_ID), tmp_path / "a.parquet")
    table = pq.read_table(tmp_path / "a.parquet")
    assert (table.num_rows, tuple(table.column_names)) == (0, SIM_CARD_ACTION_COLUMNS)
    result = await export(replay([]), tmp_path / "a.jsonl")
    assert (result.items, (tmp_path / "a.jsonl").read_bytes()) == (0, b"")


async def test_a_kind_the_stream_does_not_yield_is_refused_before_any_request(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """A stream says what it yields: ``kind=SimCardAction`` for a listing of cards is refused
    up front, naming ``kind`` and what the stream yields (a TypeError after the first page).
    """
    with pytest.raises(InvalidParameterError, match=r"SimCard \(what this stream yields\)"):
        await export(client.sim_cards(), tmp_path / "a.csv", kind=SimCardAction)
    assert server.requests == []
    result = await export(client.sim_cards(limit=3), tmp_path / "a.csv", kind=SimCard)
    assert result.items == 3


async def test_kind_sets_the_columns_of_an_empty_iterable(tmp_path: Path) -> None:
    """``kind`` picks the columns when nothing says what the items would have been."""
    await export(replay([]), tmp_path / "a.csv", kind=SimCardAction)
    await export(replay([]), tmp_path / "c.csv")
    assert (tmp_path / "a.csv").read_text().splitlines()[0] == ",".join(SIM_CARD_ACTION_COLUMNS)
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == ",".join(SIM_CARD_COLUMNS)
    with pytest.raises(InvalidParameterError, match="kind"):
        await export(replay([]), tmp_path / "x.csv", kind=dict)  # type: ignore[arg-type]


# --- streaming and atomicity --------------------------------------------------------


async def test_bytes_are_written_while_items_still_come(tmp_path: Path) -> None:
    """Batches reach the temporary file during the export: the listing is never held whole."""
    card = SimCard(id="x", iccid="8" * 19, tags=("customers", "staff"))
    sizes: list[int] = []

    async def many() -> AsyncIterator[SimCard]:
        for i in range(20_000):
            if i == 15_000:
                sizes.extend(partial_sizes(tmp_path))
            yield msgspec.structs.replace(card, id=str(i))

    result = await export(many(), tmp_path / "cards.jsonl")
    assert result.items == 20_000
    assert len(sizes) == 1
    assert sizes[0] >= 1 << 20  # at least one batch written before the end
    assert (tmp_path / "cards.jsonl").stat().st_size > sizes[0]
    assert leftovers(tmp_path) == []


async def test_failure_midway_keeps_the_old_target(tmp_path: Path) -> None:
    """A listing that fails after some pages leaves the target as it was and no temp file."""
    faults = FaultPlan(script=[None, None, None, *[400] * 50])
    async with (
        MockTelnyxServer(sim_cards=2000, seed=2, faults=faults) as server,
        SimCardsClient(KEY, server.url, max_concurrency=2) as client,
    ):
        for name in ("cards.jsonl", "cards.csv", "cards.parquet"):
            target = tmp_path / name
            target.write_bytes(b"old")
            server.requests.clear()
            with pytest.raises(BadRequestError):
                await export(client.sim_cards(page_size=50), target)
            assert target.read_bytes() == b"old"
            assert leftovers(tmp_path) == []


async def test_cancelled_export_leaves_no_file(tmp_path: Path) -> None:
    """Cancelling an export midway removes its temporary file and creates no target."""
    seen: list[str] = []
    async with (
        MockTelnyxServer(sim_cards=2000, seed=2, latency=0.01) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        stream = client.sim_cards(page_size=20)
        with anyio.CancelScope() as scope:

            def on_progress(progress: Progress) -> None:
                if progress.items >= 100:
                    seen.extend(leftovers(tmp_path))
                    scope.cancel()

            stream.on_progress(on_progress)
            await export(stream, tmp_path / "cards.parquet")
        assert scope.cancelled_caught
    assert len(seen) == 1  # the temporary file existed while the export ran
    assert names(tmp_path) == []


async def test_a_native_cancel_during_the_final_rename_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``task.cancel()`` while the export's commit (fsync, rename) runs in its thread:
    asyncio does not wait for the thread, and the clean-up raced it (closing the file it
    was syncing, removing what it was renaming). The cancel now waits for the commit: the
    target is replaced whole, nothing is left beside it, and the export still raises it.
    """
    entered, go = threading.Event(), threading.Event()
    fsync = os.fsync

    def held_fsync(fd: int) -> None:  # inside the commit
        entered.set()
        go.wait(HANG_GUARD)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", held_fsync)
    cards = [SimCard(id=f"card-{n}") for n in range(10)]

    async def items() -> AsyncIterator[SimCard]:
        for card in cards:
            yield card

    target = tmp_path / "cards.jsonl"
    task = asyncio.create_task(export(items(), target))
    try:
        await eventually(entered.is_set, what="the commit in its thread")
        task.cancel()
        await loop_turns()
        assert not task.done()  # the commit still holds the file: nothing may close it yet
    finally:
        go.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [json.loads(line)["id"] for line in target.read_bytes().splitlines()] == [
        card.id for card in cards
    ]
    assert names(tmp_path) == ["cards.jsonl"]


async def test_a_commit_that_had_not_begun_when_discarded_never_replaces_the_target(
    tmp_path: Path,
) -> None:
    """The other order: the clean-up first, the commit after. It never runs."""
    target = tmp_path / "cards.jsonl"
    target.write_bytes(b"old\n")
    out = Output(target, fmt="jsonl")
    out.put(b"new\n")
    out.then(out.discard)
    with pytest.raises(StepsStoppedError):
        await out.commit()
    assert target.read_bytes() == b"old\n"
    assert names(tmp_path) == ["cards.jsonl"]
    assert not out.committed


class _HeldParquet:
    """The Parquet writer's row-group step held in its thread; what happens, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[str] = []
        self.entered, self.go = threading.Event(), threading.Event()
        write, abort = _ParquetWriter._write, _ParquetWriter.abort

        def held_write(writer: _ParquetWriter, columns: list[list[object]]) -> None:
            self.events.append("write starts")
            self.entered.set()
            self.go.wait(HANG_GUARD)
            write(writer, columns)
            self.events.append("write ends")

        def recorded_abort(writer: _ParquetWriter) -> None:
            self.events.append("writer closed")
            abort(writer)

        monkeypatch.setattr(_ParquetWriter, "_write", held_write)
        monkeypatch.setattr(_ParquetWriter, "abort", recorded_abort)


async def test_a_cancelled_parquet_export_closes_its_writer_after_the_row_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``asyncio.timeout`` or ``task.cancel()`` while a row group was being written: the
    export closed pyarrow's writer (and its file) under it, and the process crashed (a
    segmentation fault, or "pure virtual method called"). The cancel now waits for the row
    group, then the writer is closed and the partial file removed.
    """
    held = _HeldParquet(monkeypatch)
    cards = [SimCard(id=f"card-{n}") for n in range(10)]
    task = asyncio.create_task(export(replay(cards), tmp_path / "cards.parquet"))
    try:
        await eventually(held.entered.is_set, what="a row group in its thread")
        task.cancel()
        await loop_turns()
        assert not task.done()
        assert held.events == ["write starts"]
    finally:
        held.go.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert held.events == ["write starts", "write ends", "writer closed"]
    assert names(tmp_path) == []


async def test_a_cancelled_parquet_export_to_an_in_memory_file_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ``BytesIO`` (a regular file's descriptor alike) is no pipe: the cancel waits for the
    row group, and nothing reaches the caller's file once ``export`` has raised.
    """
    held = _HeldParquet(monkeypatch)
    cards = [SimCard(id=f"card-{n}") for n in range(10)]
    out = io.BytesIO()
    task = asyncio.create_task(export(replay(cards), out, format="parquet"))
    try:
        await eventually(held.entered.is_set, what="a row group in its thread")
        task.cancel()
        await loop_turns()
        assert not task.done()
    finally:
        held.go.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert held.events == ["write starts", "write ends", "writer closed"]
    written = out.getvalue()
    await loop_turns()
    assert out.getvalue() == written


async def test_a_cancelled_parquet_export_to_a_file_object_does_not_wait_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """To a file object that may be a pipe (nobody reading it may hold a write for ever)
    the cancel goes on at once; the writer is closed as the row group's step ends, in its
    thread.
    """
    held = _HeldParquet(monkeypatch)
    cards = [SimCard(id=f"card-{n}") for n in range(10)]
    task = asyncio.create_task(export(replay(cards), Sink(), format="parquet"))
    try:
        await eventually(held.entered.is_set, what="a row group in its thread")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert held.events == ["write starts"]
    finally:
        held.go.set()
    await eventually(lambda: len(held.events) == 3, what="the writer closed after the step")
    assert held.events == ["write starts", "write ends", "writer closed"]


async def test_a_cancelled_export_does_not_wait_for_a_stalled_file_object() -> None:
    """An export to a pipe nobody reads, its write blocked, under ``anyio.move_on_after``:
    the deadline went by until the reader went away, then a bare ``BrokenPipeError`` took
    the cancellation's place. The cancellation is raised at once; the write ends on its own.
    """
    entered, go = threading.Event(), threading.Event()
    exited: list[bool] = []

    class Stalled:
        def write(self, data: bytes | bytearray | memoryview) -> int:  # noqa: ARG002
            entered.set()
            go.wait(HANG_GUARD)
            raise BrokenPipeError(32, "Broken pipe")  # the reader went away at last

        def flush(self) -> None:
            pass

    async def release() -> None:  # the reader goes away once the scope had a chance to exit
        await eventually(lambda: scope.cancel_called, what="the scope cancelled")
        await loop_turns()
        exited.append(scope.cancel_called and not inside)
        go.set()

    releaser = asyncio.create_task(release())
    inside = True
    try:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_when_stalled() -> None:
                    await eventually(entered.is_set, what="a write in its thread")
                    scope.cancel()

                tg.start_soon(cancel_when_stalled)
                await export(replay([SimCard(id="a")]), Stalled(), format="jsonl")
        inside = False
        assert scope.cancelled_caught
    finally:
        go.set()
        await releaser
    assert exited == [True]


async def test_an_export_cancelled_again_while_it_closes_its_stream_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled, the export closes its stream before removing its partial output; a second
    ``task.cancel()`` in that close skipped the removal, and the hidden file stayed.
    """
    closing = asyncio.Event()
    close = _export._close
    calls = 0

    async def slow_close(stream: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            closing.set()
            await asyncio.Future()  # until cancelled (asyncio's own cancel: not shielded)
        await close(stream)

    monkeypatch.setattr(_export, "_close", slow_close)
    async with (
        MockTelnyxServer(sim_cards=2000, seed=2) as server,
        SimCardsClient(KEY, server.url) as client,
    ):
        stream = client.sim_cards(page_size=20)
        started = asyncio.Event()
        stream.on_progress(lambda _progress: started.set())
        task = asyncio.create_task(export(stream, tmp_path / "cards.jsonl"))
        await started.wait()
        task.cancel()
        await closing.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert names(tmp_path) == []


async def test_a_symbolic_link_is_written_through_not_replaced(tmp_path: Path) -> None:
    """Through a link: the file it points to is replaced (atomically), the link stays."""
    real, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    real.write_bytes(b"old\n")
    link.symlink_to(real.name)
    result = await export(replay([SimCard(id="new")]), link)
    assert link.is_symlink()
    assert msgspec.json.decode(real.read_bytes(), type=SimCard).id == "new"
    assert result.path == link
    assert leftovers(tmp_path) == []


async def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    """A 0o600 file stays 0o600 (its ICCIDs must not become world-readable); a new one
    gets the umask's mode, as any new file.
    """
    target = tmp_path / "cards.jsonl"
    target.write_bytes(b"old\n")
    target.chmod(0o600)
    await export(replay([SimCard(id="new")]), target)
    assert target.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "fresh.jsonl"
    await export(replay([SimCard(id="new")]), fresh)
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("through_a_link", [False, True], ids=["fifo", "link-to-fifo"])
async def test_a_path_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient, *, through_a_link: bool
) -> None:
    """A FIFO (or a device) would be replaced by a regular file: refused, nothing sent. One
    reached through a link is refused by the path the caller gave, saying where it leads.
    """
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    given = tmp_path / "cards.jsonl" if through_a_link else fifo
    if through_a_link:
        given.symlink_to(fifo)
    with pytest.raises(InvalidParameterError, match="regular file") as caught:
        await export(client.sim_cards(), given)
    assert caught.value.parameter == "target"
    assert caught.value.value == str(given)
    leads = f" (it leads to {str(fifo)!r})" if through_a_link else ";"
    assert f"not a FIFO{leads}" in str(caught.value)
    assert server.requests == []
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert names(tmp_path) == sorted({"pipe.jsonl", given.name})


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("form", ["/dev/fd/{fd}", "/proc/self/fd/{fd}", "link"])
@pytest.mark.parametrize("fmt", ["jsonl", None])
async def test_a_path_naming_an_open_descriptor_is_refused(
    tmp_path: Path,
    server: MockTelnyxServer,
    client: SimCardsClient,
    form: str,
    fmt: ExportFormat | None,
) -> None:
    """``/dev/fd/N`` (``/dev/stdout``) leads to the file the descriptor has open, a shell's
    ``>> log``: it was replaced by the export's file, what was written there before lost.
    Refused naming ``target``, with ``format`` or without, nothing sent, the file as it was.
    """
    log = tmp_path / "log.txt"
    log.write_bytes(b"before\n")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        if form == "link":  # a link of the caller's own to /dev/fd/N
            given = tmp_path / "cards.jsonl"
            given.symlink_to(f"/dev/fd/{fd}")
        else:
            given = Path(form.format(fd=fd))
        with pytest.raises(InvalidParameterError, match="open descriptor") as caught:
            await export(client.sim_cards(), given, format=fmt)
    finally:
        os.close(fd)
    assert caught.value.parameter == "target"
    assert caught.value.value == str(given)
    assert "sys.stdout.buffer" in str(caught.value)
    assert server.requests == []
    assert log.read_bytes() == b"before\n"
    assert leftovers(tmp_path) == []


async def test_an_empty_path_is_refused_as_such() -> None:
    """``""`` is refused naming the target, not as the directory ``.`` it would resolve to."""
    with pytest.raises(InvalidParameterError, match="not an empty one"):
        await export(replay([SimCard(id="x")]), "", format="jsonl")


async def test_a_path_ending_in_a_separator_is_refused_not_written_as_a_file(
    tmp_path: Path,
) -> None:
    """``out.jsonl/`` names a directory: ``Path`` drops the ``/``, and the export wrote a
    file ``out.jsonl``. Refused naming the target, nothing created; so is a path ending in
    ``.`` (a directory whatever it holds), not left to the ``IsADirectoryError`` of one.
    """
    for given in (f"{tmp_path}/out.jsonl/", f"{tmp_path}/out.jsonl/.", f"{tmp_path}/."):
        with pytest.raises(InvalidParameterError, match="a name at its end") as caught:
            await export(replay([SimCard(id="x")]), given, format="jsonl")
        assert caught.value.parameter == "target"
    assert names(tmp_path) == []


async def test_the_checkpoint_file_as_the_output_is_refused(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient
) -> None:
    """The output renamed onto the checkpoint's path, then the checkpoint deleted at the end,
    left nothing: refused before anything is sent, through a link too.
    """
    checkpoint = tmp_path / "x.jsonl"
    (tmp_path / "link.jsonl").symlink_to(checkpoint.name)
    for target in (checkpoint, tmp_path / "link.jsonl"):
        stream = client.sim_cards(limit=5, checkpoint=checkpoint, keep_checkpoint=False)
        with pytest.raises(InvalidParameterError, match="checkpoint file") as caught:
            await export(stream, target)
        assert caught.value.parameter == "target"
    assert server.requests == []
    assert names(tmp_path) == ["link.jsonl"]


@pytest.mark.parametrize("keep", [True, False])
async def test_the_checkpoints_ids_file_as_the_output_is_refused(
    tmp_path: Path, server: MockTelnyxServer, client: SimCardsClient, keep: bool
) -> None:
    """The output at the checkpoint's ``.ids`` path: the saves appended ids to it, and a
    complete listing deleted it (the export reported success and left nothing). Refused
    before anything is sent, naming the target.
    """
    checkpoint = tmp_path / "scan.json"
    stream = client.sim_cards(limit=5, checkpoint=checkpoint, keep_checkpoint=keep)
    with pytest.raises(InvalidParameterError, match=r"ids file beside it") as caught:
        await export(stream, tmp_path / "scan.json.ids", format="jsonl")
    assert caught.value.parameter == "target"
    assert server.requests == []
    assert names(tmp_path) == []


async def test_success_replaces_an_existing_target(tmp_path: Path) -> None:
    """A finished export replaces the target in one step and leaves no temporary file."""
    target = tmp_path / "cards.jsonl"
    target.write_bytes(b"old\n")
    await export(replay([SimCard(id="new")]), target)
    assert msgspec.json.decode(target.read_bytes(), type=SimCard).id == "new"
    assert leftovers(tmp_path) == []
