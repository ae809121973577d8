"""Streaming writers, JSON lines, CSV and Parquet, fed by any async stream of cards or actions.

::

    async with SimCardsClient() as client:
        result = await export(client.sim_cards(status="enabled"), "cards.parquet")

Memory stays bounded whatever the listing's size: items are encoded as they
arrive and written in batches (about 1 MiB of JSON lines or CSV, or one Parquet
row group of ``PARQUET_ROW_GROUP_SIZE`` rows, fewer once they take about
``_PARQUET_HELD_BYTES``), each batch from a worker thread so that the event loop
keeps fetching pages meanwhile.

A path is written atomically (``_output``): the bytes go to a temporary file beside it,
``.NAME.TOKEN.partial`` (NAME cut short where the whole would be too long a
name), which replaces the target only once everything is written and synced.
On any failure or cancellation the temporary file is removed and the target is
left as it was. An open binary file (``sys.stdout.buffer``)
is written as the items come and flushed, not closed.

Formats, chosen by ``format=`` or else by the path's suffix (never guessed:
any other suffix is refused):

- ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line, each record as
  the API sent it: a listing from the client, or a merge of them, hands its pages over
  as raw records (``RawRecord``, see ``Stream.raw_chunks``), written verbatim, fields no model
  knows included. Structs (any other iterable) are encoded, and each line
  decodes back to an equal Struct;
- ``json`` (``.json``): one JSON array, ``[`` and ``]`` around the same
  objects, one per line, streamed like JSON lines (``json.load`` reads it);
- ``csv`` (``.csv``) and ``parquet`` (``.parquet``, ``.pq``);
- ``jsonl.gz``, ``json.gz``, ``csv.gz`` (``.jsonl.gz``, ...): the same, gzip
  compressed as it is written (a file of concatenated gzip members, which
  ``gzip``, ``zcat`` and ``gzip.open`` read as one).

CSV and Parquet share one flat column set per type, ``SIM_CARD_COLUMNS`` and
``SIM_CARD_ACTION_COLUMNS`` (``_tabular`` turns records into their values), with a column
for every field the API spec lists:

- nested objects are flattened with ``_``: ``status`` and ``status_reason``,
  ``data_limit_amount`` and ``data_limit_unit``, ``sim_card_group_name``, ...;
  ``sim_card_group_*`` is empty unless the listing asked for
  ``include_sim_card_group`` (the group's id is ``sim_card_group_id``);
- ``tags`` and ``authorized_imeis`` are lists: a JSON array in CSV
  (``["floor;3","vip"]``, ``[]`` for an empty list, an empty cell when the API
  sent none), ``list<string>`` in Parquet;
- ``resources_with_in_progress_actions`` and an action's ``settings`` are JSON text;
- amounts are exact: plain decimal text in CSV (an exponent only past 100 digits),
  ``decimal128(38, 9)`` in Parquet (an amount with more than 9 decimal places,
  ``NaN`` or ``Infinity`` is refused with ``ExportError``, never rounded);
- timestamps are in the API's own form in CSV, UTC with a ``Z``
  (``2018-02-02T22:25:27.521Z``: milliseconds when the value has no finer
  part, microseconds when it does, none when it is a whole second), and
  ``timestamp[us, tz=UTC]`` in Parquet; booleans are ``true``/``false`` in CSV
  and ``bool`` in Parquet;
- a missing value is an empty CSV cell and a Parquet null;
- ``pin_puk_codes`` (secrets, sent only by a single-card GET that asks for
  them) are never written to CSV or Parquet.

CSV is UTF-8 with a header row, quoted as the ``csv`` module quotes: RFC 4180 quoting
and CRLF line ends.
"""

from __future__ import annotations

import abc
import contextlib
import csv
import decimal
import functools
import gzip
import inspect
import io
import os
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Annotated, Any, Literal, get_args

import anyio
import msgspec

from ._checkpoint import saved_extra
from ._errors import (
    ExportError,
    InvalidParameterError,
    TelnyxError,
    named_after,
    shown,
)
from ._merge import Tagged
from ._models import (
    Page,
    RawRecord,
    SimCard,
    SimCardAction,
)
from ._output import (
    TAIL_BYTES,
    BinaryWriter,
    Output,
    Partial,
    absolute,
    check_output_path,
    is_closed,
    is_partial_name,
    remove_unused,
)
from ._paths import (
    check_file_path,
    final_path,
    plain_path,
)
from ._stream import Stream
from ._tabular import (
    DISTINCT_COLUMNS,
    KINDS,
    RAW_BYTES,
    RAW_TYPES,
    CsvColumns,
    Item,
    Kind,
    Record,
    as_structs,
    built_rows,
    cell_text,
    columns_of,
    csv_quote,
    encoded_amounts,
    given_record,
    raw_kind,
    record_error,
    refusal_of,
)
from ._wording import Advice, Said
from ._writes import flush, write_all

__all__ = [
    "ALLOWED_SUFFIXES",
    "NOT_RESUMABLE_WHY",
    "PARQUET_ROW_GROUP_SIZE",
    "RESUMABLE_FORMATS",
    "ExportFormat",
    "ExportResult",
    "export",
    "import_pyarrow",
    "resolve_format",
]

ExportFormat = Literal["jsonl", "json", "csv", "parquet", "jsonl.gz", "json.gz", "csv.gz"]

#: Rows per Parquet row group, which is also how many rows are held before a write.
PARQUET_ROW_GROUP_SIZE = 10_000
#: About how many bytes of records (as JSON) Parquet rows may hold before they are written
#: as a row group, however few: large records (a long status reason, say) made 10,000 rows
#: hundreds of MB, held and then copied by Arrow.
_PARQUET_HELD_BYTES = 64 << 20
#: One item in this many is measured for that (``_estimated_size``).
_SAMPLE_STRIDE = 32
#: Encoded JSON lines or CSV held before a write.
_FLUSH_BYTES = 1 << 20


#: Items of a plain async iterable gathered before they are encoded.
_CHUNK = 512
_DECIMAL_PRECISION, _DECIMAL_SCALE = 38, 9
#: An amount quantized to ``_DECIMAL_STEP`` in this context is exact, or raises.
_DECIMAL_STEP = Decimal(1).scaleb(-_DECIMAL_SCALE)
_DECIMAL_CONTEXT = decimal.Context(
    prec=_DECIMAL_PRECISION, traps=[decimal.Inexact, decimal.InvalidOperation]
)

#: The formats that write each record as the API sent it, when the stream can give it.
_VERBATIM: frozenset[ExportFormat] = frozenset({"jsonl", "json", "jsonl.gz", "json.gz"})
_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
#: The formats a checkpointed export can continue after a stop, and why the others cannot.
RESUMABLE_FORMATS: tuple[ExportFormat, ...] = tuple(f for f in _FORMATS if f != "parquet")
NOT_RESUMABLE_WHY = "a Parquet file cannot be appended to"
_SUFFIXES: dict[str, ExportFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


#: How a refusal of a suffix alone (``.jsonl``, a hidden file's whole name) starts.
NAME_BEFORE_SUFFIX = "a path with a name before its suffix"
#: What a path may end in when ``format`` is not given, as error messages say it.
ALLOWED_SUFFIXES = (
    f"{', '.join(list(_SUFFIXES)[:-1])} or {list(_SUFFIXES)[-1]} (with .gz after any but Parquet)"
)
_PARQUET_MISSING = (
    "Parquet export needs pyarrow, which is not installed: pip install 'simcards-async[parquet]'"
)

_JSON = msgspec.json.Encoder()
#: A column of timestamps or decimals as msgspec writes them (``_ParquetWriter._array``).
_TEXTS_OR_NONE = msgspec.json.Decoder(list[str | None])


# --- the result --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote: how many items, where (``None`` for a file object), how, how fast."""

    items: int
    path: Path | None
    format: ExportFormat
    seconds: float


# --- the three writers -------------------------------------------------------------


class _Writer(abc.ABC):
    """Encodes items into memory, and writes what it holds when asked.

    With ``gzip``, each write is one complete gzip member: a checkpoint can then
    cut the file after any write and a resumed export append the next member.
    """

    def __init__(self, out: Output, kind: Kind, *, gzip: bool = False) -> None:
        self.out = out
        self.kind = kind
        self.gzip = gzip
        self.emitted = False
        #: Whether the Structs it gets were decoded by msgspec (a stream's pages), so that
        #: each field holds its declared type: then columns are converted at once.
        self.decoded = False

    @abc.abstractmethod
    def add(self, items: Sequence[Record]) -> None:
        """Encode ``items`` (Structs, or records as the API sent them) into memory."""

    def add_raw(self, records: Sequence[RawRecord]) -> None:
        """``add`` for a page of ``RawRecord`` only (a stream's ``raw_chunks``)."""
        self.add(records)

    @abc.abstractmethod
    def full(self) -> bool:
        """Whether enough is held to be worth a write."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Write what is held (Parquet: whole row groups only)."""

    async def close(self) -> None:
        await self.flush()
        if self.gzip and not self.emitted and self.out.fresh:
            await self._emit(b"")  # an empty file is not gzip; an empty member is

    def abort(self) -> None:  # noqa: B027  (a hook: only the Parquet writer holds anything)
        """Let go of anything open, after a failure."""

    async def _emit(self, data: bytes | bytearray) -> None:
        self.emitted = True
        if self.gzip:
            await self.out.run(self._emit_gzip, bytes(data))
        else:
            await self.out.write(data)

    def _emit_gzip(self, data: bytes) -> None:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        self.out.put(compressor.compress(data) + compressor.flush())


class _JsonLinesWriter(_Writer):
    """One JSON object per line: a raw record verbatim, a Struct encoded."""

    def __init__(self, out: Output, kind: Kind, *, gzip: bool = False) -> None:
        super().__init__(out, kind, gzip=gzip)
        self.encoder = msgspec.json.Encoder()
        self.buffer = bytearray()

    def add(self, items: Sequence[Record]) -> None:
        # A raw record's bytes are copied as they are (checked: the caller made it).
        encode_into, buffer = self.encoder.encode_into, self.buffer
        for item in items:
            if isinstance(item, RAW_TYPES):
                buffer += given_record(item)
            else:
                try:
                    encode_into(item, buffer, -1)
                except (TypeError, ValueError) as exc:  # a Struct the caller built
                    raise refusal_of(self.kind, [item], "jsonl") from exc
            buffer += b"\n"

    def add_raw(self, records: Sequence[RawRecord]) -> None:
        # A page's records joined in one C call: each stays as it was sent.
        self.buffer += b"\n".join(map(RAW_BYTES, records))
        self.buffer += b"\n"

    def full(self) -> bool:
        return len(self.buffer) >= _FLUSH_BYTES

    async def flush(self) -> None:
        if self.buffer:
            await self._emit(self.buffer)
            self.buffer.clear()


class _JsonArrayWriter(_JsonLinesWriter):
    """One JSON array, an object per line, streamed: ``[`` comes with the first item."""

    def __init__(self, out: Output, kind: Kind, *, gzip: bool = False) -> None:
        super().__init__(out, kind, gzip=gzip)
        # A resumed file holds "[" and at least one item already.
        self.separator = b"[\n" if out.fresh else b",\n"

    def add(self, items: Sequence[Record]) -> None:
        encode_into, buffer = self.encoder.encode_into, self.buffer
        for item in items:
            buffer += self.separator
            self.separator = b",\n"
            if isinstance(item, RAW_TYPES):
                buffer += given_record(item)
            else:
                try:
                    encode_into(item, buffer, -1)
                except (TypeError, ValueError) as exc:  # a Struct the caller built
                    raise refusal_of(self.kind, [item], "json") from exc

    def add_raw(self, records: Sequence[RawRecord]) -> None:
        if records:
            self.buffer += self.separator
            self.buffer += b",\n".join(map(RAW_BYTES, records))
            self.separator = b",\n"

    async def close(self) -> None:
        self.buffer.extend(b"[]\n" if self.separator == b"[\n" else b"\n]\n")
        await super().close()


class _CsvWriter(_Writer):
    def __init__(self, out: Output, kind: Kind, *, gzip: bool = False) -> None:
        super().__init__(out, kind, gzip=gzip)
        # The text held, in pieces joined at a write: asking a StringIO its size (tell)
        # after every page copies all it holds each time.
        self.parts: list[str] = []
        self.size = 0
        self.text = io.StringIO()  # for the ``csv`` module: the header
        self.csv = csv.writer(self.text)
        if out.fresh:  # a resumed file has its header already
            self.csv.writerow(name for name, _ in kind.schema)
            self._take_text()
        self.columns = CsvColumns(kind)

    def add(self, items: Sequence[Record]) -> None:
        typed, decoded = as_structs(self.kind, items, from_api=self.decoded)
        if self.decoded or decoded:
            lines = self.columns.lines(typed)
            self.parts.append(lines)
            self.size += len(lines)
            return
        # Structs built by the caller may hold any type: a cell at a time, quoted as the
        # columns are (not by the csv module: Python 3.10's refuses a NUL character).
        lines = "".join(
            ",".join(csv_quote(v) if v.__class__ is str else cell_text(v) for v in row) + "\r\n"
            for row in built_rows(self.kind, typed, "csv")
        )
        self.parts.append(lines)
        self.size += len(lines)

    def _take_text(self) -> None:
        text = self.text.getvalue()
        self.text.seek(0)
        self.text.truncate()
        self.parts.append(text)
        self.size += len(text)

    def full(self) -> bool:
        return self.size >= _FLUSH_BYTES

    async def flush(self) -> None:
        data = "".join(self.parts).encode()
        self.parts.clear()
        self.size = 0
        if data:
            await self._emit(data)


class _Sink:
    """A caller's file object as Arrow writes to it: ``write`` and ``flush`` alone.

    Each write whole, as every other format's (``write_all``: a file that takes part of a
    write, a full non-blocking pipe; Arrow took a short count for all of it, and the output
    was cut short with the export said done). Arrow also reads ``closed``, which a plain
    object with write and flush lacks (its export failed after the first page, a bare
    ``ValueError``).

    Once the export has failed (``drop``), what Arrow still writes goes nowhere: a writer
    whose write or close failed (the file closed under it) wrote what it held again as it
    was collected, at any later moment, into the caller's file, or raised there.
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._dropped = False

    @property
    def closed(self) -> bool:
        # Dropped, it takes whatever Arrow writes: a closed one made Arrow raise instead.
        return not self._dropped and is_closed(self._file)

    def write(self, data: bytes) -> int:
        if not self._dropped:
            write_all(self._file, data)
        return len(data)

    def flush(self) -> None:
        if not self._dropped:
            flush(self._file)  # waiting, as every format's, on a full non-blocking descriptor

    def drop(self) -> None:
        """Let nothing more reach the caller's file (the export failed)."""
        self._dropped = True


class _ParquetWriter(_Writer):
    def __init__(self, out: Output, kind: Kind) -> None:
        super().__init__(out, kind)
        pa, pq = import_pyarrow()
        self.pa = pa
        types = {
            "string": pa.string(),
            "bool": pa.bool_(),
            "int": pa.int64(),
            "decimal": pa.decimal128(_DECIMAL_PRECISION, _DECIMAL_SCALE),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "list": pa.list_(pa.string()),
            "json": pa.string(),
        }
        self.schema = pa.schema([(name, types[type_]) for name, type_ in kind.schema])
        #: What Arrow refuses a value with (OverflowError: an int past int64, ``accuracy``).
        self.refusals = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError)
        #: Columns whose values msgspec writes as text Arrow parses (see ``_array``).
        self.parsed = [type_ in ("timestamp", "decimal") for _, type_ in kind.schema]
        # Named as Parquet names its leaves: a list's values are "<name>.list.element".
        dictionary = [
            f"{name}.list.element" if type_ == "list" else name
            for name, type_ in kind.schema
            if name not in DISTINCT_COLUMNS
        ]
        sink = out.file if out.path is not None else _Sink(out.file)
        self.sink = sink if isinstance(sink, _Sink) else None
        with named_after(out.path), out.open_checked():  # Arrow writes its first bytes here
            self.writer = pq.ParquetWriter(
                sink, self.schema, use_dictionary=dictionary, use_compliant_nested_type=True
            )
        #: The values held for the next row groups, a list per column, and how many rows.
        self.columns: list[list[object]] = [[] for _ in kind.schema]
        self.rows = 0
        #: About the bytes those rows took as JSON (``_PARQUET_HELD_BYTES``).
        self.held = 0

    def add(self, items: Sequence[Record]) -> None:
        # Held a column at a time: Arrow builds an array per column and row group. Decoded
        # items are unpacked by ``columns_of`` in C, page by page while they are in the cache
        # (0.93x to 0.98x the CPU of row tuples transposed per row group); items the caller
        # built may hold any type, and go row by row as CSV's do.
        typed, decoded = as_structs(self.kind, items, from_api=self.decoded)
        count = len(typed)
        if not count:
            return
        columns: Iterable[Sequence[object] | None]
        sized: Sequence[object] = typed  # what the bytes held are estimated from
        if self.decoded or decoded:
            columns = columns_of(self.kind, typed, "parquet")
        else:
            sized = built_rows(self.kind, typed, "parquet")  # checked: JSON holds them
            columns = zip(*sized, strict=True)
        nulls = [None] * count
        for held, column in zip(self.columns, columns, strict=True):
            held.extend(nulls if column is None else column)
        self.held += _estimated_size(sized, self.rows)
        self.rows += count

    def full(self) -> bool:
        return self.rows >= PARQUET_ROW_GROUP_SIZE or self.held >= _PARQUET_HELD_BYTES

    async def flush(self) -> None:
        # Whole row groups; the rest waits for more rows, or for close(), unless it takes
        # too much memory to wait: then it is a row group of its own, however few its rows.
        while self.rows >= PARQUET_ROW_GROUP_SIZE:
            await self._write_group()
        if self.rows and self.held >= _PARQUET_HELD_BYTES:
            await self._write_group()

    async def _write_group(self) -> None:
        size = min(self.rows, PARQUET_ROW_GROUP_SIZE)
        group = [held[:size] for held in self.columns]
        for held in self.columns:
            del held[:size]
        # The rows left keep their share of the bytes: an estimate, as rows differ.
        self.held = self.held * (self.rows - size) // self.rows
        self.rows -= size
        await self.out.run(self._write, group)

    def _write(self, columns: list[list[object]]) -> None:
        pa, schema = self.pa, self.schema
        arrays = []
        for values, field, parsed in zip(columns, schema, self.parsed, strict=True):
            try:
                arrays.append(self._array(values, field.type, parsed))
            except self.refusals as exc:
                raise self._refused(columns[0], values, field, exc) from exc
        with named_after(self.out.path):  # Arrow writes to the file itself
            self.writer.write_table(pa.Table.from_arrays(arrays, schema=schema))

    def _refused(
        self,
        ids: Sequence[object],
        values: Sequence[object],
        field: Any,  # noqa: ANN401  (a pyarrow Field)
        exc: Exception,
    ) -> ExportError:
        """Which record's value Arrow refused: pyarrow's message names only the problem."""
        at = next((n for n, value in enumerate(values) if not self._fits(value, field.type)), 0)
        record, value = ids[at], values[at]
        what = (
            f"its {field.name} {shown(value, 100)} does not fit {field.type} ({exc}); "
            "JSON lines and CSV write it as it is"
        )
        return record_error(record, "parquet", field.name, what)

    def _fits(self, value: object, type_: Any) -> bool:  # noqa: ANN401  (a pyarrow type)
        try:
            self._array([value], type_, parsed=False)  # the object route, amounts fitted
        except self.refusals:
            return False
        return True

    def _array(self, values: Sequence[object], type_: Any, parsed: bool) -> Any:  # noqa: ANN401
        """An Arrow array of ``type_`` holding ``values``.

        Timestamps and decimals msgspec decoded are written by msgspec as ISO 8601 and
        decimal text, in C, and parsed by Arrow in C++: about 3x less CPU than Arrow
        converting the Python objects one by one, for the same values. Anything that
        does not parse (an amount Arrow would round) takes the object route, which raises
        as it always did (a timestamp without a zone was refused before: ``check_parquet_values``).
        Only short plain amounts are cast from text (``_plain_amounts``); on the object
        route each Decimal is first given exactly 9 places, or refused (``_as_decimal128``).
        """
        pa = self.pa
        amounts = pa.types.is_decimal(type_)
        if parsed and self.decoded:
            try:
                texts = (
                    _plain_amounts(values)
                    if amounts
                    else _TEXTS_OR_NONE.decode(_JSON.encode(values))
                )
                if texts is not None:
                    return pa.array(texts, type=pa.string()).cast(type_)
            except (pa.ArrowInvalid, msgspec.ValidationError):
                pass
        if amounts:
            # Arrow sees no Decimal it might mishandle: see ``_as_decimal128``.
            values = list(map(_fitted_amount, values))
            if _UNFIT in values:
                raise pa.ArrowInvalid(f"an amount does not fit {type_}")
        return pa.array(values, type=type_)

    async def close(self) -> None:
        while self.rows:
            await self._write_group()
        with named_after(self.out.path):
            await self.out.run(self.writer.close)

    def abort(self) -> None:
        if self.sink is not None:
            # First: the close writes the footer, which makes what was written a whole
            # Parquet file, short of the rows the export failed before. And a close that
            # failed (the caller closed the file) leaves Arrow holding bytes, written as
            # the writer is collected. None of them reach the caller's file.
            self.sink.drop()
        # Closed now (or as the step under way ends: see ``Output.then``), not by its
        # __del__ once the file under it is gone.
        with contextlib.suppress(Exception):
            self.writer.close()


#: Characters of the longest amount text Arrow is asked to parse as decimal(38, 9): a sign,
#: 38 digits and a point. Arrow refuses a longer one as it should only up to some length:
#: past about a hundred digits its cast wraps around (``"9" * 150`` became -1).
_PLAIN_AMOUNT_CHARS = _DECIMAL_PRECISION + 2


def _plain_amounts(column: Sequence[object]) -> list[str | None] | None:
    """The amounts' texts, if each is a short plain number (or None); else None.

    Only those go to Arrow's text cast: one in exponent form (``1E-999999999``) crashed
    the process in that cast (pyarrow 26), and a very long one was stored wrapped.
    """
    encoded = encoded_amounts(column)  # None for an exponent, NaN or Infinity
    if encoded is None:
        return None
    texts = _TEXTS_OR_NONE.decode(encoded)
    if max(map(len, filter(None, texts)), default=0) > _PLAIN_AMOUNT_CHARS:
        return None
    return texts


#: What ``_fitted_amount`` gives for an amount Parquet cannot hold.
_UNFIT = object()


def _fitted_amount(value: object) -> object:
    """A Decimal as ``_as_decimal128`` makes it, or ``_UNFIT``; anything else as it is."""
    if not isinstance(value, Decimal):
        return value  # None, or what a caller's Struct holds: Arrow converts or refuses it
    fitted = _as_decimal128(value)
    return _UNFIT if fitted is None else fitted


def _as_decimal128(value: Decimal) -> Decimal | None:
    """``value`` with exactly 9 places, if Parquet's decimal(38, 9) holds it exactly; else None.

    Done here, before Arrow sees a Decimal: Arrow does not fail cleanly on every one it
    cannot hold (pyarrow 26 crashed the process on ``1E-999999999`` and stored ``1.`` and
    2,000 zeros as 0), but takes any of 38 digits and 9 places as it is.
    """
    if not value.is_finite():
        return None
    try:
        return value.quantize(_DECIMAL_STEP, context=_DECIMAL_CONTEXT)
    except decimal.DecimalException:  # it would round (Inexact), or takes > 38 digits
        return None


def _estimated_size(items: Sequence[object], turn: int) -> int:
    """About the bytes ``items`` take as JSON: one item in ``_SAMPLE_STRIDE`` measured.

    Which ones moves with ``turn``, so that records of every position in a page are
    measured in turn. An estimate: measuring each string costs about 2% of a Parquet
    export's CPU, a sample of a 250-card page (msgspec encodes it in C) about 0.2%.
    """
    count = len(items)
    sample = items[turn % min(count, _SAMPLE_STRIDE) :: _SAMPLE_STRIDE]
    return len(_JSON.encode(sample)) * count // len(sample)


_WRITERS: dict[ExportFormat, Callable[[Output, Kind], _Writer]] = {
    "jsonl": _JsonLinesWriter,
    "json": _JsonArrayWriter,
    "csv": _CsvWriter,
    "parquet": _ParquetWriter,
    "jsonl.gz": functools.partial(_JsonLinesWriter, gzip=True),
    "json.gz": functools.partial(_JsonArrayWriter, gzip=True),
    "csv.gz": functools.partial(_CsvWriter, gzip=True),
}


def import_pyarrow() -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, imported on first use: they are an extra."""
    try:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(_PARQUET_MISSING) from exc
    return pa, pq


# --- export ------------------------------------------------------------------------


async def export(
    items: AsyncIterable[SimCard] | AsyncIterable[SimCardAction] | AsyncIterable[RawRecord],
    target: str | os.PathLike[str] | BinaryWriter,
    *,
    format: ExportFormat | None = None,
    kind: type[SimCard | SimCardAction] | None = None,
) -> ExportResult:
    """Write every item of ``items`` to ``target`` as JSON lines, JSON, CSV or Parquet.

    ``items`` is any async iterable of ``SimCard``, of ``SimCardAction`` or of
    ``RawRecord``, such as ``client.sim_cards(...)``; a stream (``PageStream``,
    ``MergedStream``) is read page by page and closed when ``export`` returns or
    fails; a stream is read once, so one already being read is refused (``RuntimeError``).
    To JSON lines and JSON, a listing from the client (or a merge of them) is exported as
    the API sent it (``raw_chunks``); Structs are encoded. ``target`` is a path, replaced
    atomically once everything is written (a cancellation during that rename waits for
    it, then propagates), or a binary file opened for writing (say
    ``sys.stdout.buffer``), which is flushed but not closed. ``format`` is one of ``"jsonl"``,
    ``"json"``, ``"csv"``, ``"parquet"``, ``"jsonl.gz"``, ``"json.gz"`` or
    ``"csv.gz"``; by default it follows the path's suffix (``.jsonl``/``.ndjson``,
    ``.json``, ``.csv``, ``.parquet``/``.pq``, each but Parquet with ``.gz``
    after it) and any other suffix is refused; a file object gets the format its
    name's suffix names, else JSON lines. ``kind`` (``SimCard`` or
    ``SimCardAction``) sets the CSV and Parquet columns; by default it is the
    stream's endpoint or the first item's type (a raw record's ``record_type``), and
    ``SimCard`` for raw records without one or an empty iterable of unknown kind.

    Raises ``InvalidParameterError`` for a bad argument (``items`` that say they yield
    something else, such as ``merge_tagged()``'s ``Tagged`` pairs, included), before
    anything is read,
    ``ImportError`` for Parquet without pyarrow, ``TypeError`` for an item of
    another kind (a record whose ``record_type`` is another's, to CSV or Parquet),
    ``ExportError`` for a value the format cannot hold (to Parquet, an amount
    ``decimal(38, 9)`` would round, ``NaN``; to CSV or Parquet, a ``NaN`` or an
    infinity in ``settings`` or ``resources_with_in_progress_actions``) or a file object
    closed while the export writes to it (one closed already is refused,
    ``InvalidParameterError``), and whatever reading ``items`` or writing ``target`` raises.
    """
    started = time.monotonic()
    target = plain_path(target)
    _check_items(items)
    fmt = _checked_format(format, target)
    resolved = _resolve_kind(kind, items)
    stream = items if isinstance(items, Stream) else None
    if stream is not None:
        # Refused before the export takes the stream over, to close it at the end: it
        # closed one another reader had, and ended that reading too.
        stream.check_unread()
    checkpointing = stream is not None and stream.checkpointing
    resume = None
    checkpoint = None
    if stream is not None and checkpointing:
        checkpoint = stream.checkpoint
        resume = _resumed_output(stream, target, fmt)
    elif stream is not None and "export" in (stream.resumed_state or {}):
        # Its partial output (or its finished one) would be replaced by the rest alone.
        raise InvalidParameterError(
            "resume_from",
            "with checkpoint= as well when exporting: this checkpoint's export wrote part of "
            "its output, which only a checkpointed export continues (pass checkpoint= the "
            "same file)",
            stream.resumed_from,
        )
    # A fresh scan writes over an earlier one's checkpoint: that one's partial output goes
    # once this one's checkpoint (or finished output) replaces what named it.
    earlier = _earlier_partial(checkpoint, target) if resume is None else None
    out: Output | None = None
    try:
        out = Output(
            target, fmt=fmt, keep_partial=checkpointing, resume=resume, checkpoint=checkpoint
        )
        job = _Job(out, fmt, resolved)
        try:
            count = await job.run(items, stream)
        except BaseException:
            try:
                if stream is not None:
                    await _close(stream)
                    # The partial output stays only while a checkpoint can continue it.
                    out.keep_partial = checkpointing and stream.resumable_from is not None
            finally:  # cancelled again meanwhile: still cleaned up
                out.then(out.discard)  # after the writer's abort, and any step under way
            raise
    finally:
        if stream is not None:
            await _close(stream)
        if earlier is not None and out is not None and _replaced(out, stream):
            remove_unused(earlier, out)
    if resume is not None:
        count += resume.items
    return ExportResult(items=count, path=out.path, format=fmt, seconds=time.monotonic() - started)


def _key_removed(exc: ExportError, redact: Callable[[str], str]) -> ExportError:
    """``exc`` without the API key, which a record's id or value quoted in it may hold.

    A server may echo the key in a record. ``exc`` itself when it holds none.
    """
    message, record = redact(str(exc)), None if exc.record is None else redact(exc.record)
    if message == str(exc) and record == exc.record:
        return exc
    return ExportError(message, format=exc.format, column=exc.column, record=record)


def _earlier_partial(checkpoint: str | os.PathLike[str] | None, target: object) -> Path | None:
    """The partial output an earlier export to ``target`` left, that ``checkpoint`` names.

    None when there is none, or the file is no export's checkpoint (nothing to clean up).
    """
    if checkpoint is None or not isinstance(target, (str, os.PathLike)):
        return None
    state = saved_extra(checkpoint).get("export")
    if not isinstance(state, dict) or state.get("target") != absolute(target):
        return None
    name, final = state.get("partial"), final_path(target)
    if not isinstance(name, str) or not is_partial_name(name, final):
        return None
    return final.with_name(name)


def _replaced(out: Output, stream: Stream[Any, Any] | None) -> bool:
    """Whether this export's output or checkpoint now stands where an earlier one did."""
    return out.committed or (stream is not None and stream.resumable_from is not None)


def _checked_format(format: object, target: object) -> ExportFormat:
    """``resolve_format``, a path ``target`` checked first; Parquet's pyarrow imported."""
    if isinstance(target, (str, os.PathLike)):
        check_file_path("target", target)  # a path as text, naming a file
    try:
        fmt = resolve_format(format, target)
    except InvalidParameterError:
        if isinstance(target, (str, os.PathLike)):
            # A directory has no suffix to speak of: say what it is (OSError), as documented.
            check_output_path(target)
        raise
    if fmt == "parquet":
        import_pyarrow()  # fail before anything is read or created
    return fmt


async def _close(stream: Stream[Any, Any]) -> None:
    # Stop its fetchers now, even when cancelled, rather than when collected.
    with anyio.CancelScope(shield=True):
        await stream.aclose()


def _resumed_output(stream: Stream[Any, Any], target: object, fmt: ExportFormat) -> Partial | None:
    """The partial output a resumed stream's checkpoint continues, checked against the call."""
    if not isinstance(target, (str, os.PathLike)):
        raise InvalidParameterError("target", "a path when the stream writes a checkpoint", target)
    if fmt not in RESUMABLE_FORMATS:
        resumable = ", ".join(map(repr, RESUMABLE_FORMATS))
        raise InvalidParameterError(
            "format",
            f"one of {resumable} when the stream writes a checkpoint ({NOT_RESUMABLE_WHY})",
            fmt,
            choices=RESUMABLE_FORMATS,
        )
    extra = stream.resumed_state
    if extra is None:
        return None
    state = extra.get("export")
    if not isinstance(state, dict):
        raise InvalidParameterError(
            "resume_from",
            "a checkpoint that an export wrote (this one holds no export's state: a scan "
            "read without export() wrote it, or it was edited)",
            stream.resumed_from,
        )
    # The same file from any directory: a relative target is kept as an absolute path.
    kept_target = state.get("target")
    if not isinstance(kept_target, str) or absolute(kept_target) != absolute(target):
        raise InvalidParameterError(
            "target", f"{kept_target!r}, as when the checkpoint was made", str(Path(target))
        )
    if state.get("format") != fmt:
        raise InvalidParameterError(
            "format", f"{state.get('format')!r}, as when the checkpoint was made", fmt
        )
    try:
        kept = msgspec.convert(state, _ExportState)
    except msgspec.ValidationError as exc:
        raise InvalidParameterError(
            "resume_from",
            f"a checkpoint as an export writes it ({exc}; was it edited?)",
            stream.resumed_from,
        ) from exc
    final = final_path(target)
    if not is_partial_name(kept.partial, final):
        # Only a name this module makes: the partial output is cut, written and renamed onto
        # the target, so a name of any other file (an edited checkpoint) would consume it.
        raise InvalidParameterError(
            "resume_from",
            f"a checkpoint as an export writes it (its partial output {kept.partial!r} is not "
            f"one an export to {str(target)!r} makes; was it edited?)",
            stream.resumed_from,
        )
    _check_written(stream, kept)
    if stream.resumed_finished:
        _check_left_unfinished(stream, target, final.with_name(kept.partial))
    return Partial(
        partial=kept.partial,
        size=kept.size,
        items=stream.resumed_items,
        tail=bytes.fromhex(kept.tail),
        checkpoint=stream.resumed_from,
    )


def _check_written(stream: Stream[Any, Any], kept: _ExportState) -> None:
    """Refuse an export's state of no output beside records done: no export saves that.

    The output would be cut to nothing and the rest written alone (a short file,
    reported whole), its tail check passed by the empty tail.
    """
    if kept.size == 0 and stream.resumed_items:
        raise InvalidParameterError(
            "resume_from",
            f"a checkpoint as an export writes it (it counts {stream.resumed_items:,} records "
            "done and an output of 0 bytes; was it edited?)",
            stream.resumed_from,
        )


def _check_left_unfinished(
    stream: Stream[Any, Any], target: str | os.PathLike[str], partial: Path
) -> None:
    """Refuse a checkpoint that says its export finished, unless its output was left unfinished.

    Its output was written in full, and may have been used or moved since: no partial
    output is left to continue, and none is written over. With its partial output still
    there (no target, or the file an earlier export wrote), a process was killed between
    the last save and the rename: the resume reads nothing more, and closes that output
    and puts it in place.
    """
    if partial.exists():
        return  # the rename, which removes that name, never happened: whatever the target
    there = os.path.lexists(target)
    done = f"{stream.resumed_items:,} records written to {os.fspath(target)!r}"
    if not there:
        done += " but not there now (moved or deleted since)"
    raise InvalidParameterError(
        "resume_from",
        "a checkpoint of an export that stopped before its end; this one's export "
        f"finished ({done}), so delete it to export again",
        stream.resumed_from,
    )


_Hex = Annotated[str, msgspec.Meta(pattern=f"^([0-9a-f]{{2}}){{0,{TAIL_BYTES}}}$")]


class _ExportState(msgspec.Struct):
    """What a checkpointed export keeps in its checkpoint's ``extra["export"]``."""

    partial: str
    size: Annotated[int, msgspec.Meta(ge=0)]
    #: The last bytes written, in hex (``Output.tail``).
    tail: _Hex


class _Job:
    """One export: feeds items to a writer, and tells a checkpoint where the output ends."""

    def __init__(self, out: Output, fmt: ExportFormat, kind: Kind | None) -> None:
        self.out = out
        self.fmt = fmt
        self.kind = kind
        self.writer: _Writer | None = None
        #: Whether the items come from a stream's pages, which msgspec decoded.
        self.decoded = False
        #: Whether the output is being closed and put in place (not to be tried twice).
        self.finishing = False

    async def run(self, items: AsyncIterable[Record], stream: Stream[Any, Any] | None) -> int:
        count = 0
        self.decoded = stream is not None
        refused: tuple[ExportError, BaseException | None] | None = None
        try:
            state = self.checkpoint_state if stream is not None and stream.checkpointing else None
            chunks: AsyncGenerator[Sequence[Record], None] | None = None
            if stream is not None and self.fmt in _VERBATIM:
                # Each record as the API sent it, if the stream can: also the cheapest way.
                chunks = stream.raw_chunks(state=state)
            raw = chunks is not None  # then every item is a RawRecord
            if chunks is None:
                chunks = stream.chunks(state=state) if stream is not None else _chunks(items)
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    writer = self._writer(chunk[0])
                    # A stream's page holds one kind of item: its first item tells.
                    _check_kind(chunk if stream is None else chunk[:1], writer.kind.cls)
                    if raw:
                        writer.add_raw(chunk)  # type: ignore[arg-type]  # RawRecords only
                    else:
                        writer.add(chunk)
                    count += len(chunk)
                    # Checkpointed gzip: a member per page, wherever a checkpoint falls, so
                    # that a resumed output is byte-identical to an uninterrupted one.
                    if writer.full() or (writer.gzip and state is not None):
                        await writer.flush()
            await self._finish(stream)
        except BaseException as exc:
            await self._stopped(stream, exc)
            if not isinstance(exc, ExportError) or stream is None:
                raise
            without = _key_removed(exc, stream._redact)  # noqa: SLF001  (a Stream's)
            if without is exc:
                raise
            refused = without, exc.__cause__
        if refused is not None:
            # Raised here, not in the except clause: there, the refusal that holds the key
            # would be its __context__ (hidden from tracebacks, not from code that walks it).
            without, cause = refused
            raise without from cause
        return count

    async def _stopped(self, stream: Stream[Any, Any] | None, exc: BaseException) -> None:
        """The export stopped by an exception: its writer aborted, after what must end first.

        A file object (stdout) gets the whole records the writer holds when the listing
        failed (an API error, not the writer's or the output's own): as ``async for``
        yields every item before the failed page, its output ends there, with no ending
        (no ``]``, no Parquet at all). It lost up to a batch (1 MiB): a listing failing at
        its 41st page of 10 wrote nothing. Not when it was cancelled: a write to a pipe
        nobody reads may never end.
        """
        writer = self.writer
        if (
            writer is not None
            and self.out.temp is None
            and self.fmt != "parquet"
            and isinstance(exc, TelnyxError)
            and not isinstance(exc, ExportError)
        ):
            with contextlib.suppress(Exception):  # the listing's failure is what is raised
                await writer.flush()
        try:
            if stream is not None and stream.finish_saved and not self.finishing:
                # Stopped (a cancellation, say) after the checkpoint said the export had
                # finished, before its output was in place: a resume would be refused and
                # the target never written. What the checkpoint counts is all written:
                # finish it, as a cancellation during the rename does, then raise.
                await self._finish(stream)
        finally:
            if self.writer is not None:
                self.out.then(self.writer.abort)  # never beside a step of its own

    async def _finish(self, stream: Stream[Any, Any] | None) -> None:
        """Close the output and put it in place; shielded once a checkpoint says it is done."""
        self.finishing = True
        with anyio.CancelScope(shield=stream is not None and stream.finish_saved):
            # Nothing may have come: still write a header, or a schema.
            await self._writer(None).close()
            await self.out.commit()

    def _writer(self, first: Record | None) -> _Writer:
        if self.writer is None:
            kind = self.kind or (_kind_of_item(first) if first is not None else KINDS[SimCard])
            self.writer = _WRITERS[self.fmt](self.out, kind)
            self.writer.decoded = self.decoded
        return self.writer

    async def checkpoint_state(self) -> dict[str, Any]:
        """Write out what is held and say where the output ends.

        Handed to ``Stream.chunks(state=...)``: the stream awaits it before each
        checkpoint, so a checkpoint never runs ahead of the output it describes.
        """
        if self.writer is not None:
            await self.writer.flush()
        size = self.out.end()
        assert self.out.temp is not None  # noqa: S101  (checkpointing needs a path)
        state = {
            "partial": self.out.temp.name,
            "size": size,
            "tail": self.out.tail.hex(),
            "format": self.fmt,
        }
        assert self.out.path is not None  # noqa: S101  (as temp)
        return {"export": {**state, "target": absolute(self.out.path)}}


async def _chunks(items: AsyncIterable[Record]) -> AsyncGenerator[Sequence[Record], None]:
    """The items of a plain async iterable in non-empty runs (a ``Stream`` has its own)."""
    pending: list[Record] = []
    async for item in items:
        pending.append(item)
        if len(pending) >= _CHUNK:
            yield pending
            pending = []
    if pending:
        yield pending


def resolve_format(format: object, target: object) -> ExportFormat:
    """The format asked for, else the one a path's suffix names; anything else is refused.

    A file object without a known suffix in its name (``sys.stdout.buffer``) gets
    JSON lines, unless its name ends in ``.gz`` and it compresses nothing itself (not a
    ``gzip.GzipFile``): plain text there reads as no gzip, so it is refused as the path is,
    unless ``format`` says what to write. A ``gzip.GzipFile`` gets its name's format
    without the ``.gz`` (``cards.csv.gz``: CSV), and is refused a gzip ``format``: it
    compresses what it is given itself. Parquet and gzip (binary) are never written to a
    terminal.
    """
    if format is not None:
        fmt = _format_given(format, target)
    elif isinstance(target, (str, os.PathLike)):
        base = Path(target).name
        named = _format_of_name(base)
        if named is None:
            allowed = Said(
                f"a path ending in {ALLOWED_SUFFIXES}, unless ",
                Advice.FORMAT,
                " says what to write",
            )
            if _format_of_name("x" + base) is not None:  # '.jsonl': a hidden file, no suffix
                allowed = Said(
                    f"{NAME_BEFORE_SUFFIX} ({base!r} alone is a hidden file's whole name, "
                    "with no suffix): ",
                    *allowed.parts,
                )
            raise InvalidParameterError("target", allowed, str(target))
        fmt = named
    else:
        fmt = _format_of_file(target)
    if (fmt == "parquet" or fmt.endswith(".gz")) and _is_terminal(target):
        raise InvalidParameterError(
            "target", "a file or a pipe, not a terminal, to write Parquet or gzip (binary)", target
        )
    return fmt


def _format_given(format: object, target: object) -> ExportFormat:
    """``format``, checked against what ``target`` is."""
    fmt = next((known for known in _FORMATS if format == known), None)
    if fmt is None:
        names = ", ".join(map(repr, _FORMATS))
        raise InvalidParameterError("format", f"one of {names}", format, choices=_FORMATS)
    is_gz = isinstance(target, (str, os.PathLike)) and Path(target).suffix.lower() == ".gz"
    if is_gz and not fmt.endswith(".gz"):
        raise InvalidParameterError(
            "format", "'jsonl.gz', 'json.gz' or 'csv.gz' for a path ending in .gz", fmt
        )
    if isinstance(target, gzip.GzipFile) and fmt.endswith(".gz"):
        # It compresses what it is given: gzip inside gzip, which one gunzip leaves binary.
        allowed = f"{fmt[:-3]!r}: a gzip.GzipFile compresses what is written to it"
        raise InvalidParameterError("format", allowed, fmt)
    return fmt


def _format_of_file(target: object) -> ExportFormat:
    """The format a file object's name names, else JSON lines."""
    name = getattr(target, "name", None)
    if isinstance(name, bytes):  # open(b"cards.gz")
        name = os.fsdecode(name)
    named = Path(name) if isinstance(name, (str, os.PathLike)) else None
    if named is None:
        return "jsonl"
    gz = named.suffix.lower() == ".gz"
    if gz and isinstance(target, gzip.GzipFile):
        # It compresses what it is given: cards.csv.gz gets CSV, cards.gz JSON lines (a
        # csv.gz written to it was gzip inside gzip, which one gunzip left binary).
        named, gz = named.with_suffix(""), False
    known = _format_of_name(named.name)
    if known is None and gz:
        # Opened as x.gz (or x.parquet.gz): plain JSON lines there read as no gzip.
        allowed = Said(
            f"a file whose name ends in {ALLOWED_SUFFIXES}, unless ",
            Advice.FORMAT,
            " says what to write",
        )
        raise InvalidParameterError("target", allowed, str(named))
    return known or "jsonl"


def _format_of_name(name: str) -> ExportFormat | None:
    """The format a file name's suffix (or suffixes, ``.csv.gz``) names, if any."""
    path = Path(name.lower())
    if path.suffix != ".gz":
        return _SUFFIXES.get(path.suffix)
    inner = _SUFFIXES.get(path.with_suffix("").suffix)
    compressed = f"{inner}.gz"
    return next((known for known in _FORMATS if known == compressed), None)


def _is_terminal(target: object) -> bool:
    isatty = getattr(target, "isatty", None)
    try:
        return callable(isatty) and isatty() is True
    except (OSError, ValueError):  # closed, or not a real file
        return False


def _check_items(items: object) -> None:
    """Refuse what is not an async iterable, or says it yields something other than records."""
    if not callable(getattr(items, "__aiter__", None)):
        hint = ""
        if inspect.iscoroutine(items):  # stream.collect(), say
            if inspect.getcoroutinestate(items) == inspect.CORO_CREATED:  # a task's is its own
                items.close()  # never awaited: no "never awaited" warning on top of this
            hint = " (this is a coroutine: pass the stream itself, not its collect())"
        raise InvalidParameterError(
            "items",
            f"an async iterable of SimCard or SimCardAction, such as client.sim_cards(){hint}",
            items,
        )
    declared = getattr(items, "item_type", None)  # what a stream (or tagged()) says it yields
    if isinstance(declared, type) and declared not in KINDS and declared not in RAW_TYPES:
        why = _NOT_RECORDS.get(declared, "")
        raise InvalidParameterError(
            "items",
            "an async iterable of SimCard or SimCardAction, such as a stream or merge(...) "
            f"(this one yields {declared.__name__} items{why})",
            items,
        )


#: Why an iterable that says it yields these is not one of records.
_NOT_RECORDS: dict[type, str] = {
    Tagged: ": merge_tagged() and tagged() pair each record with its queries",
    Page: ": pass the stream itself, not its pages()",
}


def _resolve_kind(kind: object, items: object) -> Kind | None:
    if kind is not None:
        if kind is not SimCard and kind is not SimCardAction:
            raise InvalidParameterError("kind", "SimCard or SimCardAction", kind)
        yields = items.item_type if isinstance(items, Stream) else kind
        if yields is not kind and yields in KINDS:
            # Known now, not at the first page: refused before anything is sent.
            raise InvalidParameterError(
                "kind", f"{yields.__name__} (what this stream yields), or None", kind
            )
        return KINDS[kind]
    if isinstance(items, Stream):
        return KINDS.get(items.item_type)  # the stream knows what it yields
    return None


def _check_kind(chunk: Sequence[object], cls: type[Item]) -> None:
    # Raw records pass: which kind they are is the stream's (or ``kind``'s) word.
    for item in chunk:
        if not isinstance(item, cls) and item.__class__ not in RAW_TYPES:
            raise TypeError(f"export() got a {type(item).__name__} among {cls.__name__} items")


def _kind_of_item(item: object) -> Kind:
    for cls, kind in KINDS.items():
        if isinstance(item, cls):
            return kind
    if isinstance(item, RAW_TYPES):
        return KINDS[raw_kind(item)]  # its record_type says (``kind=`` says first)
    # A stream's chunks() or raw_chunks() is an async generator: it cannot say what it yields
    # before it is read, as a stream and pages() do, so it is known here, at its first page.
    hint = (
        ": a page's records at a time? pass the stream itself, not its chunks() or raw_chunks()"
        if isinstance(item, (list, tuple))
        else ""
    )
    raise TypeError(
        f"export() writes SimCard or SimCardAction items, not {type(item).__name__}{hint}"
    )
