"""fanotify's events: the kernel's bytes parsed as linux/fanotify.h lays them out, and each
event turned into the facts the inotify watcher would emit for the same change."""

from __future__ import annotations

import os
import struct

import pytest

from inosync.changes import OpenWrites
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.facts import Dirty, Fact, Moved, Overflow, SourceGone
from inosync.source.fanotify import (
    FAN_ATTRIB,
    FAN_CLOSE_WRITE,
    FAN_CREATE,
    FAN_DELETE,
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
)
from inosync.source.fanotify_events import (
    BadEvent,
    Event,
    EventFacts,
    Record,
    moves_directory,
    parse,
)

FSID = bytes(range(8))
DFID_NAME, OLD, NEW = (FAN_EVENT_INFO_TYPE_DFID_NAME, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
                       FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)


def handle(number: int) -> bytes:
    """A struct file_handle: 8 bytes of ext4-like handle (inode, generation)."""
    return struct.pack("=Ii", 8, 1) + struct.pack("=II", number, 7)


def info(kind: int, number: int, name: bytes = b"") -> bytes:
    body = FSID + handle(number) + (name + b"\0" if kind != FAN_EVENT_INFO_TYPE_FID else b"")
    body += b"\0" * (-(len(body) + 4) % 4)  # records are padded to 4 bytes
    return struct.pack("=BBH", kind, 0, 4 + len(body)) + body


def event(mask: int, *records: bytes, version: int = 3) -> bytes:
    body = b"".join(records)
    return struct.pack("=IBBHQii", 24 + len(body), version, 0, 24, mask, -1, 4242) + body


def test_a_buffer_of_several_events_is_parsed_with_each_record() -> None:
    buffer = (event(FAN_CREATE | FAN_ONDIR, info(DFID_NAME, 2, b"new dir"))
              + event(FAN_CLOSE_WRITE, info(DFID_NAME, 3, b"caf\xe9"),
                      info(FAN_EVENT_INFO_TYPE_FID, 9))
              + event(FAN_RENAME, info(OLD, 2, b"a"), info(NEW, 3, b"b"))
              + event(FAN_Q_OVERFLOW))
    events = parse(buffer)
    assert [e.mask for e in events] == [FAN_CREATE | FAN_ONDIR, FAN_CLOSE_WRITE, FAN_RENAME,
                                        FAN_Q_OVERFLOW]
    assert events[0].records == (Record(DFID_NAME, FSID, handle(2), b"new dir"),)
    assert events[1].records[0].name == b"caf\xe9"
    assert events[1].records[1] == Record(FAN_EVENT_INFO_TYPE_FID, FSID, handle(9))
    assert [(r.kind, r.name) for r in events[2].records] == [(OLD, b"a"), (NEW, b"b")]
    assert events[3].records == () and events[3].fd == -1
    assert events[0].records[0].key == FSID + handle(2)


@pytest.mark.parametrize("buffer", [
    event(FAN_CREATE, info(DFID_NAME, 2, b"x"), version=2),  # another layout
    event(FAN_CREATE, info(DFID_NAME, 2, b"x"))[:-4] + b"",  # event_len past the end
    event(FAN_CREATE, struct.pack("=BBH", DFID_NAME, 0, 2)),  # a record shorter than its header
])
def test_bytes_not_laid_out_as_the_header_says_are_refused(buffer: bytes) -> None:
    with pytest.raises(BadEvent):
        parse(buffer)


def test_an_unknown_record_kind_is_skipped_by_its_length() -> None:
    pidfd = struct.pack("=BBHi", 4, 0, 8, 17)  # FAN_EVENT_INFO_TYPE_PIDFD
    (parsed,) = parse(event(FAN_CREATE, pidfd, info(DFID_NAME, 2, b"x")))
    assert [r.name for r in parsed.records] == [b"x"]


# handle number -> the directory's path now (what open_by_handle_at would say)
DIRS = {1: "/srv/www", 2: "/srv/www/a", 3: "/srv/www/cache", 4: "/srv", 5: "/var/log",
        6: "/", 7: "/srv/www/b"}


def resolve(record: Record) -> str | None:
    number = struct.unpack_from("=I", record.handle, 8)[0]
    return DIRS.get(number)  # 99: a directory removed since


def at(number: int, name: bytes, kind: int = DFID_NAME) -> Record:
    return Record(kind, FSID, handle(number), name)


def facts_of(*events: Event, excludes: tuple[str, ...] = ("/cache/", "*.tmp"),
             writes: OpenWrites | None = None, top: str = "/srv/www") -> list[Fact]:
    translator = EventFacts(top, "/srv/www", ExcludeMatcher(excludes),
                            OpenWrites() if writes is None else writes)
    return [fact for e in events for fact in translator.translate(e, resolve, 10.0)]


@pytest.mark.parametrize(("mask", "record", "expected"), [
    (FAN_CREATE, at(2, b"f"), [Dirty("a/f")]),
    (FAN_CREATE | FAN_ONDIR, at(1, b"a"), [Dirty("a")]),
    (FAN_DELETE, at(2, b"f"), [Dirty("a/f")]),
    (FAN_CLOSE_WRITE, at(2, b"f"), [Dirty("a/f")]),
    (FAN_MODIFY | FAN_CLOSE_WRITE, at(2, b"f"), [Dirty("a/f")]),  # merged: closed
    (FAN_ATTRIB, at(2, b"f"), [Dirty("a/f")]),
    (FAN_ATTRIB | FAN_ONDIR, at(2, b"."), [Dirty("a")]),  # a directory's own attributes
    (FAN_CREATE | FAN_DELETE, at(2, b"f"), [Dirty("a/f")]),  # merged: rsync looks
    (FAN_MOVED_FROM, at(2, b"f"), [Dirty("a/f")]),  # before FAN_RENAME: resent
    (FAN_MOVED_TO | FAN_ONDIR, at(1, b"d"), [Dirty("d")]),
    (FAN_CREATE, at(2, "caf\xe9".encode("latin-1")), [Dirty("a/" + os.fsdecode(b"caf\xe9"))]),
    (FAN_CREATE, at(5, b"syslog"), []),  # outside wpath
    (FAN_CREATE, at(4, b"www2"), []),  # beside wpath, sharing its prefix
    (FAN_CREATE, at(2, b"x.tmp"), []),  # excluded by name
    (FAN_CREATE, at(3, b"f"), []),  # below an excluded directory
    (FAN_CREATE | FAN_ONDIR, at(1, b"cache"), []),  # the excluded directory itself
    (FAN_CREATE, at(99, b"f"), []),  # in a directory removed since: its removal says so
    (FAN_ATTRIB | FAN_ONDIR, at(1, b"."), []),  # wpath's own attributes
    (FAN_ATTRIB | FAN_ONDIR, at(4, b"www"), []),  # the same, seen from its parent
    (FAN_DELETE | FAN_ONDIR, at(4, b"www"), [SourceGone("/srv/www was deleted or moved away")]),
    (FAN_MOVED_FROM | FAN_ONDIR, at(6, b"srv"),
     [SourceGone("/srv/www was deleted or moved away")]),
    (FAN_Q_OVERFLOW, None, [Overflow()]),
])
def test_an_entry_event_is_the_fact_inotify_would_give(mask: int, record: Record | None,
                                                      expected: list[Fact]) -> None:
    assert facts_of(Event(mask, (record,) if record else ())) == expected


def rename(old: Record, new: Record, is_dir: bool = False) -> Event:
    return Event(FAN_RENAME | (FAN_ONDIR if is_dir else 0),
                 (Record(OLD, old.fsid, old.handle, old.name),
                  Record(NEW, new.fsid, new.handle, new.name)))


@pytest.mark.parametrize(("old", "new", "is_dir", "expected"), [
    # inside: replayed, and the old name looked at again after it
    (at(2, b"f"), at(1, b"g"), False, [Moved("a/f", "g", False), Dirty("a/f")]),
    (at(1, b"a"), at(1, b"b"), True, [Moved("a", "b", True), Dirty("a")]),
    (at(2, b"f"), at(5, b"f"), False, [Dirty("a/f")]),  # out of the tree: a delete
    (at(5, b"f"), at(2, b"f"), False, [Dirty("a/f")]),  # in from outside: a create
    (at(2, b"f"), at(2, b"f.tmp"), False, [Dirty("a/f")]),  # to an excluded name: a delete
    (at(2, b"f.tmp"), at(2, b"f"), False, [Dirty("a/f")]),  # from one: a create
    (at(99, b"f"), at(1, b"f"), False, [Dirty("f")]),  # its old directory removed since
    (at(5, b"x"), at(5, b"y"), True, []),  # elsewhere on the filesystem
    (at(4, b"www"), at(4, b"www.old"), True, [SourceGone("/srv/www was moved away")]),
    (at(6, b"srv"), at(6, b"srv2"), True, [SourceGone("/srv/www was moved away")]),
    (at(4, b"new"), at(4, b"www"), True, [SourceGone("/srv/www was replaced by a rename")]),
])
def test_a_rename_is_a_move_inside_and_a_create_or_delete_across_the_edge(
        old: Record, new: Record, is_dir: bool, expected: list[Fact]) -> None:
    assert facts_of(rename(old, new, is_dir)) == expected


def test_a_write_not_closed_waits_like_inotifys_and_follows_a_rename() -> None:
    writes = OpenWrites()
    assert facts_of(Event(FAN_MODIFY, (at(2, b"log"),)), writes=writes) == []
    assert writes.paths() == ["a/log"]
    assert facts_of(rename(at(1, b"a"), at(1, b"b"), True), writes=writes) == [
        Moved("a", "b", True), Dirty("a")]
    assert writes.paths() == ["b/log"]
    facts_of(Event(FAN_MODIFY, (at(7, b"other"),)), writes=writes)
    assert facts_of(Event(FAN_CLOSE_WRITE, (at(7, b"log"),)), writes=writes) == [Dirty("b/log")]
    assert writes.paths() == ["b/other"]
    facts_of(Event(FAN_DELETE | FAN_ONDIR, (at(1, b"b"),)), writes=writes)
    assert writes.paths() == []  # deleted with its directory


def test_a_tree_at_the_root_of_the_filesystem_is_watched_whole() -> None:
    assert facts_of(Event(FAN_CREATE, (at(5, b"syslog"),)), top="/") == [Dirty("var/log/syslog")]


def test_only_a_directory_renamed_makes_the_names_known_so_far_stale() -> None:
    assert moves_directory(rename(at(1, b"a"), at(1, b"b"), True))
    assert moves_directory(Event(FAN_MOVED_TO | FAN_ONDIR))
    assert not moves_directory(rename(at(1, b"a"), at(1, b"b"), False))
    assert not moves_directory(Event(FAN_DELETE | FAN_ONDIR))
