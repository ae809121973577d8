"""Send one GET, retry it, and map every failure to the exception tree.

This is the only module that imports aiohttp. ``Transport.get`` takes a target
(path and encoded query) and a decoder, and returns the decoded value or raises
a ``TelnyxError``. Retried: 429, 500, 502, 503, 504, connection failures,
timeouts, and 2xx bodies that do not decode (a truncated body must never pass
for a short page). The wait is capped exponential backoff with full jitter,
and never shorter than ``Retry-After`` or ``x-ratelimit-reset``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import ipaddress
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp
import anyio
import msgspec
from yarl import URL

from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    InvalidParameterError,
    exception_for_status,
)
from ._models import decode_errors
from ._throttle import AdaptiveLimiter

__all__ = ["RetryPolicy", "Transport", "check_base_url"]

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_USER_AGENT = "simcards-async"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request.

    ``max_retries`` retries after the first attempt; the wait before retry ``n``
    is drawn uniformly from ``[0, min(cap, base * 2**n)]`` (full jitter), and is
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
        mr: object = self.max_retries  # checked at run time: callers may pass anything
        if isinstance(mr, bool) or not isinstance(mr, int) or mr < 0:
            raise InvalidParameterError("max_retries", "an integer >= 0", mr)
        for name in ("base", "cap", "max_hint"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise InvalidParameterError(name, "a finite number of seconds >= 0", value)

    def delay(self, attempt: int, hint: float | None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        jitter = random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311
        if hint is None:
            return jitter
        return max(min(hint, self.max_hint), jitter)


def check_base_url(base_url: object) -> str:
    """Refuse a base URL that would send the key in clear to a host that is not loopback."""
    allowed = "an https:// URL (plain http:// only for a loopback host such as 127.0.0.1)"
    if not isinstance(base_url, str):
        raise InvalidParameterError("base_url", allowed, base_url)
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise InvalidParameterError("base_url", allowed, base_url) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError("base_url", allowed, base_url)
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidParameterError(
            "base_url", allowed + ", so the API key is never sent unencrypted; use https", base_url
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Transport:
    """Sends authenticated GETs over one aiohttp session, within a shared limiter."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        timeout: float,
        retry: RetryPolicy,
        limiter: AdaptiveLimiter,
    ) -> None:
        self._session = session
        self._base_url = base_url
        self._origin = URL(base_url).origin()
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.retry = retry
        self.limiter = limiter
        self.requests = 0
        self.retries = 0

    def __repr__(self) -> str:
        return f"<Transport {self._base_url!r}>"

    async def get(
        self,
        target: str,
        decode: Callable[[bytes], T],
        *,
        on_retry: Callable[[APIError], None] | None = None,
    ) -> T:
        """GET ``base_url + target`` and decode the answer, retrying what may be retried."""
        url = self._base_url + target
        attempt = 0
        while True:
            try:
                return await self._attempt(url, decode)
            except APIError as exc:
                if not _retryable(exc) or attempt >= self.retry.max_retries:
                    raise
                hint = exc.retry_after if isinstance(exc, APIStatusError) else None
                delay = self.retry.delay(attempt, hint)
                attempt += 1
                self.retries += 1
                if on_retry is not None:
                    on_retry(exc)
                await anyio.sleep(delay)

    async def _attempt(self, url: str, decode: Callable[[bytes], T]) -> T:
        async with self.limiter.slot() as epoch:
            self.requests += 1
            status, headers, body = await self._send(url)
        # A server may ask for any wait; past max_hint it is cut, so nothing hangs on it.
        reset = self._capped(_reset_seconds(headers))
        if 200 <= status < 300:  # noqa: PLR2004
            self.limiter.on_healthy(_int_header(headers, "x-ratelimit-remaining"), reset)
            try:
                return decode(body)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
                msg = f"the answer to GET {url} is not the documented JSON: {exc}"
                raise APIResponseValidationError(msg, url=url, status=status) from exc
        retry_after = self._capped(_retry_after(headers))
        if status == 429:  # noqa: PLR2004
            self.limiter.on_throttled(epoch, retry_after if retry_after is not None else reset)
        cls = exception_for_status(status)
        raise cls(
            status,
            decode_errors(body),
            request_id=headers.get("x-request-id") or headers.get("request-id"),
            body=body,
            url=url,
            retry_after=retry_after if retry_after is not None else reset,
        )

    def _capped(self, seconds: float | None) -> float | None:
        return None if seconds is None else min(seconds, self.retry.max_hint)

    async def _send(self, url: str) -> tuple[int, Mapping[str, str], bytes]:
        """One GET, following same-origin redirects only; the key never leaves the origin."""
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                async with self._session.get(
                    URL(url, encoded=True),
                    headers=self._headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as resp:
                    body = await resp.read()
                    status, headers = resp.status, resp.headers
            except (asyncio.TimeoutError, TimeoutError) as exc:
                raise APITimeoutError(f"no answer to GET {url} in time", url=url) from exc
            except aiohttp.ClientResponseError as exc:
                # Not chained: its request_info holds our headers, Authorization included.
                msg = f"GET {url} failed: {type(exc).__name__}: {exc.status} {exc.message}"
                raise APIConnectionError(msg, url=url) from None
            except aiohttp.ClientError as exc:
                msg = f"GET {url} failed: {type(exc).__name__}: {exc}"
                raise APIConnectionError(msg, url=url) from exc
            location = headers.get("Location")
            if status not in _REDIRECTS or location is None:
                return status, headers, body
            target = URL(url, encoded=True).join(URL(location))
            if target.origin() != self._origin:
                # Following would send the Authorization header to another host.
                return status, headers, body
            url = str(target)
        return status, headers, body


def _retryable(exc: APIError) -> bool:
    if isinstance(exc, APIStatusError):
        return exc.status in RETRY_STATUSES
    return isinstance(exc, (APIConnectionError, APIResponseValidationError))


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _reset_seconds(headers: Mapping[str, str]) -> float | None:
    """``x-ratelimit-reset``: seconds until the rate-limit window resets."""
    value = headers.get("x-ratelimit-reset")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None  # noqa: PLR2004  (not an epoch stamp)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After``: delay seconds, or an HTTP date."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
