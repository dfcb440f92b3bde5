"""Each loop turn ends here: every node's facts brought up to date, the STATUS line sent
(READY=1 the first time every node has tried its first full sync), and status.json and the
metrics file rewritten when something changed."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from inosync.report.state_files import instance_name
from inosync.report.views import Instance, status_line

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon



class Reporter:
    """Reports one daemon's state to systemd and the state files."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def report(self) -> None:
        d = self.daemon
        now, wall = time.monotonic(), time.time()
        incomplete = d.watcher is not None and bool(d.watcher.unwatched)
        facts = [r.update_facts(now, bool(d.paused_reason), incomplete) for r in d.nodes]
        instance = self.instance_facts()
        status = status_line(instance, facts, wall)
        d.publisher.publish(instance, facts, now, wall)
        # READY=1 once every node has tried its first full sync (a node that is down does
        # not hold it up), or syncing is paused because the source looks wrong: the unit is
        # then active, and its Status says why nothing is synced.
        if not d.ready_sent and (all(r.initial_tried for r in d.nodes)
                                    or d.paused_reason):
            d.ready_sent = True
            d.notifier.ready(status)
            return
        d.notifier.status(status)

    def instance_facts(self) -> Instance:
        d = self.daemon
        notes = []
        unwatched: tuple[tuple[str, str], ...] = ()
        count = 0
        if d.watcher is not None and d.watcher.unwatched:
            unwatched, count = d.watcher.unwatched.sample(), len(d.watcher.unwatched)
        if d.reload_problem:
            notes.append(f"reload failed, running on previous config: {d.reload_problem}")
        return Instance(
            name=instance_name(d.cfg.path), config=d.cfg.path, wpath=d.cfg.wpath,
            pid=os.getpid(), started=d.started_wall,
            watches=d.watcher.watch_count if d.watcher is not None else 0,
            overflows=d.overflow.total, paused_reason=d.paused_reason,
            notes=tuple(notes), unwatched=unwatched, unwatched_count=count)
