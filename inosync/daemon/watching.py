"""The daemon's watcher: the backend the config asks for, put in at start-up, after a
reload or a paused source, and, with `watcher = "auto"`, fanotify taking over from
inotify once the watch limit cannot hold the tree as it grows."""

from __future__ import annotations

import logging
import selectors
import time
from typing import TYPE_CHECKING

from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.backends import SourceWatcher, open_watcher, take_over
from inosync.source.fanotify import FanotifyUnavailable

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon

log = logging.getLogger("inosync")


class Watching:
    """Puts one daemon's watcher in and swaps it; the daemon reads it as `d.watcher`."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.fanotify_refused = False  # auto: fanotify could not take over from inotify

    def start(self) -> None:
        """Watch the tree afresh; WatchLimitError when no backend can hold it."""
        d = self.daemon
        started = time.monotonic()
        watcher = open_watcher(d.cfg.wpath, ExcludeMatcher(d.cfg.rexcludes), d.cfg.watcher,
                               progress=d.walking)
        self._use(watcher)
        self.fanotify_refused = False
        d.guard.watched()
        took = (time.monotonic() - started) * 1000
        if watcher.kind == "fanotify":  # nothing walked: the first sync runs beside the count
            log.info("watching all of %s (one mark a filesystem; its entries are counted "
                     "as the first sync runs) in %d ms with fanotify", d.cfg.wpath, took)
        else:
            log.info("watching %d directories (%d entries) under %s in %d ms with inotify",
                     watcher.watch_count, watcher.entries, d.cfg.wpath, took)

    def _use(self, watcher: SourceWatcher) -> None:
        d = self.daemon
        if d.watcher is not None:
            d.selector.unregister(d.watcher)
            d.watcher.close()
        d.watcher = watcher
        d.selector.register(watcher, selectors.EVENT_READ, "watcher")

    def outgrown(self) -> None:
        """auto: inotify ran out of watches as the tree grew; fanotify takes over if it
        works here (tried once per start of watching)."""
        d = self.daemon
        if d.watcher is None or d.cfg.watcher != "auto" or self.fanotify_refused:
            return
        try:
            watcher, facts = take_over(d.watcher, d.cfg.wpath, ExcludeMatcher(d.cfg.rexcludes),
                                       d.walking)
        except FanotifyUnavailable as error:
            self.fanotify_refused = True
            log.warning("%s: fanotify cannot take over from inotify (%s)", d.cfg.wpath, error)
            return
        self._use(watcher)
        d.apply(facts)
