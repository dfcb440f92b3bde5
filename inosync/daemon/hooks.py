"""Starting each node's on_sync hook when a sync of it has finished, and waiting on it in
the loop like on rsync: a hook that runs long, hangs or fails never holds back a sync."""

from __future__ import annotations

import selectors
import time
from typing import TYPE_CHECKING

from inosync.node.hook import Hook
from inosync.report.state_files import instance_name

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon


class Hooks:
    """The hooks of every node, as the loop sees them."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def start_due(self, now: float) -> None:
        d = self.daemon
        for runner in d.nodes:
            if runner.hook.due():
                job = runner.hook.start(runner.cfg, runner.node, instance_name(d.cfg.path),
                                        now, time.time(), d.cfg.dry_run)
                if job is not None:
                    d.selector.register(job, selectors.EVENT_READ, runner.hook)

    def deadline(self) -> float | None:
        due = [t for r in self.daemon.nodes if (t := r.hook.deadline()) is not None]
        return min(due, default=None)

    def expire(self, now: float) -> None:
        for runner in self.daemon.nodes:
            runner.hook.expire(now)

    def ended(self, hook: Hook) -> None:
        """Its pidfd is readable: the run is over."""
        d = self.daemon
        assert hook.job is not None
        d.selector.unregister(hook.job)
        if not hook.done(time.time()):
            d.selector.register(hook.job, selectors.EVENT_READ, hook)

    def busy(self) -> bool:
        return any(r.hook.job is not None or r.hook.queued for r in self.daemon.nodes)
