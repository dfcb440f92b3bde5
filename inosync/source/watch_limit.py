"""How many inotify watches a tree needs, and what to say when the limit is too low.

Counting runs before a start (`inosync check`) and when the daemon runs out, so it must be
quick on a million directories: it lists directories without building paths it does not
need, and skips listing leaf directories where link counts allow it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from inosync.rsync.excludes import ExcludeMatcher

PROGRESS_EVERY = 256  # directories a walk goes through between calls of its progress hook


def watch_limit() -> int | None:
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


def _raise_limit_advice(needed: int, limit: int | None) -> str:
    suggestion = max(needed * 2, (limit or 0) * 2, 65536)
    return (f"fs.inotify.max_user_watches is {limit} (shared by all of this user's "
            f"programs) - raise it: sysctl -w fs.inotify.max_user_watches={suggestion} and "
            f"put fs.inotify.max_user_watches={suggestion} in /etc/sysctl.d/90-inosync.conf")


def watch_limit_message(wpath: str, needed: int) -> str:
    return (f"{wpath}: out of inotify watches: {needed} directories need one each but "
            + _raise_limit_advice(needed, watch_limit()))


def watch_shortage(wpath: str, excludes: ExcludeMatcher) -> str:
    """Before a start: a warning when the tree has more directories than the watch limit
    allows ("" when it fits), so the limit is raised before the daemon runs out."""
    limit = watch_limit()
    if limit is None:
        return ""
    needed = count_dirs(wpath, excludes)
    if needed <= limit:
        return ""
    return (f"{wpath}: {needed} directories need one inotify watch each (about 1 KB of "
            f"kernel memory per watch) but " + _raise_limit_advice(needed, limit))


def count_dirs(wpath: str, excludes: ExcludeMatcher) -> int:
    """How many watches the tree below wpath needs, counted quickly.

    A directory's link count is 2 plus its subdirectories on ext4, xfs and tmpfs, so a
    subdirectory with a link count of 2 is a leaf: one lstat instead of listing it
    (leaves are most directories of a big tree). Where wpath's own link count does not
    follow that rule (btrfs says 1) every directory is listed.
    """
    return _count(wpath, excludes, leaves_by_links=_links_count_subdirs(wpath))[0]


def _links_count_subdirs(path: str) -> bool:
    try:
        with os.scandir(path) as listing:
            subdirs = sum(1 for entry in listing if entry.is_dir(follow_symlinks=False))
        return os.stat(path).st_nlink == 2 + subdirs
    except OSError:
        return False


def count_entries(wpath: str, excludes: ExcludeMatcher,
                  progress: Callable[[], None] | None = None) -> int:
    """Every non-excluded entry below wpath (files, directories, links). `progress` is
    called every PROGRESS_EVERY directories: the daemon counts within its loop."""
    return _count(wpath, excludes, leaves_by_links=False, progress=progress)[1]


def count_tree(wpath: str, excludes: ExcludeMatcher,
               progress: Callable[[], None] | None = None) -> tuple[int, int]:
    """(directories, entries) below wpath, every directory listed."""
    return _count(wpath, excludes, leaves_by_links=False, progress=progress)


def _count(wpath: str, excludes: ExcludeMatcher, leaves_by_links: bool,
           progress: Callable[[], None] | None = None) -> tuple[int, int]:
    """(directories, entries) below wpath and wpath itself; entries are only all counted
    when leaves are listed too."""
    matcher = excludes if excludes else None
    cut = len(wpath.rstrip("/")) + 1 if wpath.rstrip("/") else 1
    stack = [wpath]
    dirs = entries = listed = 0
    while stack:
        folder = stack.pop()
        dirs += 1
        listed += 1
        if progress is not None and listed % PROGRESS_EVERY == 0:
            progress()
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if matcher is not None and matcher.matches_name(entry.path[cut:], is_dir):
                        continue
                    entries += 1
                    if not is_dir:
                        continue
                    if leaves_by_links:
                        try:
                            if entry.stat(follow_symlinks=False).st_nlink == 2:
                                dirs += 1
                                continue
                        except OSError:
                            continue
                    stack.append(entry.path)
        except OSError:
            pass  # vanished or unreadable
    return dirs, entries
