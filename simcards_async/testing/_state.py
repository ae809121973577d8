"""The server's state between requests: the page cache, the token buckets, the fault dice.

Each is decided in request-arrival order, never by timing: buckets refill by an injected
clock, dice draw from a seeded RNG.
"""

from __future__ import annotations

import random
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING

from ._options import FAULT_NAMES, FaultName, FaultPlan, RateLimit
from ._wire import seconds_text

if TYPE_CHECKING:
    from collections.abc import Callable

FIVE_XX = (500, 502, 503, 504)
#: Buckets held before those full again are let go of.
_PRUNE_BUCKETS = 1024


class PageCache:
    """An LRU of page bodies, zlib-compressed (about 6x) and bounded in total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._size = 0
        self._pages: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> bytes | None:
        packed = self._pages.get(key)
        if packed is None:
            return None
        self._pages.move_to_end(key)
        return zlib.decompress(packed)

    def put(self, key: tuple[object, ...], body: bytes) -> None:
        if self._max <= 0:
            return
        packed = zlib.compress(body, 1)
        self._pages[key] = packed
        self._size += len(packed)
        while self._size > self._max and self._pages:
            self._size -= len(self._pages.popitem(last=False)[1])

    def clear(self) -> None:
        self._pages.clear()
        self._size = 0


class Buckets:
    """Token buckets per API key (keyed by a hash of it); see `RateLimit`.

    Only buckets not full are held: a full one is the same as none, so those refilled are
    let go of now and then, and keys that came once do not stay for ever.
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float]) -> None:
        self._rate = limit.requests_per_second
        self._cap = limit.limit
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._prune_at = _PRUNE_BUCKETS

    def __len__(self) -> int:
        """Buckets held."""
        return len(self._state)

    def _tokens(self, key: str, now: float) -> float:
        tokens, then = self._state.get(key, (float(self._cap), now))
        return min(float(self._cap), tokens + (now - then) * self._rate)

    def _headers(self, tokens: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self._cap),
            "x-ratelimit-remaining": str(int(tokens)),
            "x-ratelimit-reset": seconds_text((self._cap - tokens) / self._rate),
        }

    def take(self, key: str) -> tuple[bool, dict[str, str]]:
        now = self._clock()
        tokens = self._tokens(key, now)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._state[key] = (tokens, now)
        if len(self._state) >= self._prune_at:
            self._prune(now)
        headers = self._headers(tokens)
        if not allowed:
            headers["Retry-After"] = seconds_text((1.0 - tokens) / self._rate)
        return allowed, headers

    def _prune(self, now: float) -> None:
        """Let go of the buckets full again; prune next when the rest have doubled."""
        cap = float(self._cap)
        self._state = {k: v for k, v in self._state.items() if self._tokens(k, now) < cap}
        self._prune_at = max(_PRUNE_BUCKETS, 2 * len(self._state))

    def peek(self, key: str) -> dict[str, str]:
        return self._headers(self._tokens(key, self._clock()))


class Dice:
    """The fault for each request, in arrival order; see `FaultPlan`."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)  # noqa: S311 - mock faults, not secrets
        self._count = 0
        self._five_xx = 0
        self._bad_gateways = 0

    def roll(self) -> FaultName:
        plan = self.plan
        index = self._count
        self._count += 1
        if index < len(plan.script):
            return plan.script[index]
        draw = self._rng.random()
        rates = (plan.error_5xx, plan.rate_limited, plan.drop, plan.truncate, plan.hang)
        for name, rate in zip(FAULT_NAMES, rates, strict=True):
            if draw < rate:
                return name
            draw -= rate
        return None

    def next_5xx(self) -> tuple[int, bool]:
        """The next status of the 5xx cycle, and whether to send it as HTML."""
        status = FIVE_XX[self._five_xx % len(FIVE_XX)]
        self._five_xx += 1
        html = False
        if status == 502:  # noqa: PLR2004
            self._bad_gateways += 1
            html = self._bad_gateways % 2 == 1
        return status, html
