"""The mock server's options: faults, rate limit and drift, and the record of a request."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from ._checks import count, integer, number, require, seconds

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._misbehaviour import Misbehaviour


FaultName = str | int | None
"""A scripted fault: "5xx", "429", "drop", "truncate", "hang", an HTTP status, or None."""

FAULT_NAMES = ("5xx", "429", "drop", "truncate", "hang")


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """Which requests to the four API routes misbehave, decided in arrival order.

    The first ``len(script)`` requests get the scripted fault (a name, an HTTP status to
    answer with a Telnyx errors body, or None for no fault). Every later request draws one
    number from ``random.Random(seed)`` and gets a fault with these probabilities (their sum
    must not exceed 1):

    - ``error_5xx``: 500, 502, 503, 504 in turn, with a Telnyx errors body; every other 502
      (the first, third, ...) comes as an HTML page instead, like a proxy's.
    - ``rate_limited``: 429, code "10011", ``Retry-After: retry_after`` and
      ``x-ratelimit-limit/remaining/reset`` headers.
    - ``drop``: the connection is closed without an answer; the request is not processed (it
      takes no rate-limit token and does not count towards drift).
    - ``truncate``: the real answer, declaring its full Content-Length, cut off half way.
    - ``hang``: the real answer, ``hang_seconds`` late (cut short when the server closes;
      ``math.inf``: not before then).
    """

    seed: int = 0
    error_5xx: float = 0.0
    rate_limited: float = 0.0
    drop: float = 0.0
    truncate: float = 0.0
    hang: float = 0.0
    hang_seconds: float = 60.0
    retry_after: float = 0.05
    script: Sequence[FaultName] = ()

    def __post_init__(self) -> None:
        require(integer(self.seed), "seed", "an integer", self.seed)
        rates = {
            "error_5xx": self.error_5xx,
            "rate_limited": self.rate_limited,
            "drop": self.drop,
            "truncate": self.truncate,
            "hang": self.hang,
        }
        for name, rate in rates.items():
            require(number(rate) and 0 <= rate <= 1, name, "a probability from 0 to 1", rate)
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(
                f"fault probabilities must be in [0, 1] and sum to at most 1; got {rates}"
            )
        # Any number but nan: inf hangs until the server closes.
        hang: object = self.hang_seconds  # as given, whatever the annotation says
        allowed = "a number of seconds >= 0 (or math.inf)"
        ok = hang == math.inf or (number(hang) and hang >= 0)
        require(ok, "hang_seconds", allowed, hang)
        # Sent as Retry-After, a finite number.
        allowed = "a finite number of seconds >= 0"
        require(seconds(self.retry_after), "retry_after", allowed, self.retry_after)
        script: object = self.script
        items = f"one of {', '.join(FAULT_NAMES)}, an HTTP status from 400 to 599 or None"
        ok = isinstance(script, Iterable) and not isinstance(script, str | bytes)
        require(ok, "script", f"a list of items each {items}", script)
        script = tuple(self.script)  # once: an iterator would be used up by the checks
        for item in script:
            ok = item is None or (isinstance(item, str) and item in FAULT_NAMES)
            ok = ok or (integer(item) and 400 <= item <= 599)  # noqa: PLR2004
            require(ok, "script items", items, item)
        object.__setattr__(self, "script", script)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per API key: ``burst`` tokens, refilled at ``requests_per_second``.

    ``burst`` defaults to ``ceil(requests_per_second)`` (at least 1); a bucket starts full.
    Each authenticated request takes one token; with none left the answer is 429 (code
    "10011") with ``Retry-After`` = seconds until one token is back. Every answer to an
    authenticated request carries ``x-ratelimit-limit`` (= burst), ``x-ratelimit-remaining`` (whole
    tokens left) and ``x-ratelimit-reset`` (seconds, possibly fractional such as "0.42",
    until the bucket is full again, i.e. until remaining is back to limit).

    A ``FaultPlan``'s fault is answered before the key is checked and takes no token, as a
    failing server in front of the API would: its 5xx or status carries the bucket's headers
    as they are, and an injected 429 says ``x-ratelimit-remaining: 0`` whatever the bucket holds.
    """

    requests_per_second: float
    burst: int | None = None

    def __post_init__(self) -> None:
        rate, burst = self.requests_per_second, self.burst
        require(number(rate) and rate > 0, "requests_per_second", "a finite number > 0", rate)
        require(burst is None or count(burst, 1), "burst", "an integer >= 1 or None", burst)

    @property
    def limit(self) -> int:
        """The bucket's size."""
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(self.requests_per_second))


@dataclass(frozen=True, kw_only=True)
class Drift:
    """Change the data while a client pages through it.

    After every ``every``-th list request answered 200 (either listing), ``insert`` new SIM
    cards and ``insert`` new actions appear at the head of their listings (newest
    ``created_at``) and ``delete`` random existing cards and ``delete`` random actions
    disappear. Choices and new records come from ``random.Random(seed)``.
    """

    seed: int = 0
    every: int = 10
    insert: int = 5
    delete: int = 0

    def __post_init__(self) -> None:
        require(integer(self.seed), "seed", "an integer", self.seed)
        require(count(self.every, 1), "every", "an integer >= 1", self.every)
        require(count(self.insert), "insert", "an integer >= 0", self.insert)
        require(count(self.delete), "delete", "an integer >= 0", self.delete)


@dataclass(kw_only=True, slots=True)
class RequestRecord:
    """One request as the server saw it.

    ``raw_query`` is the query string exactly as received; ``query`` maps each decoded name
    to its decoded values in order. ``status`` is None while unanswered or when no status was
    sent (a dropped connection, or a client that gave up first). ``headers`` have lower-case
    names, and the bearer token is replaced by ``<redacted>``.
    """

    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int | None = None
    fault: str | None = None


class ServerOptions(TypedDict, total=False):
    """The keyword arguments of `MockTelnyxServer` besides host and port."""

    sim_cards: int
    actions: int
    seed: int
    latency: float
    api_key: str | None
    faults: FaultPlan | None
    rate_limit: RateLimit | None
    drift: Drift | None
    legacy_errors: bool
    cache_bytes: int
    clock: Callable[[], float] | None
    misbehaviour: Misbehaviour | None
    keep_requests: int | None
