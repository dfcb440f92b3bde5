"""Many nodes: at most max_parallel rsyncs at once, and a stuck node holds only its own slot."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import Daemon, Mirror, Node, Rsyncd, Sshd, descendants, write


@pytest.fixture
def rsync_daemons(tmp_path: Path) -> Iterator[Callable[[int], list[Rsyncd]]]:
    """make(n): n rsync daemons on loopback, one node each."""
    servers: list[Rsyncd] = []

    def make(count: int) -> list[Rsyncd]:
        for _ in range(count):
            server = Rsyncd(tmp_path / f"rsyncd{len(servers)}")
            server.start()
            servers.append(server)
        return servers[-count:]

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


def _rsync_nodes(servers: list[Rsyncd], rpath: str) -> list[Node]:
    nodes = []
    for server in servers:
        dst = server.module_path / rpath.lstrip("/")
        dst.mkdir(parents=True, exist_ok=True)
        nodes.append(Node("rsyncd", server.rnode, dst, server=server))
    return nodes


def _concurrency_shim(folder: Path) -> Path:
    """An rsync that records how many of its kind run at once (--version calls aside), and
    stays a moment longer than the real one so that overlaps cannot be missed."""
    folder.mkdir()
    (folder / "now").write_text("0")
    shim = folder / "rsync"
    shim.write_text(f"""#!/bin/sh
case "$1" in --version) exec rsync "$@";; esac
d={folder}
exec 9>>"$d/lock"
flock 9; n=$(( $(cat "$d/now") + 1 )); echo $n > "$d/now"; echo $n >> "$d/seen"; flock -u 9
sleep 0.3
rsync "$@"; rc=$?
flock 9; echo $(( $(cat "$d/now") - 1 )) > "$d/now"; flock -u 9
exit $rc
""")
    shim.chmod(0o755)
    return shim


def test_no_more_than_max_parallel_rsyncs_run_at_once(tmp_path: Path, rsync_daemons,
                                                      daemons: list[Daemon]) -> None:
    shim = _concurrency_shim(tmp_path / "shim")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        write(src / f"d{i % 4}" / f"f{i}", b"x" * i)
    m = Mirror(workdir=tmp_path, src=src, rpath="/dst",
               nodes=_rsync_nodes(rsync_daemons(6), "/dst"),
               keys={"rsync": str(shim), "max_parallel": 2}, registry=daemons)
    m.start()  # six initial full syncs
    m.converge_all()
    for round_ in range(3):  # and three changes, each for all six nodes
        write(src / f"d{round_}" / "new", b"changed %d" % round_)
        m.converge_all()
    seen = [int(x) for x in (tmp_path / "shim" / "seen").read_text().split()]
    assert len(seen) >= 6 * 4, f"only {len(seen)} rsync runs recorded"
    assert max(seen) == 2, f"rsyncs running at once: {max(seen)} (max_parallel = 2)"


def test_a_stuck_node_does_not_hold_up_the_others(tmp_path: Path, rsync_daemons,
                                                  sshd_factory: Callable[..., Sshd],
                                                  daemons: list[Daemon]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write(src / "before", b"before")
    # One rpath: the ssh node (this machine over loopback ssh) has it on this host, the
    # rsync daemons below their module directories.
    ssh_dst = tmp_path / "ssh-dst"
    ssh_dst.mkdir()
    rpath = str(ssh_dst)
    others = _rsync_nodes(rsync_daemons(3), rpath)
    sshd = sshd_factory()
    ssh_node = Node("ssh", sshd.rnode, ssh_dst, rsh=sshd.rsh, server=sshd)
    m = Mirror(workdir=tmp_path, src=src, rpath=rpath, nodes=[ssh_node, *others],
               keys={"max_parallel": 2}, registry=daemons)
    m.start()
    m.converge_all()
    assert sshd.proc is not None
    stuck = [sshd.proc.pid, *descendants(sshd.proc.pid)]  # listener, sessions, the master's
    for pid in stuck:
        os.kill(pid, signal.SIGSTOP)
    try:
        for i in range(3):  # the ssh node's rsync hangs in its slot; the others go on
            started = time.monotonic()
            write(src / f"while-stuck-{i}", b"x" * (i + 1))
            for node in others:
                m.converge(node, timeout=10, what=f"{node.rnode} while the ssh node is stuck")
            assert time.monotonic() - started < 10
        assert not (ssh_dst / "while-stuck-0").exists()
    finally:
        for pid in stuck:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    m.converge(ssh_node, timeout=30, what="the ssh node once it runs again")
