"""Pure tests of ``_errors``: the status table, the tree, messages and pickling."""

from __future__ import annotations

import pickle
import threading

import pytest

import simcards_async as sc
from simcards_async import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    DriftWarning,
    ErrorObject,
    ErrorSource,
    ExportError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    TelnyxError,
    UnprocessableEntityError,
    UnsupportedEncodingError,
)
from simcards_async._errors import exception_for_status, shown

URL = "http://127.0.0.1:1/v2/sim_cards?page%5Bnumber%5D=1"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (501, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (599, InternalServerError),
        (402, APIStatusError),
        (405, APIStatusError),
        (409, APIStatusError),
        (418, APIStatusError),
        (300, APIStatusError),
        (301, APIStatusError),
        (302, APIStatusError),
        (304, APIStatusError),
        (307, APIStatusError),
        (308, APIStatusError),
    ],
)
def test_status_table(status: int, cls: type[APIStatusError]) -> None:
    """Each HTTP status maps to its class; anything else non-2xx is a plain ``APIStatusError``."""
    assert exception_for_status(status) is cls


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (InvalidParameterError, TelnyxError),
        (InvalidParameterError, ValueError),
        (ExportError, TelnyxError),
        (ExportError, ValueError),
        (APIError, TelnyxError),
        (APIConnectionError, APIError),
        (APITimeoutError, APIConnectionError),
        (APIResponseValidationError, APIError),
        (APIStatusError, APIError),
        (BadRequestError, APIStatusError),
        (AuthenticationError, APIStatusError),
        (PermissionDeniedError, APIStatusError),
        (NotFoundError, APIStatusError),
        (UnprocessableEntityError, APIStatusError),
        (RateLimitError, APIStatusError),
        (InternalServerError, APIStatusError),
        (ResponseTooLargeError, APIResponseValidationError),
        (UnsupportedEncodingError, APIResponseValidationError),
        (DriftWarning, UserWarning),
    ],
)
def test_hierarchy(cls: type[BaseException], parent: type[BaseException]) -> None:
    """The exception tree is the one drawn in ``_errors``'s docstring."""
    assert issubclass(cls, parent)


def test_no_answer_is_kept_apart_from_the_server_saying_no() -> None:
    """Connection failures and status errors are separate branches of ``APIError``."""
    assert not issubclass(APIConnectionError, APIStatusError)
    assert not issubclass(APIStatusError, APIConnectionError)
    assert not issubclass(APIResponseValidationError, (APIStatusError, APIConnectionError))
    assert not issubclass(APIError, ValueError)


def test_every_exported_exception_is_under_telnyx_error() -> None:
    """Every exception class the package exports descends from ``TelnyxError``."""
    exported = [getattr(sc, name) for name in sc.__all__]
    classes = [
        obj
        for obj in exported
        if isinstance(obj, type) and issubclass(obj, BaseException) and obj is not DriftWarning
    ]
    assert len(classes) == 18
    assert all(issubclass(cls, TelnyxError) for cls in classes)


def _full_error() -> APIStatusError:
    errors = [
        ErrorObject(
            code="10015",
            title="Invalid parameter",
            detail="The value is not one of the allowed ones.",
            source=ErrorSource(parameter="filter[status]"),
        ),
        ErrorObject(
            code="10002",
            title="Bad body",
            detail="Bad pointer.",
            source=ErrorSource(pointer="/data/name"),
        ),
    ]
    return UnprocessableEntityError(
        422, errors, request_id="req-123", body=b'{"errors": []}', url=URL, retry_after=None
    )


def test_str_shows_everything_useful() -> None:
    """``str()`` shows the status, every error's code, title, detail and source, the request id."""
    text = str(_full_error())
    for part in (
        "HTTP 422",
        "10015",
        "Invalid parameter",
        "The value is not one of the allowed ones.",
        "[filter[status]]",
        "10002",
        "Bad body",
        "[/data/name]",
        "req-123",
    ):
        assert part in text
    assert text == (
        "HTTP 422: 10015 Invalid parameter: The value is not one of the allowed ones. "
        "[filter[status]]; 10002 Bad body: Bad pointer. [/data/name] (request id req-123)"
    )


def test_str_of_a_bare_status() -> None:
    """A status error with no errors and no request id still says its status."""
    assert str(InternalServerError(503)) == "HTTP 503"


def test_code_is_the_first_errors_code() -> None:
    """``code`` is the first error's code, and ``None`` without errors."""
    assert _full_error().code == "10015"
    assert NotFoundError(404).code is None
    assert RateLimitError(429, [ErrorObject(title="Too many")]).code is None


def test_status_error_fields() -> None:
    """A status error keeps its status, typed errors, request id, body, URL and retry hint."""
    exc = RateLimitError(
        429, iter([ErrorObject(code="10011")]), request_id="r", body=b"x" * 10_000, retry_after=1.5
    )
    assert exc.status == 429
    assert exc.errors == (ErrorObject(code="10011"),)
    assert exc.request_id == "r"
    assert exc.body == b"x" * 4096
    assert exc.retry_after == 1.5
    assert exc.method == "GET"


def test_invalid_parameter_message() -> None:
    """``InvalidParameterError`` names the argument, the value and what is allowed."""
    exc = InvalidParameterError("page_size", "an integer from 1 to 250", 0)
    assert str(exc) == "invalid page_size=0: page_size must be an integer from 1 to 250"
    assert (exc.parameter, exc.allowed, exc.value) == ("page_size", "an integer from 1 to 250", 0)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (10**5000, "<an integer of 16,610 bits>"),  # repr() raised a bare ValueError
        (10**4000, "1" + "0" * 299 + "… [cut, 4001 chars]"),
        ("x" * 1000, "'" + "x" * 299 + "… [cut, 1000 chars]"),  # the text's length, not its repr's
        ("x" * 300, "'" + "x" * 300 + "'"),  # as long as the limit: whole, not "cut, 300 chars"
    ],
    ids=["int-too-long-to-show", "long-int", "long-text", "text-at-the-limit"],
)
def test_a_huge_value_is_shown_cut_and_never_raises(value: object, shown: str) -> None:
    """A value's repr is cut as the server's text is: ``RetryPolicy(max_hint=10**4000)``
    made a 4,068-character message, and ``10**5000`` a bare ``ValueError`` (Python will not
    write out an int of over 4,300 digits). The value itself is kept whole.
    """
    exc = InvalidParameterError("max_hint", "a finite number of seconds >= 0", value)
    assert str(exc) == f"invalid max_hint={shown}: max_hint must be a finite number of seconds >= 0"
    assert exc.value is value
    with pytest.raises(InvalidParameterError, match="max_hint"):
        sc.RetryPolicy(max_hint=value)  # type: ignore[arg-type]


def _instances() -> list[TelnyxError]:
    return [
        TelnyxError("root"),
        InvalidParameterError("status", "one of 'enabled'", "bogus"),
        ExportError("no room", format="parquet", column="data_limit_amount", record="x"),
        APIError("plain", url=URL),
        APIConnectionError("refused", method="GET", url=URL),
        APITimeoutError("slow", url=URL),
        APIResponseValidationError("truncated", url=URL, status=200),
        _full_error(),
        *(
            cls(
                status,
                [ErrorObject(code=str(status), title="t", meta={"k": [1, 2]})],
                request_id="rid",
                body=b"<html>",
                url=URL,
                retry_after=2.0,
            )
            for status, cls in [
                (400, BadRequestError),
                (401, AuthenticationError),
                (403, PermissionDeniedError),
                (404, NotFoundError),
                (422, UnprocessableEntityError),
                (429, RateLimitError),
                (500, InternalServerError),
                (418, APIStatusError),
            ]
        ),
    ]


@pytest.mark.parametrize("exc", _instances(), ids=lambda e: type(e).__name__)
def test_pickle_round_trip(exc: TelnyxError) -> None:
    """Every exception class survives pickling with its class, message and fields intact."""
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
    assert type(copy) is type(exc)
    assert str(copy) == str(exc)
    assert copy.args == exc.args
    assert vars(copy) == vars(exc)


def test_an_invalid_parameter_error_of_a_value_that_does_not_pickle_still_pickles() -> None:
    """The refused value was pickled as it was: a lambda (``on_response=lambda e: ...``), a
    lock or a stream made the error itself impossible to pickle (to a worker process, a
    task queue). Such a value travels as the text the message shows it by; a plain value
    as itself.
    """
    lock = threading.Lock()
    for value, kept in ((lambda e: e, False), (lock, False), ([1, "a"], True)):
        exc = InvalidParameterError("on_response", "a function", value)
        copy = pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
        assert type(copy) is InvalidParameterError
        assert str(copy) == str(exc)
        assert (copy.parameter, copy.allowed) == ("on_response", "a function")
        assert copy.value == (value if kept else shown(value))


def test_a_long_export_error_keeps_its_message_through_pickle() -> None:
    """An ``ExportError`` whose message was cut was cut again when unpickled: the marker's
    length changed (``[cut, 5000 chars]`` became ``[cut, 2019 chars]``).
    """
    exc = ExportError("x" * 5000, format="parquet", column="c", record="r")
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
    assert str(copy) == str(exc)
    assert str(copy).endswith("[cut, 5000 chars]")
    assert (copy.format, copy.column, copy.record) == ("parquet", "c", "r")


def test_pickled_status_error_keeps_typed_errors() -> None:
    """After pickling, ``errors`` are still ``ErrorObject`` values and ``code`` still works."""
    copy = pickle.loads(pickle.dumps(_full_error()))  # noqa: S301  (our own bytes)
    assert all(isinstance(e, ErrorObject) for e in copy.errors)
    assert copy.code == "10015"
    assert copy.errors[0].source == ErrorSource(parameter="filter[status]")


def test_status_errors_hold_plain_values_only() -> None:
    """A status error's fields are plain values (no aiohttp objects), so it logs anywhere."""
    plain = (str, int, float, bytes, tuple, type(None))
    assert all(isinstance(value, plain) for value in vars(_full_error()).values())


def test_new_fields_survive_pickling() -> None:
    """``attempts``, a 2xx's ``errors``, ``ResponseTooLargeError.limit`` and
    ``UnsupportedEncodingError.encoding`` survive pickling.
    """
    stated = APIResponseValidationError("x", url=URL, errors=[ErrorObject(code="10015")])
    stated.attempts = 3
    big = ResponseTooLargeError("too big", url=URL, limit=5 << 20)
    encoded = UnsupportedEncodingError("br", url=URL, encoding="br")
    for exc in (stated, big, encoded):
        again = pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
        assert type(again) is type(exc)
        assert again.__dict__ == exc.__dict__
        assert str(again) == str(exc)
    assert pickle.loads(pickle.dumps(big)).limit == 5 << 20  # noqa: S301
    assert pickle.loads(pickle.dumps(stated)).attempts == 3  # noqa: S301


def test_a_message_is_bounded_whatever_it_is_given() -> None:
    """Any ``APIError`` message is cut to ``MESSAGE_LIMIT`` characters with a marker."""
    exc = APIConnectionError("x" * 1_000_000, url=URL)
    assert len(str(exc)) < 2100
    assert str(exc).endswith("… [cut, 1000000 chars]")
