"""Periodic verification of one node: when it is due, what changed while it compared, and
what of the drift it found is repaired (pure but for its log lines).

Every path pending at the start and every change seen until the comparison ends is left
out of the drift, so a changing tree raises no false alarm. Deletions are repaired only
within the delete bound.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from inosync.changes import Pending
from inosync.node.drift import Drift, count_by_kind, describe, find_drift
from inosync.report.node_facts import NodeFacts, Verification
from inosync.rsync.output import Itemized

log = logging.getLogger("inosync.node")
JITTER = 0.25  # verifications are spread +-25 % so instances do not line up
LOGGED_PATHS = 20


def repairable(drift: list[Drift], bound: int) -> list[Drift]:
    """All of the drift, less its deletions when there are more than the bound allows."""
    deletions = sum(d.is_deletion for d in drift)
    return [d for d in drift if not (0 <= bound < deletions and d.is_deletion)]


class Verifier:
    """When one node is compared next, and the changes seen while it is compared."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.due_at: float | None = None
        self.changes: set[str] | None = None  # while comparing: changes seen meanwhile
        self.count_drift = False  # the next full sync's count is a verification (reload)

    def schedule(self, now: float, uniform: Callable[[float, float], float]) -> None:
        if self.interval <= 0:
            self.due_at = None
            return
        self.due_at = now + self.interval * uniform(1 - JITTER, 1 + JITTER)

    def deadline(self, failing: bool) -> float | None:
        """Never while failing: the retry's own success comes first."""
        return None if failing else self.due_at

    def due(self, now: float, failing: bool) -> bool:
        deadline = self.deadline(failing)
        return deadline is not None and now >= deadline

    def begin(self, pending: Pending) -> None:
        """A comparison starts: what is pending now is on its way, not drift."""
        self.due_at = None
        self.changes = set(pending.dirty) | {
            path for move in pending.moves for path in (move.src, move.dst)}

    def changed(self, path: str) -> None:
        if self.changes is not None:
            self.changes.add(path)

    def drift(self, items: Iterable[Itemized]) -> list[Drift]:
        return find_drift(list(items), self.changes or ())

    def record(self, facts: NodeFacts, wall: float, drift: list[Drift],
               repair: list[Drift]) -> None:
        """The comparison is over: its result goes into the node's facts and the journal."""
        self.changes = None
        name = facts.name
        paths = tuple(d.path or "." for d in drift[:LOGGED_PATHS])
        facts.verification = Verification(
            wall, len(drift), len(repair), paths, tuple(count_by_kind(drift).items()))
        if drift:
            facts.last_drift = facts.verification
            facts.drift_total += len(drift)
            log.warning("%s: verification found drift: %s; repairing %d", name,
                        describe(drift, LOGGED_PATHS), len(repair),
                        extra={"INOSYNC_NODE": name, "INOSYNC_DRIFT": len(drift),
                               "INOSYNC_DRIFT_PATHS": "\n".join(paths)})
        else:
            log.info("%s: verified: no drift", name,
                     extra={"INOSYNC_NODE": name, "INOSYNC_DRIFT": 0})
