"""What is known about each node, as one value per node that its runner keeps up to date.

STATUS, the state file, the metrics file and `inosync status` all read these and never
the runner itself; each view is rendered by a pure function in `views`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Worst first: the order nodes are listed in, and the order of precedence of states.
STATES = ("paused", "failing", "deletions refused", "mount lost", "incomplete", "behind",
          "syncing",
          "starting", "in sync")


@dataclass(frozen=True)
class Verification:
    """The last comparison of a node with the source."""

    at: float  # wall clock, when it finished
    drift: int  # paths found different
    repaired: int  # of those, queued for a narrow sync (deletions over the bound are not)
    paths: tuple[str, ...] = ()  # the first few, for people
    kinds: tuple[tuple[str, int], ...] = ()  # (kind, count)


@dataclass
class NodeFacts:
    """One node's truth. Times are wall clock (time.time()) unless named _mono."""

    name: str
    spec: str
    kind: str
    state: str = "starting"
    behind_since: float | None = None  # wall clock of the oldest change not on the node
    pending_paths: int = 0
    last_success: float | None = None
    last_error_code: int | None = None
    last_error: str = ""
    last_error_at: float | None = None
    failing_since: float | None = None
    next_retry: float | None = None
    consecutive_failures: int = 0
    syncs: int = 0
    failures: int = 0
    bytes_sent: int = 0
    would_delete: int | None = None  # while deletions are refused: how many, and the bound
    delete_bound: int | None = None
    lost_mounts: tuple[str, ...] = ()  # mount points below wpath kept as they are on the node
    verification: Verification | None = None
    last_drift: Verification | None = None  # the last verification that found drift
    drift_total: int = 0  # drifted paths found since start
    verifying: bool = False
    restricted: bool = False
    hook_runs: int = 0  # on_sync runs that ended, and how many of them failed
    hook_failures: int = 0
    hook_failing_since: float | None = None  # wall clock, while the last runs failed
    hook_error: str = ""  # what the last failing run said, while failing
    extra: dict[str, str] = field(default_factory=dict)

    def lag(self, now: float) -> float:
        """Seconds the node is behind the source: 0 when it has everything."""
        if self.behind_since is None:
            return 0.0
        return max(0.0, now - self.behind_since)

    @property
    def up(self) -> bool:
        return self.state != "failing"


def derive_state(*, paused: bool, failing: bool, refused: bool, started: bool, sending: bool,
                 pending: bool, lost_mounts: bool = False, incomplete: bool = False) -> str:
    """A node's state from what its runner knows; the first that holds, worst first.
    `incomplete`: part of the source cannot be watched, so its changes are not sent."""
    if paused:
        return "paused"
    if failing:
        return "failing"
    if refused:
        return "deletions refused"  # never "in sync" while extraneous files stay
    if lost_mounts:
        return "mount lost"  # nor while part of the tree is left as it was
    if incomplete:
        return "incomplete"
    if not started:
        return "starting"
    if sending:
        return "syncing"
    return "behind" if pending else "in sync"


def severity(state: str) -> int:
    return STATES.index(state) if state in STATES else len(STATES)
