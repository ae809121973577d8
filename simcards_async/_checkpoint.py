"""Checkpoints: a small JSON file that lets a crashed scan continue where it stopped.

A checkpoint says which listing it belongs to (a fingerprint of the path and
every parameter but the page number, page size included), how far the
consumer got (the first page not yet fully consumed), what ``total_results``
was when the scan started, and the ids of the last page consumed, so that a
record shifted across the resume point by drift is still yielded once. An
exporter may keep its own state beside (``extra``: where its partial output
ends). The file is replaced atomically, so a crash never leaves half a
checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

import msgspec

from ._errors import InvalidParameterError
from ._query import ListQuery

__all__ = ["Checkpoint", "fingerprint", "load_checkpoint", "save_checkpoint"]

_VERSION = 1


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """How far one scan got; see the module docstring."""

    version: int = _VERSION
    fingerprint: str
    path: str
    params: dict[str, str]
    next_page: int
    items_done: int
    total_results: int | None = None
    last_ids: tuple[str, ...] = ()
    complete: bool = False
    extra: dict[str, Any] = {}


def fingerprint(query: ListQuery) -> str:
    """A stable digest of the listing a query reads (not where it starts or stops)."""
    canonical = msgspec.json.encode([query.path, sorted(query.params.items())])
    return hashlib.sha256(canonical).hexdigest()[:32]


def load_checkpoint(path: str | os.PathLike[str], query: ListQuery) -> Checkpoint:
    """Read a checkpoint and check that it was made for this same query."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidParameterError(
            "resume_from", f"a readable checkpoint file ({exc})", path
        ) from exc
    try:
        point = msgspec.json.decode(data, type=Checkpoint)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParameterError("resume_from", f"a checkpoint file ({exc})", path) from exc
    if point.version != _VERSION:
        raise InvalidParameterError("resume_from", f"a version {_VERSION} checkpoint", path)
    if point.fingerprint != fingerprint(query):
        raise InvalidParameterError(
            "resume_from",
            f"a checkpoint of this same query; it was made for {point.path} {point.params}",
            path,
        )
    return point


def save_checkpoint(path: str | os.PathLike[str], point: Checkpoint) -> None:
    """Write a checkpoint atomically: a temporary file beside it, then a rename."""
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temp.open("wb") as file:
            file.write(msgspec.json.encode(point))
            file.flush()
            os.fsync(file.fileno())
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)
