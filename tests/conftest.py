"""Fixtures with real parts: an sshd and an rsync daemon on 127.0.0.1, and the inosync daemon.

Helpers live in tests/helpers/; this file only wires them into pytest.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import Daemon, Mirror, Node, Rsyncd, Sshd  # noqa: E402
from helpers.fanotify_fs import WATCHER, LoopFilesystem, unavailable  # noqa: E402

NODE_KINDS = ("local", "ssh", "rsyncd")
_counter = itertools.count()


_loop: list[LoopFilesystem] = []


@pytest.hookimpl(tryfirst=True)  # before pytest's own reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    """INOSYNC_TEST_WATCHER=fanotify: every temporary directory on a filesystem of the
    run's own (helpers/fanotify_fs.py), unless --basetemp names one."""
    if WATCHER != "fanotify" or config.option.basetemp or hasattr(config, "workerinput"):
        return
    if (reason := unavailable()):
        raise pytest.UsageError(f"INOSYNC_TEST_WATCHER=fanotify {reason}")
    _loop.append(LoopFilesystem())
    config.option.basetemp = str(_loop[0].root / "pytest")


def pytest_unconfigure(config: pytest.Config) -> None:
    for filesystem in _loop:
        filesystem.close()
    _loop.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the tail of every inosync log the test produced, and the seed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"inosync_rep_{report.when}", report)
    if report.when in ("call", "setup") and report.failed:
        for daemon in getattr(item, "inosync_daemons", []):
            report.sections.append((f"inosync log {daemon.log_path}", daemon.log_tail(80)))
        seed = getattr(item, "inosync_seed", None)
        if seed is not None:
            report.sections.append(("replay", f"INOSYNC_SEED={seed}"))


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH sshd on 127.0.0.1 (free port, keys made here); `.rnode`, `.rsh`."""
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator[Callable[..., Sshd]]:
    """Private sshd instances for one test (to take down and bring back, or with `binds`)."""
    servers: list[Sshd] = []

    def make(binds: dict[str, str] | None = None, start: bool = True) -> Sshd:
        server = Sshd(tmp_path / f"sshd{len(servers)}", binds=binds or {})
        servers.append(server)
        if start:
            server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def rsyncd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyncd]:
    """`rsync --daemon` on 127.0.0.1 with a writable module `mirror`; `.rnode`, `.module_path`."""
    server = Rsyncd(tmp_path_factory.mktemp("rsyncd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def daemons(request: pytest.FixtureRequest) -> Iterator[list[Daemon]]:
    """Every Daemon a test starts; logs are attached on failure.

    Daemons still running at the end get SIGTERM; after a passing test each must exit 0 within
    10 s (a teardown error otherwise), after a failed one they are just stopped.
    """
    started: list[Daemon] = []
    request.node.inosync_daemons = started
    try:
        yield started
    finally:
        call = getattr(request.node, "inosync_rep_call", None)
        passed = call is not None and call.passed
        try:
            for d in started:
                if d.alive():
                    d.stop(timeout=10, check=passed)
        finally:
            for d in started:
                d.close()


@pytest.fixture(params=NODE_KINDS)
def node_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_node(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., tuple[Node, str]]:
    """make_node(kind, rpath=None) -> (Node, rpath); the node's directory is created empty."""

    def make(kind: str, rpath: str | None = None) -> tuple[Node, str]:
        if kind == "local":
            rpath = rpath or str(tmp_path / "dst")
            node = Node("local", "", Path(rpath))
        elif kind == "ssh":
            server: Sshd = request.getfixturevalue("sshd")
            rpath = rpath or str(tmp_path / "dst")
            node = Node("ssh", server.rnode, Path(rpath), rsh=server.rsh, server=server)
        elif kind == "restricted":  # its own sshd: the key is forced into rrsync RPATH
            rpath = rpath or str(tmp_path / "dst")
            os.makedirs(rpath, exist_ok=True)
            server = Sshd(tmp_path / f"sshd-rrsync{next(_counter)}", rrsync=rpath)
            request.addfinalizer(server.stop)
            server.start()
            node = Node("restricted", server.rnode, Path(rpath), rsh=server.rsh, server=server)
        elif kind == "rsyncd":
            rserver: Rsyncd = request.getfixturevalue("rsyncd")
            rpath = rpath or f"/t{os.getpid()}-{next(_counter)}/dst"
            node = Node("rsyncd", rserver.rnode, rserver.module_path / rpath.lstrip("/"),
                        server=rserver)
        else:
            raise ValueError(kind)
        node.dst.mkdir(parents=True, exist_ok=True)
        return node, rpath

    return make


@pytest.fixture
def mirror(tmp_path: Path, node_kind: str, make_node: Callable[..., tuple[Node, str]],
           daemons: list[Daemon]) -> Callable[..., Mirror]:
    """mirror(excludes=[...], **config_keys) -> a Mirror with `src` and one node of `node_kind`.

    Nothing is started: fill the trees, then call `.start()` (which waits for READY=1).
    """

    def make(excludes: list[str] | None = None, kinds: tuple[str, ...] | None = None,
             **keys: Any) -> Mirror:
        src = tmp_path / "src"
        src.mkdir(exist_ok=True)
        nodes: list[Node] = []
        rpath: str | None = None
        for kind in kinds or (node_kind,):
            node, rpath = make_node(kind, rpath)
            nodes.append(node)
        assert rpath is not None
        return Mirror(workdir=tmp_path, src=src, rpath=rpath, nodes=nodes,
                      excludes=list(excludes or []), keys=keys, registry=daemons)

    return make
