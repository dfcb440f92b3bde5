"""How one node is reached: its ssh master connection, and while it is down, a probe of
its port once a second, so its return is noticed at once and not at the end of a backoff."""

from __future__ import annotations

import logging
import os

from inosync import rsync
from inosync.config import Config, Node
from inosync.process import Job
from inosync.reach import PROBE_INTERVAL, PROBE_TIMEOUT, PortProbe, node_address

log = logging.getLogger("inosync.node")
MASTER_RETRY_SECONDS = 10.0


class NodeLink:
    """One node's ssh ControlMaster (ssh nodes only) and its port probe."""

    def __init__(self, name: str, control_path: str | None) -> None:
        self.name = name
        self.control_path = control_path
        self.master: Job | None = None
        self.master_retry_at = 0.0
        self.address: tuple[str, int] | None = None  # where the node listens
        self.address_known = False
        self.probe: PortProbe | None = None
        self.probe_at: float | None = None  # when to probe next while the node is down
        self.seen_down = False  # a probe found the port closed since the last failure

    # -- the ssh master -------------------------------------------------------------

    def ensure_master(self, cfg: Config, node: Node, now: float, dry_run: bool) -> None:
        """Keep one multiplexed ssh connection up; rsync falls back to its own if not."""
        if self.control_path is None or dry_run:
            return
        if self.master is not None and self.master.poll() is None:
            return
        if now < self.master_retry_at:
            return
        if self.master is not None:
            message = self.master.stderr.decode("utf-8", "backslashreplace").strip()
            log.debug("%s: ssh master exited (%s); reconnecting", self.name,
                      message[-400:] or "no message")
        try:
            os.unlink(self.control_path)
        except FileNotFoundError:
            pass
        self.master_retry_at = now + MASTER_RETRY_SECONDS
        try:
            self.master = Job(rsync.ssh_master(cfg, node, self.control_path))
        except OSError as error:  # rsync's own ssh then fails too, and says so
            log.debug("%s: cannot start the ssh master: %s", self.name, error.strerror)
            self.master = None

    def close(self) -> None:
        self.stop_probing()
        if self.master is not None:
            self.master.terminate()
            if self.master.wait(1.0) is None:
                self.master.kill()
                self.master.wait(1.0)
            self.master = None

    # -- noticing a node's return ---------------------------------------------------

    def failed(self, now: float) -> None:
        """A transient failure: is the port closed? Then watch for it to open."""
        if self.probe is None:
            self.probe_at = now

    def probe_deadline(self) -> float | None:
        if self.probe is not None:
            return self.probe.started + PROBE_TIMEOUT
        return self.probe_at

    def start_probe(self, cfg: Config, node: Node, now: float) -> PortProbe | None:
        """Connect to the node's port; the loop waits for the socket to become writable."""
        self.probe_at = None
        if not self.address_known:
            self.address_known = True
            self.address = node_address(node, cfg.rsh, cfg.extra)
        if self.address is None:
            return None
        probe = PortProbe(self.address, now)
        if probe.sock is None:
            self.probe_done(now, False)
            return None
        self.probe = probe
        return probe

    def probe_done(self, now: float, answered: bool) -> bool:
        """True when the port answers after it was seen closed: the node is back."""
        if self.probe is not None:
            self.probe.close()
            self.probe = None
        if not answered:
            self.seen_down = True
            self.probe_at = now + PROBE_INTERVAL
            return False
        back = self.seen_down
        # Up: the backoff decides from here; a failure then probes afresh. A node whose
        # port answers but whose rsync fails is not retried in a loop.
        self.seen_down = False
        if back:
            self.master_retry_at = 0.0
        return back

    def stop_probing(self) -> None:
        if self.probe is not None:
            self.probe.close()
            self.probe = None
        self.probe_at = None
        self.seen_down = False
