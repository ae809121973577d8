"""``simcards export sim-cards --any``: the union of several queries from the command line."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from cli_runs import run

import simcards_async as sc
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio

KEY = "KEYresume-tests"


async def test_cli_any_exports_the_union(tmp_path: Path) -> None:
    """`--any status=standby --any tag=vip` exports cards in standby or tagged vip, each once."""
    async with MockTelnyxServer(sim_cards=1500, seed=9) as server:
        async with sc.SimCardsClient(KEY, server.url) as client:
            cards = await client.sim_cards().collect()
        out = tmp_path / "union.jsonl"
        code = await run(
            *["export", "sim-cards", "--api-key", KEY, "--base-url", server.url, "-q"],
            *["--any", "status=standby", "--any", "tag=vip", "-o", str(out)],
        )
        queries = [r.query for r in server.requests[1:]]
    assert code == 0
    got = [msgspec.json.decode(line, type=sc.SimCard).id for line in out.read_bytes().splitlines()]
    expected = {c.id for c in cards if c.status.value == "standby" or "vip" in c.tags}
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == expected
    assert {"filter[status]": ["standby"]}.items() <= {
        k: v for q in queries for k, v in q.items()
    }.items()


async def test_cli_any_keeps_the_other_filters(tmp_path: Path) -> None:
    """Each --any query is the other filter flags plus its own: tags add up."""
    async with MockTelnyxServer(sim_cards=300, seed=9) as server:
        code = await run(
            *["export", "sim-cards", "--api-key", KEY, "--base-url", server.url, "-q"],
            *["--tag", "iot", "--any", "tag=vip", "--any", "status=disabled"],
            *["-o", str(tmp_path / "u.jsonl")],
        )
        filters = sorted(
            (r.query.get("filter[tags]", [""])[0], r.query.get("filter[status]", [""])[0])
            for r in server.requests
            if r.query.get("page[number]") == ["1"]
        )
    assert code == 0
    assert filters == [("iot", "disabled"), ("iot,vip", "")]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--any", "colour=red"], "--any"),
        (["--any", "status"], "--any"),
        (["--any", "status=standby", "--checkpoint", "ck.json"], "--checkpoint"),
        (["--any", "status=bogus"], "invalid --any value 'status=bogus': it must be status="),
        (["--any", "group-id=nope", "--any", "tag=x"], "invalid --any value 'group-id=nope'"),
        (["--status", "bogus", "--any", "tag=x"], "invalid --status value 'bogus'"),
        (
            ["--tag", "a,b", "--any", "tag=vip", "--any", "status=enabled"],
            "invalid --tag value 'a,b'",
        ),
        (["--tag", "iot", "--any", "status=enabled", "--any", "tag=a,b"], "--any value 'tag=a,b'"),
    ],
)
async def test_cli_any_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    """A malformed --any, an unknown value, or --any with --checkpoint: exit 2, one clear line."""
    async with MockTelnyxServer(sim_cards=10, seed=1) as server:
        code = await run(
            *["export", "sim-cards", "--api-key", KEY, "--base-url", server.url],
            *flags,
            *["-o", str(tmp_path / "x.jsonl")],
        )
        assert server.requests == []
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("simcards: error:")
    assert message in err
