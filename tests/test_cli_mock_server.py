"""`simcards mock-server`: its misbehaviour flags, and usage errors as one line with exit 2."""

from __future__ import annotations

import signal
import socket
import sys
import urllib.error
import urllib.request

import msgspec
import pytest
from cli_runs import mock_server_process
from polling import HANG_GUARD

from simcards_async._cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # An empty host listened on every interface; with a bad port too, a command that
        # took it would refuse the port rather than serve (the host is checked first).
        (["--host", "", "--port", "99999"], "--host must be an address or a host name, such"),
        (["--host", " ", "--port", "99999"], "--host must be an address or a host name, such"),
        (["--port", "99999"], "--port must be between 0 and 65535; got 99999"),
        (["--port", "-1"], "--port must be between 0 and 65535; got -1"),
        (["--sim-cards", "-5"], "--sim-cards must not be negative; got -5"),
        (["--sim-cards", "10000001"], "--sim-cards must be at most 10,000,000 (the mock server"),
        (["--actions", "20000000"], "--actions must be at most 10,000,000 (the mock server holds"),
        (["--latency-ms", "-1"], "--latency-ms must not be negative; got -1"),
        (["--latency-ms", "1e400"], "--latency-ms must be a finite number; got 1e400"),  # as typed
        # Not a number in ASCII digits: one line as every refused value, not argparse's usage.
        (["--latency-ms", "inf"], "invalid --latency-ms value 'inf': it must be a number (ASCII"),
        (["--latency-ms", "nan"], "invalid --latency-ms value 'nan': it must be a number (ASCII"),
        (["--latency-ms", "abc"], "invalid --latency-ms value 'abc': it must be a number (ASCII"),
        (["--latency-ms", "1_0"], "invalid --latency-ms value '1_0': it must be a number (ASCII"),
        (["--port", "x"], "invalid --port value 'x': it must be an integer (ASCII digits)"),
        (["--replay-lag", "-2"], "--replay-lag must be an integer >= 0; got -2"),
        (["--gzip-bomb-bytes", "-1"], "--gzip-bomb-bytes must be an integer >= 0; got -1"),
        # Every answer a 500 (a meta no 64 bits hold), its repr Python's bare ValueError:
        (["--total-pages", "1" + "0" * 4000], "--total-pages must be an integer of 64 bits or"),
        # Refused by the server itself, as the Python option: exit 1, and named so.
        (["--host", "a b"], "--host must be a host name or address, not empty, with no spaces;"),
        (["--seed", str(2**64)], "--seed must be an integer of 64 bits (-2**63 to 2**63 - 1); "),
        (["--header", "no-colon"], "--header must be NAME:VALUE; got 'no-colon'"),
        (["--header", "x-debug: a\x01b"], "--header: not a header: 'x-debug': 'a\\x01b'"),
        # The fleet's bare error, exit 1:
        (["--sim-cards", "0"], "--actions 25000 needs --sim-cards of 1 or more"),
        # In the command's words: "a Location (a str, not empty), or None" was Python's.
        (
            ["--redirect", ""],
            "--redirect must be bad-ipv6, bad-port, userinfo or a Location, not empty; got ''\n",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad mock-server flag exits 2 with one line naming it, before anything is served."""
    assert main(["mock-server", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"simcards: error: {message}")


def test_a_closed_stdout_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started with stdout closed (``>&-``, so ``sys.stdout`` is None), where its URL goes:
    a bare AttributeError traceback, exit 1. Now one line, exit 2, before it listens.
    """
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["mock-server", "--port", "0", "--sim-cards", "3", "--actions", "0"]) == 2
    assert capsys.readouterr().err == (
        "simcards: error: standard output is closed: the mock server prints its base URL there\n"
    )


def test_an_address_it_cannot_listen_on_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A port in use is a usage error naming --host and --port, not a traceback (exit 1)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["mock-server", "--port", str(port), "--sim-cards", "5"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"simcards: error: cannot listen on --host 127.0.0.1 --port {port}: ")


def test_misbehaviour_flags_reach_the_server() -> None:
    """Flags such as --ok-without-data and --header change what the served API answers."""
    flags = ["--ok-without-data", "empty", "--header", "x-ratelimit-remaining: inf"]
    with mock_server_process("--sim-cards", "9", *flags) as (process, url):
        request = urllib.request.Request(  # noqa: S310  (a loopback URL we just read)
            url + "/sim_cards", headers={"Authorization": "Bearer k"}
        )
        with urllib.request.urlopen(request, timeout=HANG_GUARD) as answer:  # noqa: S310
            assert answer.status == 200
            assert answer.headers["x-ratelimit-remaining"] == "inf"
            assert msgspec.json.decode(answer.read()) == {}
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 0
    assert err == ""


def test_a_request_the_server_cannot_read_is_one_line_without_its_bytes() -> None:
    """A header past aiohttp's limit (a 9 kB key): aiohttp's record went to logging's last
    resort, a traceback whose text quoted the Authorization header. One line, naming the
    error's class; the server goes on.
    """
    key = "KEYsecret" * 1000
    with mock_server_process("--sim-cards", "9") as (process, url):
        request = urllib.request.Request(  # noqa: S310  (a loopback URL we just read)
            url + "/sim_cards", headers={"Authorization": f"Bearer {key}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=HANG_GUARD)  # noqa: S310
        refused.value.close()  # its answer's socket
        assert refused.value.code == 400
        fine = urllib.request.Request(url + "/sim_cards", headers={"Authorization": "Bearer k"})  # noqa: S310
        with urllib.request.urlopen(fine, timeout=HANG_GUARD) as answer:  # noqa: S310
            assert answer.status == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 0
    assert err.splitlines() == [
        "simcards: ERROR aiohttp.server: Error handling request from 127.0.0.1 (LineTooLong)"
    ]
