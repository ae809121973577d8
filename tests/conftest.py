"""Shared fixtures: the asyncio backend for anyio's pytest plugin, and mock servers."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run every async test on asyncio: aiohttp needs it."""
    return "asyncio"
