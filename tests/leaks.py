"""Helpers that find what a test may have left behind."""

from __future__ import annotations

import asyncio
from typing import Any


def library_tasks() -> list[asyncio.Task[Any]]:
    """Unfinished tasks running this library's code (not the mock server's, not the test's)."""
    found = []
    for task in asyncio.all_tasks():
        if task.done() or task is asyncio.current_task():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        if "simcards_async" in filename and "testing" not in filename:
            found.append(task)
    return found
