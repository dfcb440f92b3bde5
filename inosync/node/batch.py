"""The batch in flight on one node: its renames, its paths, the rebuilds of renames still
queued for a node without mv, and the oldest change in it (for the lag)."""

from __future__ import annotations

from collections.abc import Iterable

from inosync.changes import Move, Pending
from inosync.node.renames import resend_paths
from inosync.rsync.argv import Command


class Batch:
    def __init__(self) -> None:
        self.moves: list[Move] = []
        self.paths: list[str] = []
        self.linked: list[Command] = []  # rebuilds from old copies still to run
        self.oldest: float | None = None  # the oldest change in the batch
        self.kind = "batch"  # or "repair": what a verification found (the hook says so)

    def clear(self) -> None:
        self.moves, self.paths = [], []

    def resend(self, failed: Iterable[int], pending: Pending) -> None:
        """Turn failed renames into "delete src, send dst" in this batch; renames recorded
        since the batch began are replayed next, so the ends go back pending as named now."""
        for path, here in resend_paths(self.moves, failed):
            self.paths += [path, here] if here != path else [path]
            pending.carry([here])

    def give_back(self, pending: Pending, oldest_change: float | None,
                  now: float) -> float | None:
        """A batch that did not make it: its paths go back, and its changes are the oldest
        still owed; the oldest change pending afterwards."""
        pending.give_back([], self.paths)
        return self.restore_oldest(pending, oldest_change, now)

    def restore_oldest(self, pending: Pending, oldest_change: float | None,
                       now: float) -> float | None:
        if self.oldest is not None and pending:
            oldest_change = min(oldest_change or now, self.oldest)
        self.oldest = None
        return oldest_change
