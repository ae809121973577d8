"""The README's Python examples: each compiles as a script, and runs against the mock server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from polling import HANG_GUARD

import simcards_async as sc
from simcards_async.testing import MockTelnyxServer
from simcards_async.testing._server import close_runner

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
KEY = "KEYreadme-tests"
DEADLINE = HANG_GUARD  # a guard against a hang, not a measure
#: The runner's own settings, not passed on to an example: it runs as a reader runs it. With
#: ``PYTHONWARNINGS=error`` the example whose server drifts died of its ``DriftWarning``.
RUNNERS_ONLY = ("PYTHONWARNINGS",)

#: Blocks that are fragments of a section not yet rewritten as a program (none left: every
#: ```python block is a script). strict: a listed block that runs fails, so it comes off.
FRAGMENTS: set[str] = set()


def _blocks() -> list[tuple[int, str]]:
    """Every ```python block of the README: its line number and its text."""
    return [
        (README[: match.start()].count("\n") + 2, match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    ]


def _marks(source: str) -> list[pytest.MarkDecorator]:
    if any(source.startswith(fragment) for fragment in FRAGMENTS):
        return [pytest.mark.xfail(strict=True, reason="a fragment, in a section not yet rewritten")]
    return []


BLOCKS = [
    pytest.param(source, id=f"line-{line}", marks=_marks(source)) for line, source in _blocks()
]


def test_the_readme_has_examples() -> None:
    """The extraction finds the README's examples (a broken pattern would test nothing)."""
    assert len(BLOCKS) >= 6
    assert sum("asyncio.run(main())" in source for _, source in _blocks()) >= 3


@pytest.mark.parametrize("source", BLOCKS)
def test_each_example_compiles_as_a_script(source: str) -> None:
    """Pasted into a file, each example is valid Python: no top-level await or async with."""
    compile(source, "example.py", "exec")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "source", [source for _, source in _blocks() if "asyncio.run(main())" in source]
)
async def test_each_program_runs_against_the_mock_server(source: str, tmp_path: Path) -> None:
    """Each example with ``asyncio.run`` runs to the end, with TELNYX_BASE_URL at a mock server."""
    if "from opentelemetry" in source:
        pytest.importorskip("opentelemetry.sdk")  # the tests extra installs it
    script = tmp_path / "example.py"
    script.write_text(source, encoding="utf-8")
    async with MockTelnyxServer(sim_cards=500, actions=500, seed=4) as server:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TELNYX_") and k not in RUNNERS_ONLY
        }
        env |= {"TELNYX_API_KEY": KEY, "TELNYX_BASE_URL": server.url}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        done = await _run(script, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()  # each program prints what it got


async def _run(script: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import anyio.to_thread  # noqa: PLC0415  (only here)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603  (our own interpreter and a file we wrote)
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=DEADLINE,
            check=False,
        )

    # The server runs on this loop: the child's requests need it free, so wait in a thread.
    return await anyio.to_thread.run_sync(run)


def test_the_service_example_says_what_aiohttp_does() -> None:
    """The service example does not claim that a disconnect cancels the handler by default."""
    assert "a disconnecting client cancels the handler" not in README
    assert "handler_cancellation=True" in README


@pytest.mark.anyio
async def test_the_service_example_serves_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service example, served as written, streams the cards and refuses a bad filter."""
    (source,) = [source for _, source in _blocks() if "web.StreamResponse" in source]
    namespace: dict[str, Any] = {"__name__": "service"}
    exec(compile(source, "service.py", "exec"), namespace)  # noqa: S102  (the README's own code)
    async with MockTelnyxServer(sim_cards=400, seed=6) as server:
        monkeypatch.setenv("TELNYX_API_KEY", KEY)
        monkeypatch.setenv("TELNYX_BASE_URL", server.url)
        async with sc.SimCardsClient(KEY, server.url) as client:
            enabled = await client.sim_cards(status="enabled").collect()
        runner = web.AppRunner(namespace["app"])
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            url = f"http://127.0.0.1:{port}/exports/sim-cards.jsonl"
            async with aiohttp.ClientSession() as session:
                async with session.get(url, params={"status": "enabled"}) as answer:
                    assert answer.status == 200
                    lines = (await answer.read()).splitlines()
                async with session.get(url, params={"status": "enabeld"}) as answer:
                    assert answer.status == 400
                    assert "status" in await answer.text()
        finally:  # every socket closed here, as for the project's other servers
            await close_runner(runner)
    assert [msgspec.json.decode(line, type=sc.SimCard) for line in lines] == enabled
