"""Where an export's bytes go: a partial output beside the target, put in place at the end.

``Output`` writes a path through a temporary file beside it, ``.NAME.TOKEN.partial``, renamed
onto the target once everything is written and synced (a failure removes it, unless a
checkpoint can continue it), or writes the caller's open binary file and flushes it. Every
blocking step runs in a worker thread (``Steps``). A checkpointed export's partial output is
named after its checkpoint, locked while it is written, and resumed only where a write of
the export ended (``Partial``: its size and last bytes, kept in the checkpoint).
``check_output_path`` finds, before anything is read, what writing the target would meet
at the end. What is written (the formats) is ``_export``'s.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, TypeVar, cast

from ._callbacks import is_plain_function
from ._checkpoint import ids_path, nothing_saved
from ._errors import ExportError, InvalidParameterError, TelnyxError, named_after, shown
from ._paths import (
    O_BINARY,
    O_NOFOLLOW,
    O_NONBLOCK,
    check_creatable,
    check_file_path,
    check_not_descriptor,
    check_regular,
    final_path,
    fitted_name,
    locked,
    os_reason,
)
from ._threads import Steps
from ._writes import flush, write_all

__all__ = [
    "TAIL_BYTES",
    "BinaryWriter",
    "Output",
    "Partial",
    "absolute",
    "check_output_path",
    "is_closed",
    "is_partial_name",
    "remove_unused",
]

#: What a target that is a device, FIFO or socket should be instead (it would be replaced).
_STREAMED_INSTEAD = (
    "a regular file is replaced once the export is complete; a device, FIFO or socket is "
    "written as a stream: an open file, or -o - and a redirect in the simcards command"
)

#: Why a target naming an open descriptor (``/dev/stdout``) is refused, and what to pass.
_DESCRIPTOR_REPLACED = (
    "the file it has open would be replaced when the export completes, not written to, "
    "losing what else was written there; pass an open file instead (sys.stdout.buffer), "
    "or -o - and a redirect in the simcards command"
)

#: Bytes of the output's end a checkpoint keeps, to check a resume continues where it ended.
TAIL_BYTES = 16

#: Windows removes no file that is open without delete sharing, as Python opens files.
_WINDOWS = sys.platform == "win32"

#: Hex digits of the random part of a partial output's name (``_partial_name``).
_TOKEN_CHARS = 8

_TOKEN = re.compile(f"[0-9a-f]{{{_TOKEN_CHARS}}}")

_R = TypeVar("_R")


# --- the output ------------------------------------------------------------------


class BinaryWriter(Protocol):
    """A file object ``export`` writes to: plain ``write`` and ``flush``.

    A file opened ``"wb"``, ``sys.stdout.buffer``, a ``gzip.GzipFile``, any object with the two.
    An ``io`` file's ``write`` is given bytes-like objects, ``memoryview``s among them; any
    other object's is given ``bytes``, which it may keep.
    """

    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...

    def flush(self) -> object: ...


class Output:
    """A temporary file renamed onto the target at the end, or the caller's open file."""

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryWriter,
        *,
        fmt: str,
        keep_partial: bool = False,
        resume: Partial | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
    ) -> None:
        self.committed = False
        #: The export's format, which an ``ExportError`` of the output names.
        self.fmt = fmt
        #: Every blocking step of the export (writes, Parquet's, the commit), in a thread;
        #: the clean-up after a failure never runs beside one (see ``_threads``). A
        #: cancellation waits for the step under way (a write to a regular file ends, and
        #: a resume made at once must not race it), unless it may never end (a pipe).
        self._steps = Steps(wait=not _may_block_for_ever(target))
        #: Whether the temporary file stays after a failure, for a checkpoint to resume.
        self.keep_partial = keep_partial
        #: Whether the output starts empty (False when it continues a resumed partial file).
        self.fresh = resume is None or resume.size == 0
        self.path: Path | None
        self.temp: Path | None
        #: What the temporary file replaces: through a symbolic link, the file it points to.
        self.final: Path | None = None
        self.file: IO[bytes]
        #: The last bytes written (``TAIL_BYTES`` at most), which a checkpoint keeps.
        self.tail = b""
        if isinstance(target, (str, os.PathLike)):
            check_output_path(target, checkpoint=checkpoint)  # a resumed target too
            self.path = Path(target)
            self.final = final_path(target)
            if resume is not None:
                self.temp, self.file, self.tail = _resumed_file(self.final, resume, target)
            elif checkpoint is not None and nothing_saved(checkpoint):  # empty: as missing
                self.temp, self.file = _checkpoints_file(self.final, checkpoint)
            else:
                self.temp, self.file = _new_file(self.final, self.path)
        else:
            if is_closed(target):
                # Refused now, not at the first write: requests sent, a bare ValueError.
                raise InvalidParameterError(
                    "target", "a path, or a file opened for writing: this one is closed", target
                )
            if not _is_binary_writer(target):
                raise InvalidParameterError(
                    "target",
                    "a path, or a file opened for writing in binary mode (with plain write() "
                    "and flush() methods: an async file's are never awaited)",
                    target,
                )
            self.path = self.temp = None
            self.file = cast("IO[bytes]", target)  # its write and flush, taken at their word

    async def write(self, data: bytes | bytearray) -> None:
        await self.run(self.put, data)

    async def run(self, func: Callable[..., _R], *args: object) -> _R:
        """``func(*args)`` in a worker thread: a blocking step of this export."""
        try:  # not open_checked(): a context manager a step would cost more than the step
            return await self._steps.run(func, *args)
        except ValueError as exc:
            self._check_closed_under(exc)
            raise

    @contextlib.contextmanager
    def open_checked(self) -> Iterator[None]:
        """Raise ``ExportError`` for a write that failed because the caller closed the file."""
        try:
            yield
        except ValueError as exc:
            self._check_closed_under(exc)
            raise

    def _check_closed_under(self, exc: ValueError) -> None:
        """Raise the ``ExportError`` a failed write is if the caller closed the file.

        Closed under the export (by another task, say), a file object's write raised a bare
        ``ValueError`` ("I/O operation on closed file"). Looked at only once a write failed.
        """
        if self.temp is None and not isinstance(exc, TelnyxError) and is_closed(self.file):
            raise ExportError(
                f"cannot write to target {shown(self.file)}: it was closed while the "
                "export wrote to it; close it only once export() has returned",
                format=self.fmt,
                column="",
                record=None,
            ) from exc

    def then(self, cleanup: Callable[[], object]) -> None:
        """After a failure: ``cleanup`` now, or once the step under way ends; no step after."""
        self._steps.then(cleanup)

    def put(self, data: bytes | bytearray) -> None:
        """Write ``data`` through to the file (in a worker thread: it may block)."""
        with named_after(self.path):  # a full disk names the file asked for
            write_all(self.file, data)  # every byte, or raise: never fewer in silence
            flush(self.file)  # nothing held back: ``end`` needs no thread, no flush
        self.tail = (self.tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]

    async def commit(self) -> None:
        await self.run(self._commit)

    def end(self) -> int:
        """The size of the output so far: every write went through to the file already.

        Not fsynced: a checkpoint needs the bytes to outlive the process (the page
        cache keeps them through a kill), not a power cut, which a resume detects by
        an output shorter than the checkpoint says (see ``Output.__init__``).
        """
        return self.file.tell()

    def _commit(self) -> None:
        with named_after(self.path):
            self.file.flush()
            if self.temp is None or self.final is None:
                return
            os.fsync(self.file.fileno())
            self.file.close()
        try:
            self.temp.replace(self.final)
        except OSError as exc:
            # The file asked for (the target made a directory since, say), not the
            # partial output's hidden name, which the user never typed.
            exc.filename, exc.filename2 = os.fspath(self.path or self.final), None
            raise
        self.committed = True

    def discard(self) -> None:
        """Remove the temporary file, if it is still there (never the caller's file).

        Given to ``then``: it runs once no step does (a commit under way ends first), and
        a commit not begun never begins, so the target is replaced whole, or not at all.
        """
        if self.temp is None or self.committed:
            return
        with contextlib.suppress(OSError):
            self.file.close()
        if not self.keep_partial:
            self.temp.unlink(missing_ok=True)


def is_closed(file: object) -> bool:
    """Whether ``file`` says it is closed (an object with no ``closed`` says nothing)."""
    try:
        return getattr(file, "closed", False) is True
    except Exception:  # noqa: BLE001  (a ``closed`` property that fails: taken as open)
        return False


def _may_block_for_ever(target: object) -> bool:
    """Whether a write to ``target`` may wait for ever: a pipe, a socket, a terminal.

    A path, a regular file's descriptor or an in-memory ``io`` file (``BytesIO``) do not;
    an object of another make, whose descriptor (if any) is unknown, may.
    """
    if isinstance(target, (str, os.PathLike)):
        return False
    try:
        fd = target.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # no descriptor (io.UnsupportedOperation)
        return not isinstance(target, io.IOBase)
    try:
        return not stat.S_ISREG(os.fstat(fd).st_mode)
    except (OSError, TypeError, ValueError):
        return True


# --- partial outputs: a new one, one a checkpoint names or continues, an earlier one ---


def _resumed_file(
    final: Path, resume: Partial, target: str | os.PathLike[str]
) -> tuple[Path, IO[bytes], bytes]:
    """The partial output a checkpoint continues, cut back to the size it counted.

    With the bytes it ends in there, checked against those the checkpoint kept: the size
    is where one of the export's writes ended, not a number edited to another.
    """
    temp = final.with_name(resume.partial)
    what = f"a path whose partial output {temp.name}, which the checkpoint continues, is"
    start_over = "delete the checkpoint to start over"
    # A directory (or a FIFO) there: refused as such, not an OSError after the resume hint.
    _check_not_a_link("target", temp, what, target, advice=start_over)
    check_regular("target", temp, what, advice=start_over)
    try:
        fd = os.open(temp, os.O_RDWR | O_NOFOLLOW | O_BINARY)
    except FileNotFoundError as exc:
        raise InvalidParameterError(
            "target",
            f"a path whose partial output {temp.name} the checkpoint continues; "
            "it is gone, so delete the checkpoint to start over",
            str(target),
        ) from exc
    except OSError as exc:
        # Read-only, say: found at the first write, after the resume's requests, it ended in
        # a resume hint that failed the same way.
        raise InvalidParameterError(
            "target",
            f"a path whose partial output {temp.name}, which the checkpoint continues, this "
            f"process can read and write ({os_reason(exc)}); make it so, "
            f"or {start_over}",
            str(target),
        ) from exc
    _check_one_name("target", fd, what, target, advice=start_over)
    file = open(fd, "r+b")  # noqa: PTH123, SIM115  (closed by commit/discard)
    if not _locked(file):
        file.close()
        raise _in_use("resume_from", temp, resume.checkpoint)
    found = os.fstat(file.fileno()).st_size
    if found < resume.size:
        # Bytes the checkpoint counted never reached the disk (a power cut: the
        # output is not fsynced per checkpoint). Nothing to continue safely.
        file.close()
        raise InvalidParameterError(
            "target",
            f"a path whose partial output {temp.name} holds the {resume.size} "
            f"bytes the checkpoint says; it has {found} (lost in a crash?), so delete "
            "the checkpoint to start over",
            str(target),
        )
    start = max(resume.size - TAIL_BYTES, 0)
    file.seek(start)
    tail = file.read(resume.size - start)
    if tail != resume.tail:
        # Not where a write ended: a size edited to another number (cut mid-record), or
        # the partial output changed since. Continuing there would corrupt the output.
        file.close()
        raise InvalidParameterError(
            "target",
            f"a path whose partial output {temp.name} ends, at the {resume.size} bytes the "
            "checkpoint says, with the bytes the export wrote there; it does not (was the "
            "checkpoint or the file edited?), so delete the checkpoint to start over",
            str(target),
        )
    file.truncate(resume.size)
    file.seek(resume.size)
    return temp, file, tail


def _new_file(final: Path, asked: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file beside ``final``, to replace it once complete."""
    temp = _new_partial(final)
    # 0o666 lets the umask decide a new file's mode; a file replaced keeps its own
    # (an export of ICCIDs written over a 0o600 file must not become world-readable).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY
    try:
        fd = os.open(temp, flags, 0o666)
    except OSError as exc:
        exc.filename = str(asked)  # the file asked for, not the temporary name
        raise
    _keep_mode(final, fd)
    file = open(fd, "wb")  # noqa: PTH123, SIM115  (closed by commit/discard)
    _locked(file)  # a new name: no other process has it
    return temp, file


def _checkpoints_file(final: Path, checkpoint: str | os.PathLike[str]) -> tuple[Path, IO[bytes]]:
    """A fresh checkpointed export's partial output, named after its checkpoint, and emptied.

    A run killed before its first save left its partial output, which no checkpoint names;
    under a random name it stayed for good. Under the checkpoint's, the same command run
    again (no checkpoint yet, so a fresh export) finds it and writes over it, unless
    another process is writing it now (the same command run twice at once): refused.
    """
    temp = final.with_name(_partial_name(final, _checkpoint_token(checkpoint)))
    what = f"a checkpoint whose partial output {temp.name} is"
    # Its name is predictable: a link planted there must not lead the export to cut and
    # write the file it points to (nor to put a link in place of the target at the end).
    _check_not_a_link("checkpoint", temp, what, temp, advice="delete it")
    check_regular("checkpoint", temp, what)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | O_NOFOLLOW | O_BINARY, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link planted since the check
            _check_not_a_link("checkpoint", temp, what, temp, advice="delete it")
        exc.filename = str(final)  # the file asked for, not the temporary name
        raise
    _check_one_name("checkpoint", fd, what, temp, advice="delete it")
    file = open(fd, "wb")  # noqa: PTH123, SIM115  (closed by commit/discard)
    if not _locked(file):
        file.close()
        raise _in_use("checkpoint", temp, os.fspath(checkpoint))
    os.ftruncate(fd, 0)  # what a killed run left
    _keep_mode(final, fd)
    return temp, file


def _check_not_a_link(
    parameter: str, partial: Path, what: str, value: str | os.PathLike[str], *, advice: str
) -> None:
    """Refuse a partial output that is a symbolic link (``what`` as for ``check_regular``).

    The file it leads to would be cut, written over, and renamed onto the target.
    """
    if partial.is_symlink():
        leads = os.path.realpath(partial)
        raise InvalidParameterError(
            parameter,
            f"{what} a regular file, not a symbolic link (it leads to {leads!r}, which the "
            f"export would write over); {advice}",
            os.fspath(value),
        )


def _check_one_name(
    parameter: str, fd: int, what: str, value: str | os.PathLike[str], *, advice: str
) -> None:
    """Refuse a partial output (open at ``fd``, closed on refusal) that has another name.

    A hard link: the other name's file would be cut and written as well.
    """
    if os.fstat(fd).st_nlink > 1:
        os.close(fd)
        raise InvalidParameterError(
            parameter,
            f"{what} a file of its own, not one with another name too (a hard link: that "
            f"file would be written over); {advice}",
            os.fspath(value),
        )


def _in_use(parameter: str, partial: Path, checkpoint: object) -> InvalidParameterError:
    """The refusal of a checkpoint whose partial output another export holds locked."""
    return InvalidParameterError(
        parameter,
        f"a checkpoint no other export is using; another process is writing its partial "
        f"output {partial.name} now (the same command run twice?): let that one end",
        checkpoint,
    )


def _locked(file: IO[bytes]) -> bool:
    """Lock ``file`` for this process alone (an advisory lock, POSIX), or say it is taken.

    Held until the file is closed: a second process resuming the same checkpoint (the
    same command run twice) would otherwise cut and write the partial output the first
    is still writing, and each rename a mix of the two.
    """
    return locked(file.fileno())


def _keep_mode(path: Path, fd: int) -> None:
    """Give the file open at ``fd`` the permission bits of ``path``, if that is a file.

    Best effort: a file that cannot be read for its mode keeps the umask's.
    """
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)


def remove_unused(partial: Path, out: Output) -> None:
    """Remove ``partial``, unless it is ``out``'s, another export's, or no regular file.

    A link, or a FIFO planted there, is left alone: opening a FIFO blocked the event loop.
    """
    if partial == out.temp:
        return
    try:
        if not stat.S_ISREG(partial.lstat().st_mode):
            return
        fd = os.open(partial, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_BINARY)
    except OSError:
        return  # gone already, or a link (``ELOOP``): not this export's to remove
    with open(fd, "rb") as file:  # noqa: PTH123  (the descriptor opened above)
        if not _locked(file):
            return
        if not _WINDOWS:  # removed under the lock: no export takes it meanwhile
            with contextlib.suppress(OSError):
                partial.unlink()
            return
    with contextlib.suppress(OSError):  # closed first: see _WINDOWS
        partial.unlink()


@dataclass(frozen=True)
class Partial:
    """Where a checkpointed export's partial output ends: kept in the checkpoint."""

    partial: str
    size: int
    items: int
    #: The bytes the output ends in at ``size``.
    tail: bytes
    #: The checkpoint resumed (for messages).
    checkpoint: object = None


def absolute(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute (``..`` folded): a checkpoint's target, whatever the directory."""
    return os.path.abspath(path)  # noqa: PTH100  (Path.absolute keeps "..")


def _partial_name(final: Path, token: str) -> str:
    """The name of an export's partial output beside ``final``: ``.NAME.TOKEN.partial``.

    NAME is cut short when the whole would be longer than its file system takes (a
    target's name of 237 bytes or more, on most); the token keeps it apart.
    """
    suffix = f".{token}.partial"
    return f".{fitted_name(final.parent, final.name, 1 + len(suffix))}{suffix}"


def _checkpoint_token(checkpoint: str | os.PathLike[str]) -> str:
    """A partial output's token for ``checkpoint``: the same for the same file.

    Whatever the directory it is named from, or the links that lead to it.
    """
    name = os.fsencode(final_path(checkpoint))
    return hashlib.blake2b(name, digest_size=_TOKEN_CHARS // 2).hexdigest()


def _new_partial(final: Path) -> Path:
    """A partial output's path beside ``final``, with a new random token."""
    return final.with_name(_partial_name(final, secrets.token_hex(_TOKEN_CHARS // 2)))


def is_partial_name(name: str, final: Path) -> bool:
    """Whether ``name`` is one ``_partial_name`` gives beside ``final`` (whatever its token)."""
    token = name.removesuffix(".partial").rpartition(".")[2]  # NAME may be cut short
    return _TOKEN.fullmatch(token) is not None and name == _partial_name(final, token)


# --- the target, checked before anything is read ------------------------------------


def check_output_path(
    path: str | os.PathLike[str], *, checkpoint: str | os.PathLike[str] | None = None
) -> None:
    """Raise the ``OSError`` that writing ``path`` would meet at the end, now.

    A directory, a parent that is missing or not a directory, or a parent we may not
    write into (a file is made there and removed, as the partial output will be): each
    found before anything is read. A path
    that is there but not a regular file (a device, a FIFO, a socket) is refused
    with ``InvalidParameterError``: it would be replaced by one, not written to;
    so is the ``checkpoint`` file of the listing exported (or its ids file), which would
    replace the output, then be deleted with it once the listing is complete. A symbolic link
    is checked as the file it points to, which is what is replaced; but a path naming an
    open descriptor (``/dev/stdout``, ``/dev/fd/N``, ``/proc/PID/fd/N``) is refused too:
    the file the shell opened there (``>> log``) would be replaced, not appended to.
    """
    check_file_path("target", path)  # "", ".", "out/": no file's name at all
    shown = str(Path(path))
    target = final_path(path)
    if checkpoint is not None:
        _check_not_the_checkpoints(target, checkpoint, shown)
        _check_keepable(path, shown)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), shown)
    check_regular("target", Path(path), "a new path or", advice=_STREAMED_INSTEAD)
    check_not_descriptor("target", path, _DESCRIPTOR_REPLACED)
    parent = target.parent
    if not parent.exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), shown)
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), shown)
    try:  # the partial output is made there: make one now (os.access cannot tell)
        check_creatable(_new_partial(target))
    except OSError as exc:  # PermissionError for a directory we may not write into
        raise OSError(exc.errno, exc.strerror, shown) from exc


def _check_not_the_checkpoints(
    target: Path, checkpoint: str | os.PathLike[str], shown: str
) -> None:
    """Refuse an output at the listing's checkpoint file or the ids file beside it."""
    check_file_path("checkpoint", checkpoint)  # before its ids file's name is made
    if target in (final_path(checkpoint), final_path(ids_path(checkpoint))):
        raise InvalidParameterError(
            "target",
            f"a path other than the listing's checkpoint file ({os.fspath(checkpoint)}) and "
            "the ids file beside it (.ids): checkpoints would be written over the output, and "
            "deleted with it at the end",
            shown,
        )


def _check_keepable(path: str | os.PathLike[str], shown: str) -> None:
    """Refuse a target a checkpoint cannot name: its absolute path is kept there, as UTF-8.

    A name that is not UTF-8 (bytes the file system decoded with surrogates: a non-UTF-8
    name, or a C locale's reading of one) failed at the first save, after requests.
    """
    try:
        absolute(path).encode()
    except UnicodeEncodeError:
        raise InvalidParameterError(
            "target",
            "a path a checkpoint can keep: its absolute path is written there as UTF-8, and "
            "this one (or its directory's) has a name that is not UTF-8",
            shown,
        ) from None


def _is_binary_writer(target: object) -> bool:
    """A binary file that takes writes: not text, not async, and not opened for reading only.

    ``write`` and ``flush`` are plain methods: an async file's (``anyio.open_file``,
    aiofiles) return coroutines, which were dropped: an export "wrote" every record to a
    file left empty.

    ``writable()`` is asked when the object has it (an open file does; a bare object with
    a ``write`` method is taken at its word): a file opened ``"rb"`` failed at the first
    write, after requests were sent.
    """
    if isinstance(target, io.TextIOBase):
        return False
    if not all(is_plain_function(getattr(target, name, None)) for name in ("write", "flush")):
        return False  # each called, never awaited: an async file's are dropped
    writable = getattr(target, "writable", None)
    try:
        return not callable(writable) or bool(writable())
    except ValueError:  # a closed file
        return False
