"""The files the library writes: a path checked before anything is sent.

A checkpoint (``checkpoint``, ``resume_from``) and an export's output (``target``) are
files the library creates, replaces or reads back. A path that can name no file, or
names something that is not a regular file, is refused here, naming the parameter,
before a request is sent: found later, it cost the whole listing (a save that fails
after the last page) or hung (a FIFO opened for reading blocks the event loop).
A path that names an open descriptor (``/dev/stdout``, ``/dev/fd/N``) is refused as
well: the file open there would be replaced by a rename, not written to.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import TypeVar

from ._arguments import plain_str
from ._errors import InvalidParameterError

__all__ = [
    "O_BINARY",
    "O_NOFOLLOW",
    "O_NONBLOCK",
    "check_creatable",
    "check_file_path",
    "check_not_descriptor",
    "check_regular",
    "final_path",
    "fitted_name",
    "locked",
    "name_max",
    "os_reason",
    "plain_path",
]

P = TypeVar("P")

#: Opens fail (``ELOOP``) on a symbolic link, where the system can tell (not on Windows).
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Opens read and write bytes untranslated (Windows; 0 elsewhere).
O_BINARY = getattr(os, "O_BINARY", 0)
#: Opens return at once, a FIFO's too (not on Windows, which has none to open).
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
if sys.platform != "win32":
    import fcntl

#: The longest file name, in bytes, where a file system does not say (most take 255).
_NAME_MAX = 255

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def os_reason(exc: OSError) -> str:
    """Why the system refused, in a message's words.

    Its ``strerror`` (``Permission denied``), else the error's class name: an ``OSError``
    raised without an errno carries no words.
    """
    return exc.strerror or type(exc).__name__


def check_file_path(parameter: str, path: str | os.PathLike[str]) -> None:
    """Refuse a path that cannot name a file: empty, ``.``, ending in a separator, a NUL.

    ``Path`` drops a trailing ``/`` and ``/.`` (``nodir/`` checks as ``nodir``, and an
    output ``out.jsonl/`` was written as a file ``out.jsonl``) and has no name for ``""``,
    ``.`` or ``/`` (pathlib's bare ``ValueError`` where a name is needed; ``""`` would
    resolve to the directory ``.``).
    """
    try:
        text = os.fspath(path)
    except TypeError:  # not a path, or an os.PathLike whose __fspath__ gives neither kind
        text = None
    if not isinstance(text, str):  # bytes (os.scandir(b".")'s entries): a bare TypeError later
        raise InvalidParameterError(
            parameter, "a file path as text (str or os.PathLike[str])", path
        )
    if not text:
        raise InvalidParameterError(
            parameter, "a file's path (a name at its end), not an empty one", text
        )
    if "\0" in text:  # os: a bare ValueError
        raise InvalidParameterError(parameter, "a file path with no NUL character", text)
    try:
        os.fsencode(text)  # a lone surrogate: a bare UnicodeEncodeError (os.fsdecode's are fine)
    except UnicodeEncodeError:
        raise InvalidParameterError(
            parameter, "a file path the file system can name (no lone surrogate)", text
        ) from None
    # Not Path(text).name, which is the trouble: a trailing separator is dropped.
    if os.path.basename(text) in ("", ".", ".."):  # noqa: PTH119
        raise InvalidParameterError(
            parameter, "a file's path (a name at its end, not a directory's)", text
        )


def plain_path(path: P) -> P:
    """``path`` as a plain ``str`` if it is a subclass of one (an Enum member).

    ``Path`` names a file after its ``str()``, ``open`` after its characters: a class whose
    ``__str__`` says otherwise had a file written under one name and reported under another.
    """
    return plain_str(path) if isinstance(path, str) else path  # type: ignore[return-value]


def check_regular(parameter: str, path: Path, what: str, *, advice: str = "") -> None:
    """Refuse a ``path`` that is there and is not a regular file (a FIFO, a device, ...).

    The message reads ``{what} a regular file, not a FIFO`` (and ``; {advice}``), naming
    ``path`` as given, and the file a symbolic link leads to. A link is followed as
    ``open`` follows it (``/dev/stdout``, a shell's ``<(...)``: a pipe by another name),
    not by its resolved name, which may name no file (``/proc/self/fd/pipe:[N]``). Opening
    a FIFO blocks until another process opens its other end, and a blocked ``open``
    holds the event loop, signal handlers included: a hang, not an error; a file
    replaced by a rename would replace the FIFO or device instead of writing to it.
    Errors other than a missing file (``OSError``) are the caller's to word.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "a device")
    reason = f"{what} a regular file, not {kind}"
    if path.is_symlink() and os.path.exists(leads := os.path.realpath(path)):  # noqa: PTH110
        reason += f" (it leads to {leads!r})"
    reason += f"; {advice}" if advice else ""
    raise InvalidParameterError(parameter, reason, str(path))


#: A directory whose entries are a process's open descriptors, by its resolved name
#: (``/proc/self/fd`` is ``/proc/PID/fd``; ``/dev/fd`` is one itself on the BSDs).
_DESCRIPTORS = re.compile(r"/proc/\d+(?:/task/\d+)?/fd|/dev/fd")
#: Symbolic links followed at most, as Linux follows them (``ELOOP`` past that).
_MAX_LINKS = 40


def check_not_descriptor(parameter: str, path: str | os.PathLike[str], why: str) -> None:
    """Refuse a ``path`` that names an open descriptor: ``/dev/stdout``, ``/proc/self/fd/1``.

    Such a path leads to whatever the descriptor has open, a file the shell opened
    (``>> log``, ``{ ...; } > out``): replaced by a rename there, what the shell wrote
    before and after was lost. Found through the links' text, as ``open`` follows them,
    whether or not the descriptor is open; ``why`` says what replacing it would do.
    """
    named = _descriptor_named(path)
    if named is not None:
        leads = "" if named == os.fspath(path) else f" ({os.fspath(path)} leads to {named})"
        reason = f"a file's own path, not an open descriptor's{leads}: {why}"
        raise InvalidParameterError(parameter, reason, os.fspath(path))


def _descriptor_named(path: str | os.PathLike[str]) -> str | None:
    """The descriptor entry ``path`` leads to (``/proc/self/fd/1`` for ``/dev/stdout``), or None."""
    # Not os.path.abspath: it drops "link/.." by its text, where open goes up from the link's file.
    current = os.path.join(os.getcwd(), os.fspath(path))  # noqa: PTH109, PTH118
    for _ in range(_MAX_LINKS):
        parent = os.path.realpath(os.path.dirname(current))  # noqa: PTH120
        if _DESCRIPTORS.fullmatch(parent):
            return current
        try:
            text = os.readlink(current)  # noqa: PTH115
        except OSError:  # not a link (or not there): a name of its own
            return None
        current = os.path.join(os.path.dirname(current), text)  # noqa: PTH118, PTH120
    return None


def check_creatable(path: Path) -> None:
    """Create ``path``, a new file's name, and remove it: the ``OSError`` a write meets, now.

    What asking (``os.access``) misses: a read-only or virtual file system (``/sys``,
    ``/proc``), a name too long, and root, whom ``os.access`` says may write anywhere.
    """
    path.touch(exist_ok=False)
    path.unlink(missing_ok=True)


def final_path(path: str | os.PathLike[str]) -> Path:
    """Where ``path``'s bytes end up: through symbolic links, the file they point to."""
    return Path(os.path.realpath(path))


def name_max(directory: Path) -> int:
    """The longest file name ``directory``'s file system takes, in bytes (255 if unknown)."""
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not there; not said; not POSIX (Windows)
        return _NAME_MAX
    return limit if limit > 0 else _NAME_MAX


def fitted_name(directory: Path, name: str, added: int) -> str:
    """``name``, cut short at its end so that it and ``added`` bytes more make a legal name.

    For a temporary file's name made from a file's: a name as long as the file system
    takes (``NAME_MAX`` bytes in its encoding, 255 on most) is legal, and the longer one
    made from it was refused as too long. Whole characters are cut, so that the name
    stays text a checkpoint can keep.
    """
    room = name_max(directory) - added
    while name and len(os.fsencode(name)) > room:
        name = name[:-1]
    return name


def locked(fd: int) -> bool:
    """Lock the file open at ``fd`` for this open file alone (POSIX ``flock``), or say it is taken.

    An advisory lock, held until the descriptor is closed, against another open of the
    same file, in this process or another. Where there are no such locks (Windows, a file
    system without them) it says the file is free: things go on as they did without it.
    """
    if sys.platform == "win32":  # no such lock
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: go on as before
        return True
    return True
