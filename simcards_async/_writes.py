"""Bytes written whole, to a descriptor or to a file object: never fewer in silence.

A buffered file writes all it is given or raises, but an unbuffered one
(``sys.stdout.buffer`` under ``python -u`` or ``PYTHONUNBUFFERED``, ``open(path, "wb",
buffering=0)``, ``os.write``) may write part of it (a full disk, a pipe's room) and say
how much, or nothing at all from a full non-blocking descriptor (``None``, or
``BlockingIOError`` from a buffered file). What is left is written again, once the
descriptor takes more. These run in worker threads or in a command's own thread:
waiting is fine there.
"""

from __future__ import annotations

import errno
import io
import os
import selectors
from typing import IO, Any, TextIO

__all__ = ["flush", "wait_writable", "write_all", "write_all_fd", "write_text"]


def write_all_fd(fd: int, data: bytes | bytearray) -> None:
    """Write all of ``data`` to the descriptor ``fd`` (one call, as a rule)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_all(file: IO[bytes], data: bytes | bytearray) -> None:
    """Write all of ``data`` to ``file``, or raise.

    An ``io`` file is given views of ``data`` (it reads them only while ``write`` runs);
    an object of another make is given ``bytes``, which it may keep: one that kept views
    (a list of the parts) of a buffer the writer refills stopped it with ``BufferError``.
    """
    keeps = not isinstance(file, io.IOBase)
    view = memoryview(data)
    while view:
        given: bytes | memoryview = view
        if keeps:  # bytes: whole and immutable already, or copied
            given = data if isinstance(data, bytes) and len(view) == len(data) else view.tobytes()
        try:
            written: object = file.write(given)  # typed int; None from a raw file, or any
        except BlockingIOError as exc:  # a buffered file on a full non-blocking descriptor
            view = view[exc.characters_written :]
            wait_writable(file.fileno())
            continue
        if written is None and isinstance(file, io.RawIOBase) and _non_blocking(file):
            wait_writable(file.fileno())  # a raw file on a full non-blocking descriptor
            continue
        if not isinstance(written, int) or written >= len(view):
            return  # all of it (a writer of another make that does not say: at its word)
        if written <= 0:
            raise OSError(errno.EIO, "the output took none of the bytes written to it")
        view = view[written:]


def write_text(out: TextIO, text: str) -> None:
    """Write ``text`` to the text stream ``out`` and flush it, whole, or raise.

    A terminal's or a pipe's descriptor may be non-blocking (set so by whoever shares it):
    full for a moment, ``print`` raised ``BlockingIOError`` with the line half written, and a
    command that took that for a reader gone lost the line, or all it said after.
    """
    if not isinstance(getattr(out, "buffer", None), io.BufferedIOBase):  # a StringIO, say
        out.write(text)
        out.flush()
        return
    flush(out)  # what the text layer still holds goes first
    encoding = getattr(out, "encoding", None) or "utf-8"
    write_all(out.buffer, text.encode(encoding, getattr(out, "errors", None) or "strict"))
    flush(out.buffer)


def flush(file: IO[Any]) -> None:
    """``file.flush()``, waiting whenever its non-blocking descriptor is full."""
    while True:
        try:
            file.flush()
        except BlockingIOError:
            wait_writable(file.fileno())
        else:
            return


def wait_writable(fd: int) -> None:
    """Block until the descriptor ``fd`` takes more bytes (any descriptor number)."""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_WRITE)
        selector.select()


def _non_blocking(file: IO[bytes]) -> bool:
    """Whether ``file`` has a descriptor, set non-blocking (``None`` then means "full")."""
    try:
        return not os.get_blocking(file.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor: io.UnsupportedOperation
        return False
