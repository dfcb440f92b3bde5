"""Noticing a node's return: while a node is down, its port is probed (a non-blocking
connect, or first a lookup child that finds it), and a node that answers is retried at once."""

from __future__ import annotations

import selectors
from typing import TYPE_CHECKING

from inosync.node.reach import PortProbe
from inosync.node.runner import NodeRunner
from inosync.process import Job

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon



class ReturnWatch:
    """Starts and times out the probes of the nodes that are down."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def probe(self, now: float) -> None:
        d = self.daemon
        for runner in d.nodes:
            link = runner.link
            link.lookup_expired(now)
            if link.probe is not None and now >= (link.probe_deadline() or now):
                d.selector.unregister(link.probe)
                runner.probe_done(now, False)  # no answer in time: still down
            if (link.probe is None and link.lookup is None and link.probe_at is not None
                    and now >= link.probe_at):
                self.register(runner, runner.start_probe(now))

    def register(self, runner: NodeRunner, waited_on: PortProbe | Job | None) -> None:
        """A probe's connect ends when its socket is writable, a lookup when it exits."""
        d = self.daemon
        if isinstance(waited_on, PortProbe):
            d.selector.register(waited_on, selectors.EVENT_WRITE, ("probe", runner))
        elif waited_on is not None:
            d.selector.register(waited_on, selectors.EVENT_READ, ("lookup", runner))
