"""Events taken out of the kernel's queue while a walk or a count keeps the loop busy.

The kernel queues 16,384 events per inotify instance or fanotify group
(`fs.*.max_queued_events`) and drops the rest with an overflow, which costs a rescan and a
full sync of every node. A million directories take seconds to walk or count, and a busy
source (or, with fanotify, anything else on its filesystem) fills that queue in well under
a second. So the walks read what is queued every few hundred directories and keep the bytes
as they came, in order, for the watcher to parse once the loop reads it again: nothing is
decided early, only the kernel's queue is emptied.
"""

from __future__ import annotations

import os
from collections import deque

HELD_MAX = 64 * 2**20  # bytes kept at most; past this the kernel's queue fills (and overflows)
READ_SIZE = 256 * 1024


class ReadAhead:
    """The bytes read ahead from one watcher's fd, oldest first."""

    def __init__(self, fd: int, limit: int = HELD_MAX) -> None:
        self.fd = fd
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.held = 0  # bytes in chunks

    def __bool__(self) -> bool:
        return bool(self.chunks)

    def take(self) -> None:
        """Read what the kernel has queued now (never blocks), up to the limit."""
        while self.held < self.limit:
            try:
                data = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return
            if not data:
                return
            self.chunks.append(data)
            self.held += len(data)

    def next_chunk(self) -> bytes | None:
        """The oldest bytes read ahead, or None."""
        if not self.chunks:
            return None
        data = self.chunks.popleft()
        self.held -= len(data)
        return data

    def all(self) -> bytes:
        """Everything read ahead, in order, and nothing kept."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.held = 0
        return data
