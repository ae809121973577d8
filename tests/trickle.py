"""``Trickle``: an unbuffered file that takes part of each write, as pipes and full disks do."""

from __future__ import annotations

import io
from typing import Any


class Trickle(io.RawIOBase):
    """An unbuffered file that takes at most ``room`` bytes a write (a pipe's room, a disk
    filling up), as ``sys.stdout.buffer`` is under ``python -u`` or ``PYTHONUNBUFFERED``.
    ``got`` is what it took.
    """

    def __init__(self, room: int) -> None:
        self.room = room
        self.got = bytearray()

    def writable(self) -> bool:
        """Yes: it is written to."""
        return True

    def write(self, data: Any) -> int:
        """Take the first ``room`` bytes of ``data``; how many."""
        taken = bytes(data[: self.room])
        self.got += taken
        return len(taken)
