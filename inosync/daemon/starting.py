"""Which nodes start now: those due, longest waiting first, at most max_parallel rsyncs at
once, and none before wpath and the mounts below it have been looked at."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon


class Starter:
    """Starts the nodes that are due."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def start_due(self, now: float) -> None:
        d = self.daemon
        due = [r for r in d.nodes if r.wants_start(now)]
        if not due:
            return
        if not d.guard.same():
            d.guard.pause("its device or inode changed, or it is gone (unmounted? hidden "
                             "by a mount?)", now)
            return
        d.poll_mounts()  # so no command starts without a filesystem lost just now
        # At most max_parallel rsyncs at once, longest waiting first: fifty at once on two
        # cores slow every one of them, the first nodes as much as the last.
        free = self.parallel_limit() - sum(1 for r in d.nodes if r.job is not None)
        kinds: dict[str, bool | None] = {}  # one lstat per source path for all of them
        for runner in sorted(due, key=lambda r: r.deadline() or 0.0):
            if free <= 0:
                break
            runner.start(now, d.cfg.dry_run, kinds)
            if runner.job is not None:
                free -= 1
            d.register_job(runner)
        if d.watcher is not None and not d.watching.walking and any(
                r.job is not None and r.bound.holding for r in due):
            # A full sync's first run deletes nothing and needs no count: the source is
            # counted now, while it sends (a walk with fanotify, or after events), so the
            # verdict on its deletions finds the count made.
            d.watcher.current_entries()

    def parallel_limit(self) -> int:
        d = self.daemon
        # Most of a small run is waiting on the node, so a few per core keep the cores busy
        # without swamping them (fifty nodes here: 8 at once beat 4, 12 and 50).
        return d.cfg.max_parallel or 4 * (os.cpu_count() or 1)
