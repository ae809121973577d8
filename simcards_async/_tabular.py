"""Records as a table: the flat column sets CSV and Parquet share, and each record's values.

Pure: no I/O. A SIM card or action (a Struct, or a record as the API sent it, decoded here)
becomes a row of ``SIM_CARD_COLUMNS`` or ``SIM_CARD_ACTION_COLUMNS`` (``Kind.row``), a page
of them a list of columns (``columns_of``, unpacked in C), and a column the text of its CSV
cells (``CsvColumns``). A value no format writes as it is (a float JSON has not, a naive
datetime in Parquet) is refused here with an ``ExportError`` naming the record and the
column (``refusal_of``). The writers (``_export``) put the rows and columns in files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import operator
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from msgspec.structs import astuple

from ._errors import (
    APIResponseValidationError,
    ExportError,
    InvalidParameterError,
    cut,
    shown,
)
from ._models import (
    RECORD_TYPES,
    UNDECODABLE,
    Amount,
    PinPukCodes,
    RawRecord,
    SimCard,
    SimCardAction,
    SimCardActionStatus,
    SimCardGroup,
    SimCardStatus,
    checked_record,
    decode_record,
)

__all__ = [
    "DISTINCT_COLUMNS",
    "KINDS",
    "RAW_BYTES",
    "RAW_TYPES",
    "SIM_CARD_ACTION_COLUMNS",
    "SIM_CARD_COLUMNS",
    "CsvColumns",
    "Item",
    "Kind",
    "Record",
    "as_structs",
    "built_rows",
    "cell_text",
    "check_parquet_values",
    "columns_of",
    "csv_quote",
    "encoded_amounts",
    "given_record",
    "raw_kind",
    "record_error",
    "refusal_of",
]

Item = SimCard | SimCardAction
#: What a writer takes: Structs, or records as the API sent them.
Record = Item | RawRecord | msgspec.Raw

# --- the flat column sets shared by CSV and Parquet -----------------------------------
#
# Each column is (name, type); the type names the Parquet type and the CSV form.
# The row functions below return the values in exactly this order.

_Column = tuple[str, str]

_SIM_CARD_GROUP: tuple[_Column, ...] = (
    ("sim_card_group_name", "string"),
    ("sim_card_group_default", "bool"),
    ("sim_card_group_data_limit_amount", "decimal"),
    ("sim_card_group_data_limit_unit", "string"),
    ("sim_card_group_consumed_data_amount", "decimal"),
    ("sim_card_group_consumed_data_unit", "string"),
    ("sim_card_group_private_wireless_gateway_id", "string"),
    ("sim_card_group_wireless_blocklist_id", "string"),
    ("sim_card_group_created_at", "timestamp"),
    ("sim_card_group_updated_at", "timestamp"),
)

_SIM_CARD_SCHEMA: tuple[_Column, ...] = (
    ("id", "string"),
    ("record_type", "string"),
    ("status", "string"),
    ("status_reason", "string"),
    ("type", "string"),
    ("iccid", "string"),
    ("imsi", "string"),
    ("msisdn", "string"),
    ("eid", "string"),
    ("esim_installation_status", "string"),
    ("sim_card_group_id", "string"),
    ("tags", "list"),
    ("authorized_imeis", "list"),
    ("data_limit_amount", "decimal"),
    ("data_limit_unit", "string"),
    ("current_billing_period_consumed_data_amount", "decimal"),
    ("current_billing_period_consumed_data_unit", "string"),
    ("actions_in_progress", "bool"),
    ("resources_with_in_progress_actions", "json"),
    ("version", "string"),
    ("voice_enabled", "bool"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp"),
    *_SIM_CARD_GROUP,
    # Sent by the single-card GET only; empty in a listing.
    ("current_imei", "string"),
    ("current_mcc", "string"),
    ("current_mnc", "string"),
    ("ipv4", "string"),
    ("ipv6", "string"),
    ("live_data_session", "string"),
    ("current_device_location_latitude", "string"),
    ("current_device_location_longitude", "string"),
    ("current_device_location_accuracy", "int"),
    ("current_device_location_accuracy_unit", "string"),
)

_SIM_CARD_ACTION_SCHEMA: tuple[_Column, ...] = (
    ("id", "string"),
    ("record_type", "string"),
    ("sim_card_id", "string"),
    ("action_type", "string"),
    ("status", "string"),
    ("status_reason", "string"),
    ("settings", "json"),
    ("bulk_sim_card_action_id", "string"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp"),
)

#: Columns whose values are (nearly) all different: Parquet writes them without a
#: dictionary, which there only costs time and bytes (10,000 mock cards: ~25% less CPU
#: to encode, a file ~10% smaller). Every other column is dictionary-encoded.
DISTINCT_COLUMNS = frozenset(
    {
        "id",
        "iccid",
        "imsi",
        "msisdn",
        "eid",
        "authorized_imeis",
        "current_billing_period_consumed_data_amount",
        "created_at",
        "updated_at",
        "sim_card_id",
    }
)

#: The CSV header and Parquet columns of a SIM card export, in order.
SIM_CARD_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _SIM_CARD_SCHEMA)
#: The CSV header and Parquet columns of a SIM card action export, in order.
SIM_CARD_ACTION_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _SIM_CARD_ACTION_SCHEMA)

_JSON = msgspec.json.Encoder()
#: Digits an amount's plain text may take in CSV (``_amount_text``); Parquet's decimal(38, 9)
#: holds 38 digits at most.
_PLAIN_DIGITS = 100
_NO_GROUP = (None,) * len(_SIM_CARD_GROUP)
_NO_LOCATION = (None,) * 4


def _json_text(value: object) -> str | None:
    """``value`` as JSON text; ``ValueError`` for a float NaN or infinity (JSON has neither).

    msgspec writes ``null`` for one: another value, in silence (``1e400`` from the API is
    read as infinity). Looked for only where the text holds a ``null``.
    """
    if value is None:
        return None
    if value == ():  # the common case in a listing, without an encode
        return "[]"
    text = _JSON.encode(value).decode()
    if "null" in text and _non_finite(value):
        raise ValueError(_NOT_FINITE)
    return text


def _group_cells(group: SimCardGroup) -> tuple[object, ...]:
    limit, used = group.data_limit, group.consumed_data
    return (
        group.name,
        group.default,
        None if limit is None else limit.amount,
        None if limit is None else limit.unit,
        None if used is None else used.amount,
        None if used is None else used.unit,
        group.private_wireless_gateway_id,
        group.wireless_blocklist_id,
        group.created_at,
        group.updated_at,
    )


def _sim_card_row(card: SimCard) -> tuple[object, ...]:
    """The values of ``SIM_CARD_COLUMNS`` for one card, typed (not yet text).

    A nested Struct a card the caller built holds as None is missing, as in ``_unpacked``.
    """
    limit = card.data_limit
    status: SimCardStatus | None = card.status
    used: Amount | None = card.current_billing_period_consumed_data
    group, place = card.sim_card_group, card.current_device_location
    return (
        card.id,
        card.record_type,
        None if status is None else status.value,
        None if status is None else status.reason,
        card.type,
        card.iccid,
        card.imsi,
        card.msisdn,
        card.eid,
        card.esim_installation_status,
        card.sim_card_group_id,
        card.tags,
        card.authorized_imeis,
        None if limit is None else limit.amount,
        None if limit is None else limit.unit,
        None if used is None else used.amount,
        None if used is None else used.unit,
        card.actions_in_progress,
        _json_text(card.resources_with_in_progress_actions),
        card.version,
        card.voice_enabled,
        card.created_at,
        card.updated_at,
        *(_NO_GROUP if group is None else _group_cells(group)),
        card.current_imei,
        card.current_mcc,
        card.current_mnc,
        card.ipv4,
        card.ipv6,
        card.live_data_session,
        *(
            _NO_LOCATION
            if place is None
            else (place.latitude, place.longitude, place.accuracy, place.accuracy_unit)
        ),
    )


def _sim_card_action_row(action: SimCardAction) -> tuple[object, ...]:
    """The values of ``SIM_CARD_ACTION_COLUMNS`` for one action, typed (not yet text)."""
    status: SimCardActionStatus | None = action.status  # None: missing, as for a card's
    return (
        action.id,
        action.record_type,
        action.sim_card_id,
        action.action_type,
        None if status is None else status.value,
        None if status is None else status.reason,
        _json_text(action.settings),
        action.bulk_sim_card_action_id,
        action.created_at,
        action.updated_at,
    )


@dataclass(frozen=True)
class Kind:
    cls: type[SimCard | SimCardAction]
    schema: tuple[_Column, ...]
    row: Callable[[Any], tuple[object, ...]]


KINDS: dict[type[Item], Kind] = {
    SimCard: Kind(SimCard, _SIM_CARD_SCHEMA, _sim_card_row),
    SimCardAction: Kind(SimCardAction, _SIM_CARD_ACTION_SCHEMA, _sim_card_action_row),
}

#: A column of ``columns_of``: its values, or None when every value is None.
_Values = Sequence[object] | None
#: Where a column's value lies in an item: field names, outermost first.
_Path = tuple[str, ...]


def _struct_type(annotation: object) -> type[msgspec.Struct] | None:
    """The Struct a field holds (``Amount`` for ``Amount | None``), if it holds one."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


@functools.cache
def _nested(cls: type[msgspec.Struct]) -> dict[str, type[msgspec.Struct] | None]:
    """Each field of ``cls`` and the Struct it holds, if any: read once a class.

    ``msgspec.structs.fields`` evaluates every annotation of the class (they are strings
    here) each time it is called: asked once a column, that was ~1,600 compiles at import.
    """
    return {field.name: _struct_type(field.type) for field in msgspec.structs.fields(cls)}


def _field_path(cls: type[msgspec.Struct], name: str) -> _Path:
    """Where column ``name`` lies in a ``cls``: ``data_limit_amount`` is ``data_limit.amount``.

    A column named after a nested Struct (``status``) holds that Struct's ``value``.
    """
    fields = _nested(cls)
    inner = fields.get(name)
    if name in fields and inner is None:
        return (name,)
    if inner is not None:
        return (name, *_field_path(inner, "value"))
    for field, inner in fields.items():
        if inner is not None and name.startswith(field + "_"):
            return (field, *_field_path(inner, name.removeprefix(field + "_")))
    raise LookupError(f"no field of {cls.__name__} holds column {name!r}")


#: Each kind's column paths, in ``schema`` order.
_PATHS: dict[type[Item], tuple[_Path, ...]] = {
    cls: tuple(_field_path(cls, name) for name, _ in kind.schema) for cls, kind in KINDS.items()
}


def _unpacked(structs: Sequence[Any] | None, count: int) -> dict[str, Sequence[object]] | None:
    """A column of Structs of one type (or None) as a column per field; None if all are None.

    ``astuple`` and ``zip`` do it in C, an item at a time while it is in the cache. A missing
    Struct reads as one with every field at its default, which is None for every nested one.
    """
    if structs is None:
        return None
    missing = structs.count(None)
    if missing == count:
        return None
    if missing:
        empty = next(value for value in structs if value is not None).__class__()
        structs = [empty if value is None else value for value in structs]
    return dict(
        zip(structs[0].__struct_fields__, zip(*map(astuple, structs), strict=True), strict=True)
    )


def columns_of(kind: Kind, items: Sequence[Item], fmt: str) -> list[_Values]:
    """The values of ``kind``'s columns in (non-empty) ``items``: ``kind.row``'s, transposed.

    A column of nothing but None is None (in a listing: every field only a single-card
    GET sends, and the group's unless asked for), so that it costs nothing more. Each
    level of nesting is unpacked once for all its columns (``_unpacked``), in C. A value
    no format writes as it is (``_problem``: a float JSON has not) is an ``ExportError``.
    """
    count = len(items)
    unpacked: dict[_Path, dict[str, Sequence[object]] | None] = {(): _unpacked(items, count)}
    columns: list[_Values] = []
    for path, (_, type_) in zip(_PATHS[kind.cls], kind.schema, strict=True):
        outer = path[:-1]
        if outer not in unpacked:
            parent = unpacked[outer[:-1]]  # paths go at most two Structs deep: a parent is known
            unpacked[outer] = _unpacked(None if parent is None else parent[outer[-1]], count)
        fields = unpacked[outer]
        column = None if fields is None else fields[path[-1]]
        if column is not None and type_ == "json":
            if column.count(()) == count:  # a listing's [] everywhere, without an encode
                column = ["[]"] * count
            else:
                try:
                    column = list(map(_json_text, column))
                except ValueError:  # a float JSON text cannot hold: say which record
                    raise refusal_of(kind, items, fmt) from None
        if column is not None and column[0] is None and column.count(None) == count:
            column = None
        columns.append(column)
    return columns


def built_rows(kind: Kind, items: Sequence[Item], fmt: str) -> list[tuple[object, ...]]:
    """``kind.row`` of each item the caller built, whose values are checked first.

    msgspec checks no type at construction, so such an item may hold anything: a value no
    format writes as it is (``_problem``) is an ``ExportError`` naming the record and the
    column, rather than a bare error from deep inside, or a value changed in silence. Only
    the values written are checked: a field no column holds (PIN and PUK codes) is not.
    """
    try:
        rows = list(map(kind.row, items))  # a JSON column's value is encoded here
        _JSON.encode(rows)  # in C: a lone surrogate, or a type JSON cannot hold, raises
    except (AttributeError, TypeError, ValueError) as exc:  # AttributeError: a nested "Struct"
        raise refusal_of(kind, items, fmt) from exc
    for at, (name, type_) in enumerate(kind.schema):
        if type_ == "int" and not {row[at].__class__ for row in rows} <= {int, type(None)}:
            raise refusal_of(kind, items, fmt)
        if type_ in ("timestamp", "list") and fmt == "parquet":
            check_parquet_values(name, type_, [row[at] for row in rows], items)
    return rows


def check_parquet_values(
    name: str, type_: str, values: Sequence[object], items: Sequence[Item]
) -> None:
    """Refuse, for Parquet, the first value Arrow would write as another without a word.

    A number where a timestamp goes was read as microseconds since 1970 (a NaN raised a bare
    ``ValueError``), a str where a list goes as a list of its characters (``tags="iot"``:
    ``["i", "o", "t"]``), a naive ``datetime`` as UTC (an instant nobody gave: the API's
    have an offset, a Struct the caller built may not). CSV and JSON lines write them as
    they are.
    """
    for value, item in zip(values, items, strict=True):
        why = _parquet_problem(name, type_, value)
        if why is not None:
            raise record_error(getattr(item, "id", None), "parquet", name, why)


def _parquet_problem(name: str, type_: str, value: object) -> str | None:
    """Why Arrow would write ``value`` of a ``type_`` column as another value, if it would."""
    if type_ == "timestamp" and value is not None and not isinstance(value, dt.datetime):
        what = "a datetime"
    elif type_ == "list" and isinstance(value, str):
        what = "a list or tuple of str"
    elif type_ == "timestamp" and isinstance(value, dt.datetime) and value.tzinfo is None:
        return (
            f"its {name} {value!r} has no offset (a naive datetime), and a Parquet timestamp "
            "is an instant (UTC); give it a tzinfo (CSV writes it as it is, without a zone)"
        )
    else:
        return None
    return (
        f"its {name} is of type {type(value).__name__}, not {what}, which Arrow would write "
        "as another value (CSV and JSON lines write it as it is)"
    )


def refusal_of(kind: Kind, items: Sequence[Item], fmt: str) -> ExportError:
    """The ``ExportError`` for the first value ``_problem`` finds among ``items``.

    Looked for in the columns (CSV's and Parquet's), then in every field, nested ones
    included (JSON lines write them all).
    """
    for item in items:
        found = _column_problem(kind, item) or _field_problem(item)
        if found is not None:
            name, value, why = found
            what = f"its {name} {shown(value, 100)} {why}"
            return record_error(getattr(item, "id", None), fmt, name, what)
    # Refused as a whole, no value alone (not seen): still the library's error.
    return record_error(getattr(items[0], "id", None) if items else None, fmt, "")


def record_error(record: object, fmt: str, column: str, what: str = "") -> ExportError:
    """The ``ExportError`` refusing the record whose id is ``record``, in ``column``.

    An item the caller built may hold any id: shown as ``shown`` shows it (an int of 5,000
    digits has no ``repr``, and made the refusal itself raise a bare ``ValueError``).
    """
    text = f"cannot write record {shown(record)} to {fmt}"
    return ExportError(
        f"{text}: {what}" if what else text,
        format=fmt,
        column=column,
        record=None if record is None else _id_text(record),
    )


def _id_text(record: object) -> str:
    """``str(record)``, or how ``shown`` shows it where it has none (a huge int)."""
    try:
        return str(record)
    except Exception:  # noqa: BLE001  (an int too long to show, a __str__ that fails)
        return shown(record)


def _column_problem(kind: Kind, item: Item) -> tuple[str, object, str] | None:
    """The first column of ``item`` whose value no format writes as it is, and why."""
    for (name, type_), path in zip(kind.schema, _PATHS[kind.cls], strict=True):
        value: Any = item
        for field in path:
            if value is not None and not isinstance(value, msgspec.Struct):
                # ``status="enabled"``: where a Struct of fields belongs, something else.
                return name, value, f"is of type {type(value).__name__}, not a Struct of its fields"
            value = None if value is None else getattr(value, field, None)
        why = _problem(value, type_)
        if why is not None:
            return name, value, why
    return None


def _field_problem(struct: msgspec.Struct) -> tuple[str, object, str] | None:
    """The first field of ``struct`` (``a.b`` when nested) JSON cannot hold, and why."""
    for name in struct.__struct_fields__:
        value = getattr(struct, name, None)
        if isinstance(value, msgspec.Struct):
            found = _field_problem(value)
            if found is not None:
                return (f"{name}.{found[0]}", *found[1:])
            continue
        why = _problem(value, "")
        if why is not None:
            # A PIN or PUK is a secret: an error message (a log line) never shows it.
            return name, _HIDDEN if isinstance(struct, PinPukCodes) else value, why
    return None


class _Hidden:
    def __repr__(self) -> str:
        return "(hidden)"


_HIDDEN = _Hidden()


def _problem(value: object, type_: str) -> str | None:
    """Why no format writes ``value`` in a column of ``type_`` as it is, if none does."""
    if type_ == "int" and value is not None and value.__class__ is not int:
        return f"is a {type(value).__name__}, not an int"  # Parquet cut 2.9 to 2
    if type_ == "json" and _non_finite(value):
        return _NOT_FINITE
    try:
        _JSON.encode(value)
    except UnicodeEncodeError:
        return "is not Unicode text (a lone surrogate: bytes decoded with surrogateescape?)"
    except (TypeError, ValueError) as exc:
        return f"is not a value JSON holds ({exc})"
    return None


#: Why a JSON text column refuses a value (``_json_text``, ``_problem``).
_NOT_FINITE = (
    "holds a float NaN or infinity, which JSON text cannot (a number past a float's range, "
    "such as 1e400, reads as infinity); export JSON lines to keep the record as sent"
)


def _non_finite(value: object) -> bool:
    """Whether ``value`` (JSON-like) holds a float NaN or infinity, however deep.

    With a stack of its own: a value nested past Python's recursion limit still decodes.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def _csv_cell(value: object) -> object:
    """One typed value as CSV text (``csv`` writes str and int as they are)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _amount_text(value)
    if isinstance(value, dt.datetime):
        return _timestamp_text(value)
    if isinstance(value, (tuple, list)):  # a list a caller's Struct holds: its repr was written
        return _JSON.encode(value).decode()  # a JSON array: unambiguous, whatever the tags hold
    return value


def _amount_text(value: Decimal) -> str:
    """An amount as exact decimal text: plain, unless that takes more than ``_PLAIN_DIGITS``.

    ``1E+100000000`` written out plain is 100 MB of zeros (and ``1E+99999999999`` a
    MemoryError): past ``_PLAIN_DIGITS`` digits, or not a number, it keeps ``str``'s form,
    still exact.
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and max(value.adjusted(), 0) - min(exponent, 0) < _PLAIN_DIGITS:
        return f"{value:f}"
    return str(value)


def _timestamp_text(value: dt.datetime) -> str:
    """A timestamp as the API writes it: UTC, ``Z``, milliseconds unless finer or none.

    Or, when UTC's date is out of a datetime's range, in its own offset.
    """
    if value.tzinfo is None:
        return value.isoformat()  # no zone given: say none rather than invent one
    try:
        value = value.astimezone(dt.timezone.utc)  # not dt.UTC: Python 3.11 and later only
    except OverflowError:
        # In UTC past year 9999 or before year 1, which a datetime cannot hold: the same
        # instant in the offset it came with.
        return value.isoformat()
    micro = value.microsecond
    fraction = "" if not micro else f".{micro // 1000:03}" if not micro % 1000 else f".{micro:06}"
    return f"{value.replace(microsecond=0, tzinfo=None).isoformat()}{fraction}Z"


# --- column by column: CSV text and Arrow arrays of a batch of decoded items -------------
#
# Items that msgspec decoded (a stream's pages, raw records decoded here) hold exactly the
# types their Struct declares, so each column is converted at once, by its schema type,
# rather than one cell at a time through ``_csv_cell``'s isinstance chain. Anything off
# the common path (a zone other than UTC, an amount in exponent form, ...) falls back to
# the per-cell functions above for that column, so the text is the same either way.

#: Entries a per-column memo keeps before it starts over (memory stays bounded).
_MEMO_LIMIT = 4096
#: Characters of cells a per-column memo keeps before it starts over: long unique values
#: (an 18 KB status reason that needs quoting) kept 4,096 times, with their cells, more than
#: doubled a CSV export's memory.
_MEMO_CHARS = 1 << 18
_BOOL_TEXT: dict[object, str] = {True: "true", False: "false", None: ""}
_TEXTS = msgspec.json.Decoder(list[str])


def csv_quote(text: str) -> str:
    """``text`` as the ``csv`` module writes a cell: quoted, quotes doubled, when it must be.

    The default dialect (QUOTE_MINIMAL) quotes a cell holding a delimiter, a quote or a line
    break (``tests/test_export_columns.py`` checks it against the ``csv`` module).
    """
    if '"' in text or "," in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class _Memo(dict[Any, str]):
    """A value's CSV cell, computed once: tags and status reasons repeat from card to card."""

    def __init__(self, text: Callable[[Any], str]) -> None:
        super().__init__()
        self.text = text
        #: Whether the values turned out mostly unique, so that the memo is not worth it.
        self.unique = False
        #: The characters of the cells kept (a value takes about as many).
        self.chars = 0

    def __missing__(self, value: object) -> str:
        text = self[value] = self.text(value)
        self.chars += len(text)
        return text

    def cells(self, column: Sequence[object]) -> list[str]:
        if len(self) > _MEMO_LIMIT or self.chars > _MEMO_CHARS:
            self.clear()
            self.chars = 0
        return list(map(self.__getitem__, column))


def cell_text(value: object) -> str:
    cell = _csv_cell(value)
    # A str subclass's own text, as JSON and Parquet write it: ``str()`` of a ``(str, Enum)``
    # member (a Struct the caller built may hold one) is its name, ``Status.ENABLED``.
    return csv_quote(str.__str__(cell) if isinstance(cell, str) else str(cell))


def _list_cell(value: tuple[str, ...] | None) -> str:
    """A list of strings as ``cell_text`` writes it: a JSON array, quoted unless empty."""
    if value is None:
        return ""
    if not value:
        return "[]"
    return '"' + _JSON.encode(value).decode().replace('"', '""') + '"'


def _encoded_timestamps(column: Sequence[object]) -> bytes | None:
    """The column as a JSON array of UTC texts (msgspec's form), or None if one is not UTC.

    msgspec writes a datetime whose offset is zero with a ``Z`` and six fraction digits
    (none for a whole second); anything else (naive, another offset) has no ``Z``. So each
    value holds one ``Z`` or, ``null``, one ``u``: counting bytes is a single pass each.
    """
    encoded = _JSON.encode(column)
    if encoded.count(b"Z") + encoded.count(b"u") != len(column):
        return None
    return encoded


def encoded_amounts(column: Sequence[object]) -> bytes | None:
    """The column as a JSON array of ``str(Decimal)``, or None unless each is plain decimal.

    ``str`` and ``format(value, "f")`` of a Decimal agree unless ``str`` chose an exponent
    (``1E+3``, ``1e+3``) or the value is not a number (``NaN``, ``sNaN``, ``Infinity``):
    none of those letters is in ``null``.
    """
    encoded = _JSON.encode(column)
    if b"E" in encoded or b"e" in encoded or b"N" in encoded or b"I" in encoded:
        return None
    return encoded


#: Between the strings of a list cell, as ``_list_cell`` writes them (a quoted JSON array).
_LIST_SEPARATOR = '"",""'


class CsvColumns:
    """Turns a batch of decoded items into CSV lines, a column at a time.

    Each column's converter is chosen once, from the schema. A column whose cells are all
    the same (an empty one, ``record_type``, ``version``) is not joined cell by cell: runs
    of such columns become one piece of text, put between the varying cells of every line,
    or into the line break itself when they start or end the line.
    """

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.converters = [self._converter(type_) for _, type_ in kind.schema]

    def _converter(self, type_: str) -> Callable[[Sequence[Any]], Sequence[str]]:
        """How a column of ``type_`` becomes its cells (a memo of its own for each column)."""
        if type_ in ("string", "json"):
            return functools.partial(self.strings, _Memo(csv_quote))
        if type_ == "list":
            return functools.partial(self.lists, _Memo(_list_cell))
        if type_ == "bool":
            return self.booleans
        if type_ == "decimal":
            return self.amounts
        if type_ == "timestamp":
            return self.timestamps
        return self.cells

    def lines(self, items: Sequence[Item]) -> str:
        """The CSV lines of ``items``, each ending in CRLF, as ``csv.writer`` writes them."""
        count = len(items)
        if not count:
            return ""
        # The varying columns' cells, and between them the text of each run of constant ones.
        pieces: list[str | Sequence[str]] = []
        for convert, column in zip(
            self.converters, columns_of(self.kind, items, "csv"), strict=True
        ):
            if column is None:
                text = ""
            else:
                cells = convert(column)
                text = cells[0]
                # The last cell first: most varying columns differ there, at no count's cost.
                if cells[-1] != text or cells.count(text) != count:
                    pieces.append(cells)
                    continue
            if pieces and isinstance(pieces[-1], str):
                pieces[-1] += "," + text
            else:
                pieces.append(text)
        first, last = pieces[0], pieces[-1]
        if len(pieces) == 1 and isinstance(first, str):
            return (first + "\r\n") * count  # every line the same
        head = tail = ""
        if isinstance(first, str):  # constant columns that start each line: after each break
            head = first + ","
            del pieces[0]
        if isinstance(last, str):  # and that end it: before each break
            tail = "," + last
            del pieces[-1]
        columns = [[piece] * count if isinstance(piece, str) else piece for piece in pieces]
        rows = columns[0] if len(columns) == 1 else map(",".join, zip(*columns, strict=True))
        end = tail + "\r\n"
        return head + (end + head).join(rows) + end

    @staticmethod
    def strings(quoted: _Memo, column: Sequence[Any]) -> Sequence[str]:
        try:
            joined = "".join(column)
        except TypeError:  # a None among them: an empty cell
            column = ["" if value is None else value for value in column]
            joined = "".join(column)
        if '"' in joined or "," in joined or "\r" in joined or "\n" in joined:
            return quoted.cells(column)
        return column

    @staticmethod
    def lists(repeated: _Memo, column: Sequence[tuple[str, ...] | None]) -> Sequence[str]:
        """A JSON array in each cell, quoted (its quotes doubled) unless empty; None empty.

        Through the memo while the lists repeat (tags); once a batch is mostly new lists
        (IMEIs), built in place: when JSON escapes nothing in any of their strings, each
        cell is its strings between ``"[""`` and ``""]"``, else ``_list_cell``'s.
        """
        if not repeated.unique:
            before = len(repeated)
            cells = repeated.cells(column)
            repeated.unique = len(repeated) - before > len(column) // 2
            return cells
        strings = "".join(map("".join, filter(None, column)))
        if b"\\" in _JSON.encode(strings):
            return [_list_cell(value) for value in column]
        separator = _LIST_SEPARATOR
        return [
            f'"[""{separator.join(value)}""]"' if value else "" if value is None else "[]"
            for value in column
        ]

    @staticmethod
    def booleans(column: Sequence[object]) -> Sequence[str]:
        return list(map(_BOOL_TEXT.__getitem__, column))

    def amounts(self, column: Sequence[object]) -> Sequence[str]:
        encoded = encoded_amounts(column)
        if encoded is None:
            return self.cells(column)
        return _TEXTS.decode(encoded.replace(b"null", b'""') if b"u" in encoded else encoded)

    def timestamps(self, column: Sequence[object]) -> Sequence[str]:
        encoded = _encoded_timestamps(column)
        if encoded is None:
            return self.cells(column)
        # Milliseconds when the value has no finer part: msgspec always writes six digits.
        encoded = encoded.replace(b'000Z"', b'Z"')
        return _TEXTS.decode(encoded.replace(b"null", b'""') if b"u" in encoded else encoded)

    @staticmethod
    def cells(column: Iterable[object]) -> list[str]:
        return [cell_text(value) for value in column]


#: A raw record's decoder, as a page's reads it (``_models``): ``float_hook`` makes a number
#: past a float's range in a free-form field (``1e400``) infinity, which CSV and Parquet
#: refuse by record and column, where a decoder without it said the record was not one.
_DECODERS: dict[type[Item], msgspec.json.Decoder[Item]] = {
    cls: msgspec.json.Decoder(cls, float_hook=float) for cls in (SimCard, SimCardAction)
}


RAW_TYPES = (RawRecord, msgspec.Raw)
_RAW_CLASSES = frozenset(RAW_TYPES)
#: A ``RawRecord``'s JSON bytes (``msgspec.Raw`` is a bytes-like object).
RAW_BYTES: Callable[[RawRecord], msgspec.Raw] = operator.attrgetter("raw")


def as_structs(
    kind: Kind, items: Sequence[Record], *, from_api: bool
) -> tuple[Sequence[Item], bool]:
    """``items`` as Structs: raw records (``RawRecord``, ``msgspec.Raw``) decoded, Structs kept.

    And whether msgspec decoded every one of them here (then each holds its declared types).
    ``from_api``: the items are a stream's, as the API sent them (see ``_check_record_types``).
    """
    raw = sum(map(_RAW_CLASSES.__contains__, map(type, items)))
    if not raw:
        _check_record_types(kind, items, from_api)  # type: ignore[arg-type]  # Structs already
        return items, False  # type: ignore[return-value]
    decode: Callable[[msgspec.Raw], Item] = functools.partial(decode_record, _DECODERS[kind.cls])
    typed = [_struct(kind, decode, item, from_api) for item in items]
    _check_record_types(kind, typed, from_api)
    return typed, raw == len(items)


_record_type = operator.attrgetter("record_type")


def _check_record_types(kind: Kind, items: Sequence[Item], from_api: bool) -> None:
    """Refuse an item whose ``record_type`` is another kind's: these columns are not its.

    A record would decode into either kind but for its ``record_type``: an action's was
    written as a SIM card's, its own fields dropped and defaults made up. A stream's
    records are checked as they decode (an answer's is the server's doing:
    ``APIResponseValidationError``); Structs the caller built, and raw records it gave
    (as they are decoded: ``_struct``), here: ``TypeError``.
    """
    expected = RECORD_TYPES[kind.cls]
    with contextlib.suppress(TypeError):  # an unhashable one, in a Struct the caller built
        if set(map(_record_type, items)) <= {None, expected}:
            return
    struct = next(item for item in items if item.record_type not in (None, expected))
    raise _another_kind(kind, struct.record_type, struct.id, from_api=from_api)


def _another_kind(kind: Kind, record_type: object, id_: object, *, from_api: bool) -> Exception:
    expected = RECORD_TYPES[kind.cls]
    said, which = shown(record_type), shown(id_)  # cut: either may be any length
    if from_api:
        return APIResponseValidationError(
            f"a {expected} listing's answer holds a {said} record (id {which}) among its "
            f"{expected} records: not written as one"
        )
    return TypeError(f"export() got a {said} record (id {which}) among {kind.cls.__name__} items")


class _TypeOnly(msgspec.Struct):
    record_type: str | None = None
    id: Any = None


_TYPE_ONLY = msgspec.json.Decoder(_TypeOnly)
#: Each kind by the ``record_type`` its records carry.
_BY_RECORD_TYPE = {record_type: cls for cls, record_type in RECORD_TYPES.items()}


def raw_kind(item: RawRecord | msgspec.Raw) -> type[Item]:
    """The kind a raw record says it is (its ``record_type``); ``SimCard`` when it does not."""
    try:
        record_type = _TYPE_ONLY.decode(_raw_json(item)).record_type
    except UNDECODABLE:
        return SimCard  # decoding it as one raises what is wrong with it
    return _BY_RECORD_TYPE.get(record_type, SimCard)  # type: ignore[arg-type]


def _raw_json(item: RawRecord | msgspec.Raw) -> msgspec.Raw:
    """A raw record's JSON: a ``RawRecord``'s ``raw``, or the ``msgspec.Raw`` itself.

    A ``RawRecord`` the caller built may hold anything: a str was written to CSV but not to
    JSON lines, a dict raised a bare TypeError. Only bytes are taken, in every format.
    """
    if not isinstance(item, RawRecord):
        return item
    raw: object = item.raw
    if not isinstance(raw, _JSON_BYTES):
        raise _not_a_record(item, f"its raw is a {type(raw).__name__}, not JSON bytes")
    return item.raw


#: What a ``RawRecord``'s ``raw`` may be: bytes of JSON.
_JSON_BYTES = (msgspec.Raw, bytes, bytearray, memoryview)


def _struct(
    kind: Kind, decode: Callable[[msgspec.Raw], Item], item: Record, from_api: bool
) -> Item:
    """A raw record decoded as ``kind``; one of another kind refused as such."""
    if not isinstance(item, RAW_TYPES):
        return item
    try:
        return decode(_raw_json(item))
    except UNDECODABLE as exc:
        with contextlib.suppress(*UNDECODABLE):
            said = _TYPE_ONLY.decode(_raw_json(item))
            if said.record_type not in (None, RECORD_TYPES[kind.cls]):
                raise _another_kind(kind, said.record_type, said.id, from_api=from_api) from None
        raise _not_a_record(item, exc) from exc


def given_record(item: RawRecord | msgspec.Raw) -> msgspec.Raw:
    """A raw record the caller made, as JSON lines write it: checked, on one line.

    Copied as it was, a record with line breaks took several lines, and one that is no
    JSON made a line (or a JSON array) no reader takes, the export saying it succeeded.
    """
    try:
        return checked_record(_raw_json(item))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _not_a_record(item, exc) from exc


def _not_a_record(item: RawRecord | msgspec.Raw, why: Exception | str) -> InvalidParameterError:
    shown = item.id if isinstance(item, RawRecord) else cut(bytes(item).decode(errors="replace"))
    return InvalidParameterError(
        "items", f"raw records that each hold one JSON object of the kind exported ({why})", shown
    )
