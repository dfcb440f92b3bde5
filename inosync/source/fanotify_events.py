"""fanotify's events as bytes, and what they say in the four facts.

A filesystem mark reports every change on the filesystem, each as a directory handle and a
name (FAN_REPORT_DFID_NAME), a rename as both ends in one event (FAN_RENAME). The watcher
names a directory by its handle (`Resolve`); here its events become facts: a changed entry
is dirty, a rename inside the tree is a move, one into or out of it a create or a delete,
and anything outside wpath or excluded is dropped.

The kernel merges the events of one object, so one mask may hold several, in no order
that can be told; a dirty path is read by rsync as it is when it runs, so that does not
matter, but a rename could be read before a change to its old name that came after it:
every move is followed by its old name made dirty. Pure: the watcher reads the fd and
resolves handles.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from inosync.changes import ROOT, OpenWrites
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.facts import Dirty, Fact, Moved, Overflow, SourceGone
from inosync.source.fanotify import (
    FAN_ATTRIB,
    FAN_CLOSE_WRITE,
    FAN_CREATE,
    FAN_DELETE,
    FAN_EVENT_INFO_TYPE_DFID,
    FAN_EVENT_INFO_TYPE_DFID_NAME,
    FAN_EVENT_INFO_TYPE_FID,
    FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
    FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
    FAN_MODIFY,
    FAN_MOVED_FROM,
    FAN_MOVED_TO,
    FAN_ONDIR,
    FAN_Q_OVERFLOW,
    FAN_RENAME,
    FANOTIFY_METADATA_VERSION,
    at_or_below,
)

METADATA = struct.Struct("=IBBHQii")  # struct fanotify_event_metadata
INFO_HEADER = struct.Struct("=BBH")  # struct fanotify_event_info_header
HANDLE_HEADER = struct.Struct("=Ii")  # struct file_handle: handle_bytes, handle_type
FSID_SIZE = 8  # __kernel_fsid_t
FID_TYPES = frozenset((FAN_EVENT_INFO_TYPE_FID, FAN_EVENT_INFO_TYPE_DFID_NAME,
                       FAN_EVENT_INFO_TYPE_DFID, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
                       FAN_EVENT_INFO_TYPE_NEW_DFID_NAME))
NAMED_TYPES = frozenset((FAN_EVENT_INFO_TYPE_DFID_NAME, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
                         FAN_EVENT_INFO_TYPE_NEW_DFID_NAME))
CHANGED = FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_MOVED_FROM | FAN_MOVED_TO
MOVES = FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO


class BadEvent(ValueError):
    """The kernel's bytes are not laid out as linux/fanotify.h says."""


@dataclass(frozen=True)
class Record:
    """One information record: a file handle on a filesystem, and for the *_DFID_NAME
    kinds the name of an entry in that directory."""

    kind: int
    fsid: bytes
    handle: bytes  # struct file_handle as the kernel wrote it: what open_by_handle_at takes
    name: bytes = b""

    @property
    def key(self) -> bytes:
        return self.fsid + self.handle


@dataclass(frozen=True)
class Event:
    mask: int
    records: tuple[Record, ...] = ()
    fd: int = -1  # always FAN_NOFD in FID mode; closed by the watcher otherwise

    def record(self, kind: int) -> Record | None:
        return next((r for r in self.records if r.kind == kind), None)


def parse(buffer: bytes) -> list[Event]:
    """Every event in what one read() of the fanotify fd returned (reads never split an
    event)."""
    events = []
    offset = 0
    while offset + METADATA.size <= len(buffer):
        length, version, _, meta_len, mask, fd, _ = METADATA.unpack_from(buffer, offset)
        if version != FANOTIFY_METADATA_VERSION or meta_len < METADATA.size \
                or length < meta_len or offset + length > len(buffer):
            raise BadEvent(f"event at byte {offset}: version {version}, length {length}")
        events.append(Event(mask, _records(buffer, offset + meta_len, offset + length), fd))
        offset += length
    return events


def _records(buffer: bytes, offset: int, end: int) -> tuple[Record, ...]:
    records = []
    while offset + INFO_HEADER.size <= end:
        kind, _, length = INFO_HEADER.unpack_from(buffer, offset)
        if length < INFO_HEADER.size or offset + length > end:
            raise BadEvent(f"info record at byte {offset}: length {length}")
        if kind in FID_TYPES:
            start = offset + INFO_HEADER.size
            fsid = buffer[start:start + FSID_SIZE]
            handle_at = start + FSID_SIZE
            size, _ = HANDLE_HEADER.unpack_from(buffer, handle_at)
            name_at = handle_at + HANDLE_HEADER.size + size
            if name_at > offset + length:
                raise BadEvent(f"file handle at byte {handle_at}: {size} bytes")
            name = b""
            if kind in NAMED_TYPES:
                name = buffer[name_at:offset + length].split(b"\0", 1)[0]
            records.append(Record(kind, fsid, buffer[handle_at:name_at], name))
        offset += length
    return tuple(records)


# A directory's absolute path now, from the record naming it; None when it is gone.
Resolve = Callable[[Record], "str | None"]


class EventFacts:
    """Turns events into facts for the tree at `top` (wpath with its symlinks resolved).
    Writes not closed yet wait in `writes`, as the inotify watcher's do."""

    def __init__(self, top: str, wpath: str, excludes: ExcludeMatcher,
                 writes: OpenWrites) -> None:
        self.top = top
        self.prefix = top.rstrip("/") + "/"
        self.wpath = wpath
        self.excludes = excludes
        self.writes = writes

    def translate(self, event: Event, resolve: Resolve, now: float) -> list[Fact]:
        mask = event.mask
        if mask & FAN_Q_OVERFLOW:
            return [Overflow()]
        is_dir = bool(mask & FAN_ONDIR)
        if mask & FAN_RENAME:
            return self._renamed(self._full(event.record(FAN_EVENT_INFO_TYPE_OLD_DFID_NAME),
                                            resolve),
                                 self._full(event.record(FAN_EVENT_INFO_TYPE_NEW_DFID_NAME),
                                            resolve), is_dir)
        full = self._full(event.record(FAN_EVENT_INFO_TYPE_DFID_NAME), resolve)
        if full is None:
            return []
        if mask & (FAN_DELETE | FAN_MOVED_FROM) and at_or_below(self.top, full):
            return [SourceGone(f"{self.wpath} was deleted or moved away")]
        path = self.inside(full, is_dir)
        if path is None or path == ROOT:
            return []  # outside, excluded, or wpath's own attributes
        if mask & FAN_DELETE:
            self.writes.forget_below(path)
        if mask & FAN_CLOSE_WRITE:
            self.writes.finished(path)
        elif mask & FAN_MODIFY and not is_dir:
            self.writes.modified(path, now)  # synced on close, quiet or age
        if not mask & CHANGED:
            return []
        return [Dirty(path, created=bool(mask & FAN_CREATE) and not is_dir)]

    def _full(self, record: Record | None, resolve: Resolve) -> str | None:
        """The absolute path of the entry a record names (the directory itself for ".",
        as an attribute change of a directory is reported); None when there is no record,
        or the directory is gone (its own removal is an event of its parent's, which
        covers what was below it)."""
        if record is None or not record.name:
            return None
        directory = resolve(record)
        if directory is None or record.name == b".":
            return directory
        name = os.fsdecode(record.name)
        return directory + name if directory.endswith("/") else f"{directory}/{name}"

    def inside(self, full: str | None, is_dir: bool) -> str | None:
        """`full` relative to the tree; None when it is outside or excluded."""
        if full is None:
            return None
        if full == self.top:
            return ROOT
        if not full.startswith(self.prefix):
            return None
        path = full[len(self.prefix):]
        if self.excludes and self.excludes.excluded(path, is_dir):
            return None
        return path

    def _renamed(self, old: str | None, new: str | None, is_dir: bool) -> list[Fact]:
        if old is not None and at_or_below(self.top, old):
            return [SourceGone(f"{self.wpath} was moved away")]
        if new == self.top:
            return [SourceGone(f"{self.wpath} was replaced by a rename")]
        src, dst = self.inside(old, is_dir), self.inside(new, is_dir)
        if src is None:
            return [] if dst is None else [Dirty(dst)]  # in from outside: a create
        if dst is None:  # out of the tree or into an excluded place: a delete
            self.writes.forget_below(src)
            return [Dirty(src)]
        self.writes.rebase(src, dst)
        # src after the move: a change to whatever took the name may have been merged
        # into an event read before this one, and the move would carry it along.
        return [Moved(src, dst, is_dir), Dirty(src)]


def moves_directory(event: Event) -> bool:
    """A directory was renamed: every path named below it so far may be wrong now."""
    return bool(event.mask & MOVES and event.mask & FAN_ONDIR)
