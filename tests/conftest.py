"""Shared set-up: the asyncio backend for anyio's pytest plugin, Hypothesis' profile, and
the small fleet most functional tests of the client read.

Hypothesis runs without its per-example deadline and without the "too slow" health check:
both measure the wall clock, so on a busy CI machine they fail tests that are correct.
For the same reason checkpoints are saved by page count only (``CHECKPOINT_EVERY``), never
because a second went by, unless a test drives that clock itself.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings
from small_fleet import ACTIONS, CARDS, KEY

from simcards_async import SimCard, SimCardsClient, _observe, _page_stream
from simcards_async.testing import MockTelnyxServer

# The same examples at every run (derandomized): a red build is a bug the same command finds
# again, never one a run happened upon. ``--hypothesis-profile explore`` draws new ones.
_HYPOTHESIS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("simcards", _HYPOTHESIS, derandomize=True, print_blob=True)
settings.register_profile("explore", _HYPOTHESIS)
settings.load_profile("simcards")


# ``TELNYX_LOG`` in the environment of whoever runs the tests gave the library's logger a
# stderr handler and a level when it was imported above, before any fixture could unset the
# variable: captured output and log records then depended on who ran the suite. The tests of
# ``TELNYX_LOG`` itself run a child process, which imports the library afresh.
if _observe._env_handler is not None:
    _observe.LOGGER.removeHandler(_observe._env_handler)
    _observe.LOGGER.setLevel(logging.NOTSET)
    _observe._env_handler = None
# Nor did OpenTelemetry's variables (see ``clean_environment``): the library read
# ``OTEL_PYTHON_TRACER_PROVIDER`` when it was imported above.
_observe._PROVIDER_FROM_ENVIRONMENT = False


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, base URL, log level or proxy from the environment unless a test sets one, and an
    80-column terminal (``COLUMNS``, as with pytest's captured output) for the progress bar
    and ``--help``: what a test sees must not depend on the environment it was run from.
    """
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)
    monkeypatch.delenv("TELNYX_LOG", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    # A CI machine's proxy: urllib (and the official SDK's httpx) sent the tests' requests
    # to 127.0.0.1 through it. Every test talks to 127.0.0.1 only, directly.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost,::1")
    # OpenTelemetry's own variables, read by its SDK and API here and in a child process:
    # OTEL_SDK_DISABLED=true made every span a test records a no-op (24 tests failed), a
    # sampler or OTEL_PYTHON_TRACER_PROVIDER changed what the tests of them see.
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def checkpoints_by_page_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which pages a checkpoint saves must not depend on how fast this machine reads them."""
    monkeypatch.setattr(_page_stream, "CHECKPOINT_SECONDS", math.inf)


@pytest.fixture
def anyio_backend() -> str:
    """Run every async test on asyncio: aiohttp needs it."""
    return "asyncio"


# --- the small fleet of the client's functional tests (see small_fleet.py) ---------------


@pytest.fixture
async def server() -> AsyncIterator[MockTelnyxServer]:
    """A small deterministic fleet on loopback."""
    async with MockTelnyxServer(sim_cards=CARDS, actions=ACTIONS, seed=1) as mock:
        yield mock


@pytest.fixture
async def client(server: MockTelnyxServer) -> AsyncIterator[SimCardsClient]:
    """A client of ``server`` with a modest concurrency."""
    async with SimCardsClient(KEY, server.url, max_concurrency=4) as sc:
        yield sc


@pytest.fixture
async def everything(client: SimCardsClient) -> list[SimCard]:
    """Every card of the fleet, read with no filter."""
    return await client.sim_cards().collect()
