"""The delete bound of full syncs: all or nothing (pure but for its log lines).

A full sync that would delete more than `max_delete_share` of the source's entries deletes
nothing at all, still sends what is new or changed, and counts again later, doubling the
wait, to notice the source being whole again. Only a later full sync within the bound
clears a refusal, never a narrow sync.

The count costs no walk of its own: a bounded full sync first runs deleting nothing
(`--max-delete=0`), and rsync says how many deletions it held back. Nothing held back (an
in-sync node, the common case) ends it there; within the bound a second, deleting run
follows. Only a reload counts with a dry run first, since what it finds is drift too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from inosync.rsync.argv import max_delete_for
from inosync.rsync.outcomes import Outcome

log = logging.getLogger("inosync.node")
RECHECK_FIRST = 60.0  # a node with refused deletions counts again after this,
RECHECK_MAX = 900.0  # doubling up to this


class DeleteBound:
    """One node's count of deletions, what it allowed the full sync, and any refusal."""

    def __init__(self, share: float, source_entries: Callable[[], int]) -> None:
        self.share = share
        # The source's entries are asked for only when a verdict needs them: the daemon
        # counts while the first run sends (a tree fanotify watches is counted by a walk).
        self.source_entries = source_entries
        self.full_entries = 0  # source entries the last full sync's bound used
        self.limit: int | None = None  # what the count allowed the full sync (None: refused)
        self.holding = False  # the full sync running deletes nothing, to count (limit 0)
        self.would_delete = 0  # deletions the last count found
        self.refused: tuple[int, int] | None = None  # (would delete, bound) while refused
        self.recheck_at: float | None = None
        self.recheck_delay = RECHECK_FIRST

    def bound(self) -> int:
        """The deletions a full sync may make now (-1: no bound)."""
        return max_delete_for(self.share, self.full_entries)

    def begin(self) -> bool:
        """A full sync starts; True when its deletions must be counted: by the sync itself,
        holding them back, unless a counting pass does it first (`counted`)."""
        self.recheck_at = None
        self.holding = self.share < 1
        self.limit = 0 if self.holding else -1
        return self.holding

    def _refuses(self, would_delete: int, dry_run: bool) -> bool:
        bound = self.bound()
        return not dry_run and 0 <= bound < would_delete

    def counted(self, would_delete: int, dry_run: bool) -> None:
        """The count's verdict: the limit the full sync runs with, or None."""
        self.full_entries = self.source_entries()
        self.holding = False
        self.would_delete = would_delete
        self.limit = None if self._refuses(would_delete, dry_run) else self.bound()

    def held(self, outcome: Outcome, held_back: int | None, dry_run: bool) -> str:
        """What follows the full sync that held its deletions back (`held_back`: how many
        rsync said; it says nothing when there were none).

        "done": everything was sent, and nothing is to be deleted or all of it is refused;
        "again": a second full sync runs with the verdict: it deletes within the bound, or,
        the first having failed on some paths, it sends them again (deleting nothing when
        refused); "failed": as any full sync can fail, nothing decided; "count": rsync
        stopped deletions but did not say how many, so a counting pass decides.
        """
        if dry_run:  # nothing ran: show the deleting run that may follow, refuse nothing
            self.counted(0, dry_run)
            return "again"
        if outcome in (Outcome.TRANSIENT, Outcome.ERROR) or (
                outcome is Outcome.PARTIAL and not held_back):
            return "failed"
        if held_back is None and outcome is Outcome.GUARD:
            return "count"
        self.counted(held_back or 0, dry_run)
        if outcome is Outcome.PARTIAL or (self.would_delete and self.limit is not None):
            return "again"
        return "done"

    def recheck_due(self, now: float) -> bool:
        return self.recheck_at is not None and now >= self.recheck_at

    def full_done(self, now: float, name: str) -> None:
        """After a full sync: deletions were either all made or all refused."""
        extra = {"INOSYNC_NODE": name}
        if self.limit is not None:
            if self.refused is not None:
                log.warning("%s: deletions allowed again: the full sync deleted %d "
                            "extraneous entries (bound %d)", name, self.would_delete,
                            self.limit, extra=extra)
            self.refused, self.recheck_at = None, None
            self.recheck_delay = RECHECK_FIRST
            return
        bound = self.bound()
        if self.refused is None:
            log.error("%s: deletions refused: a full sync would delete %d entries on the node "
                      "but max_delete_share %g allows %d (the source has %d). New and changed "
                      "files were sent; nothing was deleted. If the source really shrank, "
                      "raise max_delete_share and reload", name, self.would_delete,
                      self.share, bound, self.full_entries,
                      extra={**extra, "INOSYNC_WOULD_DELETE": self.would_delete,
                             "INOSYNC_DELETE_BOUND": bound})
        else:
            self.recheck_delay = min(RECHECK_MAX, self.recheck_delay * 2)
            log.debug("%s: deletions still refused (%d > %d)", name, self.would_delete, bound)
        self.refused = (self.would_delete, bound)
        self.recheck_at = now + self.recheck_delay
