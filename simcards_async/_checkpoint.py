"""Checkpoints: a small JSON file that lets a crashed scan continue where it stopped.

A checkpoint says which listing it belongs to (a fingerprint of the path and
every parameter but the page number, page size included), how far the
consumer got (the first page not yet fully consumed, and the ids of it already
yielded when the consumer stopped in its middle), how many pages and items were
done, what ``total_results`` was when the scan started, and the ids of the last
page consumed, so that a record shifted across the resume point by drift is
still yielded once. An exporter may keep its own state beside (``extra``: where
its partial output ends). The file is replaced atomically, so a crash never
leaves half a checkpoint, and its fields but ``extra`` are sealed by a digest: one
edited by hand is refused, not resumed somewhere else.

Beside it, ``<checkpoint>.ids`` holds the id of every record the consumer finished,
appended at each save (a JSON array of the ids finished since the save before, a
line); the checkpoint says how many of its bytes are its own (``ids_size``). A
resumed scan knows them all: a record that the listing moved back past the resume
point while no scan ran (a page or more of inserts) is still never yielded again.
A crash between the append and the checkpoint leaves bytes past ``ids_size``, which
the next save cuts off. The file goes once the listing is done.

``Checkpointer`` owns one checkpoint file's life: it loads the checkpoint a
stream continues, saves one as pages are finished (with the
exporter's state, which the exporter hands to the stream explicitly when it
reads it), saves the position within a page when the consumer stops early, and
removes the file once the listing is done, if asked to.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import os
import re
import secrets
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import anyio
import anyio.to_thread
import msgspec

from ._callbacks import callback_refused
from ._errors import InvalidParameterError, named_after
from ._models import UNDECODABLE
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
    name_max,
    os_reason,
    plain_path,
)
from ._query import ListQuery
from ._sansio import api_identity, same_api
from ._wording import Call, Said
from ._writes import write_all_fd

__all__ = [
    "Checkpoint",
    "Checkpointer",
    "check_state",
    "fingerprint",
    "ids_path",
    "load_checkpoint",
    "nothing_saved",
    "save_checkpoint",
    "saved_extra",
    "sealed",
]

#: What ``chunks(state=...)`` takes: an exporter's state, kept in each checkpoint.
_STATE_ALLOWED = "None, or an async function returning a dict to keep in each checkpoint"


def check_state(state: object) -> None:
    """Refuse, before anything is read, a ``state`` that cannot give a checkpoint's state.

    Not callable, or a generator function (its body runs only when iterated): it failed at
    the first save, requests sent, with a bare ``TypeError``. What a callable returns is
    checked as it is awaited (``_state_of``).
    """
    if state is not None and (
        not callable(state)
        or inspect.isgeneratorfunction(state)
        or inspect.isasyncgenfunction(state)
    ):
        raise callback_refused("state", _STATE_ALLOWED, state)


async def _state_of(state: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """``await state()``, refused by name unless it gives a dict.

    A plain function's dict cannot be awaited: a bare ``TypeError`` at the first save.
    """
    given: object = state()
    if not inspect.isawaitable(given):
        raise InvalidParameterError(
            "state", f"{_STATE_ALLOWED} (this one returned what cannot be awaited)", given
        )
    extra: object = await given
    if not isinstance(extra, dict):
        raise InvalidParameterError("state", f"{_STATE_ALLOWED} (this one gave no dict)", extra)
    return extra


#: 2: a ``digest`` seals the fields, and ``page_size`` is kept. 3: ``start_page`` is kept.
#: 4: ``api`` is kept.
_VERSION = 4

#: A count or a page number in a checkpoint: a file that says less than 0 was not saved by a scan.
_Count = Annotated[int, msgspec.Meta(ge=0)]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """How far one scan got; see the module docstring."""

    version: int = _VERSION
    fingerprint: str
    path: str
    params: dict[str, str]
    #: The first page not finished (1 or more; 0 in a complete checkpoint).
    next_page: _Count
    items_done: _Count
    total_results: _Count | None = None
    last_ids: tuple[str, ...] = ()
    #: Pages read to the end by the consumer, over every run (for progress).
    pages_done: _Count = 0
    #: Ids of page ``next_page`` already yielded when the consumer stopped in its middle.
    page_ids: tuple[str, ...] = ()
    #: The listing was read to its end: a resume yields nothing.
    complete: bool = False
    #: The scan's ``limit`` stopped it, not the listing's end: a resume with a larger
    #: limit (or none) goes on from here; one with the same limit yields nothing.
    limited: bool = False
    extra: dict[str, Any] = {}
    #: Bytes of the ids file (``ids_path``) that hold the ids this checkpoint counts.
    ids_size: _Count = 0
    #: Records a full page held (the pages ``next_page`` counts), as the scan's first page
    #: with meta said; None when no page had meta (or from a checkpoint before it was kept).
    page_size: Annotated[int, msgspec.Meta(ge=1)] | None = None
    #: The page the scan started at (``start_page``): a resume must give the same, or its
    #: progress counts from another page than the one the scan read from.
    start_page: Annotated[int, msgspec.Meta(ge=1)] = 1
    #: The API the scan read (``_sansio.api_identity`` of its base URL): a resume reads the
    #: same, or another server's (another fleet's) records are mixed in, reported whole.
    api: str | None = None
    #: A digest of every field but ``extra`` (``sealed``): a checkpoint edited by hand
    #: (a next_page or a count changed) is refused rather than resumed somewhere else.
    #: ``extra`` is its exporter's, which checks its own state against its output.
    digest: str = ""


def sealed(point: Checkpoint) -> Checkpoint:
    """``point`` with the digest of its fields (``extra`` and the digest itself aside)."""
    return msgspec.structs.replace(point, digest=_digest(point))


def _digest(point: Checkpoint) -> str:
    fields = msgspec.json.encode(msgspec.structs.replace(point, extra={}, digest=""))
    return hashlib.sha256(fields).hexdigest()[:32]


def fingerprint(query: ListQuery) -> str:
    """A stable digest of the listing a query reads (not where it starts or stops)."""
    canonical = msgspec.json.encode([query.path, sorted(query.params.items())])
    return hashlib.sha256(canonical).hexdigest()[:32]


#: How the refusal of a checkpoint of another query begins; both queries follow.
_OTHER_QUERY = "a checkpoint of this same query; it was made for "
#: The most a checkpoint file holds: two pages of ids of at most 128 characters, the
#: query, an exporter's state (the ids delivered are in the ids file beside it).
MAX_CHECKPOINT_BYTES = 1 << 20


def load_checkpoint(
    path: str | os.PathLike[str], query: ListQuery, redact: Callable[[str], str] = str
) -> Checkpoint:
    """Read a checkpoint and check that it was made for this same query.

    ``redact`` removes the API key from the queries a refusal names (a filter's value may
    be it).
    """
    try:
        check_regular("resume_from", Path(path), "a checkpoint file that is")
        with Path(path).open("rb") as file:
            data = file.read(MAX_CHECKPOINT_BYTES + 1)  # not a mistyped path's whole file
    except OSError as exc:
        raise InvalidParameterError(
            "resume_from", f"a readable checkpoint file ({exc})", path
        ) from exc
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise InvalidParameterError(
            "resume_from",
            f"a checkpoint file, at most {MAX_CHECKPOINT_BYTES:,} bytes (this one is larger)",
            path,
        )
    try:
        point = msgspec.json.decode(data, type=Checkpoint)
    except UNDECODABLE as exc:
        raise InvalidParameterError("resume_from", f"a checkpoint file ({exc})", path) from exc
    if point.version != _VERSION:
        raise InvalidParameterError(
            "resume_from",
            f"a version {_VERSION} checkpoint (this one is version {point.version}, which this "
            "release cannot continue: delete it, and its .ids file, to start over)",
            path,
        )
    if point.next_page < 1 and not point.complete:
        # Else the resumed scan asks the server for page 0, and blames its answer.
        raise InvalidParameterError(
            "resume_from",
            f"a checkpoint as a scan saves it (this one's next_page is {point.next_page}: "
            "pages start at 1; was it edited?)",
            path,
        )
    if point.digest != _digest(point):
        # A next_page, a count or an id changed by hand: a resume would start elsewhere
        # than the run stopped (records skipped, or yielded twice) and report success.
        raise InvalidParameterError(
            "resume_from",
            "a checkpoint as a scan saved it (its fields do not match its digest: was it "
            "edited? delete it, and its .ids file, to start over)",
            path,
        )
    # After the digest: a fingerprint edited by hand said the checkpoint was made for the
    # query its fields describe, "not" that same query.
    if point.fingerprint != fingerprint(query):
        made_for = Call(point.path, point.params).redacted(redact)
        given = Call(query.path, query.params).redacted(redact)
        raise InvalidParameterError(
            "resume_from", Said(_OTHER_QUERY, made_for, ", not ", given), path
        )
    return point


def ids_path(path: str | os.PathLike[str]) -> Path:
    """The file beside checkpoint ``path`` that holds the ids it counts as delivered."""
    target = Path(path)
    return target.with_name(target.name + ".ids")


def _ids_refused(
    ids: Path,
    allowed: str,
    why: str,
    given: str | os.PathLike[str] | None = None,
    parameter: str = "resume_from",
) -> InvalidParameterError:
    """``parameter`` refused for its ids file ``ids``: ``allowed (IDS WHY)``.

    The value shown is the checkpoint the ids file is beside, ``given`` as the user typed
    it (else worked out from ``ids``), not the ids file, which is named in the reason.
    """
    checkpoint = ids.with_name(ids.name.removesuffix(".ids")) if given is None else given
    reason = f"{allowed} ({str(ids)!r}{why})"
    return InvalidParameterError(parameter, reason, os.fspath(checkpoint))


_ID_LINE = msgspec.json.Decoder(list[str])


def save_checkpoint(path: str | os.PathLike[str], point: Checkpoint) -> None:
    """Write a checkpoint atomically: a temporary file beside it, then a rename.

    Not fsynced (it is saved often): a killed process leaves the old or
    the new checkpoint whole; a power cut may leave an older one, or a broken one,
    which ``load_checkpoint`` refuses.
    """
    _replace(path, _temp_beside(Path(path)), msgspec.json.encode(sealed(point)))


def _replace(target: str | os.PathLike[str], temp: Path, data: bytes) -> None:
    """Replace ``target`` by a file holding ``data``, written as ``temp`` and renamed."""
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | O_BINARY, 0o666)
        try:
            with named_after(target):
                write_all_fd(fd, data)
        finally:
            os.close(fd)
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


#: Bytes of an earlier ids file copied at a time.
_COPY_CHUNK = 1 << 20


def _copy_start(earlier: tuple[Path, int], fd: int) -> None:
    """Write an ``earlier`` ids file's first bytes ((path, size)) to ``fd``, a MiB at a time."""
    source, size = earlier
    with source.open("rb") as file:
        left = size
        while left:
            piece = file.read(min(left, _COPY_CHUNK))
            if not piece:  # cut since the scan began: no exact count to carry
                raise _ids_refused(source, "a checkpoint whose ids file is whole", " is short")
            write_all_fd(fd, piece)
            left -= len(piece)


class _Files(NamedTuple):
    """What one save writes, worked out on the loop.

    The checkpoint, its bytes, the ids it appends (None: none), the temporary file
    renamed over the checkpoint, and the save's number (``Checkpointer._encoded``).
    """

    point: Checkpoint
    body: bytes
    appended: bytes | None
    temp: Path
    number: int


def _earlier_ids(resume_from: str | os.PathLike[str], size: int) -> Path:
    """The ids file of checkpoint ``resume_from``, checked to hold ``size`` bytes at least."""
    path = ids_path(resume_from)
    try:
        try:
            check_regular("resume_from", path, "a checkpoint whose ids file is")
        except InvalidParameterError as exc:  # a directory, a FIFO: named as the rest are
            raise _ids_refused(path, exc.allowed, "", resume_from) from None
        # Opened, not asked about: one it cannot read failed as the scan began, with a
        # resume hint that failed the same way.
        with path.open("rb") as file:
            held = os.fstat(file.fileno()).st_size
    except FileNotFoundError as exc:
        allowed = "a checkpoint with its ids file beside it"
        raise _ids_refused(path, allowed, f": {exc.strerror}", resume_from) from exc
    except OSError as exc:
        allowed = "a checkpoint whose ids file beside it this process can read"
        raise _ids_refused(path, allowed, f": {os_reason(exc)}", resume_from) from exc
    if held < size:
        allowed = "a checkpoint whose ids file is whole"
        raise _ids_refused(path, allowed, f" holds {held} bytes of {size}", resume_from)
    return path


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file, as given or once resolved.

    ``scan.json`` and its absolute path are one; a path that cannot be resolved (a symbolic
    link loop) is another file.
    """
    if Path(a) == Path(b):
        return True
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):  # before Python 3.13 a loop is a RuntimeError
        return False


#: Hex digits of the random part of a save's temporary file's name.
_TEMP_TOKEN_CHARS = 8


def _temp_stem(target: Path) -> str:
    """``.NAME.``, where a save's temporary file's name beside ``target`` begins.

    NAME is cut short when the whole name would be longer than its file system takes
    (a checkpoint's name of 242 bytes or more, on most): the random part keeps it
    apart.
    """
    added = len(".." + "0" * _TEMP_TOKEN_CHARS + ".tmp")
    return f".{fitted_name(target.parent, target.name, added)}."


def _temp_beside(target: Path, stem: str | None = None) -> Path:
    """A new temporary file's name beside ``target``, as a save writes it before the rename.

    ``stem``: ``_temp_stem(target)``, worked out once by a caller that saves often.
    """
    stem = _temp_stem(target) if stem is None else stem
    return target.with_name(f"{stem}{secrets.token_hex(_TEMP_TOKEN_CHARS // 2)}.tmp")


def _check_ids_file(path: str | os.PathLike[str], ids: Path) -> None:
    """Refuse an ids file there that a save cannot cut and append to.

    Found at the first save, it cost the pages read before it, and ended in a resume hint
    that failed the same way. A symbolic link is refused too: the file it leads to would be
    cut and written.
    """
    if ids.is_symlink():
        raise InvalidParameterError(
            "checkpoint",
            f"a path whose ids file beside it ({ids.name}) is a file, not a symbolic link "
            f"(it leads to {os.path.realpath(ids)!r}, which a save would write over)",
            str(path),
        )
    try:
        fd = os.open(ids, os.O_WRONLY | os.O_APPEND | O_NOFOLLOW | O_BINARY)
    except FileNotFoundError:
        return  # the first save makes it
    except OSError as exc:
        reason = os_reason(exc)
        raise InvalidParameterError(
            "checkpoint",
            f"a path whose ids file beside it ({ids.name}) this process can write ({reason})",
            str(path),
        ) from exc
    os.close(fd)


#: Whether a file open can be removed (not on Windows): the ids file is then removed with
#: its lock held, so that no scan takes the lock of a file about to go.
_REMOVES_OPEN_FILES = sys.platform != "win32"


def _identity(path: Path) -> tuple[int, ...] | None:
    """What tells a file at ``path`` from another written there since; None if there is none.

    Its device and inode, and its size and change time: a file made since may reuse the
    inode of one removed before.
    """
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open at ``fd`` (not removed or replaced since)."""
    try:
        named = path.lstat()
    except FileNotFoundError:
        return False
    return os.path.samestat(os.fstat(fd), named)


def _in_use(parameter: str, path: str | os.PathLike[str], ids: Path) -> InvalidParameterError:
    """The refusal of checkpoint ``path`` while another scan saves to it (its ids file locked).

    That scan may be this process's own: a stream not closed yet (an iterator kept, or a
    bare ``break`` whose iterator Python finalizes only some loop turns later).
    """
    return InvalidParameterError(
        parameter,
        f"a checkpoint no other scan is saving to; another scan holds its ids file {ids.name} "
        "now (a stream of this process not closed yet, after a bare break say; the same "
        "command run twice; two exports given one checkpoint?): close that stream (aclose(), "
        "or read it inside async with) or let that scan end, or give each its own checkpoint",
        os.fspath(path),
    )


def _check_not_in_use(parameter: str, path: str | os.PathLike[str]) -> None:
    """Refuse checkpoint ``path`` if a scan saving to it holds its ids file locked now.

    Two scans saving to one checkpoint each appended their ids to the same ids file and
    each replaced the other's checkpoint: a resume took the other scan's ids (of records
    further on, or of another query) for records already delivered, and left them out.
    """
    ids = ids_path(path)
    try:
        fd = os.open(ids, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_BINARY)
    except OSError:
        return  # none yet (the first save makes it), or refused already for what it is
    try:
        free = locked(fd)
    finally:
        os.close(fd)  # the lock with it: held only while a scan saves
    if not free:
        raise _in_use(parameter, path, ids)


def _check_name_fits(path: str | os.PathLike[str]) -> None:
    """Refuse a checkpoint name too long for its ids file's name (``NAME.ids``) to be legal."""
    target = Path(path)
    limit = name_max(target.parent)
    if len(os.fsencode(ids_path(target).name)) > limit:
        raise InvalidParameterError(
            "checkpoint",
            f"a file name of at most {limit - len('.ids')} bytes: its ids file is kept "
            f"beside it as NAME.ids, and this file system takes names of {limit} bytes at most",
            str(path),
        )


def _check_writable_path(path: str | os.PathLike[str]) -> None:
    """Refuse, before anything is sent, a checkpoint path no file can be written at."""
    target = Path(path)
    _check_name_fits(target)
    try:
        check_regular("checkpoint", target, "a path to")  # a directory, a FIFO, ...
        # /dev/stdout onto a file: a save's rename would replace the file the shell opened.
        check_not_descriptor("checkpoint", target, "a save would replace the file open there")
        ids = ids_path(target)
        try:
            check_regular("checkpoint", ids, "a path whose ids file beside it is")
        except InvalidParameterError as exc:  # the value shown is the checkpoint, as given
            raise _ids_refused(ids, exc.allowed, "", path, "checkpoint") from None
        _check_ids_file(path, ids)
        written = final_path(target)  # a link's file: a save replaces it, not the link
        if not written.parent.is_dir():
            raise InvalidParameterError(
                "checkpoint", "a file path in an existing directory", str(path)
            )
        _check_not_foreign(written, path)
        check_creatable(_temp_beside(written))  # its directory must take a save's file
    except OSError as exc:
        reason = os_reason(exc)
        raise InvalidParameterError(
            "checkpoint",
            f"a file path in a directory this process can write a file in ({reason})",
            str(path),
        ) from exc


class _Extra(msgspec.Struct):
    """A checkpoint's exporter state, read leniently (any version, its digest unchecked)."""

    extra: dict[str, Any] = {}


def saved_extra(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What the checkpoint at ``path`` keeps for its exporter (``extra``), read leniently.

    ``{}`` when there is no such file, or it is no checkpoint: for cleaning up after an
    earlier scan, not for resuming one (``load_checkpoint`` checks everything).
    """
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_CHECKPOINT_BYTES + 1)  # not a mistyped path's whole file
        return msgspec.json.decode(data, type=_Extra).extra
    except (OSError, *UNDECODABLE):
        return {}


class _Header(msgspec.Struct):
    """What every checkpoint file starts with, whatever its version."""

    version: int
    fingerprint: str


def nothing_saved(path: str | os.PathLike[str]) -> bool:
    """No scan saved at ``path`` yet: no file, or an empty one (a ``mktemp``'s).

    A save writes over either, as ``_check_not_foreign`` allows. A file that cannot be read
    is not this function's to judge: ``load_checkpoint`` says what is wrong with it.
    """
    try:
        return Path(path).stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _check_not_foreign(written: Path, path: str | os.PathLike[str]) -> None:
    """Refuse a checkpoint path naming a file that is no checkpoint: a save replaces it.

    ``checkpoint="cards.csv"`` for ``resume_from=`` or an output's name, say, replaced the
    file with a checkpoint, and its records were lost. An empty file is taken.
    """
    try:
        with written.open("rb") as file:
            data = file.read(MAX_CHECKPOINT_BYTES + 1)  # not a mistyped path's whole file
    except FileNotFoundError:
        return
    except OSError as exc:  # not the directory's fault: say what it is
        raise InvalidParameterError(
            "checkpoint",
            f"a checkpoint file this process can read ({os_reason(exc)}), or a path where no "
            "file is yet",
            os.fspath(path),
        ) from exc
    if not data:
        return
    if len(data) <= MAX_CHECKPOINT_BYTES:
        try:
            msgspec.json.decode(data, type=_Header)
        except UNDECODABLE:
            pass
        else:
            return
    raise InvalidParameterError(
        "checkpoint",
        "a checkpoint file, or a path where no file is yet: this file is not a checkpoint, "
        "and a save would replace it (delete it first if it is to go)",
        os.fspath(path),
    )


def _check_continues(
    resumed: Checkpoint,
    resume_from: str | os.PathLike[str],
    query: ListQuery,
    api: str | None,
    base_url: str | None,
) -> None:
    """Refuse a checkpoint of this query that this scan still cannot continue.

    Another API's (``base_url``: another server's records would be mixed with its own), one
    that started at another page (``start_page``), or one that delivered more records than
    this scan's ``limit`` (``limit``: what was delivered cannot be taken back).
    """
    where = os.fspath(resume_from)
    if resumed.api is not None and api is not None and not same_api(resumed.api, api):
        raise InvalidParameterError(
            "base_url",
            f"the API {resumed.api} (or one naming it), which the scan the checkpoint "
            f"{where} continues read: another server's records would be mixed with that one's",
            base_url,
        )
    if resumed.start_page != query.start_page:
        raise InvalidParameterError(
            "start_page",
            f"{resumed.start_page}, where the scan the checkpoint {where} continues started",
            query.start_page,
        )
    done = resumed.items_done + len(resumed.page_ids)
    if query.limit is not None and done > query.limit:
        # Not part of the fingerprint (a limit may grow from one run to the next), but
        # what was delivered before the stop cannot be taken back.
        raise InvalidParameterError(
            "limit",
            f"at least {done:,}, the records the checkpoint {where} says were delivered "
            "already (or delete the checkpoint to start over)",
            query.limit,
        )


class Checkpointer:
    """The one owner of a scan's checkpoint file: load, save, position, removal.

    ``path`` is where checkpoints are written (``None``: only resume). ``resume_from``
    is a checkpoint to continue; when it is the same file as ``path`` and that file does
    not exist yet, the scan starts afresh (run the same command again to resume). With
    ``keep=False`` the file is removed once the listing was read to its end (or to the
    scan's ``limit``) and the stream closed; by default it stays, marked complete
    (resuming it yields nothing) or limited (a resume with a larger limit goes on).
    Refuses a missing, broken or foreign checkpoint with ``InvalidParameterError``
    (``redact`` removes the API key from the queries a refusal names).
    """

    def __init__(
        self,
        query: ListQuery,
        path: str | os.PathLike[str] | None,
        *,
        resume_from: str | os.PathLike[str] | None = None,
        keep: bool = True,
        base_url: str | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        path, resume_from = plain_path(path), plain_path(resume_from)
        for name, given in (("checkpoint", path), ("resume_from", resume_from)):
            if given is not None:
                check_file_path(name, given)
        if path is not None:
            _check_writable_path(path)
        self.path = path
        #: The checkpoint this scan was asked to continue, if any.
        self.resume_from = resume_from
        self.keep = keep
        self._fingerprint = fingerprint(query)
        self._query = query
        #: The API this scan reads (``Checkpoint.api``).
        self._api = api = None if base_url is None else api_identity(base_url)
        self._written = False
        self._done = False
        self._closed = False
        fresh = (
            path is not None
            and resume_from is not None
            and nothing_saved(path)
            and _same_file(resume_from, path)  # by its absolute path too, or via ".."
        )
        #: The checkpoint this scan continues, if any.
        self.resumed = (
            None if resume_from is None or fresh else load_checkpoint(resume_from, query, redact)
        )
        self._last: Checkpoint | None = None
        #: Bytes of this checkpoint's ids file the last save counted (a fresh scan: none).
        self._ids_size = 0
        #: The resumed checkpoint's ids file and its bytes, to read and to carry on from.
        self._earlier: tuple[Path, int] | None = None
        #: Whether a save must first copy them (resumed from another checkpoint file).
        self._copy_earlier = False
        #: Whether the ids file holds ``_ids_size`` bytes exactly (unknown before the
        #: first save: a crash may have left more).
        self._ids_exact = False
        #: Ids of delivered records no save has written yet (encoded): those of the saves
        #: under way, and of one that failed or was cancelled. The next save appends them.
        self._pending = b""
        #: Saves encoded, and saves written (what a stream asks to know whether its save
        #: stands). Only the last one encoded writes: an earlier one still under way (a
        #: native asyncio cancellation leaves its thread running) is superseded by it.
        self._encoded = 0
        self.saves = 0
        #: Whether the reading ended (``release``): a save made after (one it was awaiting
        #: as a close from another task stopped it) locks the ids file for itself alone.
        self._reading_over = False
        #: The save a reader awaits, encoded and not written yet: it stands should the
        #: stream be closed (from another task) before its thread writes it, as it would a
        #: moment later; a reader cancelled first withdraws it.
        self._unwritten: _Files | None = None
        #: Why close() could not write that save (a full disk): its reader raises it, as
        #: it would its thread's; the closer does not.
        self._close_failed: tuple[_Files, OSError | InvalidParameterError] | None = None
        #: Set once the exporter's state a save awaits is given (see ``settled``).
        self._state_given: anyio.Event | None = None
        #: Held while the files are written or removed, and while a save is encoded: a stop's
        #: save on the loop, or close(), waits for a save's thread to finish.
        self._lock = threading.Lock()
        #: The ids file, open and locked (``locked``) while this scan saves to it, so that
        #: no other scan saves to the same checkpoint meanwhile; None when not held.
        self._ids_fd: int | None = None
        self._ids_closer: weakref.finalize[[int], Checkpointer] | None = None
        #: Whether another scan saving to the same checkpoint refused this one a save.
        self._taken = False
        #: The checkpoint file as this scan last wrote it (``_identity``): once its reading
        #: is over another scan may save to the same path, and its file is not this one's.
        self._on_disk: tuple[int, ...] | None = None
        if self.resumed is not None and self.resumed.ids_size:
            assert resume_from is not None  # noqa: S101  (resumed from it)
            self._earlier = (
                _earlier_ids(resume_from, self.resumed.ids_size),
                self.resumed.ids_size,
            )
            if path is not None and _same_file(path, resume_from):
                self._ids_size = self.resumed.ids_size
            else:
                self._copy_earlier = path is not None
        if self.resumed is not None:
            assert resume_from is not None  # noqa: S101  (resumed from it)
            _check_continues(self.resumed, resume_from, query, api, base_url)
        if path is not None:
            _check_not_in_use("checkpoint" if self.resumed is None else "resume_from", path)
        if resume_from is not None and self.resumed is not None and path != resume_from:
            # Continued, not saved to: a scan still holding it (a bare break, its iterator
            # not yet finalized) saves its stop there later, past what this one reads from.
            _check_not_in_use("resume_from", resume_from)

    @functools.cached_property
    def _file(self) -> Path:
        """The file a save replaces: ``path``, or the file a symbolic link there leads to.

        A rename over the link would put a file in its place.
        """
        assert self.path is not None  # noqa: S101  (only a scan with a path saves)
        return final_path(self.path)

    @functools.cached_property
    def _temp_stem(self) -> str:
        """Where a save's temporary file's name begins (``_temp_stem``): worked out once."""
        return _temp_stem(self._file)

    @property
    def resumable(self) -> str | os.PathLike[str] | None:
        """The checkpoint file a new run could continue this scan from, if there is one.

        The one this scan saves to, once it wrote one (or it continues that file itself);
        until then, the one it resumed from, which still holds its position. A resume into
        another file that saved nothing (its first page failed) named that file, which may
        hold an older checkpoint of the same query: resumed, it yielded again what the
        scan after it had. Checked on disk too: after a failed save, or when the file was
        removed, there is nothing a new run could continue (so an export does not keep its
        partial file).
        """
        if self.path is None or self._taken:
            return None
        resumed = self.resume_from if self.resumed is not None else None
        if self._written or (resumed is not None and _same_file(self.path, resumed)):
            return self.path if Path(self.path).is_file() else None
        return resumed if resumed is not None and Path(resumed).is_file() else None

    @property
    def done(self) -> bool:
        """Whether the checkpoint on disk says the scan asked for no more (complete, limited)."""
        return self._done

    @property
    def _writing(self) -> bool:
        """Whether a save writes a file: there is a path, and the stream is not closed."""
        return self.path is not None and not self._closed

    def point(
        self,
        *,
        next_page: int,
        items_done: int,
        pages_done: int,
        total_results: int | None,
        last_ids: tuple[str, ...],
        page_ids: tuple[str, ...] = (),
        complete: bool = False,
        limited: bool = False,
        page_size: int | None = None,
    ) -> Checkpoint:
        """A checkpoint of this scan saying how far the consumer got (no exporter's state)."""
        query = self._query
        return Checkpoint(
            fingerprint=self._fingerprint,
            path=query.path,
            params=query.params,
            next_page=next_page,
            items_done=items_done,
            pages_done=pages_done,
            total_results=total_results,
            last_ids=last_ids,
            page_ids=page_ids,
            complete=complete,
            limited=limited,
            page_size=page_size,
            start_page=query.start_page,
            api=self._api,
        )

    def earlier_ids(self) -> Iterator[list[str]]:
        """The ids the resumed checkpoint counts as delivered, a save's worth at a time.

        Read from its ids file (none for a fresh scan, or a checkpoint from before there
        was one); a file that does not read back as saved is refused like a broken
        checkpoint.
        """
        if self._earlier is None:
            return
        path, size = self._earlier
        with path.open("rb") as file:
            left = size
            for line in file:
                if left <= 0:
                    break
                left -= len(line)
                try:
                    if left < 0 or not line.endswith(b"\n"):
                        raise msgspec.DecodeError("cut short")
                    yield _ID_LINE.decode(line)
                except msgspec.MsgspecError as exc:
                    allowed = "a checkpoint whose ids file reads back"
                    raise _ids_refused(path, allowed, f": {exc}") from exc
            if left > 0:
                raise _ids_refused(path, "a checkpoint whose ids file is whole", " is short")

    async def save(
        self,
        point: Checkpoint,
        state: Callable[[], Awaitable[dict[str, Any]]] | None,
        ids: Sequence[str] = (),
    ) -> None:
        """Save ``point`` with the exporter's state (awaited first), off the event loop.

        ``ids`` are those of the records finished since the save before, appended to the
        ids file first. Should the save fail, or be cancelled, they stay for the next one.
        """
        if not self._writing:
            return
        self._hold(ids)
        if state is not None:
            self._state_given = given = anyio.Event()
            try:
                point = msgspec.structs.replace(point, extra=await _state_of(state))
            finally:
                given.set()
            if self._closed:
                return  # closed meanwhile, by a close that did not wait (see ``settled``)
        # Encoded here, written in a thread: the worker takes the interpreter's lock back
        # after each system call, in turns with the loop's busy thread, so it encodes
        # nothing and makes no call the writes do not need.
        with self._lock:
            files = self._unwritten = self._encode(point)
        try:
            await anyio.to_thread.run_sync(self._write, files)
        except BaseException:
            with self._lock:
                if self._unwritten is files:
                    # Not written, and the reader gave up on it (cancelled, say): neither
                    # the close nor its thread (a native asyncio cancellation leaves it
                    # running) may write it, or a checkpoint says an export is complete
                    # whose output was never put in place.
                    self._unwritten = None
                    self._encoded += 1
            raise
        failed = self._close_failed
        if failed is not None and failed[0] is files:
            self._close_failed = None
            raise failed[1]

    async def settled(self) -> None:
        """Wait for the exporter's state a save awaits, if one does.

        A stream closed from another task waits for it before ``close()``, which then
        writes that save: dropped, the export finished with a checkpoint that still said
        it was under way (one not kept stayed, its partial output gone). Not shielded: a
        closer that gives up (a timeout) closes at once, and that save is dropped.
        """
        given = self._state_given
        if given is not None:
            await given.wait()

    def save_now(self, point: Checkpoint, ids: Sequence[str] = ()) -> None:
        """Save ``point`` synchronously, with no exporter's state.

        For a consumer being stopped or cancelled, when pages it finished were not saved
        yet. A save's thread still writing is waited for, and superseded if it has not begun.
        The ids file is locked for this save alone, unless the reading holds it already.
        """
        with self._lock:
            if self._writing:
                with self._ids_for_one_save():
                    self._hold(ids)
                    self._write_held(self._encode(point))

    def _hold(self, ids: Sequence[str]) -> None:
        """Keep ``ids`` (of delivered records) for the next save to append."""
        if ids:
            self._pending += msgspec.json.encode(ids) + b"\n"

    def _encode(self, point: Checkpoint) -> _Files:
        """What a save writes: the ids held (if any), then the checkpoint's bytes."""
        assert self.path is not None  # noqa: S101  (callers check)
        if point.complete:
            # Done: a resume yields nothing, and needs no ids (the file is removed).
            appended, size = None, 0
        elif self._pending or self._copy_earlier:
            appended = self._pending
            size = self._ids_size + len(appended)
            if self._copy_earlier and self._earlier is not None:
                size += self._earlier[1]
        else:
            appended, size = None, self._ids_size
        point = sealed(msgspec.structs.replace(point, ids_size=size))
        # A name of its own for each save: a save's thread that a native asyncio
        # cancellation left writing must not share its file with the stop's save.
        temp = _temp_beside(self._file, self._temp_stem)
        self._encoded += 1
        return _Files(point, msgspec.json.encode(point), appended, temp, self._encoded)

    def _write(self, files: _Files) -> None:
        """Write a save's files (in a worker thread), unless the save is superseded."""
        with self._lock:
            self._write_held(files)

    def _write_held(self, files: _Files) -> None:
        """Write a save's files, then record what the checkpoint on disk now counts.

        The lock held. Nothing is written once the stream is closed, nor for a save
        that a later one (which appends its ids too) superseded. A save that fails
        leaves its ids to the next one, which appends them (their records were delivered).
        """
        if self._closed or files.number != self._encoded:
            return
        self._unwritten = None
        with self._ids_for_one_save() if self._reading_over else contextlib.nullcontext():
            self._write_files(files)
        point = files.point
        # What the save appended is no longer pending; ids held since (a save cancelled
        # before it was encoded) still are.
        self._pending = b"" if point.complete else self._pending[len(files.appended or b"") :]
        self._copy_earlier = self._copy_earlier and files.appended is None
        self._ids_size = point.ids_size
        # Exact once a save appended (and cut the file first); a save that appended nothing
        # (a resumed scan's first) leaves what a crash left for the next one to cut off.
        self._ids_exact = self._ids_exact or files.appended is not None
        self._last, self._written = point, True
        self._done = point.complete or point.limited  # the scan asked for no more
        self.saves += 1

    def _write_files(self, files: _Files) -> None:
        """A save's files, with as few system calls as it takes."""
        assert self.path is not None  # noqa: S101  (callers check)
        ids_file = ids_path(self.path)
        appending = files.appended is not None and not files.point.complete
        # Made (empty) and locked from the first save: the lock says a scan holds the
        # checkpoint, and a resume made meanwhile (after a bare break) is refused; taken
        # only once ids were appended, a scan of one page held nothing, and such a resume
        # read again what its reader had got.
        fd = self._held_ids(create=not files.point.complete)
        if appending and fd is not None and files.appended is not None:  # made if missing
            earlier = self._earlier if self._copy_earlier else None
            self._append_ids(fd, ids_file, files.appended, earlier)
        _replace(self._file, files.temp, files.body)
        self._on_disk = _identity(self._file)
        if files.point.complete:
            # After the rename: a complete save that fails leaves the checkpoint before it
            # whole, its ids file included.
            self._remove_ids()

    def _held_ids(self, *, create: bool) -> int | None:
        """The ids file, open for appending and locked for this scan alone (held from now).

        None when there is none and ``create`` is false. Locked by another scan saving to
        the same checkpoint: refused, and this scan writes nothing more to it.
        """
        if self._ids_fd is not None:
            return self._ids_fd
        assert self.path is not None  # noqa: S101  (callers check)
        path = ids_path(self.path)
        # Not through a link (refused before the scan: see ``_check_ids_file``), planted since.
        flags = os.O_WRONLY | os.O_APPEND | O_NOFOLLOW | O_BINARY
        while True:
            try:
                fd = os.open(path, flags | (os.O_CREAT if create else 0), 0o666)
            except FileNotFoundError:
                if create:
                    raise
                return None
            if not locked(fd):
                os.close(fd)
                # The other scan's files now: neither written nor removed, nor resumed by
                # this one.
                self._closed = self._taken = True
                raise _in_use("checkpoint", self.path, path)
            if _still_named(fd, path):
                break
            # Removed by the scan that held it (at its end) between the open and the lock:
            # locked, it took ids that went nowhere, and no resume could read them.
            os.close(fd)
        self._ids_fd = fd
        self._ids_closer = weakref.finalize(self, os.close, fd)
        self._remove_stale_temps()
        return fd

    def _remove_stale_temps(self) -> None:
        """Remove the temporary files of saves that dead runs left beside the checkpoint.

        A run killed between a save's write and its rename (SIGKILL, a power cut) left its
        ``.NAME.TOKEN.tmp`` for good, a resume or a fresh run over it included. Only the
        scan that holds the ids file's lock saves to this checkpoint: once it holds it, no
        such file there is a running scan's.
        """
        stem, temps = self._temp_stem, self._file.parent
        if stem != f".{self._file.name}.":
            return  # a name cut short: another checkpoint's saves may share the stem
        name = re.compile(re.escape(stem) + f"[0-9a-f]{{{_TEMP_TOKEN_CHARS}}}\\.tmp")
        with contextlib.suppress(OSError):  # a directory it cannot list: nothing to do
            for stale in temps.iterdir():
                if name.fullmatch(stale.name):
                    stale.unlink(missing_ok=True)

    def release(self) -> None:
        """Let the ids file go (and its lock): the stream's reading ended.

        A scan of the same checkpoint may save to it from now, a resume in this process too.
        A save's thread still writing is waited for: its descriptor is not closed under it.
        """
        with self._lock:
            self._reading_over = True
            self._release()

    def _release(self) -> None:
        """``release``, the lock held."""
        closer, self._ids_closer, self._ids_fd = self._ids_closer, None, None
        if closer is not None:
            closer()

    @contextlib.contextmanager
    def _ids_for_one_save(self) -> Iterator[None]:
        """A save made as the reading stops: the ids file it locks is let go after it.

        Unless the reading held it already, as its own saves do (``release`` ends that).
        """
        held = self._ids_fd is not None
        try:
            yield
        finally:
            if not held:
                self._release()

    def _holds_ids(self) -> bool:
        """Whether this scan holds the ids file, taking it if it is there and no scan does.

        Another scan's (one saving to this path since this one's reading ended) is not
        this scan's to remove.
        """
        try:
            return self._held_ids(create=False) is not None
        except InvalidParameterError:  # locked by the scan saving to it now
            return False

    def _remove_ids(self) -> None:
        """Remove the ids file, then let it go: a scan opening it meanwhile makes a new one.

        Where a file open cannot be removed (Windows, which has no such lock either), let
        go first.
        """
        assert self.path is not None  # noqa: S101  (callers check)
        try:
            if not _REMOVES_OPEN_FILES:
                self._release()
            ids_path(self.path).unlink(missing_ok=True)
        finally:
            self._release()

    def _append_ids(
        self, fd: int, path: Path, data: bytes, earlier: tuple[Path, int] | None
    ) -> None:
        """Append ``data`` to the ids file at ``fd``, after ``earlier``'s first bytes, if any.

        Those are copied a piece at a time (a resume into another checkpoint file): read
        whole, a 10,000,000-card scan's ids took some 800 MB at once.
        """
        if not self._ids_exact:
            # What a save counted, no more: bytes a crash (or a failed save) left
            # after it are cut off, so that the append starts at ``_ids_size``.
            os.ftruncate(fd, self._ids_size)
        self._ids_exact = False  # until this save is done
        with named_after(path):
            if earlier is not None:
                _copy_start(earlier, fd)
            write_all_fd(fd, data)

    def save_position(self, page: int, ids: tuple[str, ...]) -> None:
        """The consumer stopped in the middle of ``page``: note the ids of it that it got.

        Synchronous (a small file), as it runs while the consumer is being stopped or
        cancelled. Does nothing before the first save, or when nothing of the page went.
        """
        with self._lock:
            last = self._last
            if not self._writing or last is None or last.complete or not ids:
                return
            assert self.path is not None  # noqa: S101  (_writing says so)
            with self._ids_for_one_save():
                self._held_ids(create=False)  # another scan's checkpoint now: not written over
                before = last.page_ids if last.next_page == page else ()
                point = msgspec.structs.replace(last, next_page=page, page_ids=before + ids)
                self._encoded += 1  # a save still under way (its thread left behind) is older
                save_checkpoint(self._file, point)
                self._on_disk = _identity(self._file)
                self._last = point

    def close(self) -> None:
        """The stream is closed: remove the file if the listing was done and it is not kept.

        Nothing is written after: a reader's iterator collected later, or a save's thread
        that a native asyncio cancellation left behind, must not overwrite the checkpoint
        a new run of the same file has saved since. A save being written is waited for.
        """
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._closed:
            # Once: a stream closed after its end deleted the file must not delete the
            # checkpoint a new run of the same path has written since.
            return
        try:
            files = self._unwritten
            if files is not None:
                # Closed (from another task) while a reader awaited a save whose thread had
                # not begun: the save stands. Dropped, the one before stood, and a resume
                # yielded again the pages the reader had finished since. Its failure is
                # the reader's to raise, as its thread's would have been.
                try:
                    self._write_held(files)
                except (OSError, InvalidParameterError) as exc:
                    self._close_failed = (files, exc)
        finally:
            self._closed = True
            try:
                self._remove_done()
            finally:
                self._release()

    def _remove_done(self) -> None:
        """Closed: remove the checkpoint if it is done and not kept, or ids nothing counts.

        Only this scan's: an exporter closes its stream once its output is in place, after
        the reading ended and let the checkpoint go, and another scan of the same path may
        have saved to it meanwhile (its files were removed, its position lost, or its
        checkpoint left without the ids file no resume goes without).
        """
        if self.path is None:
            return
        if self._done and not self.keep:
            if self._on_disk is not None and _identity(self._file) == self._on_disk:
                self._file.unlink(missing_ok=True)  # a link to it stays, as the user made it
                if self._holds_ids():
                    self._remove_ids()  # kept by a save at the limit
            self._written = False
            self.resumed = None
        elif not Path(self.path).is_file() and self._holds_ids():
            # No checkpoint counts the ids beside (a save failed after its append, say):
            # nothing can resume from them.
            self._remove_ids()
