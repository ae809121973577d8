"""Messages said in parts: the library's words by default, a reader's own on request."""

from __future__ import annotations

import pickle
import warnings

import msgspec

import simcards_async as sc
from simcards_async._errors import MESSAGE_LIMIT, one_line
from simcards_async._wording import Advice, Call, Said, Words, with_said, worded


class _Shouting(Words):
    def advice(self, advice: Advice) -> str:
        return advice.name

    def call(self, call: Call) -> str:
        return f"<{call.listing} {dict(call.arguments())}>"


SHOUTING = _Shouting()


def test_a_message_in_parts_is_its_library_text_as_a_str() -> None:
    said = Said("retry (", Advice.RESCAN, ")")
    assert str(said) == "retry (rescan=True, on a stream with no checkpoint,)"
    assert said.worded(SHOUTING) == worded(said, SHOUTING) == "retry (RESCAN)"


def test_a_call_says_its_wire_parameters_as_the_arguments_that_make_them() -> None:
    call = Call(
        "/sim_cards",
        {
            "filter[status]": "enabled,disabled",
            "filter[tags]": "a b",
            "page[size]": "40",
            "include_sim_card_group": "true",
        },
    )
    assert str(Said(call)) == (
        "sim_cards(status=['enabled', 'disabled'], tags='a b', page_size=40, "
        "include_sim_card_group=True)"
    )
    assert Said(call).worded(SHOUTING) == (
        "<sim_cards {'status': ['enabled', 'disabled'], 'tags': 'a b', 'page_size': 40, "
        "'include_sim_card_group': True}>"
    )


def test_an_errors_message_in_parts_is_finished_alike_in_any_words() -> None:
    """An ``APIError`` puts its message on one line and cuts it: the same in other words."""
    long = "x" * (MESSAGE_LIMIT + 10)
    error = sc.PaginationError(Said("a\nb (", Advice.UNORDERED, f") {long}"))
    assert str(error) == error.message == one_line(f"a\nb ({Advice.UNORDERED.value}) {long}")
    assert worded(error, SHOUTING) == one_line(f"a\nb (UNORDERED) {long}")
    assert "\n" not in worded(error, SHOUTING)


def test_messages_and_fields_stay_plain_str_for_any_encoder() -> None:
    """The parts ride beside the message: ``message``, ``args`` and ``allowed`` are plain
    ``str``, which msgspec encodes (it refuses a subclass of ``str``, which they were).
    """
    error = sc.PaginationError(Said("out of order (", Advice.UNORDERED, ")"))
    refused = sc.InvalidParameterError("target", Said("unless ", Advice.FORMAT, " says"), "x")
    warning = with_said(sc.DriftWarning("drifted"), Said("drifted", Advice.DRIFT_COUNTED))
    texts = [error.message, *error.args, refused.allowed, *refused.args, *warning.args]
    assert all(type(text) is str for text in texts)
    assert msgspec.json.decode(msgspec.json.encode(texts)) == texts
    assert refused.allowed == f"unless {Advice.FORMAT.value} says"
    assert worded(refused, SHOUTING) == "unless FORMAT says"


def test_a_message_not_in_parts_is_its_str_or_what_is_given_in_any_words() -> None:
    error = sc.PaginationError("a\nb")
    assert worded(error, SHOUTING) == str(error) == "a b"
    assert worded("plain", SHOUTING) == "plain"
    assert worded(ValueError("a", "b"), SHOUTING) == str(ValueError("a", "b"))
    refused = sc.InvalidParameterError("page_size", "from 1 to 250", 0)
    assert worded(refused, SHOUTING, otherwise=refused.allowed) == "from 1 to 250"


def test_a_warning_in_parts_keeps_them() -> None:
    said = Said("drifted", Advice.DRIFT_COUNTED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn(sc.DriftWarning(said), stacklevel=1)
    [warning] = caught
    assert warning.category is sc.DriftWarning
    assert str(warning.message) == "drifted; stats.drift has the final counts"
    assert isinstance(warning.message, sc.DriftWarning)
    assert type(warning.message.args[0]) is str
    assert worded(warning.message, SHOUTING) == "driftedDRIFT_COUNTED"
    again = pickle.loads(pickle.dumps(warning.message))  # noqa: S301  (our own bytes)
    assert worded(again, SHOUTING) == "driftedDRIFT_COUNTED"
    assert sc.DriftWarning().args == ()  # made as any warning is, without parts


def test_errors_with_messages_in_parts_pickle_with_them() -> None:
    """Exceptions cross processes (multiprocessing): their parts go with them."""
    refused = sc.InvalidParameterError(
        "resume_from", Said("made for ", Call("/sim_cards", {"page[size]": "10"})), "cp.json"
    )
    again = pickle.loads(pickle.dumps(refused))  # noqa: S301  (our own bytes)
    assert str(again) == str(refused)
    assert worded(again, SHOUTING) == "made for <sim_cards {'page_size': 10}>"
    error = sc.PaginationError(Said("a\tb (", Advice.UNORDERED, ")"), page=3)
    again = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes)
    assert (str(again), again.page) == (str(error), 3)
    assert worded(again, SHOUTING) == "a b (UNORDERED)"
