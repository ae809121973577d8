"""Pure tests of ``_models``: decoding the spec's shapes, and what survives tomorrow's API."""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from simcards_async import (
    Amount,
    DeviceLocation,
    ErrorObject,
    ErrorSource,
    Page,
    PaginationMeta,
    PinPukCodes,
    SimCard,
    SimCardAction,
    SimCardActionStatus,
    SimCardGroup,
    SimCardStatus,
    _models,
)
from simcards_async._models import (
    decode_errors,
    decode_raw_page,
    decode_raw_sim_card_page_by_amount,
    decode_sim_card,
    decode_sim_card_action,
    decode_sim_card_action_page,
    decode_sim_card_page,
)

ID = "6a09cdc3-8948-47f0-aa62-74ac943d6c58"
STAMP = "2018-02-02T22:25:27.521Z"
WHEN = dt.datetime(2018, 2, 2, 22, 25, 27, 521000, tzinfo=dt.timezone.utc)

# The example values of the spec's SimpleSIMCard schema, every property.
SIMPLE_SIM_CARD: dict[str, Any] = {
    "actions_in_progress": True,
    "authorized_imeis": ["106516771852751", "534051870479563", "508821468377961"],
    "created_at": STAMP,
    "current_billing_period_consumed_data": {"amount": "2049.0", "unit": "MB"},
    "data_limit": {"amount": "2048.0", "unit": "MB"},
    "eid": None,
    "esim_installation_status": "released",
    "iccid": "89310410106543789301",
    "id": ID,
    "imsi": "081932214823362973",
    "msisdn": "+13109976224",
    "record_type": "sim_card",
    "resources_with_in_progress_actions": [],
    "sim_card_group_id": ID,
    "status": {
        "reason": "The SIM card is active, ready to connect to networks and consume data.",
        "value": "enabled",
    },
    "tags": ["personal", "customers", "active-customers"],
    "type": "physical",
    "updated_at": STAMP,
    "version": "4.3",
    "voice_enabled": False,
}

# The example values of the spec's SIMCard schema (the single-card GET), every property.
SIM_CARD: dict[str, Any] = {
    **SIMPLE_SIM_CARD,
    "current_device_location": {
        "accuracy": 1250,
        "accuracy_unit": "m",
        "latitude": "41.143",
        "longitude": "-8.605",
    },
    "current_imei": "457032284023794",
    "current_mcc": "410",
    "current_mnc": "260",
    "data_limit": {"amount": "2048.1", "unit": "MB"},
    "ipv4": "192.168.0.0",
    "ipv6": "2001:cdba:0000:0000:0000:0000:3257:9652",
    "live_data_session": "connected",
    "pin_puk_codes": {"pin1": "1234", "pin2": "5678", "puk1": "12345678", "puk2": "87654321"},
}

# The example values of the spec's SIMCardAction schema, every property.
SIM_CARD_ACTION: dict[str, Any] = {
    "action_type": "enable",
    "created_at": STAMP,
    "id": ID,
    "record_type": "sim_card_action",
    "settings": {},
    "sim_card_id": ID,
    "status": {"reason": "The data limit was exceeded.", "value": "completed"},
    "updated_at": STAMP,
}

META = {"page_number": 2, "page_size": 25, "total_pages": 3, "total_results": 55}


def _page(*items: dict[str, Any], meta: dict[str, Any] | None = META) -> bytes:
    body: dict[str, Any] = {"data": list(items)}
    if meta is not None:
        body["meta"] = meta
    return json.dumps(body).encode()


def _one(item: dict[str, Any]) -> bytes:
    return json.dumps({"data": item}).encode()


def test_simple_sim_card_decodes_every_field() -> None:
    """A listed card with every SimpleSIMCard field decodes to exactly those values."""
    page = decode_sim_card_page(_page(SIMPLE_SIM_CARD))
    assert page.meta == PaginationMeta(page_number=2, page_size=25, total_pages=3, total_results=55)
    assert page.data == (
        SimCard(
            id=ID,
            record_type="sim_card",
            status=SimCardStatus(
                value="enabled",
                reason="The SIM card is active, ready to connect to networks and consume data.",
            ),
            type="physical",
            iccid="89310410106543789301",
            imsi="081932214823362973",
            msisdn="+13109976224",
            sim_card_group_id=ID,
            tags=("personal", "customers", "active-customers"),
            authorized_imeis=("106516771852751", "534051870479563", "508821468377961"),
            eid=None,
            esim_installation_status="released",
            data_limit=Amount(amount=Decimal("2048.0"), unit="MB"),
            current_billing_period_consumed_data=Amount(amount=Decimal("2049.0"), unit="MB"),
            actions_in_progress=True,
            resources_with_in_progress_actions=(),
            version="4.3",
            voice_enabled=False,
            created_at=WHEN,
            updated_at=WHEN,
        ),
    )


def test_single_sim_card_decodes_device_fields_and_codes() -> None:
    """The single-card GET's extra fields (device, network, PIN/PUK codes) all decode."""
    card = decode_sim_card(_one(SIM_CARD))
    assert card.current_device_location == DeviceLocation(
        latitude="41.143", longitude="-8.605", accuracy=1250, accuracy_unit="m"
    )
    assert (card.current_imei, card.current_mcc, card.current_mnc) == (
        "457032284023794",
        "410",
        "260",
    )
    assert card.ipv4 == "192.168.0.0"
    assert card.ipv6 == "2001:cdba:0000:0000:0000:0000:3257:9652"
    assert card.live_data_session == "connected"
    assert card.pin_puk_codes == PinPukCodes(
        pin1="1234", pin2="5678", puk1="12345678", puk2="87654321"
    )
    assert card.data_limit == Amount(amount=Decimal("2048.1"), unit="MB")
    assert card.iccid == "89310410106543789301"


def test_listed_card_leaves_single_card_fields_empty() -> None:
    """In a listing, the fields only the single-card GET sends stay ``None``."""
    (card,) = decode_sim_card_page(_page(SIMPLE_SIM_CARD)).data
    single_only = (
        "current_device_location",
        "current_imei",
        "current_mcc",
        "current_mnc",
        "ipv4",
        "ipv6",
        "live_data_session",
        "pin_puk_codes",
        "sim_card_group",
    )
    assert all(getattr(card, name) is None for name in single_only)


@pytest.mark.parametrize(
    ("struct", "spec_fields"),
    [
        (SimCard, sorted(SIM_CARD)),
        (SimCardAction, sorted(SIM_CARD_ACTION)),
        (DeviceLocation, sorted(SIM_CARD["current_device_location"])),
        (PinPukCodes, sorted(SIM_CARD["pin_puk_codes"])),
        (Amount, ["amount", "unit"]),
        (SimCardStatus, ["reason", "value"]),
        (SimCardActionStatus, ["reason", "value"]),
        (PaginationMeta, sorted(META)),
        (ErrorObject, ["code", "detail", "meta", "source", "title"]),
        (ErrorSource, ["parameter", "pointer"]),
    ],
    ids=lambda v: getattr(v, "__name__", "fields"),
)
def test_every_spec_field_is_declared(struct: type[msgspec.Struct], spec_fields: list[str]) -> None:
    """Every property the spec lists for a schema is a declared field of its Struct."""
    assert set(spec_fields) <= set(struct.__struct_fields__)


def test_pin_puk_codes_are_redacted_in_repr() -> None:
    """``repr`` and ``str`` of the codes, and of a card holding them, never show the codes."""
    card = decode_sim_card(_one(SIM_CARD))
    assert card.pin_puk_codes is not None
    for text in (repr(card.pin_puk_codes), str(card.pin_puk_codes), repr(card), str(card)):
        for secret in ("1234", "5678", "12345678", "87654321"):
            assert secret not in text.replace(card.iccid or "", "").replace(card.imsi or "", "")
    assert "PinPukCodes(<redacted>)" in repr(card)
    assert card.pin_puk_codes.pin1 == "1234"  # still there for code that asks for it


def test_pin_puk_codes_are_redacted_in_rich_repr() -> None:
    """The ``__rich_repr__`` hook msgspec gives every Struct does not show the codes either."""
    codes = PinPukCodes(pin1="1234", pin2="5678", puk1="12345678", puk2="87654321")
    shown = repr(list(codes.__rich_repr__())) if hasattr(codes, "__rich_repr__") else ""
    for secret in ("1234", "5678", "12345678", "87654321"):
        assert secret not in shown


def test_embedded_sim_card_group_decodes() -> None:
    """With ``include_sim_card_group`` the embedded group decodes, amounts and dates typed."""
    group = {
        "id": ID,
        "record_type": "sim_card_group",
        "name": "Fleet A",
        "default": True,
        "data_limit": {"amount": "100.5", "unit": "GB"},
        "consumed_data": {"amount": "0.25", "unit": "MB"},
        "private_wireless_gateway_id": None,
        "wireless_blocklist_id": ID,
        "created_at": STAMP,
        "updated_at": STAMP,
        "something_new": [1, 2, 3],
    }
    (card,) = decode_sim_card_page(_page({**SIMPLE_SIM_CARD, "sim_card_group": group})).data
    assert card.sim_card_group == SimCardGroup(
        id=ID,
        record_type="sim_card_group",
        name="Fleet A",
        default=True,
        data_limit=Amount(amount=Decimal("100.5"), unit="GB"),
        consumed_data=Amount(amount=Decimal("0.25"), unit="MB"),
        private_wireless_gateway_id=None,
        wireless_blocklist_id=ID,
        created_at=WHEN,
        updated_at=WHEN,
    )
    single = decode_sim_card(_one({**SIM_CARD, "sim_card_group": group}))
    assert single.sim_card_group == card.sim_card_group


def test_sim_card_action_decodes_every_field() -> None:
    """A SIM card action with every spec field decodes; ``settings`` is a mapping."""
    action = decode_sim_card_action(_one(SIM_CARD_ACTION))
    assert action == SimCardAction(
        id=ID,
        record_type="sim_card_action",
        sim_card_id=ID,
        action_type="enable",
        status=SimCardActionStatus(value="completed", reason="The data limit was exceeded."),
        settings={},
        created_at=WHEN,
        updated_at=WHEN,
    )


@pytest.mark.parametrize(
    "settings",
    [None, {}, {"public_ip": "10.0.0.1", "nested": {"a": [1, 2.5, None, True]}}],
)
def test_action_settings_mapping_or_null(settings: dict[str, Any] | None) -> None:
    """``settings`` decodes as any JSON object, or ``None`` when the API sends null."""
    page = decode_sim_card_action_page(_page({**SIM_CARD_ACTION, "settings": settings}))
    assert page.data[0].settings == settings


def test_action_without_settings_defaults_to_none() -> None:
    """An action with no ``settings`` key decodes with ``settings=None``."""
    body = {k: v for k, v in SIM_CARD_ACTION.items() if k != "settings"}
    assert decode_sim_card_action(_one(body)).settings is None


@pytest.mark.parametrize(
    ("wire", "exact"),
    [
        ('"2049.0"', "2049.0"),
        ('"0.1"', "0.1"),
        ('"123456789012345678901234567890.123456789"', "123456789012345678901234567890.123456789"),
        ('"0"', "0"),
        ("2049.1", "2049.1"),
    ],
)
def test_amounts_are_exact_decimals(wire: str, exact: str) -> None:
    """Data amounts decode to ``Decimal`` exactly as sent, never through a float."""
    body = b'{"data": [{"id": "x", "current_billing_period_consumed_data": {"amount": %s}}]}' % (
        wire.encode()
    )
    (card,) = decode_sim_card_page(body).data
    amount = card.current_billing_period_consumed_data.amount
    assert isinstance(amount, Decimal)
    assert str(amount) == exact
    assert amount == Decimal(exact)


def test_datetimes_are_aware() -> None:
    """``created_at`` / ``updated_at`` decode to timezone-aware UTC datetimes."""
    card = decode_sim_card(_one(SIM_CARD))
    action = decode_sim_card_action(_one(SIM_CARD_ACTION))
    for value in (card.created_at, card.updated_at, action.created_at, action.updated_at):
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == dt.timedelta(0)
        assert value == WHEN


def test_offset_datetimes_keep_their_instant() -> None:
    """A timestamp with a non-UTC offset decodes to the same instant."""
    body = _one({**SIM_CARD_ACTION, "created_at": "2018-02-03T00:25:27.521+02:00"})
    assert decode_sim_card_action(body).created_at == WHEN


def test_unknown_fields_are_ignored() -> None:
    """Fields the spec does not list, at any depth, are ignored."""
    card = {
        **SIMPLE_SIM_CARD,
        "brand_new": {"deep": [1, 2]},
        "status": {**SIMPLE_SIM_CARD["status"], "since": STAMP},
        "current_billing_period_consumed_data": {"amount": "1", "unit": "MB", "x": 1},
    }
    meta = {**META, "cursor": "abc"}
    page = decode_sim_card_page(_page(card, meta=meta))
    plain = decode_sim_card_page(_page(SIMPLE_SIM_CARD)).data[0]
    assert page.data[0] == msgspec.structs.replace(
        plain, current_billing_period_consumed_data=Amount(amount=Decimal(1), unit="MB")
    )
    assert page.data[0].status.value == "enabled"
    assert page.meta == PaginationMeta(**META)
    body = json.dumps({"data": SIM_CARD_ACTION, "links": {"self": "x"}}).encode()
    assert decode_sim_card_action(body).id == ID


@pytest.mark.parametrize(
    ("field", "value", "read"),
    [
        ("status", {"value": "future_status", "reason": "new"}, lambda c: c.status.value),
        ("type", "satellite", lambda c: c.type),
        ("esim_installation_status", "installing", lambda c: c.esim_installation_status),
        ("live_data_session", "dormant", lambda c: c.live_data_session),
    ],
)
def test_new_enum_values_decode(field: str, value: Any, read: Any) -> None:
    """A value the API adds next year (status ``future_status``, ...) decodes as a plain str."""
    card = decode_sim_card(_one({**SIM_CARD, field: value}))
    expected = value["value"] if isinstance(value, dict) else value
    assert read(card) == expected


def test_new_action_enum_values_decode() -> None:
    """An unknown action type or action status decodes as a plain str."""
    body = {**SIM_CARD_ACTION, "action_type": "reboot", "status": {"value": "interrupted"}}
    action = decode_sim_card_action(_one(body))
    assert (action.action_type, action.status.value, action.status.reason) == (
        "reboot",
        "interrupted",
        None,
    )


@pytest.mark.parametrize(
    "field",
    ["authorized_imeis", "eid", "esim_installation_status", "sim_card_group_id", "data_limit"],
)
def test_nullable_fields_accept_null(field: str) -> None:
    """Fields the spec allows to be null (or may leave out) decode null to ``None``."""
    (card,) = decode_sim_card_page(_page({**SIMPLE_SIM_CARD, field: None})).data
    assert getattr(card, field) is None


def test_minimal_card_gets_defaults() -> None:
    """A card with only an ``id`` decodes, every other field at its default."""
    (card,) = decode_sim_card_page(_page({"id": ID})).data
    assert card == SimCard(id=ID)
    assert card.tags == ()
    assert card.status == SimCardStatus()
    assert card.current_billing_period_consumed_data == Amount()
    assert card.actions_in_progress is False
    assert card.voice_enabled is False


def test_page_without_meta() -> None:
    """A list answer without ``meta`` decodes with ``meta=None``."""
    page = decode_sim_card_page(_page({"id": ID}, meta=None))
    assert page.meta is None
    assert [c.id for c in page.data] == [ID]


def test_empty_page() -> None:
    """An empty list answer decodes to no items."""
    assert decode_sim_card_page(b'{"data": [], "meta": {"total_results": 0}}').data == ()


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"id": "x"',  # truncated
        b"<html>502 Bad Gateway</html>",
        b'{"data": [{"id": 5}]}',  # wrong type
        b'{"data": [{"tags": []}]}',  # no id
        b'{"data": {"id": "x"}}',  # an object where a list belongs
        b"",
    ],
)
def test_bad_list_bodies_raise_msgspec_errors(body: bytes) -> None:
    """A list body that is not the documented JSON raises a msgspec error, never returns."""
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_sim_card_page(body)


@pytest.mark.parametrize(
    "struct",
    [
        SimCard(id=ID),
        SimCardAction(id=ID),
        Amount(),
        SimCardStatus(),
        SimCardGroup(),
        PinPukCodes(),
        DeviceLocation(),
        ErrorObject(),
        ErrorSource(),
        PaginationMeta(),
        Page(data=()),
    ],
    ids=lambda s: type(s).__name__,
)
def test_structs_are_frozen(struct: msgspec.Struct) -> None:
    """Every wire Struct is frozen: its fields cannot be reassigned."""
    name = struct.__struct_fields__[0]
    with pytest.raises(AttributeError):
        setattr(struct, name, None)
    assert struct.__struct_config__.frozen


WIRE_STRUCTS = [
    Amount,
    DeviceLocation,
    ErrorObject,
    ErrorSource,
    Page,
    PaginationMeta,
    PinPukCodes,
    SimCard,
    SimCardAction,
    SimCardActionStatus,
    SimCardGroup,
    SimCardStatus,
]


def test_structs_are_keyword_only() -> None:
    """Every wire Struct takes keyword arguments only, so a new field never shifts positions."""
    positional = {
        struct.__name__: [
            p.name
            for p in inspect.signature(struct).parameters.values()
            if p.kind is not inspect.Parameter.KEYWORD_ONLY
        ]
        for struct in WIRE_STRUCTS
    }
    assert {name: fields for name, fields in positional.items() if fields} == {}


def test_decoders_are_built_once_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decoders are module-level ``msgspec.json.Decoder`` objects, not built per call."""
    decoders = [
        value for value in vars(_models).values() if isinstance(value, msgspec.json.Decoder)
    ]
    assert len(decoders) >= 5

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a decoder was built at call time")

    monkeypatch.setattr(msgspec.json, "Decoder", refuse)
    assert decode_sim_card_page(_page(SIMPLE_SIM_CARD)).data[0].id == ID
    assert decode_sim_card_action_page(_page(SIM_CARD_ACTION)).data[0].id == ID
    assert decode_sim_card(_one(SIM_CARD)).id == ID
    assert decode_sim_card_action(_one(SIM_CARD_ACTION)).id == ID
    assert decode_errors(b'{"errors": [{"code": "1"}]}')[0].code == "1"


def test_decoded_cards_are_independent_of_the_body() -> None:
    """Mutating the dict the body came from cannot change a decoded card (it holds copies)."""
    source = copy.deepcopy(SIMPLE_SIM_CARD)
    (card,) = decode_sim_card_page(_page(source)).data
    source["tags"].append("later")
    assert card.tags == ("personal", "customers", "active-customers")


# --- error objects ------------------------------------------------------------------


def test_error_code_int_becomes_str() -> None:
    """An integer ``code`` (some Telnyx schemas send one) is read as a ``str``."""
    (error,) = decode_errors(b'{"errors": [{"code": 10015, "title": "Invalid"}]}')
    assert error.code == "10015"
    assert isinstance(error.code, str)


def test_error_fields_decode() -> None:
    """Code, title, detail, source and meta of each error decode in order."""
    body = json.dumps(
        {
            "errors": [
                {
                    "code": "10015",
                    "title": "Invalid parameter",
                    "detail": "status must be one of ...",
                    "source": {"parameter": "filter[status]"},
                    "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10015"},
                },
                {"code": "10002", "title": "Bad", "source": {"pointer": "/page/size"}},
            ]
        }
    ).encode()
    first, second = decode_errors(body)
    assert first == ErrorObject(
        code="10015",
        title="Invalid parameter",
        detail="status must be one of ...",
        source=ErrorSource(parameter="filter[status]"),
        meta={"url": "https://developers.telnyx.com/docs/overview/errors/10015"},
    )
    assert second.source == ErrorSource(pointer="/page/size")
    assert second.detail is None


def test_error_description_is_a_fallback_for_detail() -> None:
    """``description`` (older schemas) fills ``detail`` only when ``detail`` is absent."""
    (only,) = decode_errors(b'{"errors": [{"code": "1", "description": "old style"}]}')
    assert only.detail == "old style"
    (both,) = decode_errors(b'{"errors": [{"code": "1", "detail": "new", "description": "old"}]}')
    assert both.detail == "new"


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"",
        b"not json",
        b'{"errors": null}',
        b'{"errors": []}',
        b'{"errors": [null]}',
        b'["errors"]',
        b'{"errors": [{"code": "1", "title": ',
    ],
)
def test_unreadable_error_bodies_give_no_errors(body: bytes) -> None:
    """An error body that is not JSON, or states no error, gives ``()`` and never raises."""
    assert decode_errors(body) == ()


def test_errors_of_another_shape_keep_what_reads() -> None:
    """``errors`` that are not the spec's objects still state errors (a 2xx stating them is
    no page): a bare string is its ``detail``; a field of another type is left out, the
    entry kept.
    """
    assert decode_errors(b'{"errors": "boom"}') == (ErrorObject(detail="boom"),)
    assert decode_errors(b'{"errors": [{"code": true}]}') == (ErrorObject(),)
    assert decode_errors(b'{"errors": [{"code": true, "title": "T"}]}') == (ErrorObject(title="T"),)


def test_error_body_without_errors_key() -> None:
    """A JSON error body of another shape gives ``()``."""
    assert decode_errors(b'{"message": "nope"}') == ()


def test_error_unknown_fields_ignored() -> None:
    """Unknown keys in an error or its source are ignored."""
    body = (
        b'{"errors": [{"code": "1", "status": "422", "source": {"header": "x", "parameter": "p"}}]}'
    )
    (error,) = decode_errors(body)
    assert error.source == ErrorSource(parameter="p")


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ErrorObject(code="10015", title="Invalid", detail="bad status"),
            "10015 Invalid: bad status",
        ),
        (
            ErrorObject(code="10015", title="Invalid", source=ErrorSource(parameter="filter[x]")),
            "10015 Invalid [filter[x]]",
        ),
        (ErrorObject(title="T", source=ErrorSource(pointer="/a/b")), "T [/a/b]"),
        (ErrorObject(code="7"), "7"),
        (ErrorObject(detail="only detail"), "error: only detail"),
        (ErrorObject(), "error"),
        (
            ErrorObject(code="1", source=ErrorSource(pointer="/p", parameter="q")),
            "1 [q]",
        ),
    ],
)
def test_error_object_str(error: ErrorObject, text: str) -> None:
    """``str(ErrorObject)`` reads ``code title: detail [parameter or pointer]``."""
    assert str(error) == text


@pytest.mark.parametrize("at", [0, 1, 2])
@pytest.mark.parametrize("sorted_by_amount", [False, True])
def test_a_raw_page_refuses_a_record_of_another_kind_wherever_it_lies(
    at: int, sorted_by_amount: bool
) -> None:
    """Records kept as sent (JSON lines) are checked as the typed are: every record's
    ``record_type`` as the ids are read. Only a page's first and last records were, so an
    action between two cards was written among them. No type, or ``null``, passes.
    """
    records: list[dict[str, Any]] = [
        {"id": f"card-{n}", "record_type": "sim_card"} for n in range(3)
    ]
    records[1].pop("record_type")
    records[2]["record_type"] = None
    assert [
        r.id for r in decode_raw_page(json.dumps({"data": records}).encode(), "sim_card").data
    ] == [
        "card-0",
        "card-1",
        "card-2",
    ]
    records[at] = {"id": "act-1", "record_type": "sim_card_action", "action_type": "enable"}
    body = json.dumps({"data": records}).encode()
    with pytest.raises(msgspec.ValidationError) as info:
        if sorted_by_amount:
            decode_raw_sim_card_page_by_amount(body)
        else:
            decode_raw_page(body, "sim_card")
    assert str(info.value) == (
        "a sim_card was asked for, the answer holds a 'sim_card_action' record (id 'act-1')"
    )
    assert len(decode_raw_page(body).data) == 3, "no kind asked for: none checked"


@pytest.mark.parametrize("at", [0, 1, 2])
def test_a_typed_page_refuses_a_record_of_another_kind_wherever_it_lies(at: int) -> None:
    """A typed page checks every record's ``record_type`` as it decodes: an action in the
    middle of a SIM card page was read as a SIM card, its own fields dropped and defaults
    made up (only a page's ends were checked). The error names its type, its id and where.
    """
    records = [{"id": f"card-{n}", "record_type": "sim_card"} for n in range(3)]
    records[at] = {"id": "act-1", "record_type": "sim_card_action", "action_type": "enable"}
    body = json.dumps({"data": records}).encode()
    with pytest.raises(msgspec.ValidationError) as info:
        decode_sim_card_page(body)
    assert str(info.value) == (
        "a sim_card was asked for, the answer holds a 'sim_card_action' record (id 'act-1')"
    )
    swapped = body.replace(b'"sim_card"', b'"x"').replace(b'"sim_card_action"', b'"sim_card"')
    first = "holds a 'sim_card' record \\(id 'act-1'\\)" if at == 0 else "holds a 'x' record"
    with pytest.raises(msgspec.ValidationError, match=first):
        decode_sim_card_action_page(swapped)
    single = json.dumps({"data": records[at]}).encode()
    with pytest.raises(msgspec.ValidationError, match="holds a 'sim_card_action' record"):
        decode_sim_card(single)
    # Not a string: msgspec's own words, with the place.
    bad = json.dumps({"data": [{"id": "n", "record_type": 5}]}).encode()
    with pytest.raises(msgspec.ValidationError, match=r"\$\.data\[0\]\.record_type"):
        decode_sim_card_page(bad)
    assert decode_sim_card_page(json.dumps({"data": [{"id": "n"}]}).encode()).data[0].id == "n"


def test_a_number_past_a_float_in_a_free_form_object_is_infinity() -> None:
    """The spec's free-form objects (an action's ``settings``, a card's resources with actions
    in progress) hold any JSON number: ``1e400`` refused the whole page ("Number out of
    range"), and a single GET; it reads as infinity, as an error's ``meta`` already did.
    """
    card = f'{{"id": "{ID}", "resources_with_in_progress_actions": [{{"n": 1e400}}]}}'
    action = f'{{"id": "{ID}", "settings": {{"n": -1e400, "m": 1.5}}}}'
    meta = '"meta": {"page_number": 1, "page_size": 1, "total_pages": 1, "total_results": 1}'
    cards = decode_sim_card_page(f'{{"data": [{card}], {meta}}}'.encode())
    assert cards.data[0].resources_with_in_progress_actions == ({"n": float("inf")},)
    actions = decode_sim_card_action_page(f'{{"data": [{action}], {meta}}}'.encode())
    assert actions.data[0].settings == {"n": float("-inf"), "m": 1.5}
    assert decode_sim_card(f'{{"data": {card}}}'.encode()).resources_with_in_progress_actions
    assert decode_sim_card_action(f'{{"data": {action}}}'.encode()).settings == {
        "n": float("-inf"),
        "m": 1.5,
    }


@pytest.mark.parametrize(
    "decode",
    [
        decode_sim_card_page,
        decode_sim_card_action_page,
        _models.decode_raw_page,
        _models.decode_raw_sim_card_page_by_amount,
    ],
    ids=lambda f: f.__name__,
)
def test_a_meta_integer_written_as_a_float_is_an_int(decode: Any) -> None:
    """JSON Schema's integer is any number with no fractional part: ``"total_results": 1.0``
    (a server that writes every number as a float) refused every page ("Expected int, got
    float"). Each of the four reads as an int, in every page decoder.
    """
    meta = '{"page_number": 2.0, "page_size": 2.5e1, "total_pages": 3e0, "total_results": 55.0}'
    page = decode(f'{{"data": [{{"id": "{ID}"}}], "meta": {meta}}}'.encode())
    assert page.meta == PaginationMeta(page_number=2, page_size=25, total_pages=3, total_results=55)
    assert all(type(getattr(page.meta, f)) is int for f in PaginationMeta.__struct_fields__)


def test_an_accuracy_written_as_a_float_is_an_int() -> None:
    """A single GET whose ``current_device_location.accuracy`` is ``1250.0`` or ``1e3`` was
    refused: it reads as an int.
    """
    for wire, read in [
        ("1250.0", 1250),
        ("1e3", 1000),
        ("-0.0", 0),
        ("9007199254740991.0", 2**53 - 1),  # the largest a float holds with every one below
        ("9007199254740993", 2**53 + 1),  # digits alone: an int, exact at any size
    ]:
        body = f'{{"data": {{"id": "{ID}", "current_device_location": {{"accuracy": {wire}}}}}}}'
        location = decode_sim_card(body.encode()).current_device_location
        assert location is not None
        assert location.accuracy == read
        assert type(location.accuracy) is int


@pytest.mark.parametrize("value", ["55.5", "1e-3", '"55"', "true", "[55]"])
@pytest.mark.parametrize("field", ["page_number", "page_size", "total_pages", "total_results"])
def test_a_meta_integer_with_a_fraction_or_of_another_type_is_refused(
    field: str, value: str
) -> None:
    """Only integral numbers are integers: 55.5, a string and a bool are refused, naming
    the field (no lax mode, which would take ``"55"`` and ``true``).
    """
    body = f'{{"data": [], "meta": {{"{field}": {value}}}}}'.encode()
    with pytest.raises(msgspec.ValidationError, match=field):
        decode_sim_card_page(body)


@pytest.mark.parametrize(
    "value",
    # Past 2**53 a float is not every integer: 9007199254740993.0 read as ...992, 1e23 as
    # 99999999999999991611392, and CSV wrote those in silence.
    ["1250.5", '"1250"', "false", "9007199254740993.0", "1e23", "-12345678901234567890123.0"],
)
def test_an_accuracy_with_a_fraction_or_of_another_type_is_refused(value: str) -> None:
    """An accuracy of 1250.5, a string or a bool is refused, naming the field."""
    body = f'{{"data": {{"id": "{ID}", "current_device_location": {{"accuracy": {value}}}}}}}'
    with pytest.raises(msgspec.ValidationError, match="accuracy"):
        decode_sim_card(body.encode())


def test_a_meta_count_the_server_did_not_send_is_none() -> None:
    """``total_pages`` and ``total_results`` the server left out were read as 0, a count it
    never gave: they are None, as ``page_number`` already was.
    """
    page = decode_sim_card_page(b'{"data": [], "meta": {"page_number": 1}}')
    assert page.meta == PaginationMeta(page_number=1)
    assert page.meta.total_pages is None
    assert page.meta.total_results is None


def test_records_hash_by_type_and_id() -> None:
    """Frozen, yet ``hash()`` failed on a card holding objects in
    ``resources_with_in_progress_actions`` and on an action with ``settings`` (a ``dict``):
    ``set(actions)`` raised ``TypeError`` for most actions of a fleet.
    """
    card = SimCard(id="c1", resources_with_in_progress_actions=({"id": "r"},))
    same = SimCard(id="c1", resources_with_in_progress_actions=({"id": "r"},))
    action = SimCardAction(id="c1", settings={"k": [1]})
    assert card == same
    assert hash(card) == hash(same)
    assert len({card, same, action, SimCardAction(id="c1", settings={"k": [1]})}) == 2


def test_a_leap_second_fails_a_typed_page_and_passes_a_raw_one() -> None:
    """``23:59:60Z`` is valid RFC 3339 that no ``datetime`` holds: a typed page refuses it
    naming the field (as the README says), a raw page (JSON lines) keeps the record as sent.
    """
    card = b'{"id": "a", "record_type": "sim_card", "created_at": "2016-12-31T23:59:60Z"}'
    body = b'{"data": [' + card + b"]}"
    with pytest.raises(msgspec.ValidationError, match=r"\$\.data\[0\]\.created_at"):
        decode_sim_card_page(body)
    (record,) = decode_raw_page(body, "sim_card").data
    assert bytes(record.raw) == card
