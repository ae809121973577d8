"""Retry planning as plain values: which failures are retried, and how long to wait first.

No I/O and no clock: ``plan_retry`` takes the attempt number, the failure and a
source of jitter, and returns the seconds to wait, or ``None`` for "raise it".
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ._arguments import checked_int, checked_seconds
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    ResponseTooLargeError,
    UnsupportedEncodingError,
)

__all__ = [
    "RETRY_STATUSES",
    "Jitter",
    "RetryPolicy",
    "plan_retry",
    "retryable",
]

#: Statuses that say "try again": the server timed out waiting for the request (408: it was
#: not acted on, as on an idle connection it closed), rate limited, or a server or proxy
#: failed.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

#: ``jitter(high)`` draws a wait from ``[0, high]``; tests pass a fixed one.
Jitter = Callable[[float], float]


def _uniform(high: float) -> float:
    return random.uniform(0, high)  # noqa: S311  (backoff jitter, not cryptography)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request.

    ``max_retries`` retries after the first attempt; the wait before retry ``n`` (1 for
    the first) is drawn uniformly from ``[0, min(cap, base * 2**(n - 1))]`` (full jitter:
    at most ``base`` before the first retry), and is
    never shorter than a wait the server asks for (``Retry-After``,
    ``x-ratelimit-reset``), which is honoured up to ``max_hint`` seconds.
    ``RetryPolicy(base=0, cap=0)`` retries at once (for tests).
    """

    max_retries: int = 4
    base: float = 0.25
    cap: float = 20.0
    #: Longest server-requested wait that is honoured; longer hints are cut to this.
    max_hint: float = 60.0

    def __post_init__(self) -> None:
        # Checked at run time: callers may pass anything. Kept as its plain int.
        object.__setattr__(self, "max_retries", checked_int("max_retries", self.max_retries, 0))
        for name in ("base", "cap", "max_hint"):
            checked_seconds(name, getattr(self, name), zero=True)

    def delay(self, attempt: int, hint: float | None, jitter: Jitter = _uniform) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        # min() before the power would overflow: 2**attempt grows past any float.
        exponent = min(attempt, 64)
        drawn = jitter(min(self.cap, self.base * 2.0**exponent))
        if hint is None:
            return drawn
        return max(min(hint, self.max_hint), drawn)


def retryable(exc: APIError) -> bool:
    """Whether another attempt may succeed where this one failed."""
    if isinstance(exc, APIStatusError):
        return exc.status in RETRY_STATUSES
    if isinstance(exc, (ResponseTooLargeError, UnsupportedEncodingError)):
        return False  # the same request gets the same answer
    if isinstance(exc, APIResponseValidationError):
        # A truncated or garbled 2xx is worth another try; a 2xx that states errors is not.
        return not exc.errors
    return isinstance(exc, APIConnectionError)


def plan_retry(
    policy: RetryPolicy, attempt: int, exc: APIError, jitter: Jitter = _uniform
) -> float | None:
    """The wait before retrying after failure ``exc`` of attempt ``attempt`` (0 = the first).

    ``None`` means "do not retry": the failure is final or the retries are spent.
    """
    if attempt >= policy.max_retries or not retryable(exc):
        return None
    hint = exc.retry_after if isinstance(exc, APIStatusError) else None
    return policy.delay(attempt, hint, jitter)
