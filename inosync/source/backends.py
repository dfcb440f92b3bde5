"""The two watcher backends behind one interface, and which one watches a tree.

`watcher = "inotify"` (a watch per directory) is what inosync always used. `"fanotify"`
(one mark per filesystem) is used when it works here and falls back to inotify with one
line saying why. `"auto"`, the default, keeps inotify until the watch limit cannot hold
the tree, at start-up or as it grows, and then hands over to fanotify if it works here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from inosync.changes import ROOT
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.facts import Dirty, Fact, WatchLimitError
from inosync.source.fanotify import FanotifyUnavailable
from inosync.source.fanotify_watcher import FanotifyWatcher
from inosync.source.unwatched import Unwatched
from inosync.source.watch_limit import watch_limit
from inosync.source.watcher import Watcher

log = logging.getLogger("inosync")


class SourceWatcher(Protocol):
    """What the daemon asks of a watcher: an fd for its selector, the facts, deadlines."""

    kind: str

    @property
    def unwatched(self) -> Unwatched: ...
    @property
    def entries(self) -> int: ...
    @property
    def watch_count(self) -> int: ...
    @property
    def watch_limit_reached(self) -> bool: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def read(self) -> list[Fact]: ...
    def expire(self, now: float) -> list[Fact]: ...
    def next_deadline(self) -> float | None: ...
    def unsettled(self) -> list[str]: ...
    def watch_tree(self, top: str = ROOT) -> int: ...
    def rewatch_all(self) -> int: ...
    def retry_unwatched(self, paths: Sequence[str] | None = None) -> list[Fact]: ...
    def watch_subtree(self, relpath: str) -> None: ...
    def current_entries(self) -> int: ...


def _watched(watcher: SourceWatcher) -> SourceWatcher:
    try:
        watcher.watch_tree()
    except BaseException:
        watcher.close()
        raise
    return watcher


def open_watcher(wpath: str, excludes: ExcludeMatcher, choice: str,
                 progress: Callable[[], None] | None = None) -> SourceWatcher:
    """The backend `choice` asks for, with the tree watched; WatchLimitError when inotify
    cannot hold it and fanotify cannot take over."""
    if choice == "fanotify":
        try:
            return _watched(FanotifyWatcher(wpath, excludes, progress))
        except FanotifyUnavailable as error:
            log.warning("fanotify unavailable on %s (%s): watching with inotify", wpath, error)
    try:
        return _watched(Watcher(wpath, excludes, progress))
    except WatchLimitError as limit:
        return beyond_limit(wpath, excludes, choice, limit, progress)


def beyond_limit(wpath: str, excludes: ExcludeMatcher, choice: str, limit: WatchLimitError,
                 progress: Callable[[], None] | None = None) -> SourceWatcher:
    """inotify's walk ran out of watches: with "auto", fanotify watches the tree instead;
    else, or when fanotify does not work here, WatchLimitError."""
    if choice != "auto":
        raise limit
    try:
        fanotify = _watched(FanotifyWatcher(wpath, excludes, progress))
    except FanotifyUnavailable as error:
        raise WatchLimitError(f"{limit}; fanotify cannot take over either ({error})") \
            from None
    log.warning("%s: inotify's watch limit (fs.inotify.max_user_watches = %s) cannot hold "
                "this tree: watching with fanotify (one mark for the whole filesystem)",
                wpath, watch_limit())
    return fanotify


def take_over(old: SourceWatcher, wpath: str, excludes: ExcludeMatcher,
              progress: Callable[[], None] | None = None) -> tuple[SourceWatcher, list[Fact]]:
    """fanotify replaces an inotify watcher that ran out of watches as the tree grew.

    The mark goes in before inotify's last events are read, so nothing falls between
    them; what inotify could not watch, and the writes and moves it still waited on, are
    dirty. The caller closes `old`. FanotifyUnavailable when fanotify does not work here.
    """
    new = _watched(FanotifyWatcher(wpath, excludes, progress))
    facts = old.read()
    facts += [Dirty(path) for path in old.unwatched.at_or_below(ROOT)]
    facts += [Dirty(path) for path in old.unsettled()]
    log.warning("%s: inotify's watch limit (fs.inotify.max_user_watches = %s) cannot hold "
                "this tree any more: watching with fanotify (one mark for the whole "
                "filesystem)", wpath, watch_limit())
    return new, facts

