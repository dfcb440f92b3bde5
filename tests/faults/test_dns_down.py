"""DNS that never answers must not stall the loop: while a node whose name cannot be looked
up is probed, a local node still gets each change in tens of milliseconds and the watchdog
pings keep their rhythm.

The resolver is made for real: the daemon runs in a private mount namespace in which
/etc/resolv.conf names a nameserver on a loopback address where this test's UDP socket takes
every query and answers none.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.daemon import Daemon, write_config

from faults.support import notes, wait_for

NAME = "down.invalid.example"  # in no hosts file: only DNS could answer it
QUERY_NAME = b"\x04down\x07invalid\x07example\x00"  # as it appears in a DNS query
WATCHDOG_USEC = 1_000_000  # pings every 0.5 s
CHANGES = 24
CHANGE_EVERY = 0.5  # s: the window (12 s) outlasts a hanging lookup and its kill
LAG_LIMIT = 1.0  # s: a local change usually arrives in tens of ms


def _can_unshare() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


@pytest.fixture
def silent_nameserver() -> Iterator[tuple[str, socket.socket]]:
    """A UDP socket on port 53 of a loopback address: it takes queries, never answers."""
    for _ in range(20):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((address, 53))
        except OSError:
            sock.close()
            continue
        try:
            yield address, sock
        finally:
            sock.close()
        return
    pytest.skip("no loopback address with a free UDP port 53")


def _queries(sock: socket.socket) -> int:
    """How many queries for NAME arrived (and were left unanswered) so far."""
    count = 0
    while True:
        try:
            data = sock.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return count
        count += QUERY_NAME in data


def _arrival(path: Path, written: float, limit: float) -> float:
    """Seconds from `written` until `path` exists; a little over `limit` if it does not."""
    deadline = written + limit + 0.1
    while not path.exists():
        if time.monotonic() > deadline:
            return time.monotonic() - written
        time.sleep(0.002)  # a poll interval inside a deadline
    return time.monotonic() - written


def _namespace_prefix(resolv: Path, nsswitch: Path) -> list[str]:
    """Run the daemon with our resolv.conf and nsswitch.conf, seen by it alone."""
    script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf '
              '&& shift 2 && exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            str(resolv), str(nsswitch)]


# ssh that fails at once (but answers `ssh -G`): the node is probed from its first failure
# on, so the daemon's own lookup hangs longer than its timeout and is killed.
FAST_FAILING_RSH = '#!/bin/sh\n[ "$1" = -G ] && exec ssh "$@"\nexit 255\n'
CASES = {
    # the node's ssh waits on DNS too (in a child), 5 s a lookup as resolv.conf says
    "ssh-waits-on-dns": ("timeout:5", None),
    # every lookup outlasts the daemon's lookup timeout (10 s): killed
    "lookup-killed": ("timeout:30", FAST_FAILING_RSH),
}


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare for a mount namespace")
@pytest.mark.parametrize("case", CASES)
def test_a_local_node_keeps_its_latency_and_the_watchdog_its_rhythm_while_dns_hangs(
        tmp_path: Path, silent_nameserver: tuple[str, socket.socket], case: str) -> None:
    timeout, rsh_script = CASES[case]
    # The name must go to DNS: no hosts file may answer it.
    files = subprocess.run(["getent", "-s", "files", "hosts", NAME], capture_output=True)
    assert files.returncode != 0, f"{NAME} is in /etc/hosts: {files.stdout!r}"
    address, nameserver = silent_nameserver
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {address}\noptions {timeout} attempts:1\n")
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("hosts: files dns\n")
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    rsh = "ssh -o BatchMode=yes -o ConnectTimeout=2"
    if rsh_script is not None:
        (tmp_path / "rsh").write_text(rsh_script)
        (tmp_path / "rsh").chmod(0o755)
        rsh = str(tmp_path / "rsh")
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst),
                       rnodes=["", f"deploy@{NAME}:"], rsh=rsh)
    daemon = Daemon(tmp_path, cfg, env={"WATCHDOG_USEC": str(WATCHDOG_USEC)},
                    prefix=_namespace_prefix(resolv, nsswitch)).start()
    try:
        # READY once every node tried its first sync: the ssh node failed by then (its ssh
        # waited on DNS in a child), so from here on it is probed.
        wait_for(lambda: "READY=1" in notes(daemon), 30, "READY=1")
        daemon.wait_log(lambda text: "retrying with backoff" in text, 10, "the node's failure")
        window_start = time.monotonic()
        lags = []
        for index in range(CHANGES):
            due = window_start + index * CHANGE_EVERY
            time.sleep(max(0.0, due - time.monotonic()))  # the workload's pace, not a wait
            name = f"change-{index}"
            written = time.monotonic()
            (src / name).write_text(name)
            lag = _arrival(dst / name, written, LAG_LIMIT)
            lags.append(lag)
            if lag > LAG_LIMIT:
                break  # stalled: the numbers so far tell how badly
        window_end = time.monotonic()
        daemon.assert_alive()
        pings = [t for t, m in daemon.messages if m == "WATCHDOG=1"]
        before = [t for t in pings if t < window_start][-1:] or [window_start]
        marks = before + [t for t in pings if window_start <= t <= window_end] + [window_end]
        gaps = [b - a for a, b in zip(marks, marks[1:])]  # the longest time without a ping
        queries = _queries(nameserver)
        log = daemon.log()
    finally:
        daemon.stop(check=False)
        daemon.close()
    print(f"lag median {statistics.median(lags) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
          f"over {len(lags)} changes; {len(marks) - 2} pings, widest gap "
          f"{max(gaps) * 1000:.0f} ms; {queries} unanswered queries for {NAME}")
    assert queries > 0, "nothing asked the silent nameserver: the test did not test a hang"
    assert max(lags) < LAG_LIMIT, f"a change took {max(lags):.1f} s to reach the local node"
    interval = WATCHDOG_USEC / 1e6 / 2
    assert max(gaps) < 3 * interval, f"the loop sent no watchdog ping for {max(gaps):.1f} s"
    if case == "lookup-killed":
        assert "gave no answer within" in log, "the hanging lookup was not killed"
