"""When a failing node is tried again: capped exponential backoff with jitter (pure).

The jitter keeps nodes that failed together (one network outage) from retrying together.
"""

from __future__ import annotations

from collections.abc import Callable

from inosync.rsync.outcomes import Outcome

FIRST = 1.0
MAX = 60.0
JITTER = 0.2


def delay(failures: int, jitter: float) -> float:
    """Seconds before attempt `failures` + 1; `jitter` is in [1 - JITTER, 1 + JITTER]."""
    return min(MAX, FIRST * 2.0 ** (failures - 1)) * jitter


class Backoff:
    """A node's failures since its last success, and when it may try again."""

    def __init__(self) -> None:
        self.failures = 0
        self.retry_at = 0.0
        self.down_since: float | None = None  # wall clock time of the first failure
        self.failing_as: Outcome | None = None  # the kind of failure last logged

    def failed(self, now: float, wall: float, outcome: Outcome,
               uniform: Callable[[float, float], float]) -> bool:
        """Count a failure and set the retry; True when it is news (a new kind of failure,
        or the first), which is when it is logged."""
        news = self.failures == 0 or outcome is not self.failing_as
        self.failures += 1
        self.retry_at = now + delay(self.failures, uniform(1 - JITTER, 1 + JITTER))
        if self.down_since is None:
            self.down_since = wall
        self.failing_as = outcome
        return news

    def succeeded(self) -> None:
        self.failures = 0
        self.down_since = None
