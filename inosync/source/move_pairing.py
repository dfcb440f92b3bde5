"""Paths seen leaving by IN_MOVED_FROM, waiting for their IN_MOVED_TO: kept by identity.

A directory that moves away takes its watches with it, and its old name may be taken again
at once (`mv current /stage/old && mv /stage/new current`). So the moment it leaves, its
watches are detached from the path they had: kept here by watch descriptor, with their place
relative to the directory that left, until it lands somewhere in the tree (a rename: they
are re-attached below the new name) or the pairing window passes (it left the tree: exactly
these watches are dropped). Whatever takes the old name meanwhile gets watches of its own
and is never confused with the tree that left. Open writes below the path travel the same
way. Pure: the watcher does the inotify calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inosync.changes import join_path, rebase

TOUCHED_LIMIT = 1000  # events seen inside a leaving tree: past this, resync all of it


@dataclass
class Leaving:
    """One IN_MOVED_FROM waiting for its pair."""

    path: str
    is_dir: bool
    since: float
    watches: dict[int, str] = field(default_factory=dict)  # wd -> path below `path`
    writes: dict[str, tuple[float, float]] = field(default_factory=dict)  # likewise
    unwatched: dict[str, str] = field(default_factory=dict)  # likewise: could not watch
    touched: set[str] | None = field(default_factory=set)  # below `path`; None: too many

    def landed_paths(self, dst: str) -> list[str]:
        """What changed inside the tree while it travelled, at its new place."""
        if self.touched is None:
            return [dst]
        return [join_path(dst, suffix) for suffix in sorted(self.touched)]


class MovePairing:
    """Every IN_MOVED_FROM not paired yet, by cookie, and the watches they carry."""

    def __init__(self) -> None:
        self.waiting: dict[int, Leaving] = {}
        self._carrier: dict[int, int] = {}  # wd -> cookie of the Leaving that holds it

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def leave(self, cookie: int, leaving: Leaving) -> None:
        old = self.waiting.pop(cookie, None)
        if old is not None:  # a cookie reused: the kernel's counter wrapped
            self._drop_carried(old)
        self.waiting[cookie] = leaving
        for wd in leaving.watches:
            previous = self._carrier.get(wd)
            if previous is not None and previous in self.waiting:
                self.waiting[previous].watches.pop(wd, None)
            self._carrier[wd] = cookie

    def arrive(self, cookie: int) -> Leaving | None:
        """The IN_MOVED_TO of `cookie`, or a place a walk found the tree again: its entry,
        with the watches it still carries."""
        leaving = self.waiting.pop(cookie, None)
        if leaving is not None:
            self._drop_carried(leaving)
        return leaving

    def _drop_carried(self, leaving: Leaving) -> None:
        for wd in leaving.watches:
            self._carrier.pop(wd, None)

    def carrier(self, wd: int) -> Leaving | None:
        """The leaving tree this watch belongs to, if it is travelling."""
        cookie = self._carrier.get(wd)
        return None if cookie is None else self.waiting.get(cookie)

    def event_inside(self, wd: int, name: str) -> bool:
        """An event on a travelling watch: remember where (relative to the tree that left),
        so a rename that pairs later still syncs it. False when `wd` is not travelling."""
        leaving = self.carrier(wd)
        if leaving is None:
            return False
        if leaving.touched is not None:
            leaving.touched.add(join_path(leaving.watches[wd], name))
            if len(leaving.touched) > TOUCHED_LIMIT:
                leaving.touched = None
        return True

    def watch_gone(self, wd: int) -> None:
        """IN_IGNORED for a travelling watch: the kernel dropped it."""
        leaving = self.carrier(wd)
        self._carrier.pop(wd, None)
        if leaving is not None:
            leaving.watches.pop(wd, None)

    def found(self, wd: int) -> tuple[int, Leaving, str] | None:
        """A walk met a travelling watch in the tree: it is no longer carried. Returns the
        cookie, its entry and the watch's place below the entry's path."""
        cookie = self._carrier.pop(wd, None)
        if cookie is None:
            return None
        leaving = self.waiting.get(cookie)
        if leaving is None:
            return None
        return cookie, leaving, leaving.watches.pop(wd)

    def expired(self, now: float, window: float) -> list[Leaving]:
        """Entries past the pairing window, removed: their paths left the tree."""
        gone = [cookie for cookie, leaving in self.waiting.items()
                if now - leaving.since >= window]
        return [entry for cookie in gone if (entry := self.arrive(cookie)) is not None]

    def rebase(self, src: str, dst: str) -> None:
        """Entries that left from below a directory renamed since keep its new name."""
        for leaving in self.waiting.values():
            if leaving.path.startswith(src + "/"):
                leaving.path = rebase(leaving.path, src, dst)

    def paths(self) -> list[str]:
        return [leaving.path for leaving in self.waiting.values()]

    def deadline(self, window: float) -> float | None:
        return min((leaving.since + window for leaving in self.waiting.values()),
                   default=None)

    def clear(self) -> list[int]:
        """Forget everything (after lost events); return the watches that were carried."""
        carried = list(self._carrier)
        self.waiting.clear()
        self._carrier.clear()
        return carried
