"""The source guard: wpath must stay the directory that was watched (same device and
inode) and must not look empty. Otherwise nothing is synced, so the nodes keep their data,
until it is a non-empty directory again: back as it was, replaced by a new tree (a deploy's
swap), a switched symlink or a mount with content on top. The full sync that follows
deletes only within the all-or-nothing delete bound."""

from __future__ import annotations

import logging
import os

from inosync.source.tree import identity_of

log = logging.getLogger("inosync")
POLL_SECONDS = 1.0  # how often wpath is looked at (a mount on top sends no event)


def has_entries(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


class SourceGuard:
    def __init__(self, wpath: str) -> None:
        self.wpath = wpath
        self.identity: tuple[int, int] | None = None  # of the tree being watched
        self.paused_reason = ""
        self.next_poll = 0.0

    def watched(self) -> None:
        """The watches went in for the tree at wpath now."""
        self.identity = identity_of(self.wpath)

    def same(self) -> bool:
        return identity_of(self.wpath) == self.identity

    def pause(self, reason: str, now: float) -> None:
        if not self.paused_reason:
            log.error("source %s looks wrong: %s. Not syncing anything, so the nodes keep "
                      "their data; resuming once it is a non-empty directory again.",
                      self.wpath, reason)
        self.paused_reason = reason
        self.next_poll = now + POLL_SECONDS

    def back(self, now: float) -> bool:
        """While paused: is wpath a non-empty directory again? Missing or empty stays
        paused: an empty-looking source is exactly what must never be mirrored."""
        self.next_poll = now + POLL_SECONDS
        current = identity_of(self.wpath)
        if current is None or not has_entries(self.wpath):
            return False
        if current == self.identity:
            log.warning("source %s is back: watching it again and running a full sync",
                        self.wpath)
        else:
            log.warning("source %s is a new non-empty directory (%s): watching it and "
                        "running a full sync", self.wpath, os.path.realpath(self.wpath))
        self.paused_reason = ""
        return True
