"""When a node's kept copies (`keep_deleted`) are pruned, and what a pruning run's end
means: one log line when pruning starts or stops failing; syncing never waits on it."""

from __future__ import annotations

import atexit
import logging
import os
import tempfile

from inosync.config.load import Config
from inosync.node.sync_log import tail
from inosync.rsync.outcomes import Outcome, classify_exit

log = logging.getLogger("inosync.node")
PRUNE_EVERY_MAX = 3600.0  # a week's copies are pruned hourly; a short period more often
_empty: list[str] = []


def prune_interval(period: float) -> float:
    return min(PRUNE_EVERY_MAX, max(1.0, period / 4))


def empty_dir() -> str:
    """An empty directory that pruning syncs over the old stamps, made once per process."""
    if not _empty:
        path = tempfile.mkdtemp(prefix="inosync-empty-")
        atexit.register(os.rmdir, path)
        _empty.append(path)
    return _empty[0]


class Pruner:
    """One node's pruning: due first before its first sync, then every prune_interval."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.next_at: float | None = None
        self.failing = False

    def due(self, cfg: Config, now: float) -> bool:
        return bool(cfg.keep_deleted) and (self.next_at is None or now >= self.next_at)

    def deadline(self, cfg: Config) -> float | None:
        return self.next_at if cfg.keep_deleted else None

    def started(self, cfg: Config, now: float) -> None:
        self.next_at = now + prune_interval(cfg.keep_deleted)

    def ended(self, code: int, stderr: bytes) -> None:
        outcome, meaning = classify_exit(code)
        extra = {"INOSYNC_NODE": self.name, "INOSYNC_RSYNC_EXIT": code}
        if outcome is Outcome.OK:
            if self.failing:
                log.warning("%s: pruning kept copies works again", self.name, extra=extra)
            self.failing = False
        elif not self.failing:
            self.failing = True
            log.error("%s: cannot prune kept copies (rsync exit %d, %s): %s; they stay until "
                      "it works, syncing goes on", self.name, code, meaning, tail(stderr),
                      extra=extra)
