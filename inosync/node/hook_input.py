"""What a node's on_sync hook is told (pure): the syncs it follows, merged while it ran,
and the environment and stdin that carry them.

A hook never runs twice at once for a node; the syncs that finish meanwhile are merged into
the next run, so it always hears of every changed path, once. A full sync, or more paths
than anyone would list, is told as "everything".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from inosync.config.load import Config, Node

MAX_LISTED_PATHS = 100_000  # beyond this a run is told "everything", like a full sync
KIND_ORDER = ("full", "batch", "repair")  # the kind a merged run is named by: first found


@dataclass
class HookRun:
    """The syncs of one node that the hook's next run reports."""

    kinds: set[str] = field(default_factory=set)
    paths: dict[str, None] = field(default_factory=dict)  # ordered, each path once
    everything: bool = False
    syncs: int = 0
    code: int = 0  # rsync's exit code of the latest sync
    sent: int = 0  # bytes sent by all of them

    def add(self, kind: str, paths: Iterable[str], code: int, sent: int | None) -> None:
        """One more good sync: "full", "batch" or "repair" (a verification's repair)."""
        self.kinds.add(kind)
        self.syncs += 1
        self.code = code
        self.sent += sent or 0
        if kind == "full":
            self.everything = True
        if not self.everything:
            for path in paths:
                self.paths[path] = None
            if len(self.paths) > MAX_LISTED_PATHS:
                self.everything = True
        if self.everything:
            self.paths.clear()

    @property
    def kind(self) -> str:
        return next(kind for kind in KIND_ORDER if kind in self.kinds)

    def stdin(self) -> bytes:
        """The changed paths relative to wpath, NUL-separated ("" for the top itself)."""
        return b"".join(os.fsencode(path) + b"\0" for path in self.paths)


def hook_env(cfg: Config, node: Node, run: HookRun, instance: str,
             base: Mapping[str, str]) -> dict[str, str]:
    """The hook's environment: the daemon's own, plus what the sync did."""
    env = dict(base)
    env.update({
        "INOSYNC_INSTANCE": instance,
        "INOSYNC_CONFIG": cfg.path,
        "INOSYNC_WPATH": cfg.wpath,
        "INOSYNC_RPATH": cfg.rpath,
        "INOSYNC_NODE": node.name,
        "INOSYNC_NODE_SPEC": node.spec,
        "INOSYNC_NODE_KIND": node.kind,
        "INOSYNC_NODE_HOST": node.host,
        "INOSYNC_SYNC_KIND": run.kind,
        "INOSYNC_SYNC_KINDS": ",".join(k for k in KIND_ORDER if k in run.kinds),
        "INOSYNC_SYNCS": str(run.syncs),
        "INOSYNC_PATHS": "everything" if run.everything else "listed",
        "INOSYNC_PATH_COUNT": str(len(run.paths)),
        "INOSYNC_PATHS_FILE": "/dev/stdin",  # a memory file: opened again, it reads anew
        "INOSYNC_RSYNC_EXIT": str(run.code),
        "INOSYNC_BYTES_SENT": str(run.sent),
    })
    return env


def synced_paths(paths: Iterable[str], moves: Iterable[tuple[str, str]]) -> list[str]:
    """A batch's changed paths: each rename's two names, then the paths it sent."""
    names: dict[str, None] = {}
    for src, dst in moves:
        names[src] = names[dst] = None
    for path in paths:
        names[path] = None
    return list(names)
