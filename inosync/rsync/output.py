"""Readers of what rsync printed: itemized changes, sender failures, bytes sent, deletions
held back by --max-delete (pure)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Itemized:
    """One line of --itemize-changes: what rsync would do to `path` (relative to rpath)."""

    change: str  # rsync's 11-letter code, or "*deleting"
    path: str

    @property
    def is_deletion(self) -> bool:
        return self.change == "*deleting"


# The code is padded to 11 columns ("*deleting" too), then one space: a name may begin
# with spaces of its own.


_ITEM = re.compile(rb"^([<>ch.*][fdLDS.][^ ]{9}|\*deleting  ) (.*)$")


def parse_itemized(stdout: bytes) -> list[Itemized]:
    """The itemized lines of rsync's output; statistics and messages are skipped.

    rsync writes unprintable bytes in names as \\#ooo, and a directory with a trailing "/".
    """
    items = []
    for line in stdout.split(b"\n"):
        match = _ITEM.match(line)
        if match is None:
            continue
        raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), match.group(2))
        path = os.fsdecode(raw.rstrip(b"/")) or "."
        items.append(Itemized(match.group(1).decode("ascii", "replace").rstrip(), path))
    return items


_SENDER_FAILURE = re.compile(rb'^rsync: \[sender\] [^"\n]*"([^"\n]*)"(?: failed)?: ([^\n]*)$',
                             re.MULTILINE)


_ESCAPE = re.compile(rb"\\#([0-7]{3})")


_UNREADABLE_ERRNOS = (b"(1)", b"(5)", b"(13)")  # EPERM, EIO, EACCES: not a race


def sender_failures(stderr: bytes, wpath: str) -> dict[str, str]:
    """Source paths rsync's sender could not read, relative to wpath, with the reason.

    Only permission and I/O errors count: ENOENT or ENOTDIR mean the tree changed under
    rsync, and the events that follow bring the path back in its new shape.
    """
    top = os.fsencode(wpath.rstrip("/")) + b"/"
    found = {}
    for match in _SENDER_FAILURE.finditer(stderr):
        if not match.group(2).rstrip().endswith(_UNREADABLE_ERRNOS):
            continue
        raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), match.group(1))
        if raw.startswith(top) and len(raw) > len(top):
            found[os.fsdecode(raw[len(top):])] = match.group(2).decode("utf-8", "replace")
    return found


_SENT = re.compile(rb"sent ([\d,.]+) bytes\s+received ([\d,.]+) bytes")


def bytes_sent(stdout: bytes) -> int | None:
    """Bytes rsync says it sent, from --info=stats1 output."""
    match = _SENT.search(stdout)
    if not match:
        return None
    return int(match.group(1).replace(b",", b"").replace(b".", b""))


# Not anchored at the line's start: a prefix before rsync's words must not hide them.
_HELD_BACK = re.compile(rb"Deletions stopped due to --max-delete limit \((\d+) skipped\)")
_KEPT_DIR = re.compile(rb"cannot delete non-empty directory: (.*)$", re.MULTILINE)


def deletions_held_back(output: bytes) -> int | None:
    """How many entries a run with --max-delete left on the node that --delete would have
    deleted; None when rsync did not say it held any back. `output`: stdout and stderr.

    rsync counts every entry it skipped but one: a non-empty directory at the top of an
    extraneous tree only says it cannot be deleted (its subdirectories say so too, and are
    counted). So each such line whose parent has none is one more. A directory kept for
    an excluded entry in it says so as well: the sum is never below what a deleting run
    then deletes, which is what the bound needs. Names are compared as rsync escaped them.
    """
    match = _HELD_BACK.search(output)
    if match is None:
        return None
    kept = set(_KEPT_DIR.findall(output))
    tops = sum(1 for path in kept if path.rpartition(b"/")[0] not in kept)
    return int(match.group(1)) + tops
