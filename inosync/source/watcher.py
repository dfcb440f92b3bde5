"""Turns inotify's events into the facts the daemon acts on: a path is dirty, a path moved,
events were lost, or the source itself went away.

Events arrive by watch descriptor; the watch set (`Watches`) names them, move pairing
(`MovePairing`) holds a tree that left until its IN_MOVED_TO or the end of the window, and
`OpenWrites` holds a file being written until it is closed or goes quiet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from inosync.changes import ROOT, OpenWrites, join_path
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.facts import Dirty, Fact, Moved, Overflow, SourceGone
from inosync.source.inotify import CHANGE_MASK, F, add_watch, is_directory, parse_events
from inosync.source.move_pairing import Leaving, MovePairing
from inosync.source.unwatched import Unwatched
from inosync.source.watches import Watches
from inosync.source.wdmap import WdMap

log = logging.getLogger("inosync.watcher")
MOVE_PAIRING_SECONDS = 0.05  # an unpaired IN_MOVED_FROM after this is a move out
REDISCOVERY_SECONDS = 1.0


class Watcher:
    """Watches every non-excluded directory below wpath and says what changed there."""

    kind = "inotify"

    def __init__(self, wpath: str, excludes: ExcludeMatcher,
                 progress: Callable[[], None] | None = None) -> None:
        self.wpath = wpath.rstrip("/") or "/"
        self.excludes = excludes
        self.pairing = MovePairing()  # moves out waiting for a pair, with their watches
        self.watches = Watches(self.wpath, excludes, self.pairing, progress)
        self.writes = OpenWrites()
        self._left_this_read: list[int] = []  # cookies of trees that left in this read

    def fileno(self) -> int:
        return self.watches.fileno()

    def close(self) -> None:
        self.watches.inotify.close()

    @property
    def path_of(self) -> WdMap:
        return self.watches.path_of

    @property
    def unwatched(self) -> Unwatched:
        return self.watches.unwatched

    @property
    def entries(self) -> int:
        return self.watches.entries

    @property
    def watch_count(self) -> int:
        return len(self.path_of)

    @property
    def watch_limit_reached(self) -> bool:
        """A directory could not be watched for want of watches (retried, still failing)."""
        return bool(self.watches.limit_error)

    def abspath(self, relpath: str) -> str:
        return self.watches.abspath(relpath)

    # -- watching -------------------------------------------------------------------

    def retry_unwatched(self, paths: Sequence[str] | None = None) -> list[Fact]:
        """Try the directories that could not be watched again (all, or `paths`)."""
        return self.watches.retry_unwatched(paths)

    def watch_tree(self, top: str = ROOT) -> int:
        """Watch `top` and everything below it (watch first, so nothing is missed)."""
        return self.watches.walk(top)

    def current_entries(self) -> int:
        """Entries on the source now, for the delete guard of a full sync."""
        return self.watches.current_entries()

    def rewatch_all(self) -> int:
        """After an overflow: walk the whole tree again and fix the map."""
        carried = self.pairing.clear()
        self.writes.clear()  # the full sync that follows sends them as they are
        return self.watches.rewalk_all(carried)

    def _leave(self, cookie: int, path: str, is_dir: bool) -> None:
        """IN_MOVED_FROM: detach what belongs to the tree at `path` from that name now, by
        watch descriptor, so whatever takes the name next keeps its own."""
        watches: dict[int, str] = {}
        if is_dir:
            prefix, cut = path + "/", len(path) + 1
            for wd, place in self.path_of.items():
                if place == path:
                    watches[wd] = ""
                elif place.startswith(prefix):
                    watches[wd] = place[cut:]
            for wd in watches:
                self.path_of.pop(wd)
        leaving = Leaving(path, is_dir, time.monotonic(), watches, self.writes.detach(path),
                          self.unwatched.detach(path) if self.unwatched else {})
        self.pairing.leave(cookie, leaving)
        if watches:
            self._left_this_read.append(cookie)

    def _landed(self, leaving: Leaving, dst: str) -> list[Fact]:
        """The tree that left is at `dst` now (its IN_MOVED_TO, or a walk met it there)."""
        self.writes.attach(dst, leaving.writes)
        self.unwatched.attach(dst, leaving.unwatched, time.monotonic())
        if leaving.is_dir:
            for wd, suffix in leaving.watches.items():
                self.path_of[wd] = join_path(dst, suffix)
            self.pairing.rebase(leaving.path, dst)
            # Walk the directory at its new place: a directory created inside it while we
            # were behind was looked for under a name that no longer existed (ENOENT), and
            # what is excluded may differ here. add_watch is idempotent for the rest.
            self.watches.watch_new(dst, renamed=True)
        if dst == leaving.path:  # back where it was: resync it, nothing to replay
            return [Dirty(dst)]
        return [Moved(leaving.path, dst, leaving.is_dir),
                *(Dirty(path) for path in leaving.landed_paths(dst))]

    # -- events ---------------------------------------------------------------------

    def unsettled(self) -> list[str]:
        """Paths changing right now that no fact names yet: files written and not closed,
        and moves out of the tree still waiting for a partner."""
        return self.writes.paths() + self.pairing.paths()

    def next_deadline(self) -> float | None:
        if self.watches.ahead:
            return 0.0  # events read during a walk wait to be translated: at once
        deadlines = [self.pairing.deadline(MOVE_PAIRING_SECONDS), self.writes.deadline(),
                     self.unwatched.retry_at]
        return min((d for d in deadlines if d is not None), default=None)

    def expire(self, now: float) -> list[Fact]:
        """Unpaired IN_MOVED_FROM past the pairing window: the path left the tree. Files
        written but not closed that went quiet or grew old: time to sync them."""
        facts: list[Fact] = self.read() if self.watches.ahead else []
        facts += [Dirty(path) for path in self.writes.due(now)]
        for leaving in self.pairing.expired(now, MOVE_PAIRING_SECONDS):
            facts.append(self._moved_out(leaving))
        if self.unwatched.retry_at is not None and now >= self.unwatched.retry_at:
            facts += self.retry_unwatched(self.unwatched.due(now))
        return facts

    def _moved_out(self, leaving: Leaving) -> Fact:
        """The tree left: drop exactly the watches it took along (never by path: its old
        name may belong to another directory already) and the writes it had open."""
        self.watches.remove(leaving.watches)
        return Dirty(leaving.path)

    def read(self) -> list[Fact]:
        """Drain the queue and translate it; never blocks."""
        facts: list[Fact] = []
        held = self.watches.ahead.all()  # read during a walk: older than what is queued
        try:
            events = self.watches.inotify.read(timeout=0)
        except BlockingIOError:
            events = []
        if held:
            events = parse_events(held) + list(events)
        for event in events:
            self.watches.changed_since_count = True
            facts.extend(self._translate(event.wd, event.mask, event.cookie, event.name))
        self._give_back_unpaired()
        if self.watches.renamed or self.watches.found_at:
            facts.extend(self._pair_rediscovered())
        return facts

    def _give_back_unpaired(self) -> None:
        """A tree that left and is still unpaired once every queued event is read, but whose
        directory is at its old place again (moved away and back, read late): its watches
        go back. Not before: a later event of the same read (a swap's next rename) may move
        it, and a name given from the disk as it is now would be ahead of the events."""
        left, self._left_this_read = self._left_this_read, []
        for cookie in left:
            leaving = self.pairing.waiting.get(cookie)
            if leaving is not None and is_directory(self.abspath(leaving.path)):
                self.watches.give_back_present(leaving)

    def _pair_rediscovered(self) -> list[Fact]:
        """Pair an IN_MOVED_FROM of a directory with where a scan found it again.

        The destination always lies in a directory that was just scanned and so is synced
        recursively anyway: replaying the rename only spares the data.
        """
        facts: list[Fact] = []
        found_at, self.watches.found_at = self.watches.found_at, {}
        for cookie, place in found_at.items():
            if (leaving := self.pairing.arrive(cookie)) is not None:
                facts.extend(self._landed(leaving, place))
        for cookie, leaving in list(self.pairing.waiting.items()):
            found = self.watches.renamed.pop(leaving.path, None) if leaving.is_dir else None
            if found is not None and self._is_there(leaving, found[0]) \
                    and self.pairing.arrive(cookie) is not None:
                facts.extend(self._landed(leaving, found[0]))
        now = time.monotonic()
        for old, (_, seen) in list(self.watches.renamed.items()):
            if now - seen > REDISCOVERY_SECONDS:
                del self.watches.renamed[old]
        return facts

    def _is_there(self, leaving: Leaving, place: str) -> bool:
        """The tree that left is the directory at `place` now: the watch inotify has for
        that directory is the tree's own top watch (a name seen taken by a walk may have
        changed hands since)."""
        top = [wd for wd, suffix in leaving.watches.items() if suffix == ""]
        if not top:
            return True  # no watch to tell by: as the walk saw it
        present = add_watch(self.watches.fileno(), self.abspath(place))
        if present >= 0 and present != top[0] and present not in self.path_of \
                and self.pairing.carrier(present) is None:
            self.watches.remove([present])  # a directory no walk met: not ours to watch here
        return present == top[0]

    def _translate(self, wd: int, mask: int, cookie: int, name: str) -> list[Fact]:
        if mask & F.Q_OVERFLOW:
            return [Overflow()]
        parent = self.path_of.get(wd)
        if mask & F.IGNORED:
            self.path_of.pop(wd, None)
            self.pairing.watch_gone(wd)
            if parent == ROOT:
                return [SourceGone(f"{self.wpath} is no longer watched")]
            return []
        if parent is None:
            # a watch we already dropped, or one a leaving tree carries: noted there, so a
            # rename that pairs later still syncs what changed inside
            self.pairing.event_inside(wd, name)
            return []
        if mask & F.UNMOUNT:
            if parent == ROOT:
                return [SourceGone(f"the filesystem under {self.abspath(parent)} was "
                                   "unmounted")]
            return []  # a filesystem below wpath: the daemon's look at the mount table
        if not name:  # about the watched directory itself
            if parent == ROOT and mask & (F.DELETE_SELF | F.MOVE_SELF):
                return [SourceGone(f"{self.wpath} was deleted or moved away")]
            return []
        path = join_path(parent, name)
        is_dir = bool(mask & F.ISDIR)
        excluded = bool(self.excludes) and self.excludes.excluded(path, is_dir)
        if mask & F.MOVED_FROM:
            if excluded:
                return []
            self._leave(cookie, path, is_dir)
            return []
        if mask & F.MOVED_TO:
            return self._moved_in(cookie, path, is_dir, excluded)
        if excluded:
            return []
        if mask & F.MODIFY and not is_dir:
            self.writes.modified(path, time.monotonic())  # synced on close, quiet or age
            return []
        if mask & F.CREATE and is_dir:
            self.watches.watch_new(path)  # watch first; the dirty dir then covers what came before
        if mask & F.DELETE:
            # A deleted directory was empty, and each watch below it went with an
            # IN_IGNORED of its own: nothing to look up here.
            self.writes.forget_below(path)
            if self.unwatched:
                self.unwatched.forget_below(path)
        if mask & F.CLOSE_WRITE:
            self.writes.finished(path)
        if mask & F.ATTRIB and is_dir and self.unwatched:
            # permissions changed: what could not be watched at or below may be now
            return [Dirty(path), *self.retry_unwatched(self.unwatched.at_or_below(path))]
        if mask & CHANGE_MASK:
            return [Dirty(path, created=bool(mask & F.CREATE) and not is_dir)]
        return []

    def watch_subtree(self, relpath: str) -> None:
        """Watch `relpath` and below afresh: a filesystem was mounted or unmounted there,
        so the directory that path names now is not the one that was watched."""
        self.watches.changed_since_count = True
        self.watches.watch_new(relpath)

    def _moved_in(self, cookie: int, path: str, is_dir: bool, excluded: bool) -> list[Fact]:
        leaving = self.pairing.arrive(cookie)
        if leaving is None:  # from outside the tree (or an excluded place): a create
            if excluded:
                return []
            if is_dir:
                self.watches.watch_new(path, renamed=True)  # it may have been ours moments ago
            return [Dirty(path)]
        if excluded:  # into an excluded place: a delete
            return [self._moved_out(leaving)]
        return self._landed(leaving, path)

