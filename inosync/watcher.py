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
from dataclasses import dataclass

from inosync.changes import ROOT, OpenWrites, is_under
from inosync.excludes import ExcludeMatcher
from inosync.watchlimit import count_dirs, count_entries, watch_limit_message
from inosync.wdmap import WdMap

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


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


class Watcher:
    """Watches every non-excluded directory below wpath.

    The only map is wd -> path (a WdMap): a million directories cost a path string and a
    list slot each, about 75 bytes. Lookups by path (renames, moves out of the tree) scan
    it; they are rare next to events, which arrive by wd.
    """

    def __init__(self, wpath: str, excludes: ExcludeMatcher) -> None:
        self.wpath = wpath.rstrip("/") or "/"
        self.excludes = excludes
        self.inotify = inotify_simple.INotify(nonblocking=True)
        self.path_of = WdMap()
        self._moved_from: dict[int, tuple[str, bool, float]] = {}
        self._rediscovered: dict[str, tuple[str, float]] = {}  # old path -> (new path, when)
        self.entries = 0  # entries seen by the last full walk (for the delete guard)
        self.changed_since_count = True
        self.limit_error = ""
        self.writes = OpenWrites()

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
        stack = [self.abspath(top)]
        added = entries = 0
        while stack:
            absolute = stack.pop()
            relpath = absolute[cut:]
            # wpath itself may be a symlink to the tree (a deploy's "current" link): follow
            # it there, and only there.
            wd = add_watch(fd, absolute.encode(_FS_ENCODING, "surrogateescape"),
                           WATCH_MASK if relpath else ROOT_MASK)
            if wd >= 0:
                old = path_of.add(wd, relpath)
                if old is not None and old != relpath:
                    self._renamed_behind_our_back(old, relpath)
                added += 1
                if seen is not None:
                    seen.add(wd)
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

    def _renamed_behind_our_back(self, old: str, new: str) -> None:
        """The same directory under a new name: it was renamed into a place we were not
        watching yet (e.g. `mkdir -p new/dir && mv old new/dir/x`), so no IN_MOVED_TO."""
        self._rediscovered[old] = (new, time.monotonic())

    def _watch_failed(self, relpath: str, code: int) -> None:
        if code == errno.ENOSPC:
            raise WatchLimitError(watch_limit_message(
                self.wpath, count_dirs(self.wpath, self.excludes)))
        if code in (errno.ENOENT, errno.ENOTDIR):
            return  # gone again already; its parent's events say so
        log.error("%s: cannot watch (%s) - changes below it are not mirrored until "
                  "it is readable", self.abspath(relpath), os.strerror(code))

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
            self.entries = count_entries(self.wpath, self.excludes)
            self.changed_since_count = False
        return self.entries

    def rewatch_all(self) -> int:
        """After an overflow: walk the whole tree again and fix the map."""
        self._moved_from.clear()
        self.writes.clear()  # the full sync that follows sends them as they are
        count = self._rewatch(ROOT)
        self.changed_since_count = False
        self._rediscovered.clear()  # the full sync that follows covers every rename
        return count

    def _rewatch(self, top: str, renamed: bool = False) -> int:
        """Watch what is below `top` now and fix the map.

        add_watch on a directory already watched returns its wd, so nothing goes unwatched
        meanwhile. Below a subtree, a watch the walk did not meet is kept unless its path
        is excluded (possible only below a directory renamed to where excludes differ): the
        directory may have moved on already, and its IN_MOVED_* or IN_DELETE events are
        still queued. After an overflow (top is the root) those events are gone, so what
        the walk did not meet is dropped.
        """
        seen: set[int] = set()
        self._watch_below(top, seen)
        if top == ROOT:
            stale = [wd for wd in self.path_of if wd not in seen]
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

    def _forget_tree(self, relpath: str) -> None:
        """Stop watching a subtree that left the tree (moved out, or into an excluded
        place)."""
        for wd in [wd for wd, path in self.path_of.items() if is_under(path, relpath)]:
            del self.path_of[wd]
            try:
                self.inotify.rm_watch(wd)
            except OSError:
                pass  # the kernel already dropped it

    def _rebase_moved_from(self, src: str, dst: str) -> None:
        """Unpaired IN_MOVED_FROMs below a renamed dir now name paths below its new name."""
        for cookie, (path, is_dir, seen) in list(self._moved_from.items()):
            if path.startswith(src + "/"):
                self._moved_from[cookie] = (dst + path[len(src):], is_dir, seen)

    def _rename_tree(self, src: str, dst: str) -> None:
        prefix = src + "/"
        cut = len(src)
        path_of = self.path_of
        for wd in [wd for wd, p in path_of.items() if p == src or p.startswith(prefix)]:
            path_of[wd] = dst + path_of[wd][cut:]

    # -- events ---------------------------------------------------------------------

    def unsettled(self) -> list[str]:
        """Paths changing right now that no fact names yet: files written and not closed,
        and moves out of the tree still waiting for a partner."""
        return self.writes.paths() + [path for path, _, _ in self._moved_from.values()]

    def next_deadline(self) -> float | None:
        deadlines = [t + MOVE_PAIRING_SECONDS for _, _, t in self._moved_from.values()]
        if (writes := self.writes.deadline()) is not None:
            deadlines.append(writes)
        return min(deadlines, default=None)

    def expire(self, now: float) -> list[Fact]:
        """Unpaired IN_MOVED_FROM past the pairing window: the path left the tree. Files
        written but not closed that went quiet or grew old: time to sync them."""
        facts: list[Fact] = [Dirty(path) for path in self.writes.due(now)]
        for cookie, (path, is_dir, seen) in list(self._moved_from.items()):
            if now - seen >= MOVE_PAIRING_SECONDS:
                del self._moved_from[cookie]
                facts.append(self._moved_out(path, is_dir))
        return facts

    def _moved_out(self, path: str, is_dir: bool) -> Fact:
        self.writes.forget_below(path)
        if is_dir:
            self._forget_tree(path)
        return Dirty(path)

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
        if self._rediscovered:
            facts.extend(self._pair_rediscovered())
        return facts

    def _pair_rediscovered(self) -> list[Fact]:
        """Pair an IN_MOVED_FROM of a directory with where a scan found it again.

        The destination always lies in a directory that was just scanned and so is synced
        recursively anyway: replaying the rename only spares the data.
        """
        facts: list[Fact] = []
        for cookie, (path, is_dir, _) in list(self._moved_from.items()):
            found = self._rediscovered.pop(path, None) if is_dir else None
            if found is not None:
                del self._moved_from[cookie]
                facts.append(Moved(path, found[0], True))
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
            if parent == ROOT:
                return [SourceGone(f"{self.wpath} is no longer watched")]
            return []
        if parent is None:
            return []  # a watch we already dropped
        if mask & F.UNMOUNT:
            if parent == ROOT:
                return [SourceGone(f"the filesystem under {self.abspath(parent)} was "
                                   "unmounted")]
            return []  # a filesystem below wpath: the daemon's look at the mount table
        if not name:  # about the watched directory itself
            if parent == ROOT and mask & (F.DELETE_SELF | F.MOVE_SELF):
                return [SourceGone(f"{self.wpath} was deleted or moved away")]
            return []
        path = join(parent, name)
        is_dir = bool(mask & F.ISDIR)
        excluded = bool(self.excludes) and self.excludes.excluded(path, is_dir)
        if mask & F.MOVED_FROM:
            if excluded:
                return []
            self._moved_from[cookie] = (path, is_dir, time.monotonic())
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
        if mask & F.CLOSE_WRITE:
            self.writes.finished(path)
        if mask & CHANGE_MASK:
            return [Dirty(path)]
        return []

    def _watch_new(self, path: str, renamed: bool = False) -> None:
        """Watch a directory that appeared; at the watch limit, say so and carry on."""
        try:
            self._rewatch(path, renamed)
        except WatchLimitError as error:
            if not self.limit_error:
                log.error("%s; changes below %s are NOT mirrored until then (restart or "
                          "reload after raising it)", error, self.abspath(path))
            self.limit_error = "inotify watch limit reached: some directories unwatched"

    def watch_subtree(self, relpath: str) -> None:
        """Watch `relpath` and below afresh: a filesystem was mounted or unmounted there,
        so the directory that path names now is not the one that was watched."""
        self.changed_since_count = True
        self._watch_new(relpath)

    def _moved_in(self, cookie: int, path: str, is_dir: bool, excluded: bool) -> list[Fact]:
        origin = self._moved_from.pop(cookie, None)
        if origin is None:  # from outside the tree (or an excluded place): a create
            if excluded:
                return []
            if is_dir:
                self._watch_new(path, renamed=True)  # it may have been ours moments ago
            return [Dirty(path)]
        src = origin[0]
        if excluded:  # into an excluded place: a delete
            return [self._moved_out(src, is_dir)]
        self.writes.rebase(src, path)
        if is_dir:
            self._rename_tree(src, path)
            self._rebase_moved_from(src, path)
            # Walk the directory at its new place: a directory created inside it while we
            # were behind was looked for under a name that no longer existed (ENOENT), and
            # what is excluded may differ here. add_watch is idempotent for the rest.
            self._watch_new(path, renamed=True)
        return [Moved(src, path, is_dir)]


def identity_of(path: str) -> tuple[int, int] | None:
    """(device, inode) of a directory, to notice it being unmounted, hidden or replaced."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return st.st_dev, st.st_ino
