"""Shared set-up: the asyncio backend for anyio's pytest plugin, and Hypothesis' profile.

Hypothesis runs without its per-example deadline and without the "too slow" health check:
both measure the wall clock, so on a busy CI machine they fail tests that are correct.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("simcards", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("simcards")


@pytest.fixture
def anyio_backend() -> str:
    """Run every async test on asyncio: aiohttp needs it."""
    return "asyncio"
