"""What the source tree looks like right now, for building a node's next command.

Events describe the past; these look at the present: which listed paths rsync can stat, and
which paths below a renamed directory are excluded.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from inosync.changes import PathSet
from inosync.rsync.excludes import ExcludeMatcher


def listable(wpath: str, paths: Iterable[str],
             kinds: dict[str, bool | None] | None = None) -> list[str]:
    """The paths to hand rsync: each one, or its nearest ancestor that is not a directory.

    A path below what is now a file makes rsync fail with ENOTDIR (exit 23, and no
    deletions in that run); syncing the file itself is what the node needs instead.
    `kinds` (prefix -> is a dir, None: missing) may be shared by the nodes that start a
    batch at the same moment, so fifty nodes cost one lstat per prefix, not fifty.
    """
    if kinds is None:
        kinds = {}

    def is_dir(prefix: str) -> bool | None:
        if prefix not in kinds:
            try:
                kinds[prefix] = stat.S_ISDIR(os.lstat(os.path.join(wpath, prefix)).st_mode)
            except FileNotFoundError:
                kinds[prefix] = None
            except OSError:  # ENOTDIR and the like: what is above is not a directory
                kinds[prefix] = None
        return kinds[prefix]

    result = PathSet()
    for path in paths:
        parts = path.split("/")
        chosen = path
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            kind = is_dir(prefix)
            if kind is None:
                break  # missing: rsync deletes the path on the node
            if kind is False:
                chosen = prefix
                break
        result.add(chosen)
    return list(result)


def needs_move_check(patterns: tuple[str, ...]) -> bool:
    """Could a pattern match differently after a rename (one with an inner '/' or '**')?"""
    return any("/" in p.rstrip("/") or "**" in p for p in patterns)


def excluded_below(wpath: str, patterns: tuple[str, ...], top: str) -> list[str]:
    """Excluded paths below `top` on the source, relative to it (topmost only)."""
    matcher = ExcludeMatcher(patterns)
    if not matcher:
        return []
    found: list[str] = []
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(os.path.join(wpath, folder)) as entries:
                for entry in entries:
                    path = f"{folder}/{entry.name}"
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if matcher.excluded(path, is_dir):
                        found.append(path[len(top) + 1:])
                    elif is_dir:
                        stack.append(path)
        except OSError:
            continue  # vanished, or a file: the batch sync after this sorts it out
    return found


def count_entries(wpath: str, patterns: tuple[str, ...]) -> int:
    """Entries below wpath that rsync would send (excluded ones left out): the delete
    bound's measure of the source, for commands that have no watcher to ask."""
    matcher = ExcludeMatcher(patterns)
    count = 0
    stack = [""]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(os.path.join(wpath, folder)) as entries:
                for entry in entries:
                    path = f"{folder}/{entry.name}" if folder else entry.name
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if matcher and matcher.excluded(path, is_dir):
                        continue
                    count += 1
                    if is_dir:
                        stack.append(path)
        except OSError:
            continue
    return count


def identity_of(path: str) -> tuple[int, int] | None:
    """(device, inode) of a directory, to notice it being unmounted, hidden or replaced."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return st.st_dev, st.st_ino
