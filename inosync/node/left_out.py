"""Source paths no command may touch on a node: those rsync could not read on the source,
and mount points that lost their filesystem. Every builder leaves them out as anchored
--excludes, which also keep rsync's --delete away from their copies on the node."""

from __future__ import annotations

import logging
import os

from inosync.changes import PathSet
from inosync.rsync.output import sender_failures

log = logging.getLogger("inosync.node")


def node_side(stderr: bytes) -> bool:
    """Whether rsync's receiving end (the node) reported trouble too."""
    lowered = stderr.lower()
    return b"[receiver]" in lowered or b"[generator]" in lowered


class LeftOut:
    """The paths left out of every command for one node, until they change."""

    def __init__(self) -> None:
        # topmost only (an excluded directory leaves out what is below it too), a trie so
        # an event forgets those below it in O(depth)
        self.unreadable = PathSet()
        self.lost_mounts: frozenset[str] = frozenset()  # the daemon's MountState.lost

    def paths(self) -> set[str]:
        return set(self.unreadable) | self.lost_mounts

    def changed(self, path: str) -> None:
        """An event at `path`: what was unreadable there may be readable now."""
        if self.unreadable:
            self.unreadable.take_below(path)

    def skip_unreadable(self, stderr: bytes, wpath: str, name: str) -> bool:
        """After exit 23: leave out what the source would not let rsync read. True when
        that is all that went wrong, so the batch can be redone at once."""
        found = sender_failures(stderr, wpath)
        new = {path: why for path, why in found.items() if not self.unreadable.covers(path)}
        for path, why in new.items():
            log.error("%s: cannot read %r on the source (%s); it is left out, and left "
                      "alone on the node, until it changes", name, os.path.join(wpath, path),
                      why, extra={"INOSYNC_NODE": name, "INOSYNC_RSYNC_EXIT": 23})
            self.unreadable.add(path)
        return bool(new) and not node_side(stderr)
