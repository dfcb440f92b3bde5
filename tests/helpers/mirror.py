"""A source tree, one or more nodes, and a daemon mirroring between them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .daemon import Daemon, write_config
from .fanotify_fs import WATCHER
from .servers import Rsyncd, Sshd
from .tree import Excludes, wait_converged

# Generous deadlines: the machine is shared; targets are far lower (100-300 ms).
CONVERGE_TIMEOUT = {"local": 10.0, "ssh": 15.0, "rsyncd": 15.0, "restricted": 15.0}


@dataclass
class Node:
    """One rnode as the daemon sees it, and where its copy lives on this machine."""

    kind: str  # "local", "ssh", "rsyncd" or "restricted" (ssh with the key forced into rrsync)
    rnode: str
    dst: Path
    rsh: str | None = None
    server: Sshd | Rsyncd | None = None

    @property
    def timeout(self) -> float:
        return CONVERGE_TIMEOUT[self.kind]


@dataclass
class Mirror:
    """Test setup: `src` watched, mirrored to every node's `dst` under one rpath."""

    workdir: Path
    src: Path
    rpath: str
    nodes: list[Node]
    excludes: list[str] = field(default_factory=list)
    keys: dict[str, Any] = field(default_factory=dict)
    args: Sequence[str] = ("-v",)
    daemon: Daemon | None = None
    registry: list[Daemon] | None = None
    config_name: str = "inosync.toml"  # the instance is named after it (inosync status)

    @property
    def node(self) -> Node:
        return self.nodes[0]

    @property
    def dst(self) -> Path:
        return self.nodes[0].dst

    @property
    def config(self) -> Path:
        return self.workdir / self.config_name

    def write_config(self, **overrides: Any) -> Path:
        rsh = next((n.rsh for n in self.nodes if n.rsh), None)
        keys: dict[str, Any] = {
            "wpath": str(self.src),
            "rpath": self.rpath,
            "rnodes": [n.rnode for n in self.nodes],
            "rexcludes": self.excludes or None,
            "rsh": rsh,
            "log_level": "debug",
            "watcher": WATCHER or None,  # INOSYNC_TEST_WATCHER: the backend under test
        }
        keys.update(self.keys)
        keys.update(overrides)
        return write_config(self.config, **keys)

    def start(self, ready_timeout: float = 60.0, wait_ready: bool = True,
              args: Sequence[str] | None = None, env: dict[str, str] | None = None,
              prefix: Sequence[str] = ()) -> Daemon:
        if not self.config.exists():
            self.write_config()
        self.daemon = Daemon(self.workdir, self.config, args=args or self.args, env=env,
                             prefix=prefix)
        if self.registry is not None:
            self.registry.append(self.daemon)
        self.daemon.start()
        if wait_ready:
            self.daemon.wait_ready(ready_timeout)
            if self.keys.get("watcher", WATCHER) == "fanotify":  # not a silent fallback
                assert " with fanotify" in self.daemon.log(), self.daemon.log_tail()
        return self.daemon

    def stop(self, timeout: float = 10.0) -> float:
        assert self.daemon is not None
        return self.daemon.stop(timeout)

    def converge(self, node: Node | None = None, timeout: float | None = None,
                 what: str = "") -> float:
        """Wait until the node's tree equals the source (excluded paths ignored on both)."""
        n = node or self.node
        kept = ["/.inosync-kept/"] if self.keys.get("keep_deleted") else []
        return wait_converged(
            self.src, n.dst, timeout if timeout is not None else n.timeout,
            excludes=Excludes(self.excludes + kept), what=what or f"{n.kind} node",
            alive=self.daemon.assert_alive if self.daemon else None)

    def converge_all(self, timeout: float | None = None) -> None:
        for n in self.nodes:
            self.converge(n, timeout)

    def s(self, rel: str | bytes) -> bytes:
        """Absolute bytes path in the source."""
        return os.path.join(os.fsencode(self.src), os.fsencode(rel))

    def d(self, rel: str | bytes, node: Node | None = None) -> bytes:
        """Absolute bytes path on the node."""
        return os.path.join(os.fsencode((node or self.node).dst), os.fsencode(rel))
