"""msgspec Structs for the wire, and the decoders built once from them.

Every Struct is frozen and keyword-only. Unknown fields are ignored, every field
that the API may leave out or send as null has a default, and enumerations are
plain ``str`` so that a value Telnyx adds next year decodes instead of failing.
The known values live in ``_query`` (they are what a filter may ask for). A record's
``record_type`` is the one exception: it names the kind of record, so a SIM card's may
only be ``"sim_card"`` (or absent), and a record of another kind fails as it decodes.

No I/O here: ``decode_*`` take bytes and return Structs or raise
``msgspec.DecodeError`` / ``msgspec.ValidationError``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, NamedTuple, TypeVar

import msgspec

from ._errors import shown

__all__ = [
    "RECORD_TYPES",
    "UNDECODABLE",
    "Amount",
    "DeviceLocation",
    "ErrorObject",
    "ErrorSource",
    "Page",
    "PaginationMeta",
    "PinPukCodes",
    "RawRecord",
    "SimCard",
    "SimCardAction",
    "SimCardActionStatus",
    "SimCardGroup",
    "SimCardStatus",
    "checked_record",
    "decode_errors",
    "decode_raw_page",
    "decode_raw_sim_card_page_by_amount",
    "decode_record",
    "decode_sim_card",
    "decode_sim_card_action",
    "decode_sim_card_action_page",
    "decode_sim_card_page",
]

T = TypeVar("T")

if TYPE_CHECKING:
    _Integer = int
else:
    # JSON Schema's "integer" is any number with no fractional part: 55, or 55.0 and 5.5e1,
    # as a server that writes every number as a float sends it. Read as either (strictly:
    # not "55", not true) and made an int by ``_integral`` in ``__post_init__``.
    _Integer = int | float


#: A time as RFC 3339 writes it: with its offset (``Z`` or ``+02:00``). Without one, msgspec
#: reads a naive datetime, an instant nobody stated (a Parquet export took it for UTC).
_Time = Annotated[dt.datetime, msgspec.Meta(tz=True)]


#: The largest integer below which a float holds every integer (2**53 - 1).
_EXACT_FLOAT = 2**53 - 1


def _integral(struct: msgspec.Struct, names: tuple[str, ...]) -> None:
    """Make each of the fields ``names`` that holds an integral float an int; refuse 55.5.

    Raised from ``__post_init__``, the ``ValueError`` is a ``msgspec.ValidationError``.
    """
    for name in names:
        value = getattr(struct, name)
        if type(value) is float:
            if not value.is_integer():
                raise ValueError(f"Expected an integer, got {value!r} for `{name}`")
            if abs(value) > _EXACT_FLOAT:
                # 9007199254740993.0 reads as ...992, 1e23 as 99999999999999991611392.
                raise ValueError(
                    f"Expected an integer for `{name}` that a float holds exactly: from 2**53 "
                    f"on, one written with a fraction or an exponent is not read exactly (read "
                    f"as {value!r}); digits alone are"
                )
            msgspec.structs.force_setattr(struct, name, int(value))


class _Model(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of every wire Struct.

    ``gc=False`` is safe because these objects only hold scalars, tuples and
    other Structs, never themselves; it spares the cycle collector from walking
    a million cards during a bulk export.
    """


class Amount(_Model, frozen=True, kw_only=True):
    """A data quantity, ``{"amount": "2049.0", "unit": "MB"}``; amount is exact."""

    amount: Decimal | None = None
    unit: str | None = None


class SimCardStatus(_Model, frozen=True, kw_only=True):
    """Where a SIM card is in its lifecycle, and why."""

    value: str | None = None
    reason: str | None = None


class SimCardActionStatus(_Model, frozen=True, kw_only=True):
    """Where a SIM card action is (in-progress, completed, failed, ...), and why."""

    value: str | None = None
    reason: str | None = None


class DeviceLocation(_Model, frozen=True, kw_only=True):
    """Last known position of the device holding the SIM (single-card GET only)."""

    latitude: str | None = None
    longitude: str | None = None
    accuracy: _Integer | None = None
    accuracy_unit: str | None = None

    def __post_init__(self) -> None:
        _integral(self, ("accuracy",))


class PinPukCodes(_Model, frozen=True, kw_only=True):
    """PIN and PUK codes, present only when asked for with ``include_pin_puk_codes``."""

    pin1: str | None = None
    pin2: str | None = None
    puk1: str | None = None
    puk2: str | None = None

    def __repr__(self) -> str:
        # Secrets: a log line with a card in it must not carry the codes.
        return "PinPukCodes(<redacted>)"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # msgspec gives every Struct a rich repr that lists the fields: not these.
        return [("codes", "<redacted>")]


class SimCardGroup(_Model, frozen=True, kw_only=True):
    """The SIM card group, embedded when ``include_sim_card_group=True``."""

    id: str | None = None
    record_type: str | None = None
    name: str | None = None
    default: bool | None = None
    data_limit: Amount | None = None
    consumed_data: Amount | None = None
    private_wireless_gateway_id: str | None = None
    wireless_blocklist_id: str | None = None
    created_at: _Time | None = None
    updated_at: _Time | None = None


#: The most characters a record's id may have (a UUID has 36): a stream remembers every id
#: it delivered, so ids of any length from a server would cost their length each.
MAX_ID_LENGTH = 128
_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]


class SimCard(_Model, frozen=True, kw_only=True):
    """A SIM card as listed by ``GET /sim_cards`` or fetched by ``GET /sim_cards/{id}``.

    The fields from ``current_device_location`` to ``pin_puk_codes`` are only
    sent by the single-card GET; in a listing they stay ``None``.
    """

    id: _Id
    #: Checked as each record decodes (in C): another kind's record (an action in a SIM
    #: card listing) is refused, not read as a SIM card with its fields made up.
    record_type: Literal["sim_card"] | None = None
    status: SimCardStatus = SimCardStatus()
    type: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    msisdn: str | None = None
    sim_card_group_id: str | None = None
    tags: tuple[str, ...] = ()
    authorized_imeis: tuple[str, ...] | None = None
    eid: str | None = None
    esim_installation_status: str | None = None
    data_limit: Amount | None = None
    current_billing_period_consumed_data: Amount = Amount()
    actions_in_progress: bool = False
    resources_with_in_progress_actions: tuple[dict[str, Any], ...] = ()
    version: str | None = None
    voice_enabled: bool = False
    created_at: _Time | None = None
    updated_at: _Time | None = None
    sim_card_group: SimCardGroup | None = None
    # Single-card GET only.
    current_device_location: DeviceLocation | None = None
    current_imei: str | None = None
    current_mcc: str | None = None
    current_mnc: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    live_data_session: str | None = None
    pin_puk_codes: PinPukCodes | None = None

    def __hash__(self) -> int:
        """By type and ``id``; equal cards have equal ids, so this agrees with ``==``.

        Hashing every field failed on a card whose ``resources_with_in_progress_actions``
        holds objects (a ``dict`` has no hash).
        """
        return hash((SimCard, self.id))


class SimCardAction(_Model, frozen=True, kw_only=True):
    """An operation on a SIM card (enable, disable, set_standby, ...) and its progress."""

    id: _Id
    #: Checked as each record decodes, as ``SimCard.record_type`` is.
    record_type: Literal["sim_card_action"] | None = None
    sim_card_id: str | None = None
    action_type: str | None = None
    status: SimCardActionStatus = SimCardActionStatus()
    settings: dict[str, Any] | None = None
    #: Not in the published schema, but the listing filters on it, so it is read when sent.
    bulk_sim_card_action_id: str | None = None
    created_at: _Time | None = None
    updated_at: _Time | None = None

    def __hash__(self) -> int:
        """By type and ``id``, as ``SimCard``'s: ``settings`` is a ``dict``, which has no hash."""
        return hash((SimCardAction, self.id))


class PaginationMeta(_Model, frozen=True, kw_only=True):
    """The ``meta`` object of a list answer. The spec requires none of its fields.

    None: the server did not say (``page_size`` 0 likewise). Only a meta that gives
    ``total_results`` counts the listing (see the rules in ``_pagination``).
    """

    page_number: _Integer | None = None
    page_size: _Integer = 0
    total_pages: _Integer | None = None
    total_results: _Integer | None = None

    def __post_init__(self) -> None:
        _integral(self, _META_FIELDS)


_META_FIELDS = ("page_number", "page_size", "total_pages", "total_results")


class Page(_Model, Generic[T], frozen=True, kw_only=True):
    """One page of a listing: its items and the server's pagination meta.

    ``data`` is required (the spec lists no required key, but every answer it shows has
    one): ``{}`` or a body of only ``errors`` is not an empty page, it fails to decode.
    """

    data: tuple[T, ...]
    meta: PaginationMeta | None = None


class RawRecord(_Model, frozen=True, kw_only=False):
    """One record of a listing exactly as the API sent it, and its id.

    ``raw`` holds the record's JSON bytes (``bytes(record.raw)``), fields no model
    knows included; ``id`` is all that was read of them, for dedupe and checkpoints.
    ``export()`` writes these to JSON lines verbatim. ``sort_value`` is the value a
    sorted listing is ordered by (a SIM card's ``current_billing_period_consumed_data``
    ``.amount``), read only from a listing that has a ``sort``, for an in-order merge;
    None otherwise, or when the record has none.
    """

    id: str
    raw: msgspec.Raw
    sort_value: Decimal | None = None


class _RawData(_Model, frozen=True, kw_only=True):
    """A list answer's records, each kept as sent."""

    data: tuple[msgspec.Raw, ...]


class _IdOnly(_Model, frozen=True, kw_only=True):
    id: _Id


class _IdAndType(_Model, frozen=True, kw_only=True):
    id: _Id
    record_type: str | None = None


class _IdPage(_Model, frozen=True, kw_only=True):
    """A list answer read for what paging needs: each record's id, and the meta."""

    data: tuple[_IdOnly, ...]
    meta: PaginationMeta | None = None


class _SimCardId(_Model, frozen=True, kw_only=True):
    id: _Id
    record_type: Literal["sim_card"] | None = None  # checked as it decodes, as SimCard's


class _SimCardIdPage(_Model, frozen=True, kw_only=True):
    """``_IdPage`` of a SIM card listing: every record's kind checked too."""

    data: tuple[_SimCardId, ...]
    meta: PaginationMeta | None = None


class _SimCardActionId(_Model, frozen=True, kw_only=True):
    id: _Id
    record_type: Literal["sim_card_action"] | None = None


class _SimCardActionIdPage(_Model, frozen=True, kw_only=True):
    """``_IdPage`` of a SIM card action listing: every record's kind checked too."""

    data: tuple[_SimCardActionId, ...]
    meta: PaginationMeta | None = None


class _AmountOnly(_Model, frozen=True, kw_only=True):
    amount: Decimal | None = None


class _IdAndAmount(_Model, frozen=True, kw_only=True):
    """A SIM card's id and the amount a sorted listing orders it by, typed as in ``SimCard``."""

    id: _Id
    current_billing_period_consumed_data: _AmountOnly = _AmountOnly()
    record_type: Literal["sim_card"] | None = None


class _IdAndAmountPage(_Model, frozen=True, kw_only=True):
    """``_IdPage``, and each record's amount: what a sorted SIM card listing is ordered by."""

    data: tuple[_IdAndAmount, ...]
    meta: PaginationMeta | None = None


class _One(_Model, Generic[T], frozen=True, kw_only=True):
    """The envelope of a single-item answer, ``{"data": {...}}``."""

    data: T


class ErrorSource(_Model, frozen=True, kw_only=True):
    """What an error points at: a JSON pointer into the body, or a query parameter."""

    pointer: str | None = None
    parameter: str | None = None


class ErrorObject(_Model, frozen=True, kw_only=True):
    """One entry of the API's ``errors`` array.

    ``code`` is a ``str``, or ``None`` when the entry has none: some Telnyx schemas send
    an integer, and it is converted. ``detail`` falls back to ``description``, which older
    schemas send.
    """

    code: str | None = None
    title: str | None = None
    detail: str | None = None
    source: ErrorSource | None = None
    meta: dict[str, Any] | None = None

    def __str__(self) -> str:
        parts = [p for p in (self.code, self.title) if p]
        text = " ".join(parts) or "error"
        if self.detail:
            text += f": {self.detail}"
        where = self.source and (self.source.parameter or self.source.pointer)
        if where:
            text += f" [{where}]"
        return text


class _WireErrors(msgspec.Struct):
    """Where an answer's ``errors`` sit, whatever their shape (read apart, leniently)."""

    errors: msgspec.Raw = msgspec.Raw(b"null")


# Decoders are built once, at import: building one compiles the type's schema.
# float_hook: a number too large for a float (1e999) is infinity, not a refusal. It is called
# for untyped numbers only (the free-form objects: an action's settings, resources with
# actions in progress), where the spec allows any JSON number.
_SIM_CARD_PAGE = msgspec.json.Decoder(Page[SimCard], float_hook=float)
_SIM_CARD_ACTION_PAGE = msgspec.json.Decoder(Page[SimCardAction], float_hook=float)
_ONE_SIM_CARD = msgspec.json.Decoder(_One[SimCard], float_hook=float)
_ONE_SIM_CARD_ACTION = msgspec.json.Decoder(_One[SimCardAction], float_hook=float)
_ERRORS = msgspec.json.Decoder(_WireErrors)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_RAW_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_CODE = msgspec.json.Decoder(str | int | None)
_TEXT = msgspec.json.Decoder(str | None)
_SOURCE = msgspec.json.Decoder(ErrorSource | None)
# float_hook: a number too large for a float (1e999) is infinity, not a refusal.
_META = msgspec.json.Decoder(dict[str, Any] | None, float_hook=float)
_ANY = msgspec.json.Decoder(Any, float_hook=float)
_RAW_DATA = msgspec.json.Decoder(_RawData)
_ID_PAGE = msgspec.json.Decoder(_IdPage)
#: Id pages of a listing of one kind: each record's ``record_type`` checked in C as it decodes.
_KIND_ID_PAGES: dict[str, msgspec.json.Decoder[_SimCardIdPage | _SimCardActionIdPage]] = {
    "sim_card": msgspec.json.Decoder(_SimCardIdPage),
    "sim_card_action": msgspec.json.Decoder(_SimCardActionIdPage),
}
_ID_AND_TYPE = msgspec.json.Decoder(_IdAndType)
_ID_AND_AMOUNT_PAGE = msgspec.json.Decoder(_IdAndAmountPage)


#: What a decode of bytes that are not the JSON asked for raises: msgspec's errors, and
#: ``RecursionError`` for JSON nested past its depth (a hostile body, a damaged file).
UNDECODABLE = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


def _decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except RecursionError as exc:
        # msgspec recurses on nested JSON: a hostile body must fail like any bad body.
        raise msgspec.DecodeError("JSON nested too deeply") from exc
    except msgspec.ValidationError:
        raise  # JSON that is not the type asked for: said as it is
    except msgspec.DecodeError as exc:
        # msgspec says "truncated" or "malformed" of a lone surrogate escape, which JSON's
        # grammar allows: said so when nothing else is wrong with the body.
        masked = _masked(bytes(body))  # a Raw too
        if masked is None:
            raise
        try:
            _decode(decoder, masked.body)
        except msgspec.DecodeError as other:
            if _names_a_stand_in(str(other), masked):  # a stand-in refused (by a Literal)
                raise _LoneSurrogates(masked) from exc
            raise other from None  # what else is wrong, at the same bytes
        raise _LoneSurrogates(masked) from exc


def _names_a_stand_in(message: str, masked: _Masked) -> bool:
    """Whether ``message`` quotes one of the stand-ins ``masked`` put in a body."""
    return _unmasked_text(message, masked) != message


class _Masked(NamedTuple):
    """A body with each lone surrogate escape masked (``_masked``)."""

    body: bytes
    #: Each stand-in's escape as the body wrote it.
    escapes: dict[bytes, bytes]
    #: The first lone surrogate escape: where, and how it was written.
    first: tuple[int, bytes]


class _LoneSurrogates(msgspec.DecodeError):
    """A body that decodes but for its lone surrogate escapes (and the body masked)."""

    def __init__(self, masked: _Masked) -> None:
        at, escape = masked.first
        super().__init__(
            f"a lone UTF-16 surrogate escape ({escape.decode()}) at byte {at}: JSON's grammar "
            "allows one, but it is no Unicode character and this client's decoder refuses it"
        )
        self.masked = masked


#: A UTF-16 surrogate's escape in a JSON string, a pair as one (group 1), after an even run
#: of backslashes: ``\ud800`` is an escape, ``\\ud800`` an escaped backslash and text. A
#: match of the escape alone (6 bytes) is a lone surrogate.
_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*"
    rb"(\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[c-fC-F][0-9a-fA-F]{2}))"
)
_LONE_SURROGATE_LENGTH = len(rb"\ud800")


#: A private-use character's escape (its four hex digits, group 1), and the characters.
_PRIVATE_USE_ESCAPE = re.compile(rb"\\u([eEfF][0-9a-fA-F]{3})")
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def _masked(body: bytes) -> _Masked | None:
    """``body`` with each lone surrogate escape written as a private-use character's.

    Each escape's text gets its own stand-in, an escape of the same length that ``body``
    holds neither as an escape nor as a character, so that a record's bytes can be
    given back exactly (``_unmasked``). None when ``body`` has no lone surrogate escape.
    A pass in C over the body each, and Python work for each surrogate escape only.
    """
    if b"\\u" not in body:
        return None
    held = {int(code, 16) for code in _PRIVATE_USE_ESCAPE.findall(body)}
    held.update(map(ord, _PRIVATE_USE.findall(body.decode(errors="replace"))))
    spare = (code for code in range(0xE000, 0xF900) if code not in held)
    stand_in: dict[bytes, bytes] = {}
    first: list[tuple[int, bytes]] = []

    def mask(match: re.Match[bytes]) -> bytes:
        escape = match.group(1)
        if len(escape) != _LONE_SURROGATE_LENGTH:
            return match.group()  # a pair: a character
        new = stand_in.get(escape)
        if new is None:  # each spelling its own stand-in, given as it is first met
            code = next(spare, None)
            if code is None:
                raise _Unmaskable
            new = stand_in[escape] = f"\\u{code:04x}".encode()
            if not first:
                first.append((match.start(1), escape))
        return match.group()[: match.start(1) - match.start()] + new

    try:
        masked = _SURROGATE.sub(mask, body)
    except _Unmaskable:
        return None  # a body holding all 6,400 private-use characters: refused as it is
    if not first:
        return None
    return _Masked(masked, {new: old for old, new in stand_in.items()}, first[0])


class _Unmaskable(Exception):  # noqa: N818  (raised out of re.sub, caught at once)
    """No private-use character is left to stand in for another lone surrogate escape."""


#: Stand-ins ``_unmasked`` puts back by ``bytes.replace``, one pass each; more by one pass.
_FEW_ESCAPES = 8


def _unmasked(page: Page[RawRecord], escapes: dict[bytes, bytes]) -> Page[RawRecord]:
    """``page`` (decoded from a ``_masked`` body) with its records' own escapes back."""
    characters = frozenset(stand_in.decode("unicode_escape") for stand_in in escapes)

    def unmask(match: re.Match[bytes]) -> bytes:
        return escapes.get(match.group(), match.group())

    few = len(escapes) <= _FEW_ESCAPES
    records = []
    for record in page.data:
        if not characters.isdisjoint(record.id):
            raise msgspec.DecodeError(
                "a record's id holds a lone UTF-16 surrogate escape, which no Unicode text holds"
            )
        text = bytes(record.raw)
        if b"\\u" not in text:
            pass
        elif few:  # a pass in C each
            for stand_in, escape in escapes.items():
                text = text.replace(stand_in, escape)
        else:  # one pass, a look-up at each private-use escape
            text = _PRIVATE_USE_ESCAPE.sub(unmask, text)
        records.append(RawRecord(record.id, msgspec.Raw(text), record.sort_value))
    return Page(data=tuple(records), meta=page.meta)


#: The ``record_type`` of each kind of record, as the API sends it.
RECORD_TYPES: dict[type[Any], str] = {SimCard: "sim_card", SimCardAction: "sim_card_action"}


def _another_kind(
    record: _IdAndType | SimCard | SimCardAction, record_type: str
) -> msgspec.ValidationError:
    # Cut: a server's record type (and id) may be of any length.
    return msgspec.ValidationError(
        f"a {record_type} was asked for, the answer holds a {shown(record.record_type)} "
        f"record (id {shown(record.id)})"
    )


def decode_sim_card_page(body: bytes) -> Page[SimCard]:
    """Decode a ``GET /sim_cards`` answer.

    UTF-8 (``check_utf8``), as a raw page is (``_raw_data``): the same answer was taken
    typed and refused raw.
    """
    check_utf8(body)
    return _of_its_kind(_SIM_CARD_PAGE, body, "sim_card")


def decode_sim_card_action_page(body: bytes) -> Page[SimCardAction]:
    """Decode a ``GET /sim_card_actions`` answer (UTF-8, as ``decode_sim_card_page``)."""
    check_utf8(body)
    return _of_its_kind(_SIM_CARD_ACTION_PAGE, body, "sim_card_action")


#: Where msgspec says a record's ``record_type`` is not its kind's: a page's, or one's.
_RECORD_TYPE_AT = re.compile(r"`\$\.data(?:\[(\d+)\])?\.record_type`$")


def check_utf8(body: bytes) -> None:
    """Refuse a body that is not UTF-8, as JSON must be (``msgspec.DecodeError``).

    msgspec checks the strings it decodes, not those it passes over: an unknown field's, or
    a record kept as sent (``Raw``), which would be written out as it came (a file no JSON
    reader takes). An ASCII body (the usual) is cleared in a single C pass.
    """
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError as exc:
            raise msgspec.DecodeError(f"invalid UTF-8 at byte {exc.start}: {exc.reason}") from None


def _of_its_kind(decoder: msgspec.json.Decoder[T], body: bytes, record_type: str) -> T:
    """``_decode``; a record of another kind is said by its type and id, as a raw page's is.

    msgspec names only where the value is (``$.data[7].record_type``): that record's id
    and type are read again, on this failure only.
    """
    try:
        return _decode(decoder, body)
    except msgspec.ValidationError as exc:
        found = _RECORD_TYPE_AT.search(str(exc))
        if found is None:
            raise
        try:
            raw = _decode(_RAW_FIELDS, body)["data"]
            if found[1] is not None:
                raw = _decode(_RAW_LIST, raw)[int(found[1])]
            record = _decode(_ID_AND_TYPE, raw)
        except (*UNDECODABLE, KeyError, IndexError):
            raise exc from None  # not a string, or a body read with stand-ins: as msgspec says
        raise _another_kind(record, record_type) from None


def decode_raw_page(body: bytes, record_type: str | None = None) -> Page[RawRecord]:
    """Decode a list answer into ``RawRecord``s: each record as sent, and its id.

    Only the envelope, the meta and each record's ``id`` are checked (a record must be
    an object with a string ``id``), and, if ``record_type`` is given, each record's
    ``record_type`` (of that kind, or none: as a typed record's is); the rest is passed on
    untouched. Line
    breaks between a record's tokens (a pretty-printed answer) are dropped, so
    that a record always fits on one line; JSON strings cannot hold one.
    """
    return _as_sent(_raw_page, body, record_type)


def _raw_page(body: bytes, record_type: str | None) -> Page[RawRecord]:
    ids: _IdPage | _SimCardIdPage | _SimCardActionIdPage
    if record_type is None:
        ids = _decode(_ID_PAGE, body)
    else:
        ids = _of_its_kind(_KIND_ID_PAGES[record_type], body, record_type)
    raws = _raw_data(body)
    records = tuple(map(RawRecord, [item.id for item in ids.data], raws))
    return Page(data=records, meta=ids.meta)


def _as_sent(
    decode: Callable[[bytes, str | None], Page[RawRecord]], body: bytes, record_type: str | None
) -> Page[RawRecord]:
    """``decode(body)``, or, for a body with a lone surrogate escape, its records as sent.

    msgspec refuses such an escape even in what it passes over (a ``Raw``): the body is
    decoded with a stand-in for each, and each record gets its own bytes back.
    """
    try:
        return decode(body, record_type)
    except _LoneSurrogates as exc:
        masked = exc.masked
    try:
        return _unmasked(decode(masked.body, record_type), masked.escapes)
    except msgspec.ValidationError as exc:  # a record's type, say: said as the body has it
        raise msgspec.ValidationError(_unmasked_text(str(exc), masked)) from None


def _unmasked_text(message: str, masked: _Masked) -> str:
    """``message`` with each stand-in it quotes written as the escape it stood in for."""
    for stand_in, escape in masked.escapes.items():
        # As a character, or escaped (repr() escapes a private-use character).
        for quoted in (stand_in.decode("unicode_escape"), stand_in.decode()):
            message = message.replace(quoted, escape.decode())
    return message


def decode_raw_sim_card_page_by_amount(body: bytes) -> Page[RawRecord]:
    """``decode_raw_page``, and each record's ``sort_value``: what a sorted listing orders by.

    That is ``current_billing_period_consumed_data.amount``, read in the same pass as
    the id and typed as ``SimCard`` types it, so a record fails here if and only if that
    field would fail the typed decoder too.
    """
    return _as_sent(_raw_page_by_amount, body, None)


def _raw_page_by_amount(body: bytes, _: str | None) -> Page[RawRecord]:
    keyed = _of_its_kind(_ID_AND_AMOUNT_PAGE, body, "sim_card")
    items = keyed.data
    ids = [item.id for item in items]
    amounts = [item.current_billing_period_consumed_data.amount for item in items]
    raws = _raw_data(body)
    records = tuple(map(RawRecord, ids, raws, amounts))
    return Page(data=records, meta=keyed.meta)


def _raw_data(body: bytes) -> tuple[msgspec.Raw, ...]:
    """A list answer's records as sent, each on one line.

    The body must be UTF-8 (``check_utf8``), checked once a page.
    """
    check_utf8(body)
    raws = _decode(_RAW_DATA, body).data
    if b"\n" in body or b"\r" in body:
        raws = tuple(map(_one_line, raws))
    return raws


class _AnObject(_Model, frozen=True, kw_only=True):
    """Any JSON object: decoding one checks its syntax and keeps nothing."""


_AN_OBJECT = msgspec.json.Decoder(_AnObject)


def checked_record(raw: msgspec.Raw | bytes) -> msgspec.Raw:
    """A record the caller gave as JSON (a ``RawRecord`` it built), checked as a page's are.

    UTF-8, one JSON object, on one line (line breaks between its tokens dropped). Raises
    ``msgspec.DecodeError`` or ``msgspec.ValidationError`` saying what is wrong.
    """
    text = bytes(raw)
    check_utf8(text)
    with contextlib.suppress(_LoneSurrogates):  # JSON all the same, as a page's records are
        _decode(_AN_OBJECT, text)
    return _one_line(msgspec.Raw(text))


def decode_record(decoder: msgspec.json.Decoder[T], raw: msgspec.Raw | bytes) -> T:
    """One record the caller gave as JSON, decoded by ``decoder``; raises as a page does.

    Nested too deeply, or holding a lone surrogate escape, it is said so.
    """
    return _decode(decoder, raw)


def _one_line(raw: msgspec.Raw) -> msgspec.Raw:
    text = bytes(raw)
    if b"\n" in text or b"\r" in text:
        return msgspec.Raw(text.replace(b"\r", b"").replace(b"\n", b""))
    return raw


def decode_sim_card(body: bytes) -> SimCard:
    """Decode a ``GET /sim_cards/{id}`` answer (UTF-8, as ``decode_sim_card_page``)."""
    check_utf8(body)
    return _of_its_kind(_ONE_SIM_CARD, body, "sim_card").data


def decode_sim_card_action(body: bytes) -> SimCardAction:
    """Decode a ``GET /sim_card_actions/{id}`` answer (UTF-8, as ``decode_sim_card_page``)."""
    check_utf8(body)
    return _of_its_kind(_ONE_SIM_CARD_ACTION, body, "sim_card_action").data


def decode_errors(body: bytes) -> tuple[ErrorObject, ...]:
    """Read the ``errors`` of an answer; anything unreadable gives ``()``, never raises.

    An error answer may be HTML from a proxy, or JSON of another shape: the status code
    still tells what happened. The ``errors`` are read leniently, entry by entry and field
    by field: a field of another type than the spec's is left out, not the whole array
    (one odd ``source`` lost every error's code and title); an entry that is a bare
    string is its ``detail``; ``errors`` that is one object is one entry.
    """
    try:
        raw = _decode(_ERRORS, body).errors
        entries = _RAW_LIST.decode(raw) if memoryview(raw)[:1].tobytes() == b"[" else [raw]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ()
    return tuple(e for e in map(_error_object, entries) if e is not None)


#: The ``detail`` of an error entry no decoder reads (bytes that are not UTF-8, a number
#: past any range): it still states an error.
UNREADABLE_ERROR = "<an error entry that could not be read>"


def _error_object(raw: msgspec.Raw) -> ErrorObject | None:
    """One entry of ``errors``, each field of the spec's type kept.

    ``None`` if it states nothing (``null``, ``false``, ``0``, ``""``, ``{}``, ``[]``).
    """
    try:
        fields = _RAW_FIELDS.decode(raw)
    except msgspec.ValidationError:  # not an object
        try:
            value = _decode(_ANY, raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return ErrorObject(detail=UNREADABLE_ERROR)
        if not value:
            return None
        return ErrorObject(detail=value if isinstance(value, str) else bytes(raw).decode())
    except msgspec.DecodeError:
        return ErrorObject(detail=UNREADABLE_ERROR)
    if not fields:
        return None
    code = _field(fields, "code", _CODE)
    detail = _field(fields, "detail", _TEXT)
    meta = _field(fields, "meta", _META)
    return ErrorObject(
        code=None if code is None else str(code),
        title=_field(fields, "title", _TEXT),
        detail=detail if detail is not None else _field(fields, "description", _TEXT),
        source=_field(fields, "source", _SOURCE),
        meta=None if meta is None else _shallow_meta(meta),
    )


def _field(fields: dict[str, msgspec.Raw], name: str, decoder: msgspec.json.Decoder[T]) -> T | None:
    raw = fields.get(name)
    return None if raw is None else _lenient(decoder, raw)


def _lenient(decoder: msgspec.json.Decoder[T], raw: msgspec.Raw) -> T | None:
    """``raw`` decoded, or ``None`` if it is not of the decoder's type (or nests too deeply)."""
    try:
        return _decode(decoder, raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


#: Levels of nesting an error's ``meta`` keeps; deeper values become ``NESTED_TOO_DEEPLY``.
ERROR_META_DEPTH = 32
NESTED_TOO_DEEPLY = "<nested too deeply>"


def _shallow_meta(meta: dict[str, Any]) -> dict[str, Any]:
    return {key: _shallow(value, ERROR_META_DEPTH - 1) for key, value in meta.items()}


def _shallow(value: object, levels: int) -> object:
    """``value`` with every object or array below ``levels`` levels replaced by a marker.

    An exception carries its errors' ``meta``: a server's ``meta`` nested hundreds of
    levels deep (JSON allows it) made the exception impossible to pickle (pickle
    recurses once a level, a bare ``RecursionError``). The server's bytes stay in
    ``APIError.body``.
    """
    if isinstance(value, dict):
        if levels <= 0:
            return NESTED_TOO_DEEPLY
        return {key: _shallow(item, levels - 1) for key, item in value.items()}
    if isinstance(value, list):
        if levels <= 0:
            return NESTED_TOO_DEEPLY
        return [_shallow(item, levels - 1) for item in value]
    return value
