"""Overflow, failing and vanishing nodes, a source that looks empty, stopping under load."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from helpers import (
    Node,
    holds_for,
    make_tree,
    snapshot,
    sysctl,
    wait_converged,
    wait_until,
    write,
)

MAX_QUEUED = "/proc/sys/fs/inotify/max_queued_events"


def test_queue_overflow_warns_and_resyncs_everything(mirror) -> None:
    m = mirror()
    make_tree(m.src / "pre", dirs=5, files_per_dir=5)
    # The queue size is fixed when the daemon creates its inotify instance: shrink it just
    # for that, and restore it as soon as the daemon is ready.
    with sysctl(MAX_QUEUED, "32"):
        d = m.start()
    m.converge()
    for i in range(3000):
        write(m.src / f"flood/d{i % 30}/f{i}", b"%d" % i)
    for k in range(3):
        for j in range(5):
            os.unlink(m.src / f"pre/d{k}/sub{k}/f{j}.dat")
    d.wait_log(lambda log: "overflow" in log.lower(), m.node.timeout,
               "a warning about the inotify queue overflow")
    m.converge(timeout=60, what="convergence after a queue overflow")
    d.assert_alive()


@pytest.mark.parametrize("node_kind", ["local", "ssh"])
def test_sigterm_exits_0_quickly_with_a_big_rsync_in_flight(mirror, node_kind) -> None:
    m = mirror(rspeed=200)  # 200 KB/s: the 40 MB file below would take minutes
    d = m.start()
    write(m.src / "huge.bin", os.urandom(40 << 20))
    wait_until(lambda: any(name.startswith(b"rsync") for _, name in d.children()), 20,
               "an rsync child of the daemon")
    # Give it a moment to be really in the middle of the transfer (poll for a partial file).
    wait_until(lambda: [n for n in os.listdir(m.dst) if n.startswith(".huge.bin")] or
               (m.dst / "huge.bin").exists(), 20, "a partial file on the node", 0.05)
    rsyncs = [pid for pid, name in d.children() if name.startswith(b"rsync")]
    took = d.stop(timeout=15)
    assert took < 6, f"exit took {took:.1f}s after SIGTERM, expected a few seconds"
    wait_until(lambda: not any(os.path.exists(f"/proc/{p}") for p in rsyncs), 5,
               "the daemon's rsync processes to be gone after it exited")


def test_sigint_also_exits_0(mirror) -> None:
    m = mirror()
    d = m.start()
    d.signal(signal.SIGINT)
    assert d.proc is not None
    assert d.proc.wait(10) == 0
    assert d.count("STOPPING=1") >= 1


@pytest.mark.parametrize(
    ("node_kind", "how"), [("local", "bind"), ("ssh", "bind"), ("local", "tmpfs")])
def test_source_that_suddenly_looks_empty_never_wipes_the_node(mirror, tmp_path, how) -> None:
    m = mirror()
    make_tree(m.src / "site", dirs=10, files_per_dir=10)
    write(m.src / "index.html", b"home")
    d = m.start()
    m.converge()
    before = snapshot(m.dst)
    empty = tmp_path / "empty"
    empty.mkdir()
    if how == "bind":
        argv = ["mount", "--bind", str(empty), str(m.src)]
    else:
        argv = ["mount", "-t", "tmpfs", "-o", "size=1m", "inosync-test", str(m.src)]
    hidden = os.open(m.src, os.O_RDONLY | os.O_DIRECTORY)  # the real tree, under the mount
    mark = len(d.log())
    subprocess.run(argv, check=True)
    try:
        assert os.listdir(m.src) == []
        # Changes in the hidden tree (through an fd opened before) make syncs due ...
        os.mkdir("new-under-the-mount", dir_fd=hidden)
        fd = os.open("index.html", os.O_WRONLY | os.O_TRUNC, dir_fd=hidden)
        os.write(fd, b"changed while hidden")
        os.close(fd)
        holds_for(lambda: snapshot(m.dst) == before, 2.0, "the node staying intact")
        d.wait_log(lambda log: any(("ERROR" in ln or "WARNING" in ln) and str(m.src) in ln
                                   for ln in log[mark:].splitlines()), 10,
                   "a loud log line about the source")
        # ... and a reload with a changed config resyncs every node: both must refuse.
        m.write_config(log_level="info")
        d.reload()
        d.wait_ready(timeout=30, count=2)
        holds_for(lambda: snapshot(m.dst) == before, 3.0, "the node staying intact")
        d.assert_alive()
    finally:
        subprocess.run(["umount", str(m.src)], check=True)
        os.close(hidden)
    assert snapshot(m.dst) == before
    write(m.src / "site/after-the-mount", b"the daemon carries on")
    write(m.src / "index.html", b"home, edited")
    m.converge(what="changes after the source came back")


def test_startup_against_a_hidden_source_never_wipes_the_node(mirror, tmp_path) -> None:
    m = mirror()
    make_tree(m.src, dirs=10, files_per_dir=10, size=100)
    make_tree(m.dst, dirs=10, files_per_dir=10, size=50)
    before = snapshot(m.dst)
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(["mount", "--bind", str(empty), str(m.src)], check=True)
    try:
        d = m.start(wait_ready=False)
        # It may refuse to start or run and refuse the sync; it must not delete the node.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and d.alive() and d.count("READY=1") == 0:
            time.sleep(0.05)
        holds_for(lambda: snapshot(m.dst) == before, 2.0, "the node staying intact")
        if d.alive():
            d.stop()
        else:
            assert d.proc is not None and d.proc.returncode != 0
    finally:
        subprocess.run(["umount", str(m.src)], check=True)
    assert snapshot(m.dst) == before
    m.start()
    m.converge(what="after restart with the source back")


@pytest.mark.parametrize("node_kind", ["local"])
def test_daemon_never_dies_on_failing_nodes(mirror, sshd_factory, rsyncd, tmp_path) -> None:
    down = sshd_factory(start=False)  # keys and a port, but nothing listens
    m = mirror()
    m.nodes[0].rsh = down.rsh
    m.write_config(rnodes=["", down.rnode, f"rsync://127.0.0.1:{rsyncd.port}/no-such-module",
                           "rsync://127.0.0.1:1/closed-port"])
    d = m.start(ready_timeout=30)
    for i in range(20):
        write(m.src / f"f{i}", b"%d" % i)
        if i % 5 == 0:
            m.converge(what=f"local node while the others fail (round {i})")
    m.converge()
    d.wait_status(lambda s: not s.startswith("in sync"), 10,
                  "a STATUS that does not claim `in sync` while nodes fail")
    # Keep it failing for a while; it must stay up and keep the local node current.
    end = time.monotonic() + 5
    i = 0
    while time.monotonic() < end:
        write(m.src / f"g{i % 10}", b"x" * (i + 1))  # sizes differ: see the same-size test
        i += 1
        m.converge(what="local node while the others keep failing")
    d.assert_alive()


@pytest.mark.slow
@pytest.mark.parametrize("node_kind", ["local"])
@pytest.mark.parametrize("down_at_start", [False, True])
def test_two_nodes_one_down_the_other_is_not_delayed(mirror, sshd_factory, tmp_path,
                                                     down_at_start) -> None:
    m = mirror()
    remote_view = tmp_path / "ssh-node"
    remote_view.mkdir()
    # The ssh node's sessions see remote_view where the local node has rpath.
    server = sshd_factory(binds={m.rpath: str(remote_view)})
    m.nodes[0].rsh = server.rsh
    ssh_node = Node("ssh", server.rnode, remote_view, rsh=server.rsh, server=server)
    m.nodes.append(ssh_node)
    make_tree(m.src / "pre", dirs=5, files_per_dir=5)
    if down_at_start:
        server.stop()
        d = m.start(ready_timeout=30)
        m.converge(m.nodes[0], what="local node with the ssh node down from the start")
    else:
        d = m.start()
        m.converge_all()
        server.stop()
    # The ssh node is down: the local node keeps converging quickly.
    for round_ in range(3):
        write(m.src / f"during-outage/{round_}/f", os.urandom(1000))
        if round_ == 0:
            os.rename(m.src / "pre/d0", m.src / "pre/moved")
        took = m.converge(m.nodes[0], timeout=5, what=f"local node during the outage #{round_}")
        assert took < 5
    d.assert_alive()
    assert snapshot(m.src) != snapshot(remote_view)
    server.start()
    write(m.src / "after-outage", b"x")
    wait_converged(m.src, remote_view, 120, what="ssh node after it came back",
                   alive=d.assert_alive)
    m.converge(m.nodes[0])
    d.wait_in_sync(30)


@pytest.mark.parametrize("node_kind", ["local"])
def test_sighup_with_a_good_config_applies_it(mirror, rsyncd) -> None:
    m = mirror()
    write(m.src / "f", b"f")
    d = m.start()
    m.converge()
    extra = Node("rsyncd", rsyncd.rnode, rsyncd.module_path / m.rpath.lstrip("/"))
    extra.dst.mkdir(parents=True)
    m.nodes.append(extra)
    m.write_config()
    d.reload()
    d.wait_ready(30, count=2)
    assert d.count("RELOADING=1") >= 1
    m.converge(extra, what="node added by a reload")
    write(m.src / "g", b"g")
    m.converge_all()


@pytest.mark.parametrize("node_kind", ["local"])
def test_sighup_with_a_bad_config_keeps_running_on_the_old_one(mirror) -> None:
    m = mirror()
    d = m.start()
    m.config.write_text(m.config.read_text() + "bogus_key = 1\nwpath = 3\n")
    d.reload()
    d.wait_status(lambda s: "reload failed" in s, 30, "STATUS with `reload failed`")
    d.assert_alive()
    write(m.src / "after-bad-reload", b"still mirrored")
    m.converge(what="mirroring on the old config after a failed reload")


def test_node_dir_removed_behind_the_daemons_back_is_repaired_on_resync(mirror) -> None:
    """Drift on the node is repaired by the full sync a reload triggers."""
    m = mirror()
    make_tree(m.src / "t", dirs=4, files_per_dir=4)
    d = m.start()
    m.converge()
    os.unlink(m.dst / "t/d0/sub0/f0.dat")
    write(m.dst / "t/d1/sub1/f1.dat", b"corrupted on the node")
    d.reload()
    d.wait_ready(30, count=2)
    m.converge(what="drift repaired by the resync after SIGHUP")
