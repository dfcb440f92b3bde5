"""Where a down node listens is asked of child processes the loop waits on by pidfd: real
`ssh -G`, a real lookup child, and a child that hangs (as one waiting on a dead resolver
does) killed at its deadline."""

from __future__ import annotations

import os
import select
import socket
import time

import pytest

from inosync.config.load import Config, validate
from inosync.node import link as link_mod
from inosync.node.link import NodeLink
from inosync.node.reach import LOOKUP_INTERVAL, PortProbe, SocketAddress
from inosync.process import Job
from inosync.rsync.argv import Command


def config(rnode: str, rsh: str = "ssh -p 2222") -> Config:
    raw = {"wpath": "/src", "rpath": "/srv/www", "rnodes": [rnode], "rsh": rsh}
    return validate(raw, "www.toml", exists=lambda path: True)


def exited(job: Job, timeout: float) -> bool:
    """Wait on the child's pidfd, as the loop does."""
    readable, _, _ = select.select([job], [], [], timeout)
    return bool(readable)


def test_an_ssh_nodes_address_comes_from_ssh_G_then_a_lookup_child() -> None:
    cfg = config("root@localhost:")  # localhost: /etc/hosts answers, no DNS is asked
    node, link = cfg.nodes[0], NodeLink("n", None)
    link.failed(time.monotonic())
    ssh_g = link.start_probe(cfg, node, time.monotonic())
    assert isinstance(ssh_g, Job) and "-G" in ssh_g.command.argv
    assert exited(ssh_g, 10)
    lookup = link.lookup_done(time.monotonic())
    assert isinstance(lookup, Job) and lookup.command.argv[-2:] == ("localhost", "2222")
    assert exited(lookup, 10)
    assert link.lookup_done(time.monotonic()) is None
    assert link.address == SocketAddress(socket.AF_INET, ("127.0.0.1", 2222))
    probe = link.start_probe(cfg, node, time.monotonic())  # the answer is in: probe now
    assert isinstance(probe, PortProbe)
    link.probe_done(time.monotonic(), False)  # nothing listens on 2222: still down
    again = link.start_probe(cfg, node, time.monotonic() + 1)
    assert isinstance(again, PortProbe), "looked up again a second later"
    link.close()
    reloaded = config("root@localhost:", rsh="ssh -p 2022")
    assert isinstance(link.start_probe(reloaded, node, time.monotonic() + 2), Job), \
        "a new rsh must be asked again"
    link.close()


def test_a_hanging_lookup_is_killed_at_its_deadline_and_retried_a_minute_later(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A child that never exits, as one waiting on a resolver that never answers.
    monkeypatch.setattr(link_mod, "lookup_command",
                        lambda host, port: Command(("sleep", "60")))
    monkeypatch.setattr(link_mod, "LOOKUP_TIMEOUT", 0.2)
    cfg = config("backup.example::www")
    node, link = cfg.nodes[0], NodeLink("n", None)
    started = time.monotonic()
    link.failed(started)
    child = link.start_probe(cfg, node, started)
    assert isinstance(child, Job)
    assert link.probe_deadline() == pytest.approx(started + 0.2)
    assert not exited(child, 0.3)
    link.lookup_expired(time.monotonic())
    assert link.probe_deadline() is None  # killed: its exit wakes the loop, not a timer
    assert exited(child, 5), "the killed child did not exit"
    ended = time.monotonic()
    assert link.lookup_done(ended) is None
    assert link.address is None and not link.unprobeable
    assert not os.path.exists(f"/proc/{child.popen.pid}"), "the child was not reaped"
    assert link.start_probe(cfg, node, ended) is None  # no address, no probe
    assert link.probe_deadline() == pytest.approx(ended + LOOKUP_INTERVAL)
    link.close()


def test_an_ip_address_is_probed_without_any_child() -> None:
    cfg = config("127.0.0.1::www")
    node, link = cfg.nodes[0], NodeLink("n", None)
    link.failed(time.monotonic())
    probe = link.start_probe(cfg, node, time.monotonic())
    assert isinstance(probe, PortProbe) or (probe is None and link.address is not None)
    assert link.address == SocketAddress(socket.AF_INET, ("127.0.0.1", 873))
    link.close()
