"""The only user of inotify: recursive watches, the wd -> path map, move pairing, overflow.

It turns kernel events into a few facts the daemon acts on: a path is dirty, a path moved,
events were lost, or the source itself went away. Paths are relative to wpath, as str with
surrogateescape so that any byte sequence survives.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inosync.changes import ROOT, OpenWrites, is_under, join_path
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.move_pairing import Leaving, MovePairing
from inosync.source.unwatched import RETRY_SECONDS, Unwatched
from inosync.source.watch_limit import (
    PROGRESS_EVERY,
    count_dirs,
    count_entries,
    watch_limit_message,
)
from inosync.source.wdmap import WdMap

try:
    import inotify_simple
except ImportError:  # the .deb ships a private copy
    import sys

    sys.path.append("/usr/lib/inosync/vendor")
    import inotify_simple

log = logging.getLogger("inosync.watcher")
F = inotify_simple.flags
WATCH_MASK = (F.CREATE | F.DELETE | F.MODIFY | F.CLOSE_WRITE | F.ATTRIB | F.MOVED_FROM
              | F.MOVED_TO | F.DELETE_SELF | F.MOVE_SELF | F.ONLYDIR | F.DONT_FOLLOW
              | F.EXCL_UNLINK)
ROOT_MASK = WATCH_MASK & ~F.DONT_FOLLOW
CHANGE_MASK = F.CREATE | F.DELETE | F.MODIFY | F.CLOSE_WRITE | F.ATTRIB
MOVE_PAIRING_SECONDS = 0.05  # an unpaired IN_MOVED_FROM after this is a move out
REDISCOVERY_SECONDS = 1.0

_FS_ENCODING = sys.getfilesystemencoding()
# inotify_add_watch straight from libc with fixed argument types: the start-up walk calls it
# once per directory, and a million calls through inotify_simple's generic wrapper cost
# seconds.
_inotify_add_watch = ctypes.CDLL(None, use_errno=True).inotify_add_watch
_inotify_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_inotify_add_watch.restype = ctypes.c_int


@dataclass(frozen=True)
class Dirty:
    path: str


@dataclass(frozen=True)
class Moved:
    src: str
    dst: str
    is_dir: bool


@dataclass(frozen=True)
class Overflow:
    pass


@dataclass(frozen=True)
class SourceGone:
    reason: str


Fact = Dirty | Moved | Overflow | SourceGone


class WatchLimitError(Exception):
    """The kernel's per-user watch limit is too low for this tree."""


class Watcher:
    """Watches every non-excluded directory below wpath.

    The only map is wd -> path (a WdMap): a million directories cost a path string and a
    list slot each, about 75 bytes. Lookups by path (renames, moves out of the tree) scan
    it; they are rare next to events, which arrive by wd.
    """

    def __init__(self, wpath: str, excludes: ExcludeMatcher,
                 progress: Callable[[], None] | None = None) -> None:
        self.wpath = wpath.rstrip("/") or "/"
        self.excludes = excludes
        # Called every PROGRESS_EVERY directories of a walk: a million take a while, and
        # the daemon keeps telling systemd that it is alive meanwhile.
        self.progress = progress
        self.inotify = inotify_simple.INotify(nonblocking=True)
        self.path_of = WdMap()
        self.pairing = MovePairing()  # moves out waiting for a pair, with their watches
        self._rediscovered: dict[str, tuple[str, float]] = {}  # old path -> (new path, when)
        self._found_at: dict[int, str] = {}  # cookie -> where a walk met the tree that left
        self.entries = 0  # entries seen by the last full walk (for the delete guard)
        self.changed_since_count = True
        self.limit_error = ""
        self.writes = OpenWrites()
        self.unwatched = Unwatched()  # directories a watch failed for, retried

    def fileno(self) -> int:
        return int(self.inotify.fileno())

    def close(self) -> None:
        self.inotify.close()

    @property
    def watch_count(self) -> int:
        return len(self.path_of)

    def abspath(self, relpath: str) -> str:
        return os.path.join(self.wpath, relpath) if relpath else self.wpath

    # -- watching -------------------------------------------------------------------

    def _watch_below(self, top: str, seen: set[int] | None = None) -> int:
        """Watch `top` and every non-excluded directory below it, each before listing it
        (so nothing created meanwhile is missed); return how many watches went in.

        The hot loop of start-up: per directory one add_watch and one scandir, paths
        taken from scandir's own (C-built) entry paths, files only counted via d_type.
        A full walk (top is the root) also counts the entries for the delete guard.
        """
        fd = self.fileno()
        add_watch = _inotify_add_watch
        path_of = self.path_of
        matcher = self.excludes if self.excludes else None
        cut = len(self.wpath) + 1 if self.wpath != "/" else 1
        progress = self.progress
        stack = [self.abspath(top)]
        added = entries = walked = 0
        pairing, unwatched = self.pairing, self.unwatched
        while stack:
            absolute = stack.pop()
            walked += 1
            if progress is not None and walked % PROGRESS_EVERY == 0:
                progress()
            relpath = absolute[cut:]
            # wpath itself may be a symlink to the tree (a deploy's "current" link): follow
            # it there, and only there.
            wd = add_watch(fd, absolute.encode(_FS_ENCODING, "surrogateescape"),
                           WATCH_MASK if relpath else ROOT_MASK)
            if wd >= 0:
                old = path_of.add(wd, relpath)
                if old is not None and old != relpath:
                    self._renamed_behind_our_back(old, relpath)
                elif old is None and pairing.waiting:
                    self._met_travelling(wd, relpath)
                added += 1
                if seen is not None:
                    seen.add(wd)
                if unwatched:
                    unwatched.watched(relpath)
            else:
                self._watch_failed(relpath, ctypes.get_errno())
            try:
                with os.scandir(absolute) as listing:
                    for entry in listing:
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        # the walk never enters excluded dirs: only the name itself to check
                        if matcher is not None and matcher.matches_name(entry.path[cut:],
                                                                        is_dir):
                            continue
                        entries += 1
                        if is_dir:
                            stack.append(entry.path)
            except OSError:
                pass  # vanished or unreadable: rsync will say so if it matters
        if top == ROOT:
            self.entries = entries
        return added

    def _met_travelling(self, wd: int, relpath: str) -> None:
        """A walk met a watch of a tree that left: it is in the tree again, at `relpath`.
        Its top being met is the tree landing there (paired in `read`)."""
        hit = self.pairing.found(wd)
        if hit is not None and hit[2] == "":
            self._found_at[hit[0]] = relpath

    def _renamed_behind_our_back(self, old: str, new: str) -> None:
        """The same directory under a new name: it was renamed into a place we were not
        watching yet (e.g. `mkdir -p new/dir && mv old new/dir/x`), so no IN_MOVED_TO."""
        self._rediscovered[old] = (new, time.monotonic())

    def _watch_failed(self, relpath: str, code: int) -> None:
        if code == errno.ENOSPC:
            if self.limit_error:  # said already: spare the count of the whole tree
                raise WatchLimitError("inotify watch limit reached")
            raise WatchLimitError(watch_limit_message(
                self.wpath, count_dirs(self.wpath, self.excludes)))
        if code in (errno.ENOENT, errno.ENOTDIR):
            self.unwatched.watched(relpath)
            return  # gone again already; its parent's events say so
        if self.unwatched.failed(relpath, os.strerror(code), time.monotonic()):
            log.error("%s: cannot watch (%s) - changes below it are NOT mirrored until it "
                      "can be; tried again when its permissions change, on reload and "
                      "every %d s", self.abspath(relpath), os.strerror(code), RETRY_SECONDS)

    def retry_unwatched(self, paths: Sequence[str] | None = None) -> list[Fact]:
        """Try the directories that could not be watched again (all, or `paths`): each
        one watched now is dirty, as nothing below it was seen so far."""
        facts: list[Fact] = []
        for path in self.unwatched.at_or_below(ROOT) if paths is None else paths:
            if path in self.unwatched:
                self._watch_new(path)
                if path not in self.unwatched:
                    log.info("%s: watched now; mirroring what is below it",
                             self.abspath(path))
                    facts.append(Dirty(path))
        if not self.unwatched:
            self.limit_error = ""
        return facts

    def watch_tree(self, top: str = ROOT) -> int:
        """Watch `top` and everything below it (watch first, so nothing is missed)."""
        added = self._watch_below(top)
        if top == ROOT:
            self.changed_since_count = False
        return added

    def current_entries(self) -> int:
        """Entries on the source now, for the delete guard of a full sync: the last full
        walk's count while no event came since, else a fresh count (a walk that adds no
        watches). A stale count would make the guard refuse deletions the source made."""
        if self.changed_since_count:
            self.entries = count_entries(self.wpath, self.excludes, self.progress)
            self.changed_since_count = False
        return self.entries

    def rewatch_all(self) -> int:
        """After an overflow: walk the whole tree again and fix the map."""
        carried = self.pairing.clear()
        self._found_at.clear()
        self.writes.clear()  # the full sync that follows sends them as they are
        self.unwatched = Unwatched()  # the walk finds what still cannot be watched
        count = self._rewatch(ROOT, carried=carried)
        self.changed_since_count = False
        self._rediscovered.clear()  # the full sync that follows covers every rename
        return count

    def _rewatch(self, top: str, renamed: bool = False, carried: Sequence[int] = ()) -> int:
        """Watch what is below `top` now and fix the map.

        add_watch on a directory already watched returns its wd, so nothing goes unwatched
        meanwhile. Below a subtree, a watch the walk did not meet is kept unless its path
        is excluded (possible only below a directory renamed to where excludes differ): the
        directory may have moved on already, and its IN_MOVED_* or IN_DELETE events are
        still queued. After an overflow (top is the root) those events are gone, so what
        the walk did not meet is dropped, with the watches trees that left `carried`.
        """
        seen: set[int] = set()
        self._watch_below(top, seen)
        if top == ROOT:
            stale = [wd for wd in self.path_of if wd not in seen]
            stale += [wd for wd in carried if wd not in seen]
        elif renamed and self.excludes:
            stale = [wd for wd, path in self.path_of.items()
                     if wd not in seen and is_under(path, top)
                     and self.excludes.excluded(path, True)]
        else:
            stale = []
        for wd in stale:
            self.path_of.pop(wd, None)
            try:
                self.inotify.rm_watch(wd)
            except OSError:
                pass  # the kernel already dropped it
        return len(seen)

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
        if watches and _is_directory(self.abspath(path)):
            self._give_back_present(leaving)

    def _give_back_present(self, leaving: Leaving) -> None:
        """The name was taken again before this event was read, and a walk may have
        watched the new occupant meanwhile: every carried watch still at its place in the
        tree (add_watch answers with the watch of the inode there now) goes back."""
        fd = self.fileno()
        for wd, suffix in list(leaving.watches.items()):
            place = join_path(leaving.path, suffix)
            present = _inotify_add_watch(
                fd, self.abspath(place).encode(_FS_ENCODING, "surrogateescape"), WATCH_MASK)
            if present == wd:
                self.pairing.found(wd)
                self.path_of.add(wd, place)
            elif present >= 0 and present not in self.path_of \
                    and self.pairing.carrier(present) is None:
                self.path_of.add(present, place)  # a newcomer: its own event walks it

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
            self._watch_new(dst, renamed=True)
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
        deadlines = [self.pairing.deadline(MOVE_PAIRING_SECONDS), self.writes.deadline(),
                     self.unwatched.retry_at]
        return min((d for d in deadlines if d is not None), default=None)

    def expire(self, now: float) -> list[Fact]:
        """Unpaired IN_MOVED_FROM past the pairing window: the path left the tree. Files
        written but not closed that went quiet or grew old: time to sync them."""
        facts: list[Fact] = [Dirty(path) for path in self.writes.due(now)]
        for leaving in self.pairing.expired(now, MOVE_PAIRING_SECONDS):
            facts.append(self._moved_out(leaving))
        if self.unwatched.retry_at is not None and now >= self.unwatched.retry_at:
            facts += self.retry_unwatched(self.unwatched.due(now))
        return facts

    def _moved_out(self, leaving: Leaving) -> Fact:
        """The tree left: drop exactly the watches it took along (never by path: its old
        name may belong to another directory already) and the writes it had open."""
        for wd in leaving.watches:
            try:
                self.inotify.rm_watch(wd)
            except OSError:
                pass  # the kernel already dropped it
        return Dirty(leaving.path)

    def read(self) -> list[Fact]:
        """Drain the queue and translate it; never blocks."""
        facts: list[Fact] = []
        try:
            events = self.inotify.read(timeout=0)
        except BlockingIOError:
            events = []
        for event in events:
            self.changed_since_count = True
            facts.extend(self._translate(event.wd, event.mask, event.cookie, event.name))
        if self._rediscovered or self._found_at:
            facts.extend(self._pair_rediscovered())
        return facts

    def _pair_rediscovered(self) -> list[Fact]:
        """Pair an IN_MOVED_FROM of a directory with where a scan found it again.

        The destination always lies in a directory that was just scanned and so is synced
        recursively anyway: replaying the rename only spares the data.
        """
        facts: list[Fact] = []
        found_at, self._found_at = self._found_at, {}
        for cookie, place in found_at.items():
            if (leaving := self.pairing.arrive(cookie)) is not None:
                facts.extend(self._landed(leaving, place))
        for cookie, leaving in list(self.pairing.waiting.items()):
            found = self._rediscovered.pop(leaving.path, None) if leaving.is_dir else None
            if found is not None and self.pairing.arrive(cookie) is not None:
                facts.extend(self._landed(leaving, found[0]))
        now = time.monotonic()
        for old, (_, seen) in list(self._rediscovered.items()):
            if now - seen > REDISCOVERY_SECONDS:
                del self._rediscovered[old]
        return facts

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
            self._watch_new(path)  # watch first; the dirty dir then covers what came before
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
            return [Dirty(path)]
        return []

    def _watch_new(self, path: str, renamed: bool = False) -> None:
        """Watch a directory that appeared; at the watch limit, say so and carry on."""
        try:
            self._rewatch(path, renamed)
        except WatchLimitError as error:
            if not self.limit_error:
                log.error("%s; changes below %s are NOT mirrored until then (tried again "
                          "on reload and every %d s)", error, self.abspath(path),
                          RETRY_SECONDS)
            self.limit_error = "inotify watch limit reached"
            self.unwatched.failed(path, self.limit_error, time.monotonic())

    def watch_subtree(self, relpath: str) -> None:
        """Watch `relpath` and below afresh: a filesystem was mounted or unmounted there,
        so the directory that path names now is not the one that was watched."""
        self.changed_since_count = True
        self._watch_new(relpath)

    def _moved_in(self, cookie: int, path: str, is_dir: bool, excluded: bool) -> list[Fact]:
        leaving = self.pairing.arrive(cookie)
        if leaving is None:  # from outside the tree (or an excluded place): a create
            if excluded:
                return []
            if is_dir:
                self._watch_new(path, renamed=True)  # it may have been ours moments ago
            return [Dirty(path)]
        if excluded:  # into an excluded place: a delete
            return [self._moved_out(leaving)]
        return self._landed(leaving, path)


def _is_directory(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def identity_of(path: str) -> tuple[int, int] | None:
    """(device, inode) of a directory, to notice it being unmounted, hidden or replaced."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return st.st_dev, st.st_ino
