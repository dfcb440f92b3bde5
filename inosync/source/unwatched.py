"""Directories below wpath that could not be watched, kept until a watch of them works.

Changes below such a directory send no event, so while any remain the mirror may drift
without a word: every view says so, and the watcher tries again when their attributes
change (a chmod, chown or ACL change sends IN_ATTRIB to the parent's watch), on reload,
and every RETRY_SECONDS (a group membership or a raised watch limit sends nothing).
Pure: the watcher does the inotify calls.
"""

from __future__ import annotations

from inosync.changes import is_under, join_path

RETRY_SECONDS = 10.0
SAMPLE = 20  # paths shown in the state file and STATUS


class Unwatched:
    """Path -> why it could not be watched (os.strerror text, or the watch limit)."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}
        self.retry_at: float | None = None

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def __len__(self) -> int:
        return len(self.reasons)

    def __contains__(self, path: str) -> bool:
        return path in self.reasons

    def failed(self, path: str, reason: str, now: float) -> bool:
        """Record a failed watch; True when it is news (worth a log line)."""
        news = self.reasons.get(path) != reason
        self.reasons[path] = reason
        if self.retry_at is None:
            self.retry_at = now + RETRY_SECONDS
        return news

    def watched(self, path: str) -> None:
        """A watch of `path` worked, or it is gone: nothing to retry there."""
        if self.reasons.pop(path, None) is not None and not self.reasons:
            self.retry_at = None

    def forget_below(self, top: str) -> None:
        for path in [p for p in self.reasons if is_under(p, top)]:
            self.watched(path)

    def at_or_below(self, top: str) -> list[str]:
        return sorted(p for p in self.reasons if is_under(p, top))

    def due(self, now: float) -> list[str]:
        """Every path, when the periodic retry is due (the next one is scheduled)."""
        if self.retry_at is None or now < self.retry_at:
            return []
        self.retry_at = now + RETRY_SECONDS
        return sorted(self.reasons)

    def detach(self, top: str) -> dict[str, str]:
        """Take the entries at or below `top` away, keyed by their place below it: the
        directory is leaving, and its old name may be taken by another at once."""
        taken = {}
        for path in self.at_or_below(top):
            taken[path[len(top) + 1:] if path != top else ""] = self.reasons.pop(path)
        if not self.reasons:
            self.retry_at = None
        return taken

    def attach(self, top: str, entries: dict[str, str], now: float) -> None:
        for suffix, reason in entries.items():
            self.failed(join_path(top, suffix), reason, now)

    def sample(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.reasons.items())[:SAMPLE])
