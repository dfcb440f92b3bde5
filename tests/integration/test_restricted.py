"""An ssh node whose key is forced into the real /usr/bin/rrsync, confined to rpath.

No shell runs there, paths are relative to rrsync's directory and rrsync locks it: inosync
notices the restriction by itself, mirrors into that directory (not a copy of rpath nested
inside it), renames through rsync alone (test_renames.py and test_random.py run against
this node too) and keeps to one rsync at a time.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import tomllib
from helpers import Sshd, make_tree, run_inosync, wait_until, write
from helpers import write_config as write_toml

REFUSED = "SSH_ORIGINAL_COMMAND does not run rsync"
LOCKED = "Another instance of rrsync is already accessing this directory"


@pytest.fixture
def node_kind() -> str:
    """`mirror` here makes the restricted node only."""
    return "restricted"


@pytest.fixture
def node(make_node):  # type: ignore[no-untyped-def]
    """(Node, rpath) of a fresh restricted node."""
    return make_node("restricted")


def test_a_shell_command_over_the_restricted_key_is_refused(node) -> None:
    n, rpath = node
    assert n.server is not None
    for command in ("echo inosync-shell", "sh -s", "mv a b", "rsync --version"):
        done = subprocess.run(n.server.ssh_argv(command), capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
        assert done.returncode != 0 and "inosync-shell" not in done.stdout, command
        expected = REFUSED if not command.startswith("rsync") else "rrsync error: --server"
        assert expected in done.stderr, f"{command}: {done.stderr}"


def test_check_reports_the_node_as_restricted_and_ok(tmp_path, node) -> None:
    n, rpath = node
    src = tmp_path / "src"
    write(src / "a/f", b"x")
    cfg = write_toml(tmp_path / "www.toml", wpath=str(src), rpath=rpath, rnodes=[n.rnode],
                     rsh=n.rsh, rexcludes=["*.tmp"], extra="--numeric-ids")
    res = run_inosync("check", "-c", str(cfg))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "node 'root@127.0.0.1': restricted by rrsync" in res.stdout, out
    assert "ok - 1 node(s) reachable and writable" in res.stdout, out
    assert os.listdir(rpath) == [], "check changed the node"


def test_check_names_the_node_side_when_rrsync_refuses_deletions(tmp_path, sshd_factory) -> None:
    rpath = tmp_path / "dst"
    rpath.mkdir()
    server: Sshd = sshd_factory(start=False)
    server.rrsync, server.rrsync_options = str(rpath), "-no-del"
    server.__post_init__()  # rewrite authorized_keys with the option
    server.start()
    src = tmp_path / "src"
    write(src / "f", b"x")
    cfg = write_toml(tmp_path / "www.toml", wpath=str(src), rpath=str(rpath),
                     rnodes=[server.rnode], rsh=server.rsh)
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "no -no-del" in res.stderr and "--delete" in res.stderr, res.stderr


def test_the_daemon_says_the_node_is_restricted_and_mirrors_into_rrsyncs_directory(
        mirror) -> None:
    m = mirror()
    make_tree(m.src / "site", dirs=4, files_per_dir=3)
    d = m.start()
    m.converge(what="initial sync into rrsync's directory")
    assert not (m.dst / m.rpath.lstrip("/")).exists(), "rpath was nested inside rrsync's dir"
    res = run_inosync("verify", "-c", str(m.config))  # asks the node too, then compares
    assert res.returncode == 0 and "in sync" in res.stdout, res.stdout + res.stderr
    lines = [ln for ln in d.log().splitlines() if "restricted by rrsync" in ln]
    assert len(lines) == 1, lines
    os.rename(m.src / "site", m.src / "site2")
    write(m.src / "site2/new", b"new")
    m.converge(what="a rename and a write")
    assert "'sh -s'" not in d.log(), "a shell script was sent to replay the rename"
    d.reload()  # the node is kept, and not asked again
    d.wait_ready(count=2)
    write(m.src / "after-reload", b"x")
    m.converge(what="a write after a reload")
    log = d.log()
    assert not re.search(r"node .* (removed|added)", log), log[-2000:]
    assert len([ln for ln in log.splitlines() if "restricted by rrsync" in ln]) == 1


def test_two_rsyncs_at_once_are_refused_by_rrsyncs_lock(tmp_path, node) -> None:
    """Why the daemon keeps to one rsync per node at a time: rrsync locks its directory."""
    n, rpath = node
    src = tmp_path / "src"
    write(src / "slow.bin", os.urandom(400_000))
    write(src / "other", b"x")
    rsync = ["rsync", "-a", "-e", n.rsh]
    slow = subprocess.Popen([*rsync, "--bwlimit=100", f"{src}/", n.rnode],
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(Path(rpath).iterdir()), 20, "the slow rsync writing")
        second = subprocess.run([*rsync, f"{src}/other", n.rnode], capture_output=True,
                                text=True, timeout=60)
        assert second.returncode != 0 and LOCKED in second.stderr, second.stderr
    finally:
        slow.kill()
        slow.wait()


def _direct_rsyncs(pid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            argv0 = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if int(stat.rsplit(b")", 1)[1].split()[1]) == pid and argv0.endswith(b"rsync"):
            count += 1
    return count


def test_the_daemon_runs_one_rsync_at_a_time_so_it_never_meets_the_lock(mirror) -> None:
    m = mirror(rspeed=2000)  # slow enough for changes to pile up
    write(m.src / "base/big.bin", os.urandom(1_000_000))
    d = m.start()
    m.converge(timeout=30, what="initial sync")
    most = 0
    deadline = time.monotonic() + 4
    step = 0
    while time.monotonic() < deadline:  # writes, renames and deletes while rsyncs run
        write(m.src / f"d{step % 5}/f{step}", os.urandom(20_000))
        if step % 7 == 6:
            os.rename(m.src / f"d{step % 5}", m.src / f"moved{step}")
        most = max(most, _direct_rsyncs(d.pid))
        step += 1
        time.sleep(0.01)
    m.converge(timeout=60, what="the changes, one rsync at a time")
    assert most == 1, f"{most} rsyncs to one node at once" if most else "no rsync seen running"
    assert LOCKED not in d.log(), "an rsync met rrsync's lock"


def test_keygen_makes_the_key_and_lines_that_work_as_printed(tmp_path, sshd_factory) -> None:
    etc, rpath, src = tmp_path / "etc", tmp_path / "dst", tmp_path / "src"
    for path in (etc, rpath, src):
        path.mkdir()
    write(src / "f", b"x")
    server: Sshd = sshd_factory(start=False)
    rsh_words = server.rsh.split()  # ssh -p PORT -i KEY ...
    keyless = " ".join(rsh_words[:3] + rsh_words[5:])  # the rsh without its -i KEY
    write_toml(etc / "www.toml", wpath=str(src), rpath=str(rpath), rnodes=[server.rnode],
               rsh=keyless)
    res = run_inosync("keygen", "www", "--dir", str(etc), "--from", "127.0.0.1")
    assert res.returncode == 0, res.stdout + res.stderr
    key = etc / "www.key"
    assert key.stat().st_mode & 0o777 == 0o600
    lines = res.stdout.splitlines()
    (authorized,) = [ln for ln in lines if ln.startswith("command=")]
    assert authorized.startswith(f'command="rrsync {rpath}",restrict,from="127.0.0.1" ')
    (rsh,) = [ln for ln in lines if ln.startswith("rsh = ")]
    assert rsh.endswith(f'-i {key}"')
    (server.home / "authorized_keys").write_text(authorized + "\n")  # as a sysadmin would
    server.start()
    write_toml(etc / "www.toml", wpath=str(src), rpath=str(rpath), rnodes=[server.rnode],
               rsh=tomllib.loads(rsh)["rsh"])  # the printed rsh line, as it is
    res = run_inosync("check", "-c", str(etc / "www.toml"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "restricted by rrsync" in res.stdout
    again = run_inosync("keygen", "www", "--dir", str(etc))
    assert again.returncode == 1 and "never overwrites" in again.stderr
    assert key.stat().st_mode & 0o777 == 0o600
