"""How long the loop may sleep: until the first of everything it waits on is due."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon


def next_timeout(daemon: Daemon, now: float) -> float | None:
    """Seconds until the next deadline of any part of the daemon; None: none is set."""
    d = daemon
    if d.watching.walking:
        return 0.0  # the start-up walk goes on between the other work
    due: list[float | None] = []
    running = sum(1 for r in d.nodes if r.job is not None)
    if not d.paused_reason and running < d.starter.parallel_limit():
        # (when all slots are taken, a finishing job wakes the loop)
        due += [r.deadline() for r in d.nodes]
    if d.watcher is not None:
        due.append(d.watcher.next_deadline())
    if d.paused_reason:
        due.append(d.guard.next_poll)
    else:
        due += [d.overflow.rescan_at, d.guard.next_poll]
    due += [d.stop_deadline, d.notifier.alive_deadline(), d.notifier.deadline(),
            d.reaper.deadline(), d.hooks.deadline()]
    due += [r.link.probe_deadline() for r in d.nodes]
    deadlines = [t for t in due if t is not None]
    if not deadlines:
        return None
    return max(0.0, min(deadlines) - now)
