"""Costs the issue promises: few rsync runs for a burst, one ssh login per node, watch limits."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile

import pytest
from helpers import inotify_watches_in_use, make_tree, sysctl, write


def _rsync_runs(log: str) -> int:
    return len(re.findall(r"DEBUG [^\n]*: rsync ", log))


@pytest.mark.slow
@pytest.mark.parametrize("node_kind", ["local", "ssh"])
def test_an_untar_of_5000_files_costs_a_handful_of_rsync_runs(mirror, tmp_path,
                                                             node_kind) -> None:
    staging = tmp_path / "staging"
    nfiles = make_tree(staging / "pkg", dirs=100, files_per_dir=50, size=200, depth=2)
    archive = tmp_path / "pkg.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(staging / "pkg", arcname="pkg")
    m = mirror()
    d = m.start()
    mark = len(d.log())
    subprocess.run(["tar", "-C", str(m.src), "-xf", str(archive)], check=True)
    took = m.converge(timeout=90, what=f"an untar of {nfiles} files")
    runs = _rsync_runs(d.log()[mark:])
    print(f"{node_kind}: untar of {nfiles} files: {runs} rsync runs, converged in {took:.2f}s")
    assert runs <= 25, f"{runs} rsync runs for one untar of {nfiles} files"


@pytest.mark.parametrize("node_kind", ["ssh"])
def test_ssh_node_keeps_one_connection(mirror, sshd) -> None:
    """Many syncs, one ssh login: the ControlMaster connection is reused."""
    m = mirror()
    logins_before = sshd.log.read_text(errors="replace").count("Accepted publickey")
    m.start()
    for i in range(10):
        write(m.src / f"f{i}", b"x" * (i + 1))
        m.converge()
    os.rename(m.src / "f0", m.src / "g0")  # a remote mv goes over the same connection
    m.converge()
    logins = sshd.log.read_text(errors="replace").count("Accepted publickey") - logins_before
    assert 1 <= logins <= 2, f"{logins} ssh logins for 11 syncs and a rename"




@pytest.mark.parametrize("node_kind", ["local"])
def test_running_out_of_watches_at_start_says_what_to_raise(mirror, daemons) -> None:
    m = mirror(watcher="inotify")  # "auto" hands over to fanotify: test_fanotify.py
    make_tree(m.src, dirs=300, files_per_dir=1, depth=2)
    # A limit just above what this machine already uses, restored as soon as the daemon is
    # done, so other programs are not starved for longer than its start-up.
    limit = inotify_watches_in_use() + 50
    with sysctl("/proc/sys/fs/inotify/max_user_watches", str(limit)):
        d = m.start(wait_ready=False)
        assert d.proc is not None
        try:
            rc = d.proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
    log = d.log()
    if rc is None:  # it chose to keep running: then it must have said so loudly
        d.stop()
        assert "max_user_watches" in log, log[-2000:]
    else:
        assert rc == 1, f"exit {rc}\n{log[-2000:]}"
    assert "Traceback" not in log
    assert "fs.inotify.max_user_watches" in log, log[-2000:]
    assert str(limit) in log, f"the current limit {limit} is not named:\n{log[-2000:]}"
    # 308 directories (300 + 7 parents + the root): the message names a number in that range.
    assert re.search(r"\b3[01]\d\b", log), f"the watches needed are not named:\n{log[-2000:]}"


@pytest.mark.parametrize("node_kind", ["local"])
@pytest.mark.parametrize("how", ["periodically", "on reload"])
def test_directories_past_the_watch_limit_are_watched_once_it_is_raised(
        mirror, how) -> None:
    """Raising the limit sends no event: the daemon tries again by itself (every 10 s)
    and on reload; meanwhile the node is not "in sync" and STATUS says why."""
    m = mirror(watcher="inotify")
    write(m.src / "seed", b"x")
    d = m.start()
    m.converge()
    limit = inotify_watches_in_use() + 10
    with sysctl("/proc/sys/fs/inotify/max_user_watches", str(limit)):
        for index in range(40):
            os.makedirs(m.src / f"many/d{index}")
        d.wait_log(lambda text: "inotify watch limit reached" in text
                   or "max_user_watches" in text, 10, "the watch limit named")
        d.wait_status(lambda status: "directories not watched" in status, 10)
        assert not d.status.startswith("in sync"), d.status
    if how == "on reload":
        d.reload()
    d.wait_status(lambda status: status.startswith("in sync"),
                  5 if how == "on reload" else 20)
    write(m.src / "many/d39/late", b"below a directory watched late")
    m.converge(what="a change below a directory watched once the limit allowed")
