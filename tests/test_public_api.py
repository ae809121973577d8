"""The package's one public door: ``__all__``, ``__version__`` and ``py.typed``."""

from __future__ import annotations

import importlib
import importlib.resources
import re
import types

import pytest

import simcards_async


def _isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: SCREAMING_CASE constants, then CamelCase classes, then the rest."""
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted_and_unique() -> None:
    """``__all__`` has no repeats and is sorted the way ruff's RUF022 sorts it."""
    names = simcards_async.__all__
    assert len(names) == len(set(names))
    assert names == sorted(names, key=_isort_key)


def test_all_is_exactly_the_public_surface() -> None:
    """Every public name in the package namespace is in ``__all__``, and nothing else is."""
    # Subpackages (such as ``testing``) appear in the namespace only once something imports
    # them, so they are told apart by type rather than listed.
    public = {
        name
        for name, value in vars(simcards_async).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public | {"__version__"} == set(simcards_async.__all__)


@pytest.mark.parametrize("name", simcards_async.__all__)
def test_every_exported_name_exists(name: str) -> None:
    """Each name in ``__all__`` is an attribute of the package."""
    assert getattr(simcards_async, name) is not None


def test_exports_come_from_private_modules() -> None:
    """Classes and functions are defined in private ``_modules`` and re-exported."""
    for name in simcards_async.__all__:
        module = getattr(getattr(simcards_async, name), "__module__", None)
        if module is not None and module.startswith("simcards_async"):
            assert module.split(".")[1].startswith("_"), name


def test_star_import_gives_exactly_all() -> None:
    """``from simcards_async import *`` binds exactly the names in ``__all__``."""
    namespace: dict[str, object] = {}
    exec("from simcards_async import *", namespace)  # noqa: S102  (a fixed import statement)
    del namespace["__builtins__"]
    assert set(namespace) == set(simcards_async.__all__)


def test_version_is_a_str() -> None:
    """``__version__`` is a PEP 440-looking string."""
    version = simcards_async.__version__
    assert isinstance(version, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+([abc]|rc|\.dev|\.post)?\d*", version)


def test_py_typed_ships() -> None:
    """The ``py.typed`` marker is inside the package, so type checkers read its hints."""
    marker = importlib.resources.files("simcards_async").joinpath("py.typed")
    assert marker.is_file()


def test_private_modules_list_their_own_all() -> None:
    """Each private module's ``__all__`` names only attributes it has."""
    for module_name in ("_client", "_errors", "_models", "_observe", "_pagination", "_query"):
        module = importlib.import_module(f"simcards_async.{module_name}")
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.{name}"


@pytest.mark.anyio
async def test_streams_and_merges_say_what_they_read() -> None:
    """A merge's repr was ``<... MergedStream object at 0x...>``, and a stream's left out its
    ``limit`` and start page (``sim_cards(limit=3)`` looked like ``sim_cards()``).
    """
    key = "KEY-repr-0123456789"
    async with simcards_async.SimCardsClient(key, "http://127.0.0.1:9/v2") as client:
        stream = client.sim_cards(status="enabled", limit=3, start_page=2)
        assert repr(stream).startswith(
            "<PageStream /sim_cards {'filter[status]': 'enabled', 'page[size]': '250'}"
            " from page 2 limit=3 StreamStats("
        )
        merged = simcards_async.merge(client.sim_cards(tags="vip"), client.sim_cards(), limit=5)
        assert repr(merged).startswith(
            "<MergedStream of /sim_cards {'filter[tags]': 'vip', 'page[size]': '250'}, "
            "/sim_cards {'page[size]': '250'} limit=5 MergeStats("
        )
        assert key not in repr(stream) + repr(merged)


#: What a stream offers its reader (``PageStream``; a merge adds ``tagged``, and has no
#: ``pages``, ``base_url``, ``rescan`` or ``raw_available``).
_STREAM_SURFACE = {
    "aclose", "check_unread", "checkpoint", "checkpointing", "chunks", "collect",
    "finish_saved", "matches", "on_progress", "progress", "raw_chunks", "resumable_from",
    "resumed_finished", "resumed_from", "resumed_items", "resumed_state", "unread",
}  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "own"),
    [
        (simcards_async.PageStream, {"base_url", "pages", "raw_available", "rescan"}),
        (simcards_async.MergedStream, {"tagged"}),
    ],
)
def test_streams_offer_readers_no_internal_controls(cls: type, own: set[str]) -> None:
    """How the client and a merge stop a stream is theirs alone: a user's ``stream.halt()``
    made the reader raise that a hook cancelled it, and ``stop_requests()`` that it was
    closed; ``read_by()`` hung another stream's fate on this one.
    """
    assert {name for name in dir(cls) if not name.startswith("_")} == _STREAM_SURFACE | own
