"""Values given as a subclass of ``str`` (a ``(str, Enum)`` member) are used as their value.

Each check read the value's characters, and the request, the file or the comparison used its
``str()``: ``Keys.PROD`` sent ``Bearer Keys.PROD`` (a 401), ``get_sim_card(Known.FIRST)``
fetched the card and refused it, five times, ``export(stream, Out.CSV)`` wrote to the value's
file and reported another. Paths that no file system can name are refused, naming them.
"""

from __future__ import annotations

import enum
import os
import warnings
from pathlib import Path

import aiohttp
import pytest
from small_fleet import KEY

from simcards_async import InvalidParameterError, RetryPolicy, SimCardsClient, export
from simcards_async.testing import MockTelnyxServer

pytestmark = pytest.mark.anyio


class _Shown(str):
    """A str whose ``str()`` says something else than its characters."""

    __slots__ = ()

    def __str__(self) -> str:
        return "something-else"


class _Keys(str, enum.Enum):
    PROD = KEY


@pytest.mark.parametrize("key", [_Keys.PROD, _Shown(KEY)], ids=["enum", "str-subclass"])
async def test_an_api_key_subclass_is_sent_as_its_value(key: str) -> None:
    async with (
        MockTelnyxServer(sim_cards=20, actions=1, api_key=KEY) as server,
        SimCardsClient(key, server.url) as client,
    ):
        cards = await client.sim_cards(page_size=10).collect()
    assert len(cards) == 20


async def test_a_base_url_subclass_is_used_as_its_value() -> None:
    """``SimCardsClient(key, Env.LOCAL)`` was refused: the URL parser read the member's
    ``str()``, ``Env.LOCAL``, and found it relative. The URL's value is used, and kept plain.
    """
    async with MockTelnyxServer(sim_cards=20, actions=1) as server:

        class Env(str, enum.Enum):
            LOCAL = server.url

        base_urls: list[str] = [Env.LOCAL, _Shown(server.url)]
        for base_url in base_urls:
            async with SimCardsClient(KEY, base_url) as client:
                assert type(client.base_url) is str
                assert client.base_url == server.url
                assert len(await client.sim_cards(page_size=10).collect()) == 20


async def test_a_record_id_subclass_is_asked_for_and_checked_by_its_value(
    server: MockTelnyxServer, client: SimCardsClient
) -> None:
    card_id = server.current_sim_card_ids()[0]
    card = await client.get_sim_card(_Shown(card_id))
    assert card.id == card_id
    assert len(server.requests) == 1  # answered once, not refused and retried


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_an_export_target_subclass_is_the_file_written_and_reported(
    client: SimCardsClient, tmp_path: Path, fmt: str
) -> None:
    target = _Shown(str(tmp_path / f"cards.{fmt}"))
    result = await export(client.sim_cards(page_size=50, limit=60), target)
    assert result.path == tmp_path / f"cards.{fmt}"
    assert result.items == 60
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"cards.{fmt}"]


async def test_a_checkpoint_path_subclass_is_the_file_kept(
    client: SimCardsClient, tmp_path: Path
) -> None:
    checkpoint = _Shown(str(tmp_path / "run.checkpoint"))
    stream = client.sim_cards(page_size=50, limit=60, checkpoint=checkpoint)
    async for _ in stream:
        break
    assert stream.checkpoint == str(tmp_path / "run.checkpoint")
    assert "run.checkpoint" in {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("where", ["target", "checkpoint", "resume_from"])
async def test_a_path_with_a_lone_surrogate_is_refused_naming_it(
    server: MockTelnyxServer, client: SimCardsClient, tmp_path: Path, where: str
) -> None:
    """A lone surrogate (U+D800, not one ``os.fsdecode`` makes of an undecodable byte)
    names no file: it was a bare ``UnicodeEncodeError`` from deep inside.
    """
    bad = str(tmp_path / "cards\ud800.jsonl")
    with pytest.raises(InvalidParameterError) as caught:
        if where == "target":
            await export(client.sim_cards(), bad)
        elif where == "checkpoint":
            client.sim_cards(checkpoint=bad)
        else:
            client.sim_cards(resume_from=bad)
    assert caught.value.parameter == where
    assert server.requests == []


async def test_an_undecodable_file_name_still_works(client: SimCardsClient, tmp_path: Path) -> None:
    """The surrogates ``os.fsdecode`` makes of bytes that are not UTF-8 name real files."""
    target = os.fsdecode(os.fsencode(str(tmp_path)) + b"/cards-\xff.jsonl")
    result = await export(client.sim_cards(page_size=50, limit=10), target)
    assert result.items == 10
    assert [p.name for p in tmp_path.iterdir()] == [os.fsdecode(b"cards-\xff.jsonl")]


async def test_a_session_with_its_own_auth_is_refused() -> None:
    """A session made with ``auth=``: aiohttp refuses a request with both it and an
    Authorization header, and the first request failed with that bare ``ValueError``.
    Refused when the client is made.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp 3.14 deprecates both
        session = aiohttp.ClientSession(auth=aiohttp.BasicAuth("user", "pass"))
    async with session:
        with pytest.raises(InvalidParameterError, match="auth") as caught:
            SimCardsClient(KEY, "http://127.0.0.1:1/v2", session=session)
    assert caught.value.parameter == "session"


class _Ten(enum.IntEnum):
    TEN = 10
    TEN_THOUSAND = 10_000


class _Lying(int):
    """An int whose comparisons say it is in any range."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return False


def test_an_int_subclass_setting_is_kept_as_its_plain_value() -> None:
    """``max_concurrency``, ``read_ahead``, ``max_response_bytes`` and ``RetryPolicy``'s
    ``max_retries`` given as an ``IntEnum`` member were kept as the member
    (``client.max_concurrency`` said ``<_Ten.TEN: 10>``), where every other value of a
    subclass is used as its plain value.
    """
    client = SimCardsClient(
        KEY,
        "http://127.0.0.1:9/v2",
        max_concurrency=_Ten.TEN,
        read_ahead=_Ten.TEN,
        max_response_bytes=_Ten.TEN_THOUSAND,
    )
    values = (client.max_concurrency, client.read_ahead, client.max_response_bytes)
    assert [type(v) for v in values] == [int, int, int]
    assert values == (10, 10, 10_000)
    assert type(RetryPolicy(max_retries=_Ten.TEN).max_retries) is int
    assert repr(RetryPolicy(max_retries=_Ten.TEN)).startswith("RetryPolicy(max_retries=10,")


def test_an_int_subclass_is_checked_by_its_plain_value() -> None:
    """The range checks compared the value with the subclass's own ``<`` and ``>``: an int
    whose comparisons lie passed them as 0 or -1 (no retries at all, or a retry count of -1).
    """
    for given in (_Lying(0), _Lying(-1)):
        with pytest.raises(InvalidParameterError) as caught:
            SimCardsClient(KEY, "http://127.0.0.1:9/v2", max_concurrency=given)
        assert caught.value.parameter == "max_concurrency"
    with pytest.raises(InvalidParameterError) as caught:
        RetryPolicy(max_retries=_Lying(-1))
    assert caught.value.parameter == "max_retries"
