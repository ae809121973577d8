"""The HTTP core without a socket: answers to values or exceptions, retry plans, headers,
redirects, redaction, and the transport driven by a fake ``send`` and a recorded ``sleep``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
import re
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import pytest

import simcards_async
from simcards_async import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ErrorObject,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    RetryPolicy,
    SimCardsClient,
    UnsupportedEncodingError,
)
from simcards_async._errors import FIELD_LIMIT, MESSAGE_LIMIT, cut
from simcards_async._http import Transport
from simcards_async._models import (
    UNREADABLE_ERROR,
    decode_sim_card,
    decode_sim_card_action,
    decode_sim_card_page,
)
from simcards_async._retry import plan_retry, retryable
from simcards_async._sansio import (
    ERROR_BODY_LIMIT,
    ERRORS_SCAN_LIMIT,
    MAX_REDIRECTS,
    REDACTED,
    Answer,
    Secrets,
    body_limit,
    decipher,
    rate_limit_remaining,
    rate_limit_reset,
    redirect_target,
    request_id,
    response_limit,
    retry_after,
)
from simcards_async._throttle import AdaptiveLimiter

KEY = "KEY-s3cr3t-Zq8vN2xL5tR9wB4m"
BASE = "http://127.0.0.1:1/v2"
ORIGIN = "http://127.0.0.1:1"
URL = BASE + "/sim_cards?page%5Bnumber%5D=1"
PAGE = b'{"data": [{"id": "a"}, {"id": "b"}], "meta": {"page_number": 1, "total_pages": 1}}'
LIMIT = response_limit(250)


def _answer(status: int = 200, body: bytes = PAGE, **headers: str) -> Answer:
    return Answer.of(status, [(k.replace("_", "-"), v) for k, v in headers.items()], body)


def _raises(answer: Answer, secrets: Secrets | None = None) -> APIError:
    with pytest.raises(APIError) as info:
        decipher(answer, decode_sim_card_page, url=URL, limit=LIMIT, secrets=secrets or Secrets())
    return info.value


# --- RetryPolicy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("max_retries", "3"),
        ("max_retries", True),
        ("base", -0.1),
        ("base", math.nan),
        ("base", math.inf),
        ("cap", "1"),
        ("cap", False),
        ("max_hint", -1),
        ("max_hint", math.inf),
    ],
)
def test_retry_policy_refuses_a_bad_field(field: str, value: object) -> None:
    """Each field of ``RetryPolicy`` is validated and the error names it."""
    with pytest.raises(InvalidParameterError) as info:
        RetryPolicy(**{field: value})  # type: ignore[arg-type]  # the point of the test
    assert info.value.parameter == field


def test_retry_and_max_retries_together_are_refused() -> None:
    """``SimCardsClient`` refuses ``max_retries=`` alongside ``retry=``, naming ``max_retries``."""
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, BASE, retry=RetryPolicy(), max_retries=2)
    assert info.value.parameter == "max_retries"


def test_retry_must_be_a_retry_policy() -> None:
    """``retry=`` accepts only a ``RetryPolicy``."""
    with pytest.raises(InvalidParameterError) as info:
        SimCardsClient(KEY, BASE, retry=3)  # type: ignore[arg-type]  # the point of the test
    assert info.value.parameter == "retry"


def test_zero_policy_waits_zero() -> None:
    """``RetryPolicy(base=0, cap=0)`` retries at once, whatever jitter draws from."""
    policy = RetryPolicy(base=0, cap=0)
    assert [policy.delay(n, None) for n in range(10)] == [0.0] * 10


def test_backoff_is_capped_exponential_with_injected_jitter() -> None:
    """The wait is ``jitter(min(cap, base * 2**n))``; a huge attempt number does not overflow."""
    policy = RetryPolicy(base=0.5, cap=3.0)
    highest: Callable[[float], float] = lambda high: high  # noqa: E731
    assert [policy.delay(n, None, highest) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(10_000, None, highest) == 3.0


def test_server_hint_is_a_floor_cut_to_max_hint() -> None:
    """A ``Retry-After`` hint is never undercut, and is honoured only up to ``max_hint``."""
    policy = RetryPolicy(base=0, cap=0, max_hint=7.0)
    assert policy.delay(0, 2.0) == 2.0
    assert policy.delay(0, 1e9) == 7.0


def _status(status: int, retry_after: float | None = None) -> APIStatusError:
    return APIStatusError(status, retry_after=retry_after)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_status(429), True),
        (_status(500), True),
        (_status(502), True),
        (_status(503), True),
        (_status(504), True),
        (_status(501), False),
        (_status(400), False),
        (_status(401), False),
        (_status(404), False),
        (_status(302), False),
        (APIConnectionError("reset"), True),
        (APITimeoutError("slow"), True),
        (APIResponseValidationError("truncated"), True),
        (APIResponseValidationError("stated", errors=[ErrorObject(code="10007")]), False),
        (ResponseTooLargeError("big", limit=10), False),
        (UnsupportedEncodingError("br", encoding="br"), False),
    ],
)
def test_which_failures_are_retried(exc: APIError, expected: bool) -> None:
    """429 and 500/502/503/504, no answer and a bad 2xx are retried; the rest are final."""
    assert retryable(exc) is expected


def test_plan_retry_stops_when_retries_are_spent() -> None:
    """``plan_retry`` gives a wait while retries remain, then ``None``; final errors get none."""
    policy = RetryPolicy(max_retries=2, base=1.0, cap=10.0)
    highest: Callable[[float], float] = lambda high: high  # noqa: E731
    failure = _status(503)
    assert [plan_retry(policy, n, failure, highest) for n in range(3)] == [1.0, 2.0, None]
    assert plan_retry(policy, 0, _status(404), highest) is None
    assert plan_retry(policy, 0, _status(429, retry_after=5.0), highest) == 5.0


# --- answers to values or exceptions -------------------------------------------------------


def test_a_2xx_decodes() -> None:
    """A 2xx whose body is the documented JSON gives the decoded value."""
    page = decipher(_answer(), decode_sim_card_page, url=URL, limit=LIMIT)
    assert [c.id for c in page.data] == ["a", "b"]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (402, APIStatusError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_status_maps_through_the_table(status: int, cls: type[APIStatusError]) -> None:
    """A non-2xx raises its class from ``_errors``'s table, carrying the errors and request id."""
    body = b'{"errors": [{"code": "10009", "title": "Nope", "detail": "no"}]}'
    exc = _raises(_answer(status, body, x_request_id="req-1"))
    assert type(exc) is cls
    assert isinstance(exc, APIStatusError)
    assert exc.status == status
    assert exc.code == "10009"
    assert exc.request_id == "req-1"
    assert exc.body == body
    assert exc.url == URL


@pytest.mark.parametrize(
    ("errors", "read"),
    [
        # one field of another type than the spec's is left out, not every error
        (
            b'[{"code": "10015", "title": "Bad", "source": "page", "meta": [1]}]',
            [("10015", "Bad", None)],
        ),
        (b'[{"code": 10015, "title": "Bad", "detail": 3}]', [("10015", "Bad", None)]),
        (b'[{"code": 1.5, "title": "Bad"}]', [(None, "Bad", None)]),
        (b'[{"code": "1", "meta": {"n": 1e999}}]', [("1", None, None)]),
        (b'[{"code": "1", "meta": {"n": ' + b"9" * 5000 + b"}}]", [("1", None, None)]),
        # a bare string is a detail; one object is one error; a junk entry keeps the good one
        (b'["Invalid API key"]', [(None, None, "Invalid API key")]),
        (b'{"code": "10009", "title": "Nope"}', [("10009", "Nope", None)]),
        (b'"upstream unavailable"', [(None, None, "upstream unavailable")]),
        (b'[{"code": "1", "title": "A"}, 7, null]', [("1", "A", None), (None, None, "7")]),
    ],
    ids=range(9),
)
def test_errors_of_another_shape_are_read_field_by_field(
    errors: bytes, read: list[tuple[str | None, str | None, str | None]]
) -> None:
    """One field of another type (``source`` a string, ``meta`` a list, a float ``code``),
    a list of strings, or one junk entry dropped every error of the answer: ``HTTP 422``
    and nothing else, ``exc.errors == ()``. Each entry and field is read apart now.
    """
    exc = _raises(_answer(422, b'{"errors": ' + errors + b"}"))
    assert isinstance(exc, APIStatusError)
    assert [(e.code, e.title, e.detail) for e in exc.errors] == read


def test_a_2xx_whose_errors_are_of_another_shape_is_still_an_error() -> None:
    """A 200 whose ``errors`` were not in the spec's exact form (a list of strings, an
    object, an entry with a field of another type) was read as data: an empty listing,
    exported as 0 cards with exit 0. Any error it states makes it an error.
    """
    meta = b'"meta": {"page_number": 1, "total_pages": 1, "total_results": 0}'
    for errors in (b'["upstream unavailable"]', b'{"code": "1"}', b'[{"source": "s"}]'):
        body = b'{"data": [], ' + meta + b', "errors": ' + errors + b"}"
        exc = _raises(_answer(200, body))
        assert type(exc) is APIResponseValidationError
        assert len(exc.errors) == 1


def test_a_2xx_whose_errors_state_nothing_is_data_and_one_unreadable_is_an_error() -> None:
    """``errors`` of ``false``, ``{}``, ``""`` or ``0`` beside a page state no error (the
    lenient reading had made each one, failing a good page); an entry no decoder reads
    (bytes that are not UTF-8) still states one (it was dropped: an empty page as data).
    """
    meta = b'"meta": {"page_number": 1, "total_pages": 1, "total_results": 0}'
    for nothing in (b"false", b"{}", b'""', b"0", b"[null, {}, false]"):
        body = b'{"data": [], ' + meta + b', "errors": ' + nothing + b"}"
        page = decipher(_answer(200, body), decode_sim_card_page, url=URL, limit=LIMIT)
        assert page.data == ()
    body = b'{"data": [], ' + meta + b', "errors": ["down \xff"]}'
    exc = _raises(_answer(200, body))
    assert type(exc) is APIResponseValidationError
    assert [e.detail for e in exc.errors] == [UNREADABLE_ERROR]


def test_an_error_body_cut_at_the_limit_says_so() -> None:
    """An error body over the 64 KiB read of an error answer (a huge ``detail``) no longer
    parses: the message said only ``HTTP 422``. It says the body was cut, unread.
    """
    head = b'{"errors": [{"code": "10015", "title": "Bad", "detail": "'
    exc = _raises(Answer.of(422, [], head + b"d" * ERROR_BODY_LIMIT, complete=False))
    assert isinstance(exc, APIStatusError)
    assert exc.errors == ()
    assert exc.cut_at == len(head) + ERROR_BODY_LIMIT
    assert str(exc) == (
        f"HTTP 422 (an error body over {exc.cut_at:,} bytes, cut there: its errors not read)"
    )


def test_a_page_without_data_is_a_validation_error() -> None:
    """A 2xx page of ``{}`` or ``{"meta": ...}`` is ``APIResponseValidationError``, not empty."""
    for body in (b"{}", b'{"meta": {"total_pages": 1}}', b'{"data": null}'):
        exc = _raises(_answer(200, body))
        assert type(exc) is APIResponseValidationError
        assert retryable(exc)


def test_a_2xx_with_errors_raises_them_and_is_not_retried() -> None:
    """A 2xx carrying an ``errors`` array raises ``APIResponseValidationError`` with those
    errors as typed values (even beside a ``data`` list), and it is final.
    """
    bodies = (
        b'{"errors": [{"code": "10015", "title": "Bad", "detail": "bad filter"}]}',
        b'{"data": [], "errors": [{"code": 10015, "title": "Bad", "detail": "bad filter"}]}',
    )
    for body in bodies:
        exc = _raises(_answer(200, body))
        assert type(exc) is APIResponseValidationError
        assert [e.code for e in exc.errors] == ["10015"]
        assert "10015 Bad: bad filter" in str(exc)
        assert not retryable(exc)
    # An empty ``errors`` array states nothing: the page stands.
    page = decipher(
        _answer(200, b'{"data": [], "errors": []}'), decode_sim_card_page, url=URL, limit=LIMIT
    )
    assert page.data == ()


def test_a_large_decoded_page_beside_errors_is_data() -> None:
    """A 2xx over ``ERRORS_SCAN_LIMIT`` that decodes is taken as data, even beside ``errors``
    (the spec forbids both; scanning every full page would cost a fifth of its decoding).
    """
    cards = [{"id": str(i), "tags": ["x" * 100]} for i in range(600)]
    body = msgspec.json.encode({"data": cards, "errors": [{"code": "1"}]})
    assert len(body) > ERRORS_SCAN_LIMIT
    page = decipher(_answer(200, body), decode_sim_card_page, url=URL, limit=LIMIT)
    assert len(page.data) == 600


@pytest.mark.parametrize(
    "body", [b'{"data": []}', b'{"data": [{"id": "a"}]}', b'{"data": null}', b"{}", b"[]"]
)
@pytest.mark.parametrize("decode", [decode_sim_card, decode_sim_card_action])
def test_a_single_get_of_a_list_or_null_is_a_validation_error(
    body: bytes, decode: Callable[[bytes], object]
) -> None:
    """A single GET whose ``data`` is a list, null or missing is ``APIResponseValidationError``."""
    with pytest.raises(APIResponseValidationError):
        decipher(_answer(200, body), decode, url=URL, limit=LIMIT)


def test_an_incomplete_2xx_is_too_large_and_final() -> None:
    """A 2xx whose reading stopped at the limit raises ``ResponseTooLargeError``, not retried."""
    answer = Answer.of(200, [], PAGE[:10], complete=False)
    with pytest.raises(ResponseTooLargeError) as info:
        decipher(answer, decode_sim_card_page, url=URL, limit=1234)
    assert info.value.limit == 1234
    assert "1234 bytes" in str(info.value)
    assert not retryable(info.value)


def test_a_2xx_left_in_its_encoding_is_refused_naming_it_and_final() -> None:
    """A 2xx whose body the HTTP layer left encoded raises ``UnsupportedEncodingError`` naming
    the encoding, key redacted, control characters shown escaped; not retried.
    """
    answer = Answer.of(200, [], b"", encoding=f"x-{KEY}\x1b[2J")
    with pytest.raises(UnsupportedEncodingError) as info:
        decipher(answer, decode_sim_card_page, url=URL, limit=LIMIT, secrets=Secrets(KEY))
    exc = info.value
    assert exc.encoding == f"x-{REDACTED}\x1b[2J"
    assert exc.status == 200
    assert f"is encoded as 'x-{REDACTED}\\x1b[2J' (its Content-Encoding)" in str(exc)
    assert KEY not in repr(vars(exc))
    assert not retryable(exc)


def test_a_status_answer_left_in_its_encoding_is_its_status_error() -> None:
    """A non-2xx in an encoding the client cannot read still raises its status's class."""
    answer = Answer.of(404, [], b"\x28\xb5\x2f\xfd", encoding="zstd")
    with pytest.raises(NotFoundError):
        decipher(answer, decode_sim_card_page, url=URL, limit=LIMIT)


def test_an_incomplete_error_body_still_gives_its_status_error() -> None:
    """A non-2xx cut at the limit still raises its status error (with what was read)."""
    answer = Answer.of(503, [], b'{"errors": [{"detail": "x', complete=False)
    with pytest.raises(InternalServerError) as info:
        decipher(answer, decode_sim_card_page, url=URL, limit=LIMIT)
    assert info.value.errors == ()


def test_body_limits() -> None:
    """A 2xx may have 1 MiB plus 16 KiB a record; an error answer at most 64 KiB."""
    assert response_limit(250) == (1 << 20) + 250 * (16 << 10)
    assert response_limit(1) == (1 << 20) + (16 << 10)
    assert body_limit(200, 10 << 20) == 10 << 20
    assert body_limit(500, 10 << 20) == ERROR_BODY_LIMIT == 64 << 10
    assert body_limit(404, 100) == 100


def test_the_hint_is_the_servers_retry_after_else_the_reset() -> None:
    """A 429's ``retry_after`` is ``Retry-After``, else ``x-ratelimit-reset``, as the server
    asked: a caller that fails fast and comes back later must not come back early (the
    client's own wait is cut to ``max_hint`` by ``RetryPolicy.delay``).
    """
    cases = [
        ({"retry-after": "3"}, 3.0),
        ({"x-ratelimit-reset": "4"}, 4.0),
        ({"retry-after": "2", "x-ratelimit-reset": "9"}, 2.0),
        ({"retry-after": "5000"}, 5000.0),
        ({"x-ratelimit-reset": "3600"}, 3600.0),
        # A negative Retry-After is no hint: it cut the reset's wait to none at all.
        ({"retry-after": "-1", "x-ratelimit-reset": "2"}, 2.0),
        ({"retry-after": "5_0", "x-ratelimit-reset": "2"}, 2.0),
        ({}, None),
    ]
    for headers, expected in cases:
        answer = Answer.of(429, headers.items(), b"")
        with pytest.raises(RateLimitError) as info:
            decipher(answer, decode_sim_card_page, url=URL, limit=LIMIT)
        assert info.value.retry_after == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # Requests remain: the window is not why it failed, so its end is no wait.
        ({"x-ratelimit-remaining": "90", "x-ratelimit-reset": "10"}, None),
        ({"x-ratelimit-reset": "10"}, None),
        # None remain: the window's end is the wait.
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "10"}, 10.0),
        # Retry-After is HTTP's wait for any status (a 503's above all).
        ({"retry-after": "7", "x-ratelimit-remaining": "90", "x-ratelimit-reset": "10"}, 7.0),
    ],
)
def test_another_status_waits_for_the_window_only_when_it_is_spent(
    headers: dict[str, str], expected: float | None
) -> None:
    """A 503 whose answer carries the rate-limit headers (Telnyx's every answer does) is not
    held until the window resets unless the window is spent: a proxy's 502 mid-listing
    stalled the whole ordered listing up to ``max_hint`` a retry.
    """
    answer = Answer.of(503, headers.items(), b"")
    with pytest.raises(InternalServerError) as info:
        decipher(answer, decode_sim_card_page, url=URL, limit=LIMIT)
    assert info.value.retry_after == expected


# --- headers are untrusted numbers ---------------------------------------------------------

_NONSENSE = [
    "inf",
    "-inf",
    "nan",
    "NaN",
    "",
    "abc",
    "1e400",
    "0x10",
    "1" * 100,
    "\x00",
    "½",
    "5_0",  # float() reads 50
    "\u0661\u0662",  # Arabic-Indic digits: float() reads 12
    "\uff15",  # a full-width 5
    "1 2",
]


@pytest.mark.parametrize("value", _NONSENSE)
def test_nonsense_header_numbers_are_ignored(value: str) -> None:
    """``inf``, ``nan``, overflows and text in rate-limit headers read as absent."""
    headers = {"x-ratelimit-remaining": value, "x-ratelimit-reset": value, "retry-after": value}
    assert rate_limit_remaining(headers) is None
    assert rate_limit_reset(headers) is None
    assert retry_after(headers) is None


def test_header_numbers_are_clamped() -> None:
    """Negative counts are ignored, huge counts clamped, epoch-like resets ignored,
    ``Retry-After`` cut at one day, and ignored when negative (no hint, as the README's
    table says: read as 0 it cut short the wait ``x-ratelimit-reset`` asked for).
    """
    assert rate_limit_remaining({"x-ratelimit-remaining": "-1"}) is None
    assert rate_limit_remaining({"x-ratelimit-remaining": "1e300"}) == 1 << 31
    assert rate_limit_remaining({"x-ratelimit-remaining": "7.9"}) == 7
    assert rate_limit_reset({"x-ratelimit-reset": "-3"}) is None
    assert rate_limit_reset({"x-ratelimit-reset": "1767225600"}) is None
    assert rate_limit_reset({"x-ratelimit-reset": "2.5"}) == 2.5
    assert retry_after({"retry-after": "-5"}) is None
    assert retry_after({"retry-after": "0"}) == 0.0
    assert retry_after({"retry-after": "1e300"}) == 86400.0


def test_retry_after_as_a_date_uses_the_given_clock() -> None:
    """An HTTP-date ``Retry-After`` is counted from the injected ``now``; bad dates are ignored."""
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, now) == 30.0
    assert retry_after({"retry-after": "Wed, 31 Dec 2025 12:00:00 GMT"}, now) == 0.0
    assert retry_after({"retry-after": "Fri, 01 Jan 9999 00:00:00 GMT"}, now) == 86400.0
    for bad in ("Thu, 99 Foo 2026 99:99:99 GMT", "Thu, 01 Jan 2026 25:61:00 GMT", "Thu,"):
        assert retry_after({"retry-after": bad}, now) is None


# --- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/v2/sim_cards?page%5Bnumber%5D=2", ORIGIN + "/v2/sim_cards?page%5Bnumber%5D=2"),
        ("http://127.0.0.1:1/v3/x", ORIGIN + "/v3/x"),
        ("next", ORIGIN + "/v2/next"),
        ("http://[::1/x", None),
        ("http://[zz::1]/x", None),
        ("http://127.0.0.1:99999/x", None),
        ("http://127.0.0.1:-1/x", None),
        ("http://user:pw@127.0.0.1:1/x", None),
        ("http://user@127.0.0.1:1/x", None),
        ("https://127.0.0.1:1/x", None),
        ("ftp://127.0.0.1:1/x", None),
        ("javascript:alert(1)", None),
        ("http://", None),
        ("https:", None),
        ("file:///etc/passwd", None),
        ("http://localhost:1/x", None),
        ("http://127.0.0.1:2/x", None),
        ("//evil.example/x", None),
        ("", None),
        ("   ", None),
        ("http://\x00/x", None),
        ("http://" + "a" * 300 + "/x", None),
    ],
)
def test_redirect_target_is_parsed_defensively(location: str, expected: str | None) -> None:
    """Only a same-origin ``Location`` without user info is followed; a malformed one is not."""
    answer = Answer.of(302, [("Location", location)], b"")
    assert redirect_target(URL, answer, ORIGIN) == expected


def test_only_redirect_statuses_are_followed() -> None:
    """A ``Location`` on a status that is not a redirect is ignored."""
    for status in (200, 300, 304, 404, 500):
        answer = Answer.of(status, [("Location", "/v2/x")], b"")
        assert redirect_target(URL, answer, ORIGIN) is None


# --- bounded, key-free exceptions ----------------------------------------------------------


def test_cut_marks_what_it_removed() -> None:
    """``cut`` keeps short text and marks how long a cut text was."""
    assert cut("short") == "short"
    assert cut("x" * 10_485_760) == "x" * FIELD_LIMIT + "… [cut, 10485760 chars]"


def test_a_huge_detail_gives_a_short_message() -> None:
    """A 10 MB ``detail`` (and a flood of errors) gives a message of bounded length, marked."""
    detail = "d" * 10_000_000
    errors = [{"code": str(i), "title": "t" * 5000, "detail": detail} for i in range(20)]
    body = msgspec.json.encode({"errors": errors})
    exc = _raises(Answer.of(500, [("x-request-id", "r" * 100_000)], body))
    assert len(str(exc)) <= MESSAGE_LIMIT + 40
    assert "… [cut, 10000000 chars]" in str(exc)
    assert "and 15 more" in str(exc)
    assert len(exc.message) == len(str(exc))


def test_server_text_with_control_characters_is_escaped_in_the_message() -> None:
    """A title with CR/LF, a detail with terminal escape codes and a request id with ESC
    reached ``str(exc)`` (and so every log line and traceback) raw: a forged second log
    line, a cleared screen, a retitled terminal. The message is one line (line breaks and
    tabs folded into a space) with the other controls escaped; text in other languages
    (a no-break space, an ideographic one, a joiner) stays as it is; the errors themselves
    keep the server's text as sent.
    """
    error = {"code": "1", "title": "T\r\nFAKE\tLOG LINE", "detail": "\x1b[2J\x1b]0;pwned\x07"}
    body = msgspec.json.encode({"errors": [error]})
    exc = _raises(Answer.of(500, [("x-request-id", "r\x1bq")], body))
    assert isinstance(exc, APIStatusError)
    assert "T FAKE LOG LINE: \\x1b[2J\\x1b]0;pwned\\x07" in str(exc)
    assert "(request id r\\x1bq)" in str(exc)
    assert "\n" not in str(exc)
    assert "\x1b" not in str(exc)
    assert exc.errors[0].title == "T\r\nFAKE\tLOG LINE"  # data as sent
    words = "Nombre\xa0invalide, 不正な\u3000パラメータ, 👩\u200d💻, co\xadoperate, \u202eevil"
    body = msgspec.json.encode({"errors": [{"code": "1", "detail": words}]})
    shown = str(_raises(Answer.of(422, [], body)))
    assert shown.endswith(": " + words.replace("\u202e", "\\u202e"))  # a bidi control escaped


def test_a_redirect_location_not_in_utf8_is_kept_escaped() -> None:
    """A ``Location`` with bytes that are not UTF-8 (lone surrogates from aiohttp) was kept
    raw on ``APIStatusError.location``: writing it to a log or a UTF-8 file raised.
    """
    exc = _raises(Answer.of(302, [("location", "https://other.example/caf\udce9")], b""))
    assert isinstance(exc, APIStatusError)
    assert exc.location == "https://other.example/caf\\xe9"
    exc.location.encode()


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://user:pw@other.example/v2", "https://***@other.example/v2"),
        ("//user:pw@other.example/v2", "//***@other.example/v2"),
        # A backslash is a slash to a browser: the password was shown.
        ("https:\\\\user:pw@other.example/", "https:\\\\***@other.example/"),
        ("https:/\\user:pw@other.example/", "https:/\\***@other.example/"),
        # An "@" past the authority: another host was shown masked.
        ("https://user:pw@h\\x@evil.example/p", "https://***@h\\x@evil.example/p"),
        (
            "https://other.example?next=a@evil.example/x",
            "https://other.example?next=a@evil.example/x",
        ),
        ("https://other.example#a@evil.example/x", "https://other.example#a@evil.example/x"),
        # A relative Location has no authority, whatever its query holds.
        ("/v2/x?next=//a:b@c", "/v2/x?next=//a:b@c"),
    ],
)
def test_a_redirect_location_is_shown_with_its_user_info_masked(location: str, shown: str) -> None:
    """What a ``Location`` holds before an ``@`` in its authority may be a password: masked,
    on ``APIStatusError.location`` and in its message; what is past the authority is not.
    """
    exc = _raises(Answer.of(302, [("location", location)], b""))
    assert isinstance(exc, APIStatusError)
    assert exc.location == shown
    assert "pw@" not in str(exc)


def test_a_request_id_not_in_utf8_is_shown_escaped() -> None:
    """Header bytes that are not UTF-8 come from aiohttp as lone surrogates, which no log
    or UTF-8 file can take: the request id an error (and a ResponseEvent) carries shows
    them escaped instead.
    """
    exc = _raises(Answer.of(500, [("x-request-id", "caf\udce9-1")], b"{}"))
    assert isinstance(exc, APIStatusError)
    assert exc.request_id == "caf\\xe9-1"
    assert "caf\\xe9-1" in str(exc)
    str(exc).encode()  # no lone surrogate left anywhere in the message
    assert request_id({"request-id": "r-2"}) == "r-2"  # the other header name
    assert request_id({"x-request-id": "é"}) == "é"  # text that is UTF-8 stays as it is
    assert request_id({}) is None


def _texts(exc: APIError) -> list[str]:
    return [str(exc), repr(exc), exc.message, repr(exc.__dict__), repr(pickle.dumps(exc))]


def test_an_echoed_key_is_redacted_everywhere() -> None:
    """The key echoed in a 401's body, detail, meta, source and request id appears nowhere
    in the exception (``str``, ``repr``, ``.body``, ``.errors``, pickle).
    """
    bearer = f"Bearer {KEY}"
    error = {
        "code": KEY,
        "title": f"bad {bearer}",
        "detail": f"you sent Authorization: {bearer}",
        "source": {"pointer": f"/{KEY}", "parameter": KEY},
        "meta": {"headers": {"Authorization": bearer}, "list": [KEY, {"deep": [KEY]}]},
    }
    body = msgspec.json.encode({"errors": [error], "echo": bearer})
    secrets = Secrets(KEY)
    exc = _raises(Answer.of(401, [("x-request-id", KEY)], body), secrets)
    assert isinstance(exc, AuthenticationError)
    assert KEY.encode() not in exc.body
    assert REDACTED.encode() in exc.body
    assert all(KEY not in text for text in _texts(exc))
    assert KEY not in repr(exc.errors)
    assert exc.errors[0].detail == f"you sent Authorization: Bearer {REDACTED}"
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
    assert KEY not in repr(again.__dict__)


def test_a_key_with_json_escapes_is_redacted_in_the_raw_body() -> None:
    """A key with a quote or a backslash is also found in its JSON-escaped form in the body."""
    key = 'K"ey\\with/quotes'
    body = msgspec.json.encode({"errors": [{"detail": key}]})
    exc = _raises(Answer.of(401, [], body), Secrets(key))
    assert isinstance(exc, APIStatusError)
    assert msgspec.json.encode(key)[1:-1] not in exc.body
    assert key not in str(exc)
    assert exc.errors[0].detail == REDACTED


@pytest.mark.parametrize(
    "written",
    [
        "solidus escaped",  # how PHP's and Java's JSON encoders write "/"
        "all \\u escapes",
        "upper-case \\u escapes",
        "percent-encoded",  # a server that quotes what it echoes, as in a URL
        "mixed",
    ],
)
def test_a_key_echoed_in_any_json_or_url_escaping_is_redacted(written: str) -> None:
    r"""A key echoed with escapes other than msgspec's own (``\/``, ``\u004b``, ``%2F``)
    survived in ``.body``: ``json.loads(exc.body)`` gave back the key, and a percent-encoded
    one reached ``str``, ``.errors`` and the pickle too.
    """
    key = "KEY01/ab+cd_EF=="
    forms = {
        "solidus escaped": key.replace("/", "\\/"),
        "all \\u escapes": "".join(f"\\u{ord(c):04x}" for c in key),
        "upper-case \\u escapes": "".join(f"\\u{ord(c):04X}" for c in key),
        "percent-encoded": urllib.parse.quote(key, safe=""),
        "mixed": "".join(
            f"\\u{ord(c):04x}" if n % 3 == 0 else f"%{ord(c):02x}" if n % 3 == 1 else c
            for n, c in enumerate(key)
        ),
    }
    echoed = forms[written]
    body = b'{"errors": [{"detail": "got Bearer ' + echoed.encode() + b'"}], "echo": "'
    body += echoed.encode() + b'"}'
    exc = _raises(Answer.of(401, [("x-request-id", echoed)], body), Secrets(key))
    assert isinstance(exc, AuthenticationError)
    decoded = json.loads(exc.body)
    assert echoed not in exc.body.decode()
    assert decoded["echo"] == REDACTED
    texts = [*_texts(exc), json.dumps(decoded), repr(pickle.dumps(exc))]
    assert all(key not in text and echoed not in text for text in texts)
    assert all(urllib.parse.unquote(text).count(key) == 0 for text in texts)


@pytest.mark.parametrize(
    "key", ["KEYabc\\", "KEY\U0001f600abc"], ids=["a backslash", "past U+FFFF"]
)
def test_a_key_in_its_json_form_leaves_the_errors_readable(key: str) -> None:
    r"""A key ending in ``\`` (JSON: ``\\``) lost one backslash of two to the redaction, and
    the one left broke the body's JSON: the 401 came without its errors. A key past U+FFFF,
    written as a surrogate pair (``json.dumps``'s way), was not redacted at all.
    """
    echoed = json.dumps(f"key {key} is not valid")
    body = f'{{"errors": [{{"code": "10009", "detail": {echoed}}}]}}'.encode()
    exc = _raises(Answer.of(401, [], body), Secrets(key))
    assert isinstance(exc, AuthenticationError)
    assert [e.detail for e in exc.errors] == [f"key {REDACTED} is not valid"]
    assert json.loads(exc.body)["errors"][0]["detail"] == f"key {REDACTED} is not valid"
    assert all(key not in text for text in _texts(exc))


def test_an_echoed_key_in_a_2xx_error_or_url_is_redacted() -> None:
    """A key in a 2xx's ``errors`` or in the request URL does not reach the exception."""
    body = msgspec.json.encode({"errors": [{"detail": KEY}]})
    with pytest.raises(APIResponseValidationError) as info:
        decipher(
            Answer.of(200, [], body),
            decode_sim_card_page,
            url=f"{BASE}/x?{KEY}",
            limit=LIMIT,
            secrets=Secrets(KEY),
        )
    assert all(KEY not in text for text in _texts(info.value))


def test_attempts_survive_pickling() -> None:
    """``APIError.attempts`` defaults to 1 and is kept by pickling."""
    exc = InternalServerError(503, url=URL)
    assert exc.attempts == 1
    exc.attempts = 5
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301  (our own bytes)
    assert again.attempts == 5
    assert again.status == 503


# --- the transport, with a fake send -------------------------------------------------------


class _Limiter(AdaptiveLimiter):
    """The real limiter, recording pauses instead of closing its gate on the wall clock."""

    def __init__(self) -> None:
        super().__init__(4)
        self.pauses: list[float] = []
        self.remaining: list[int | None] = []

    def pause(self, seconds: float) -> bool:
        self.pauses.append(seconds)
        return True

    def on_healthy(self, remaining: int | None, reset: float | None) -> bool:
        self.remaining.append(remaining)
        return super().on_healthy(remaining, reset)


class _Script:
    """A fake ``send``: answers (or raises) from a script, recording each URL and limit."""

    def __init__(self, answers: Sequence[Answer | APIError]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, int]] = []

    async def __call__(self, url: str, max_bytes: int) -> Answer:
        self.sent.append((url, max_bytes))
        item = self.answers.pop(0)
        if isinstance(item, APIError):
            raise item
        return item


def _transport(
    script: _Script, policy: RetryPolicy | None = None, **options: object
) -> tuple[Transport, list[float], _Limiter]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = _Limiter()
    transport = Transport(
        send=script,
        base_url=BASE,
        retry=policy or RetryPolicy(base=1.0, cap=8.0),
        limiter=limiter,
        secrets=Secrets(KEY),
        sleep=sleep,
        jitter=lambda high: high,
        **options,  # type: ignore[arg-type]  # only max_response_bytes
    )
    return transport, slept, limiter


@pytest.mark.anyio
async def test_transport_retries_with_backoff_then_succeeds() -> None:
    """Retried failures sleep the planned backoff (injected jitter), then the value comes back."""
    script = _Script(
        [
            _answer(503),
            APIConnectionError("reset"),
            _answer(200, b'{"data": [{"id": "a"'),  # truncated
            _answer(),
        ]
    )
    transport, slept, _ = _transport(script)
    page = await transport.get("/sim_cards", decode_sim_card_page)
    assert [c.id for c in page.data] == ["a", "b"]
    assert slept == [1.0, 2.0, 4.0]
    assert (transport.requests, transport.retries) == (4, 3)


@pytest.mark.anyio
async def test_an_answer_cut_off_after_its_head_teaches_the_limiter_nothing() -> None:
    """A 200 whose body the connection cut off is the connection error it carries, retried
    as one: it neither grows the limit (no usable answer) nor pauses the client for its
    headers' window, as when it raised inside ``send``.
    """
    cut = APIConnectionError("payload not completed")
    spent = [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "9")]
    script = _Script([Answer.of(200, spent, b"", failure=cut)] * 3 + [_answer()])
    transport, slept, limiter = _transport(script)
    limiter.on_throttled(0, None)  # from 4 to 2: room to grow
    limit, decreases = limiter.limit, limiter.decreases
    seen: list[APIError] = []
    page = await transport.get("/sim_cards", decode_sim_card_page, on_retry=seen.append)
    assert [c.id for c in page.data] == ["a", "b"]
    assert seen == [cut, cut, cut]
    assert slept == [1.0, 2.0, 4.0]  # the backoff of a connection error, no 9 s pause
    assert limiter.pauses == []
    assert limiter.decreases == decreases
    assert limiter.remaining == [None]  # the usable answer alone was counted
    assert limiter.limit >= limit
    assert transport.rate_limit is None
    with pytest.raises(APIConnectionError):  # the core alone raises it too
        decipher(Answer.of(200, [], b"", failure=cut), decode_sim_card_page, url=URL, limit=LIMIT)


@pytest.mark.anyio
async def test_transport_gives_up_with_the_attempt_count() -> None:
    """After ``max_retries`` retries the last error is raised with ``attempts`` set."""
    script = _Script([_answer(502)] * 5)
    transport, slept, _ = _transport(script)
    seen: list[APIError] = []
    with pytest.raises(InternalServerError) as info:
        await transport.get("/sim_cards", decode_sim_card_page, on_retry=seen.append)
    assert info.value.attempts == 5
    assert len(seen) == 4
    assert slept == [1.0, 2.0, 4.0, 8.0]
    assert script.answers == []


@pytest.mark.anyio
async def test_final_errors_are_raised_at_once() -> None:
    """A 404, a too-large 2xx and a 2xx stating errors are raised on the first attempt."""
    final = [
        _answer(404),
        Answer.of(200, [], b"", complete=False),
        _answer(200, b'{"errors": [{"code": "1"}]}'),
    ]
    for answer in final:
        script = _Script([answer])
        transport, slept, _ = _transport(script)
        with pytest.raises(APIError) as info:
            await transport.get("/sim_cards", decode_sim_card_page)
        assert info.value.attempts == 1
        assert slept == []


@pytest.mark.anyio
async def test_retry_after_is_honoured_and_fed_to_the_limiter() -> None:
    """A 429's ``Retry-After`` sets the wait (cut to ``max_hint``) and pauses the limiter."""
    script = _Script([_answer(429, retry_after="30"), _answer(429, retry_after="1e9"), _answer()])
    transport, slept, limiter = _transport(script, RetryPolicy(base=0, cap=0, max_hint=45.0))
    await transport.get("/sim_cards", decode_sim_card_page)
    assert slept == [30.0, 45.0]
    assert limiter.pauses == [30.0, 45.0]
    assert limiter.decreases >= 1


@pytest.mark.anyio
async def test_hostile_rate_limit_headers_on_a_2xx_are_ignored() -> None:
    """``inf``/``nan``/negative rate-limit headers on a 2xx neither raise nor pause."""
    answers = [_answer(x_ratelimit_remaining=v, x_ratelimit_reset=v) for v in _NONSENSE]
    script = _Script([*answers, _answer(x_ratelimit_remaining="0", x_ratelimit_reset="2")])
    transport, _, limiter = _transport(script)
    for _ in range(len(_NONSENSE) + 1):
        await transport.get("/sim_cards", decode_sim_card_page)
    assert limiter.remaining == [None] * len(_NONSENSE) + [0]
    assert limiter.pauses == [2.0]


@pytest.mark.anyio
async def test_the_limit_comes_from_the_page_size_or_the_option() -> None:
    """``send`` gets the page-size-derived byte limit, or the client's ``max_response_bytes``."""
    script = _Script([_answer(), _answer(), _answer()])
    transport, _, _ = _transport(script)
    await transport.get("/sim_cards", decode_sim_card_page)
    await transport.get("/sim_cards", decode_sim_card_page, page_size=1)
    assert [limit for _, limit in script.sent] == [response_limit(250), response_limit(1)]
    fixed, _, _ = _transport(script, max_response_bytes=5000)
    await fixed.get("/sim_cards", decode_sim_card_page, page_size=1)
    assert script.sent[-1][1] == 5000


@pytest.mark.anyio
async def test_same_origin_redirects_are_followed_others_stand() -> None:
    """A same-origin redirect is followed; another origin, or a malformed ``Location``, stands
    as its status error without a second request.
    """
    script = _Script([Answer.of(307, [("Location", "/v2/elsewhere")], b""), _answer()])
    transport, _, _ = _transport(script, RetryPolicy(max_retries=0))
    await transport.get("/sim_cards", decode_sim_card_page)
    assert [url for url, _ in script.sent] == [BASE + "/sim_cards", ORIGIN + "/v2/elsewhere"]
    for location in ("http://evil.example/x", "http://[::1/x", "http://127.0.0.1:70000/"):
        script = _Script([Answer.of(302, [("Location", location)], b"")])
        transport, _, _ = _transport(script, RetryPolicy(max_retries=0))
        with pytest.raises(APIStatusError) as info:
            await transport.get("/sim_cards", decode_sim_card_page)
        assert info.value.status == 302
        assert len(script.sent) == 1


@pytest.mark.anyio
async def test_too_many_redirects_end_as_a_status_error() -> None:
    """A same-origin redirect loop stops after ``MAX_REDIRECTS`` hops with the 3xx error."""
    loop = Answer.of(302, [("Location", "/v2/sim_cards")], b"")
    script = _Script([loop] * (MAX_REDIRECTS + 1))
    transport, _, _ = _transport(script, RetryPolicy(max_retries=0))
    with pytest.raises(APIStatusError) as info:
        await transport.get("/sim_cards", decode_sim_card_page)
    assert info.value.status == 302
    assert len(script.sent) == MAX_REDIRECTS + 1


def test_only_the_adapter_imports_aiohttp() -> None:
    """No module of the package imports aiohttp except ``_http`` and the testing server."""
    package = Path(simcards_async.__file__).parent
    importers = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^\s*(import aiohttp|from aiohttp)", path.read_text(), re.MULTILINE)
    }
    assert {p for p in importers if not p.startswith("testing")} == {"_http.py"}


def test_an_error_meta_past_a_float_keeps_its_infinity() -> None:
    """An error's ``meta`` holding ``1e400`` decodes to infinity, but the key's redaction
    passed it through JSON, where an infinity is ``null``: the value became None. Unchanged
    when it holds no key; a meta that holds one is still redacted.
    """
    body = b'{"errors": [{"code": "10015", "meta": {"n": 1e400, "s": "text"}}]}'
    exc = _raises(_answer(422, body), Secrets("KEY-0123456789abcdef"))
    assert isinstance(exc, APIStatusError)
    assert exc.errors[0].meta == {"n": math.inf, "s": "text"}
    body = b'{"errors": [{"code": "10015", "meta": {"s": "Bearer KEY-0123456789abcdef"}}]}'
    exc = _raises(_answer(422, body), Secrets("KEY-0123456789abcdef"))
    assert isinstance(exc, APIStatusError)
    assert exc.errors[0].meta == {"s": "Bearer <redacted>"}
