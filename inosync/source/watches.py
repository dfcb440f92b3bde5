"""The watch set: one inotify watch per non-excluded directory, the walks that put them in,
and what those walks meet on the way.

The only map is wd -> path (a WdMap): a million directories cost a path string and a list
slot each, about 75 bytes. Lookups by path (renames, moves out of the tree) scan it; they
are rare next to events, which arrive by wd.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Generator, Sequence

from inosync.changes import ROOT, is_under, join_path
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.facts import Dirty, Fact, WatchLimitError
from inosync.source.inotify import (
    FS_ENCODING,
    ROOT_MASK,
    WATCH_MASK,
    INotify,
    add_watch,
    last_errno,
    libc_add_watch,
)
from inosync.source.move_pairing import Leaving, MovePairing
from inosync.source.read_ahead import ReadAhead
from inosync.source.subtrees import Splitter
from inosync.source.unwatched import RETRY_SECONDS, Unwatched
from inosync.source.watch_limit import (
    PROGRESS_EVERY,
    count_dirs,
    count_entries,
    watch_limit_message,
)
from inosync.source.wdmap import WdMap

log = logging.getLogger("inosync.watcher")
LIMIT_REACHED = "inotify watch limit reached"


class Watches:
    """The watches below wpath, and what the walks met: a known directory under a new name
    (`renamed`: old path -> (new path, when)) and the top of a tree that left, found again
    (`found_at`: cookie -> where). The watcher pairs those with their IN_MOVED_FROM."""

    def __init__(self, wpath: str, excludes: ExcludeMatcher, pairing: MovePairing,
                 progress: Callable[[], None] | None = None) -> None:
        self.wpath = wpath
        self.excludes = excludes
        self.pairing = pairing
        # Called every PROGRESS_EVERY directories of a walk: a million take a while, and
        # the daemon keeps telling systemd that it is alive meanwhile.
        self.progress = progress
        self.inotify = INotify(nonblocking=True)
        self.ahead = ReadAhead(self.fileno())  # events read while a walk holds the loop
        self.path_of = WdMap()
        self.unwatched = Unwatched()  # directories a watch failed for, retried
        self.renamed: dict[str, tuple[str, float]] = {}
        self.found_at: dict[int, str] = {}
        self.entries = 0  # entries seen by the last full walk (for the delete guard)
        self.changed_since_count = True
        self.limit_error = ""

    def fileno(self) -> int:
        return int(self.inotify.fileno())

    def abspath(self, relpath: str) -> str:
        return os.path.join(self.wpath, relpath) if relpath else self.wpath

    def walk(self, top: str, seen: set[int] | None = None) -> int:
        """Watch `top` and every non-excluded directory below it, each before listing it
        (so nothing created meanwhile is missed); return how many watches went in."""
        steps = self.walk_steps(top, seen)
        while True:
            try:
                next(steps)
            except StopIteration as end:
                return int(end.value)

    def walk_steps(self, top: str, seen: set[int] | None = None,
                   splitter: Splitter | None = None) -> Generator[None, None, int]:
        """The walk, pausing every PROGRESS_EVERY directories; it returns the watches added.

        The hot loop of start-up: per directory one add_watch and one scandir, paths
        taken from scandir's own (C-built) entry paths, files only counted via d_type.
        A full walk (top is the root) also counts the entries for the delete guard.
        With a `splitter`, each directory whose whole subtree is watched is told to it,
        for the first sync to send while the walk goes on.
        """
        fd, path_of, walking = self.fileno(), self.path_of, self.walking
        matcher = self.excludes if self.excludes else None
        cut = len(self.wpath) + 1 if self.wpath != "/" else 1
        stack = [self.abspath(top)]
        added = entries = walked = 0
        pairing, unwatched = self.pairing, self.unwatched
        while stack:
            absolute = stack.pop()
            walked += 1
            if walked % PROGRESS_EVERY == 0:
                walking()
                yield
            relpath = absolute[cut:]
            wd = libc_add_watch(fd, absolute.encode(FS_ENCODING, "surrogateescape"),
                                WATCH_MASK if relpath else ROOT_MASK)
            if wd >= 0:
                old = path_of.add(wd, relpath)
                if old is not None and old != relpath:
                    # A directory still watched under another name: its IN_MOVED_* events
                    # are queued, not read yet (a swap read late), and move it when they
                    # are; renamed here, another directory's events would get its name.
                    # Noted, for a rename into a place not watched yet (`mkdir -p new/dir
                    # && mv old new/dir/x`), which no IN_MOVED_TO will name.
                    path_of.add(wd, old)
                    self.renamed[old] = (relpath, time.monotonic())
                elif old is None and pairing.waiting:
                    self._met_travelling(wd, relpath)
                added += 1
                if seen is not None:
                    seen.add(wd)
                if unwatched:
                    unwatched.watched(relpath)
            else:
                self._failed(relpath, last_errno())
            depth = len(stack)
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
            if splitter is not None:
                splitter.entered(relpath, depth, walked - 1)
                splitter.left(len(stack), walked)
        if top == ROOT:
            self.entries = entries
            self.changed_since_count = False
        return added

    def walking(self) -> None:
        """Every few hundred directories of a walk or count: empty the kernel's queue (a
        long walk would overflow it) and tell the daemon the walk goes on."""
        self.ahead.take()
        if self.progress is not None:
            self.progress()

    def _met_travelling(self, wd: int, relpath: str) -> None:
        """A walk met a watch of a tree that left: it is in the tree again, at `relpath`.
        Its top being met is the tree landing there (paired by the watcher)."""
        hit = self.pairing.found(wd)
        if hit is not None and hit[2] == "":
            self.found_at[hit[0]] = relpath

    def _failed(self, relpath: str, code: int) -> None:
        if code == errno.ENOSPC:
            if self.limit_error:  # said already: spare the count of the whole tree
                raise WatchLimitError(LIMIT_REACHED)
            raise WatchLimitError(watch_limit_message(
                self.wpath, count_dirs(self.wpath, self.excludes)))
        if code in (errno.ENOENT, errno.ENOTDIR):
            self.unwatched.watched(relpath)
            return  # gone again already; its parent's events say so
        if self.unwatched.failed(relpath, os.strerror(code), time.monotonic()):
            log.error("%s: cannot watch (%s) - changes below it are NOT mirrored until it "
                      "can be; tried again when its permissions change, on reload and "
                      "every %d s", self.abspath(relpath), os.strerror(code), RETRY_SECONDS)

    def current_entries(self) -> int:
        """Entries on the source now, for the delete guard of a full sync: the last full
        walk's count while no event came since, else a fresh count (a walk that adds no
        watches). A stale count would make the guard refuse deletions the source made."""
        if self.changed_since_count:
            self.entries = count_entries(self.wpath, self.excludes, self.walking)
            self.changed_since_count = False
        return self.entries

    def rewalk(self, top: str, renamed: bool = False, carried: Sequence[int] = ()) -> int:
        """Watch what is below `top` now and fix the map.

        add_watch on a directory already watched returns its wd, so nothing goes unwatched
        meanwhile. Below a subtree, a watch the walk did not meet is kept unless its path
        is excluded (possible only below a directory renamed to where excludes differ): the
        directory may have moved on already, and its IN_MOVED_* or IN_DELETE events are
        still queued. After an overflow (top is the root) those events are gone, so what
        the walk did not meet is dropped, with the watches trees that left `carried`.
        """
        seen: set[int] = set()
        self.walk(top, seen)
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
        self.remove(stale)
        return len(seen)

    def rewalk_all(self, carried: Sequence[int]) -> int:
        """After an overflow: walk the whole tree again; what the walks met is moot."""
        self.found_at.clear()
        self.unwatched = Unwatched()  # the walk finds what still cannot be watched
        count = self.rewalk(ROOT, carried=carried)
        self.renamed.clear()  # the full sync that follows covers every rename
        return count

    def watch_new(self, path: str, renamed: bool = False) -> None:
        """Watch a directory that appeared; at the watch limit, say so and carry on."""
        try:
            self.rewalk(path, renamed)
        except WatchLimitError as error:
            if not self.limit_error:
                log.error("%s; changes below %s are NOT mirrored until then (tried again "
                          "on reload and every %d s)", error, self.abspath(path),
                          RETRY_SECONDS)
            self.limit_error = LIMIT_REACHED
            self.unwatched.failed(path, self.limit_error, time.monotonic())

    def retry_unwatched(self, paths: Sequence[str] | None = None) -> list[Fact]:
        """Try the directories that could not be watched again (all, or `paths`): each
        one watched now is dirty, as nothing below it was seen so far."""
        facts: list[Fact] = []
        for path in self.unwatched.at_or_below(ROOT) if paths is None else paths:
            if path in self.unwatched:
                self.watch_new(path)
                if path not in self.unwatched:
                    log.info("%s: watched now; mirroring what is below it",
                             self.abspath(path))
                    facts.append(Dirty(path))
        if not self.unwatched:
            self.limit_error = ""
        return facts

    def give_back_present(self, leaving: Leaving) -> None:
        """The name was taken again before its IN_MOVED_FROM was read, and a walk may have
        watched the new occupant meanwhile: every carried watch still at its place in the
        tree (add_watch answers with the watch of the inode there now) goes back."""
        fd = self.fileno()
        for wd, suffix in list(leaving.watches.items()):
            place = join_path(leaving.path, suffix)
            present = add_watch(fd, self.abspath(place))
            if present == wd:
                self.pairing.found(wd)
                self.path_of.add(wd, place)
            elif present >= 0 and present not in self.path_of \
                    and self.pairing.carrier(present) is None:
                self.path_of.add(present, place)  # a newcomer: its own event walks it

    def remove(self, wds: Sequence[int] | dict[int, str]) -> None:
        """Remove watches by descriptor; the kernel may have dropped some already."""
        for wd in wds:
            try:
                self.inotify.rm_watch(wd)
            except OSError:
                pass
