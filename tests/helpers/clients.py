"""Real programs as the clients that change the source, and one mirror to every node kind."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from .daemon import Daemon
from .mirror import Mirror, Node
from .servers import Rsyncd, Sshd

# Clients run in the C locale, with no user's configuration: the same bytes every run.
CLIENT_ENV = {
    "LC_ALL": "C",
    "TZ": "UTC",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "inosync test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "inosync test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def run(argv: Sequence[str | bytes | os.PathLike[str]], cwd: str | bytes | os.PathLike[str] | None
        = None, home: Path | None = None, check: bool = True,
        timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    """Run one client program to completion; fail the test with its output when it fails."""
    env = {**os.environ, **CLIENT_ENV}
    if home is not None:
        env["HOME"] = str(home)
    proc = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        shown = " ".join(os.fsdecode(a) for a in argv)
        pytest.fail(f"{shown!r} exited with {proc.returncode}:\n"
                    + (proc.stdout + proc.stderr).decode("utf-8", "replace")[-3000:],
                    pytrace=False)
    return proc


def require(program: str) -> str:
    """The path of a client program, or skip the test (scripts/setup test installs them)."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed - run: bash scripts/setup test")
    return path


def every_kind_mirror(tmp_path: Path, sshd_factory: Callable[..., Sshd], rsyncd: Rsyncd,
                      daemons: list[Daemon], **keys: object) -> Mirror:
    """One daemon mirroring `src` to a local node, an ssh node and an rsync daemon node.

    All three share one rpath, as on real machines: the ssh node's sshd runs in its own
    mount namespace where another directory is mounted over rpath, and the rsync daemon
    holds rpath below its module.
    """
    src = tmp_path / "src"
    src.mkdir()
    rpath = tmp_path / "dst"
    rpath.mkdir()
    local = Node("local", "", rpath)
    ssh_view = tmp_path / "ssh-node"
    ssh_view.mkdir()
    server = sshd_factory(binds={str(rpath): str(ssh_view)})
    ssh = Node("ssh", server.rnode, ssh_view, rsh=server.rsh, server=server)
    module_dst = rsyncd.module_path / str(rpath).lstrip("/")
    module_dst.mkdir(parents=True)
    daemon_node = Node("rsyncd", rsyncd.rnode, module_dst, server=rsyncd)
    return Mirror(workdir=tmp_path, src=src, rpath=str(rpath), nodes=[local, ssh, daemon_node],
                  keys=dict(keys), registry=daemons)


def converged(m: Mirror, what: str, timeout: float = 60.0) -> None:
    """Wait until every node equals the source (failing with the difference); say how long
    each took. The default deadline is generous: two cores may be shared with other work."""
    took = [m.converge(node, timeout=timeout, what=f"{node.kind} node after {what}")
            for node in m.nodes]
    print(f"{what}: converged in " + ", ".join(
        f"{node.kind} {seconds:.2f}s" for node, seconds in zip(m.nodes, took)))
