"""Bytes written whole (``_writes``): pure logic, pipes and files, no sockets."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from polling import HANG_GUARD
from trickle import Trickle

from simcards_async._writes import flush, write_all, write_all_fd, write_text


class _SaysNothing(io.RawIOBase):
    """A raw writer of another make: takes everything, returns ``None`` (says nothing)."""

    def __init__(self) -> None:
        self.got = bytearray()
        self.calls = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> None:
        self.calls += 1
        self.got += bytes(data)


def test_what_a_write_leaves_is_written_again() -> None:
    """A file that takes 1,000 bytes a write gets every byte, in order."""
    data = bytes(range(256)) * 40
    trickle = Trickle(room=1000)
    write_all(trickle, data)  # type: ignore[arg-type]
    assert bytes(trickle.got) == data


def test_an_output_that_takes_nothing_is_an_error() -> None:
    """A file that takes none of a write would loop for ever: an ``OSError``."""
    with pytest.raises(OSError, match="took none of the bytes") as caught:
        write_all(Trickle(room=0), b"data")  # type: ignore[arg-type]
    assert caught.value.errno == errno.EIO


def test_a_raw_writer_that_says_nothing_is_taken_at_its_word() -> None:
    """``None`` means "full" only from a non-blocking descriptor: a writer of another make
    that returns ``None`` (no descriptor, or a blocking one) was handed the same bytes for
    ever, or failed with a bare ``UnsupportedOperation: fileno``.
    """
    quiet = _SaysNothing()
    write_all(quiet, b"x" * 5000)  # type: ignore[arg-type]
    assert (bytes(quiet.got), quiet.calls) == (b"x" * 5000, 1)


def _through_a_pipe(write: Callable[[], None], read_end: int) -> bytes:
    """Run ``write()`` in a thread while this one reads ``read_end`` to its end."""
    failed: list[BaseException] = []

    def writing() -> None:
        try:
            write()
        except BaseException as exc:  # noqa: BLE001  (reported below, not lost in the thread)
            failed.append(exc)

    thread = threading.Thread(target=writing)
    thread.start()
    got = bytearray()
    with os.fdopen(read_end, "rb", 0) as reader:
        while chunk := reader.read(1 << 16):
            got += chunk
    thread.join(HANG_GUARD)
    assert not thread.is_alive()
    assert failed == []
    return bytes(got)


#: A descriptor number past what ``select`` takes (1,023).
_HIGH_FD = 1500


@contextlib.contextmanager
def _descriptors_up_to(fd: int) -> Iterator[None]:
    """Let this process open descriptor ``fd``: a soft limit of 1,024 (a common default)
    refused it (EBADF). Skipped when the hard limit does not allow it either.
    """
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft <= fd:
        if hard != resource.RLIM_INFINITY and hard <= fd:
            pytest.skip(f"the open-files hard limit ({hard}) is below descriptor {fd}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd + 1, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("buffering", [0, -1], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("high", [False, True], ids=["low-fd", "fd-past-1024"])
def test_a_full_non_blocking_pipe_is_waited_for(buffering: int, high: bool) -> None:
    """A standard output left non-blocking by the shell (a full pipe then says "would
    block"): an unbuffered file returned ``None`` and the bytes were dropped, a buffered one
    raised ``BlockingIOError``. The write waits for room, on any descriptor number
    (``select`` refused those past 1,023). Ten times a pipe's room goes through here.
    """
    data = bytes(range(256)) * 4096  # 1 MiB
    read_end, write_end = os.pipe()
    if high:
        with _descriptors_up_to(_HIGH_FD):
            moved = os.dup2(write_end, _HIGH_FD)
        os.close(write_end)
        write_end = moved
    os.set_blocking(write_end, False)
    out = os.fdopen(write_end, "wb", buffering)

    def write() -> None:
        try:
            write_all(out, data)
            flush(out)
        finally:  # the reader sees the end, whatever happened here
            with contextlib.suppress(OSError):
                out.close()

    assert _through_a_pipe(write, read_end) == data


def test_a_descriptor_gets_every_byte(tmp_path: Any) -> None:
    """``write_all_fd`` writes a large buffer whole to a file's descriptor."""
    data = os.urandom(3 << 20)
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        write_all_fd(fd, data)
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_text_goes_through_its_bytes_in_its_encoding_and_errors() -> None:
    """``write_text`` writes a text stream's text as its own bytes (encoding, errors) after
    what its text layer held, and a stream with no bytes under it (a StringIO) as text.
    """
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii", errors="backslashreplace", write_through=False)
    out.write("held ")
    write_text(out, "caf\u00e9\n")
    assert raw.getvalue() == b"held caf\\xe9\n"
    plain = io.StringIO()
    write_text(plain, "caf\u00e9\n")
    assert plain.getvalue() == "caf\u00e9\n"
