"""Pacing after the kernel drops events (pure): a rescan and a full sync at most once a
second, so a sustained storm does not become a rescan loop, and one warning a minute with
the count since the last."""

from __future__ import annotations

RESCAN_MIN_SECONDS = 1.0
LOG_SECONDS = 60.0


class OverflowPacing:
    def __init__(self) -> None:
        self.since_logged = 0  # overflows since the last warning
        self.total = 0
        self.logged_at = -LOG_SECONDS
        self.rescan_at: float | None = None
        self.last_rescan = -RESCAN_MIN_SECONDS

    def lost(self, now: float) -> int | None:
        """Events were lost now: the count to warn about, when a warning is due."""
        self.since_logged += 1
        self.total += 1
        if self.rescan_at is None:
            self.rescan_at = max(now, self.last_rescan + RESCAN_MIN_SECONDS)
        if now - self.logged_at < LOG_SECONDS:
            return None
        count, self.since_logged, self.logged_at = self.since_logged, 0, now
        return count

    def rescan_due(self, now: float) -> bool:
        return self.rescan_at is not None and now >= self.rescan_at

    def rescanned(self, now: float) -> None:
        self.rescan_at, self.last_rescan = None, now
