"""``Steps``: blocking steps in a worker thread, and a clean-up that never runs beside one.

Each test holds a step in its thread with an event, and cancels the task waiting for it
the asyncio way (``task.cancel()``), which does not wait for the thread by itself.
"""

from __future__ import annotations

import asyncio
import threading

import anyio
import pytest
from polling import HANG_GUARD, eventually, loop_turns

from simcards_async._threads import Steps, StepsStoppedError, _Call

pytestmark = pytest.mark.anyio


class Held:
    """A step that records when it starts and ends, and waits for ``go`` in between."""

    def __init__(self, events: list[str], name: str = "step") -> None:
        self.events = events
        self.name = name
        self.entered = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> str:
        """The step: starts, waits for ``go``, ends."""
        self.events.append(f"{self.name} starts")
        self.entered.set()
        self.go.wait(HANG_GUARD)
        self.events.append(f"{self.name} ends")
        return self.name


async def left_running(steps: Steps, held: Held) -> None:
    """Run ``held`` through ``steps`` (``wait=False``) and cancel it once it is under way:
    the cancel goes on at once, and the step is left running in its thread.
    """
    task = asyncio.create_task(steps.run(held))
    await eventually(held.entered.is_set, what="the step in its thread")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_step_returns_what_it_returns_and_raises_what_it_raises() -> None:
    steps = Steps(wait=True)
    assert await steps.run(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        await steps.run(divmod, 1, 0)


@pytest.mark.parametrize("wait", [True, False])
async def test_no_step_starts_once_the_clean_up_began(wait: bool) -> None:
    """The clean-up first, a step after (a commit whose thread had not begun): it never runs."""
    events: list[str] = []
    steps = Steps(wait=wait)
    steps.then(lambda: events.append("clean-up"))
    with pytest.raises(StepsStoppedError):
        await steps.run(events.append, "step")
    assert events == ["clean-up"]


async def test_a_cancel_waits_for_the_step_under_way_then_the_clean_up_runs() -> None:
    """``wait=True``: the cancelled task goes on only once its step ended; the clean-up
    after it. Without it, pyarrow's writer was closed under a row group being written.
    """
    events: list[str] = []
    steps = Steps(wait=True)
    held = Held(events)

    async def export() -> None:
        try:
            await steps.run(held)
        finally:
            steps.then(lambda: events.append("clean-up"))

    task = asyncio.create_task(export())
    try:
        await eventually(held.entered.is_set, what="the step in its thread")
        task.cancel()
        await loop_turns()
        assert not task.done()  # waiting for the step, and cancelled again meanwhile
        task.cancel()
        await loop_turns()
        assert events == ["step starts"]
    finally:
        held.go.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["step starts", "step ends", "clean-up"]


async def test_an_anyio_cancel_waits_for_the_step_too_and_sets_stop() -> None:
    events: list[str] = []
    steps = Steps(wait=True)
    held = Held(events)
    stop = threading.Event()

    scope = anyio.CancelScope()

    async def run() -> None:
        with scope:
            await steps.run(held, stop=stop)
        events.append("cancelled")

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await eventually(held.entered.is_set, what="the step in its thread")
            scope.cancel()
            await eventually(stop.is_set, what="stop set as the wait is given up")
            await loop_turns()
            assert events == ["step starts"]  # still waiting for the step
            held.go.set()
    finally:
        held.go.set()
    assert scope.cancelled_caught
    steps.then(lambda: events.append("clean-up"))
    assert events == ["step starts", "step ends", "cancelled", "clean-up"]


async def test_clean_ups_given_while_one_runs_follow_it_in_order() -> None:
    """The first clean-up runs in the step's thread as the step ends; one given meanwhile
    (from the loop) waits for it, instead of running beside it in the loop's thread.
    """
    events: list[str] = []
    steps = Steps(wait=False)
    held = Held(events)
    first = Held(events, "first clean-up")
    try:
        await left_running(steps, held)
        steps.then(first)
        held.go.set()
        await eventually(first.entered.is_set, what="the first clean-up in the step's thread")
        steps.then(lambda: events.append("second clean-up"))
        assert events == ["step starts", "step ends", "first clean-up starts"]
    finally:
        held.go.set()
        first.go.set()
    await eventually(lambda: len(events) == 5, what="the second clean-up")
    assert events[3:] == ["first clean-up ends", "second clean-up"]


def test_a_step_that_ends_after_its_loop_closed_still_runs_the_clean_ups() -> None:
    """Waited on from a loop that closed before the step ended (a second Ctrl-C cut the
    loop's shutdown short): the step's thread still runs the clean-ups given meanwhile.
    """
    events: list[str] = []
    steps = Steps(wait=True)
    held = Held(events)
    worker = threading.Thread(target=steps._step, args=(_Call(), held))
    worker.start()
    held.entered.wait(HANG_GUARD)

    loop = asyncio.new_event_loop()
    waiter = loop.create_task(steps._settled())
    loop.run_until_complete(asyncio.sleep(0))  # the waiter registers its future
    waiter.cancel()
    loop.close()
    steps.then(lambda: events.append("clean-up"))
    held.go.set()
    worker.join(HANG_GUARD)
    assert events == ["step starts", "step ends", "clean-up"]


async def test_a_cancel_leaves_the_step_and_the_clean_up_follows_it() -> None:
    """``wait=False`` (a pipe nobody reads may hold a write for ever): the cancel goes on
    at once; the clean-up runs in the step's thread as it ends, never beside it.
    """
    events: list[str] = []
    steps = Steps(wait=False)
    held = Held(events)
    try:
        await left_running(steps, held)
        steps.then(lambda: events.append("first clean-up"))
        steps.then(lambda: events.append("second clean-up"))
        assert events == ["step starts"]
    finally:
        held.go.set()
    await eventually(lambda: len(events) == 4, what="the clean-ups after the step")
    assert events == ["step starts", "step ends", "first clean-up", "second clean-up"]


async def test_a_step_given_up_before_its_thread_took_it_never_starts() -> None:
    """Its task cancelled while it waited for a worker thread: none runs it afterwards
    (a write after the clean-up, or beside the next step), and the next step runs.
    """
    events: list[str] = []
    steps = Steps(wait=True)
    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens, limiter.total_tokens = limiter.total_tokens, 1
    held = Held(events, "holder")
    try:
        holder = asyncio.create_task(anyio.to_thread.run_sync(held))
        await eventually(held.entered.is_set, what="the only worker thread taken")
        queued = asyncio.create_task(steps.run(events.append, "given up"))
        await loop_turns()
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        held.go.set()
        await holder
        await steps.run(events.append, "next")
    finally:
        limiter.total_tokens = tokens
    assert events == ["holder starts", "holder ends", "next"]
    # The same, had the thread taken it just before the cancel: the step sees it given up.
    call = _Call()
    call.given_up = True
    with pytest.raises(StepsStoppedError):
        steps._step(call, events.append, "too late")
    assert events == ["holder starts", "holder ends", "next"]


async def test_a_step_that_raises_does_not_stop_the_clean_ups() -> None:
    events: list[str] = []
    steps = Steps(wait=True)

    def failing() -> None:
        raise RuntimeError("no")

    steps.then(failing)
    steps.then(lambda: events.append("second"))
    assert events == ["second"]


async def test_stop_is_set_when_the_wait_is_given_up() -> None:
    """A step that looks at ``stop`` between pieces of its work ends sooner."""
    steps = Steps(wait=True)
    stop = threading.Event()
    entered = threading.Event()

    def work() -> None:
        entered.set()
        while not stop.wait(0.001):
            pass

    task = asyncio.create_task(steps.run(work, stop=stop))
    await eventually(entered.is_set, what="the step in its thread")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stop.is_set()
