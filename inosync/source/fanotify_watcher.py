"""The fanotify backend: one filesystem mark instead of a watch per directory, for trees
inotify's watch limit cannot hold.

A mark on wpath's filesystem (and one on each filesystem mounted below it) reports every
change there; each event names a directory by its file handle, resolved to a path with
open_by_handle_at and /proc/self/fd (`DirectoryNames`, cached until a directory is
renamed), and `EventFacts` turns it into the same facts the inotify watcher emits. Nothing
is added as the tree grows, so start-up is one walk that only counts, and the memory is the
same for ten directories or ten million.

Needs CAP_SYS_ADMIN (the mark) and CAP_DAC_READ_SEARCH (the handles); the constructor
raises `FanotifyUnavailable` saying why when fanotify cannot watch here.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import time
from collections.abc import Callable, Sequence

from inosync.changes import ROOT, OpenWrites
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source import mounts
from inosync.source.facts import Dirty, Fact, Overflow
from inosync.source.fanotify import (
    FAN_RENAME,
    FanotifyUnavailable,
    check_resolving,
    describe,
    init_group,
    mark_filesystem,
    mount_of,
    open_handle,
)
from inosync.source.fanotify_events import Event, EventFacts, Record, moves_directory, parse
from inosync.source.read_ahead import READ_SIZE, ReadAhead
from inosync.source.unwatched import RETRY_SECONDS, Unwatched
from inosync.source.watch_limit import count_tree

log = logging.getLogger("inosync.watcher")
READS_PER_TURN = 16  # then back to the loop, which comes back at once: nodes are not starved
NAMES_KEPT = 65536  # directory names cached; past this the cache starts afresh
SAME_FILESYSTEM = ("a second mount of a filesystem already watched: fanotify names its "
                   "changes by the other mount's paths")


def fsid_of(path: str) -> bytes:
    """The filesystem id events carry (statfs's f_fsid, two 32-bit words)."""
    fsid = os.statvfs(path).f_fsid
    return struct.pack("=II", fsid & 0xFFFFFFFF, (fsid >> 32) & 0xFFFFFFFF)


class DirectoryNames:
    """A directory handle -> the directory's absolute path, from the mount of its
    filesystem. Names stay cached until a directory is renamed (`forget`); a directory
    removed since keeps the name it had, so its queued events still name it."""

    def __init__(self, filesystems: dict[bytes, str]) -> None:
        self.filesystems = filesystems  # fsid -> a directory on it to resolve handles from
        self.names: dict[bytes, str] = {}

    def forget(self) -> None:
        self.names.clear()

    def path(self, record: Record) -> str | None:
        key = record.key
        found = self.names.get(key)
        if found is None:
            found = self._resolve(record)
            if found is not None:
                if len(self.names) >= NAMES_KEPT:
                    self.names.clear()
                self.names[key] = found
        return found

    def _resolve(self, record: Record) -> str | None:
        where = self.filesystems.get(record.fsid)
        if where is None:
            return None  # a filesystem no longer watched
        # Opened each time, never kept: an open fd would keep the filesystem from being
        # unmounted.
        mount_fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = open_handle(mount_fd, record.handle)
        except OSError as error:
            if error.errno in (errno.ESTALE, errno.ENOENT):
                return None  # removed
            raise
        finally:
            os.close(mount_fd)
        try:
            if os.fstat(fd).st_nlink == 0:
                return None  # removed, its inode not freed yet
            return os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)


class FanotifyWatcher:
    """Watches wpath's filesystem and says what changed below wpath; the inotify
    `Watcher`'s interface (`backends.SourceWatcher`)."""

    kind = "fanotify"

    def __init__(self, wpath: str, excludes: ExcludeMatcher,
                 progress: Callable[[], None] | None = None) -> None:
        self.wpath = wpath.rstrip("/") or "/"
        self.top = os.path.realpath(self.wpath)
        self.excludes = excludes
        self.progress = progress
        self.writes = OpenWrites()
        self.unwatched = Unwatched()  # filesystems below wpath that could not be marked
        self.entries = 0  # entries the last count found (for the delete guard)
        self.directories = 0
        self.changed_since_count = True
        self.fd = init_group()
        try:
            mount = mount_of(self.top, mounts.read_table())
            self.mask = mark_filesystem(self.fd, self.top, describe(mount))
            check_resolving(self.top, describe(mount))
            # handles are resolved from the mount point: wpath itself may be renamed
            self.filesystems = {fsid_of(self.top): mount.point if mount else self.top}
        except BaseException:
            os.close(self.fd)
            raise
        if not self.mask & FAN_RENAME:
            log.info("%s: this kernel has no FAN_RENAME (Linux 5.17): renames are sent to "
                     "the nodes again instead of replayed", self.wpath)
        self.marked: dict[str, bytes] = {}  # mount point below wpath -> its filesystem id
        self.ahead = ReadAhead(self.fd)  # events read while a count holds the loop
        self.names = DirectoryNames(self.filesystems)
        self.facts = EventFacts(self.top, self.wpath, excludes, self.writes)
        self._failure = ""

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)

    @property
    def watch_count(self) -> int:
        """Directories below wpath the marks cover (as last counted)."""
        return self.directories

    @property
    def watch_limit_reached(self) -> bool:
        return False

    # -- watching -------------------------------------------------------------------

    def watch_tree(self, top: str = ROOT) -> int:
        """Mark the filesystems mounted below wpath too (wpath's own is marked already);
        the number of filesystems marked. The tree is not walked: the marks see all of it
        now, and the delete guard's count (`current_entries`) can run while a sync does."""
        for relpath in sorted(mounts.mounted_below(mounts.read_table(), self.wpath)):
            if not (self.excludes and self.excludes.excluded(relpath, True)):
                self._mark_below(relpath)
        return len(self.filesystems)

    def _mark_below(self, relpath: str) -> None:
        where = os.path.join(self.top, relpath)
        try:
            fsid = fsid_of(where)
        except OSError:
            self.unwatched.watched(relpath)
            return  # gone again; the mount table says so next
        reason = SAME_FILESYSTEM if fsid in self.filesystems else ""
        if not reason:
            try:
                mark_filesystem(self.fd, where, describe(mount_of(where, mounts.read_table())))
            except FanotifyUnavailable as error:
                reason = str(error)
        if not reason:
            self.filesystems[fsid] = where
            self.marked[relpath] = fsid
            self.unwatched.watched(relpath)
        elif self.unwatched.failed(relpath, reason, time.monotonic()):
            log.error("%s: cannot watch (%s) - changes below it are NOT mirrored until it "
                      "can be; tried again on reload and every %d s", where, reason,
                      RETRY_SECONDS)

    def watch_subtree(self, relpath: str) -> None:
        """A filesystem was mounted or unmounted at `relpath`: mark what is there now."""
        self.changed_since_count = True
        self.names.forget()
        fsid = self.marked.pop(relpath, None)
        if fsid is not None and fsid not in self.marked.values():
            del self.filesystems[fsid]
        if os.path.ismount(os.path.join(self.top, relpath)):
            self._mark_below(relpath)
        else:
            self.unwatched.watched(relpath)  # wpath's own filesystem is there again

    def retry_unwatched(self, paths: Sequence[str] | None = None) -> list[Fact]:
        facts: list[Fact] = []
        for path in self.unwatched.at_or_below(ROOT) if paths is None else paths:
            if path in self.unwatched:
                self.watch_subtree(path)
                if path not in self.unwatched:
                    log.info("%s: watched now; mirroring what is below it",
                             os.path.join(self.wpath, path))
                    facts.append(Dirty(path))
        return facts

    def rewatch_all(self) -> int:
        """After an overflow: the marks hold, only names and open writes are moot; the
        full sync that follows counts the tree."""
        self.names.forget()
        self.writes.clear()
        self.changed_since_count = True
        return self.directories

    def current_entries(self) -> int:
        """Entries on the source now, for the delete guard of a full sync (counted afresh
        when anything changed since the last count)."""
        if self.changed_since_count:
            started = time.monotonic()
            self.directories, self.entries = count_tree(self.wpath, self.excludes,
                                                        self._counting)
            self.changed_since_count = False
            log.debug("counted %d entries in %d directories under %s in %d ms", self.entries,
                      self.directories, self.wpath, (time.monotonic() - started) * 1000)
        return self.entries

    def _counting(self) -> None:
        """Every few hundred directories of a count: empty the kernel's queue, which a
        busy filesystem fills long before a million directories are counted."""
        self.ahead.take()
        if self.progress is not None:
            self.progress()

    # -- events ---------------------------------------------------------------------

    def unsettled(self) -> list[str]:
        return self.writes.paths()

    def next_deadline(self) -> float | None:
        if self.ahead:
            return 0.0  # events read during a count wait to be translated: at once
        deadlines = [self.writes.deadline(), self.unwatched.retry_at]
        return min((d for d in deadlines if d is not None), default=None)

    def expire(self, now: float) -> list[Fact]:
        facts: list[Fact] = self.read() if self.ahead else []
        facts += [Dirty(path) for path in self.writes.due(now)]
        if self.unwatched.retry_at is not None and now >= self.unwatched.retry_at:
            facts += self.retry_unwatched(self.unwatched.due(now))
        return facts

    def read(self) -> list[Fact]:
        """Drain the queue (a bounded share of it per turn) and translate it."""
        facts: list[Fact] = []
        for _ in range(READS_PER_TURN):
            data = self.ahead.next_chunk()  # read during a count: older than what is queued
            if data is None:
                try:
                    data = os.read(self.fd, READ_SIZE)
                except BlockingIOError:
                    break
                if not data:
                    break
            now = time.monotonic()
            for event in parse(data):
                if event.fd >= 0:
                    os.close(event.fd)
                facts.extend(self._translate(event, now))
        return facts

    def _translate(self, event: Event, now: float) -> list[Fact]:
        try:
            facts = self.facts.translate(event, self.names.path, now)
        except OSError as error:
            # A handle that cannot be resolved for another reason than its directory being
            # gone: what changed is unknown, so the whole tree is looked at again.
            if str(error) != self._failure:
                self._failure = str(error)
                log.error("%s: cannot name a changed directory (%s): rescanning",
                          self.wpath, error)
            return [Overflow()]
        if moves_directory(event):
            self.names.forget()
        if facts:
            self.changed_since_count = True
        return facts
