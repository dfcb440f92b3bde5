"""Stopping (SIGTERM, SIGINT): running and pending syncs, and the on_sync hooks they owe,
are finished for up to 4 s, a second signal stops at once, and STOPPING=1 reaches systemd
even when its socket is slow."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon
    from inosync.node.runner import NodeRunner

log = logging.getLogger("inosync")
STOP_GRACE_SECONDS = 4.0


class Stopper:
    """Decides, each turn of a stopping loop, whether the daemon may exit now."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def finished(self) -> bool:
        """Stop once in-flight and pending work is done, or at the deadline, or at once
        on a second signal. Nodes in backoff are not waited for."""
        d = self.daemon
        if not d.stop_requested:
            return False
        now = time.monotonic()
        if d.stop_deadline is None:
            d.notifier.stopping()
            log.info("stopping: finishing running and pending syncs for up to %ds",
                     STOP_GRACE_SECONDS)
            d.stop_deadline = now + STOP_GRACE_SECONDS
        busy = [r for r in d.nodes if r.job is not None or self.drainable(r, now)]
        if (busy or d.hooks.busy()) and d.stop_requested == 1 and now < d.stop_deadline:
            return False
        for runner in d.nodes:
            if runner.job is not None:
                log.warning("%s: abandoning a running sync to stop; the next start's full "
                            "sync redoes it", runner.node.name)
            elif runner.pending:
                log.warning("%s: stopping with %d paths not yet on the node; the next "
                            "start's full sync sends them", runner.node.name,
                            len(runner.pending.dirty) + len(runner.pending.moves))
        return True

    def last_words(self) -> None:
        """STOPPING=1 goes out even if the receiver is slow, within a short grace."""
        d = self.daemon
        deadline = time.monotonic() + 1.0
        while d.notifier.deadline() is not None and time.monotonic() < deadline:
            d.notifier.flush()
            time.sleep(0.01)  # the receiver has no room: give it a moment, then give up
        d.notifier.close()

    def drainable(self, runner: NodeRunner, now: float) -> bool:
        return bool(runner.pending) and runner.retry_at <= now and not self.daemon.paused_reason
