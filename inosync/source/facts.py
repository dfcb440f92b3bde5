"""What the source tells the daemon: the four facts a watcher backend emits.

The daemon acts on these alone, so a second backend (fanotify) only has to produce them.
Paths are relative to wpath, as str with surrogateescape so that any byte sequence survives.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dirty:
    """The path (and, for a directory, everything below it) may differ from the nodes.

    `created`: a file that was just created, so no node has it under this name yet. It is
    a hint, not part of the fact: a rename of such a file is sent, not replayed as a `mv`
    that can only fail (sed -i, editors and installers write a temporary file first).
    """

    path: str
    created: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Moved:
    """A rename inside the tree: replayed on the nodes, so the data need not travel."""

    src: str
    dst: str
    is_dir: bool


@dataclass(frozen=True)
class Overflow:
    """The kernel dropped events: only a rescan and a full sync are sure to catch up."""


@dataclass(frozen=True)
class SourceGone:
    """wpath itself went away (deleted, moved, unmounted): syncing must pause."""

    reason: str


Fact = Dirty | Moved | Overflow | SourceGone


class WatchLimitError(Exception):
    """The kernel's per-user watch limit is too low for this tree."""
