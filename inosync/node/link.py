"""How one node is reached: its ssh master connection, and while it is down, a probe of
its port once a second, so its return is noticed at once and not at the end of a backoff.

Where the port is (`ssh -G`, then a name lookup) is asked of child processes the loop
waits on, killed after LOOKUP_TIMEOUT, and the answer kept: when DNS is down, a lookup
hangs in a child, never in the loop.
"""

from __future__ import annotations

import logging
import os

from inosync.config.load import Config, Node
from inosync.node.reach import (
    LOOKUP_INTERVAL,
    LOOKUP_TIMEOUT,
    PROBE_INTERVAL,
    PROBE_TIMEOUT,
    PortProbe,
    SocketAddress,
    daemon_address,
    lookup_command,
    lookup_due,
    numeric_address,
    parse_lookup,
    parse_ssh_config,
    ssh_config_command,
)
from inosync.process import Job
from inosync.rsync import argv as rsync

log = logging.getLogger("inosync.node")
MASTER_RETRY_SECONDS = 10.0


class NodeLink:
    """One node's ssh ControlMaster (ssh nodes only) and its port probe."""

    def __init__(self, name: str, control_path: str | None) -> None:
        self.name = name
        self.control_path = control_path
        self.master: Job | None = None
        self.master_retry_at = 0.0
        # Where the node listens, as last looked up; "unprobeable" when that cannot be told
        # (a local node, ssh through a proxy, an rsh that is not OpenSSH's).
        self.address: SocketAddress | None = None
        self.unprobeable = False
        self.looked_up_at: float | None = None  # when the last lookup ended
        self.looked_up_with: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self.probe_failed = False  # a probe found the node down since the last lookup
        self.lookup: Job | None = None  # `ssh -G` or the name lookup, while it runs
        self.lookup_deadline: float | None = None  # kill it then (None once killed)
        self.looking_up: tuple[str, int] | None = None  # the host the lookup child resolves
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

    def release(self) -> list[Job]:
        """The children still running (master, lookup), for the caller to stop: a node
        removed by a reload is not waited for in the loop."""
        self.stop_probing()
        children = [job for job in (self.master, self.lookup)
                    if job is not None and job.returncode is None]  # not reaped yet
        self.master, self.lookup, self.lookup_deadline = None, None, None
        return children

    def close(self) -> None:
        self.stop_probing()
        if self.lookup is not None:
            self.lookup.kill()
            self.lookup.wait(1.0)  # killed: it exits at once
            self.lookup = None
        if self.master is not None:
            self.master.stop(1.0)
            self.master = None

    # -- noticing a node's return ---------------------------------------------------

    def failed(self, now: float) -> None:
        """A transient failure: is the port closed? Then watch for it to open."""
        if self.probe is None:
            self.probe_at = now

    def probe_deadline(self) -> float | None:
        if self.lookup is not None:
            return self.lookup_deadline  # None once killed: its exit wakes the loop
        if self.probe is not None:
            return self.probe.started + PROBE_TIMEOUT
        return self.probe_at

    def start_probe(self, cfg: Config, node: Node, now: float) -> PortProbe | Job | None:
        """Connect to the node's port, the loop waiting for the socket to become writable;
        or first look its address up, the loop waiting for that child to exit."""
        self.probe_at = None
        if self.lookup is not None:
            return None  # its end probes
        if self.looked_up_with != (cfg.rsh, cfg.extra):
            self.looked_up_at = None  # a reload changed how the node is reached
        if lookup_due(now, self.looked_up_at, self.address is not None or self.unprobeable,
                      self.probe_failed):
            job = self._start_lookup(cfg, node, now)
            if job is not None:
                return job
        if self.address is None:
            if not self.unprobeable:  # no answer yet: the next lookup, then a probe
                self.probe_at = (self.looked_up_at or now) + LOOKUP_INTERVAL
            return None
        probe = PortProbe(self.address, now)
        if probe.sock is None:
            self.probe_done(now, False)
            return None
        self.probe = probe
        return probe

    # -- where the node listens -----------------------------------------------------

    def _start_lookup(self, cfg: Config, node: Node, now: float) -> Job | None:
        """The first step of a lookup; None when it needed no child (the answer is in)."""
        self.looked_up_with = (cfg.rsh, cfg.extra)
        if node.kind == "ssh":
            return self._run_lookup(ssh_config_command(cfg.rsh, node.host), None, now)
        if node.kind == "daemon":
            return self._resolve(daemon_address(node.spec, cfg.extra), now)
        self._looked_up(None, True, now)
        return None

    def _resolve(self, where: tuple[str, int] | None, now: float) -> Job | None:
        if where is None:
            self._looked_up(None, True, now)
            return None
        numeric = numeric_address(*where)
        if numeric is not None:
            self._looked_up(numeric, False, now)
            return None
        return self._run_lookup(lookup_command(*where), where, now)

    def _run_lookup(self, command: rsync.Command, host: tuple[str, int] | None,
                    now: float) -> Job | None:
        try:
            self.lookup = Job(command)
        except OSError as error:
            log.debug("%s: cannot run %s to find the node's address: %s", self.name,
                      command.argv[0], error.strerror)
            self._looked_up(self.address if host is not None else None, host is None, now)
            return None
        self.looking_up = host
        self.lookup_deadline = now + LOOKUP_TIMEOUT
        return self.lookup

    def lookup_expired(self, now: float) -> None:
        """Past its deadline: kill it; the loop reaps it when its pidfd says it exited."""
        if self.lookup is not None and self.lookup_deadline is not None:
            if now >= self.lookup_deadline:
                what = (f"looking up {self.looking_up[0]}" if self.looking_up is not None
                        else "ssh -G")
                log.debug("%s: %s gave no answer within %.0f s; killed", self.name, what,
                          LOOKUP_TIMEOUT)
                self.lookup.kill()
                self.lookup_deadline = None

    def lookup_done(self, now: float) -> Job | None:
        """The lookup child exited (its pidfd is readable): take its answer, and return
        the next step's child if there is one. A probe follows at once."""
        job = self.lookup
        if job is None or job.poll() is None:
            return job
        self.lookup, self.lookup_deadline = None, None
        self.probe_at = now
        if self.looking_up is None:  # `ssh -G` answered
            if job.returncode is not None and job.returncode < 0:  # killed: ask again later
                self._looked_up(self.address, False, now)
                return None
            if job.returncode != 0:
                self._looked_up(None, True, now)  # an rsh that is not OpenSSH's
                return None
            where = parse_ssh_config(job.stdout.decode("utf-8", "replace"))
            return self._resolve(where, now)
        host, self.looking_up = self.looking_up[0], None
        found = parse_lookup(job.stdout) if job.returncode == 0 else None
        if found is None:
            # Unreachable as far as we can tell: once it answers, it is retried at once.
            self.seen_down = True
            log.debug("%s: no address for %s (%s); %s", self.name, host,
                      _why(job), "probing the last one known" if self.address is not None
                      else "asking again in a minute")
        self._looked_up(found or self.address, False, now)
        return None

    def _looked_up(self, address: SocketAddress | None, unprobeable: bool,
                   now: float) -> None:
        """The answer is in: keep it (a failed lookup keeps the last address known)."""
        self.address, self.unprobeable = address, unprobeable
        self.looked_up_at = now
        self.probe_failed = False

    def probe_done(self, now: float, answered: bool) -> bool:
        """True when the port answers after it was seen closed: the node is back."""
        if self.probe is not None:
            self.probe.close()
            self.probe = None
        if not answered:
            self.seen_down = True
            self.probe_failed = True
            self.probe_at = now + PROBE_INTERVAL
            return False
        back = self.seen_down
        self.probe_failed = False  # the address is right
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


def _why(job: Job) -> str:
    if job.returncode is not None and job.returncode < 0:
        return f"killed after {LOOKUP_TIMEOUT:.0f} s"
    text = job.stderr.decode("utf-8", "backslashreplace").strip().splitlines()
    return text[-1][-200:] if text else f"exit {job.returncode}"
