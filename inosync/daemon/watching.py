"""The daemon's watcher: the backend the config asks for, put in at start-up, after a
reload or a paused source, and, with `watcher = "auto"`, fanotify taking over from
inotify once the watch limit cannot hold the tree as it grows."""

from __future__ import annotations

import logging
import selectors
import time
from collections.abc import Generator
from typing import TYPE_CHECKING

from inosync.changes import ROOT
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.backends import SourceWatcher, beyond_limit, open_watcher, take_over
from inosync.source.facts import WatchLimitError
from inosync.source.fanotify import FanotifyUnavailable
from inosync.source.subtrees import Splitter
from inosync.source.watcher import Watcher

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon

log = logging.getLogger("inosync")
STEP_SECONDS = 0.02  # of the start-up walk a turn of the loop: the nodes' jobs wait no longer


class Watching:
    """Puts one daemon's watcher in and swaps it; the daemon reads it as `d.watcher`."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.fanotify_refused = False  # auto: fanotify could not take over from inotify
        self.started = 0.0
        self.splitter = Splitter()
        self.steps: Generator[None, None, int] | None = None  # the start-up walk's rest

    def start(self, stepped: bool = False) -> None:
        """Watch the tree afresh; WatchLimitError when no backend can hold it.

        `stepped` (at start-up): once inotify's walk has finished subtrees enough for a
        piece of the first sync, the rest of the walk runs a step each turn of the loop
        (`step`) while the nodes sync what is watched already (`source.subtrees`)."""
        d = self.daemon
        self.abandon_walk()
        self.started = time.monotonic()
        # The tree is known by its identity before its watches go in: one swapped in while
        # the walk goes on is then another tree, and the guard pauses for it.
        d.guard.watched()
        if not stepped or d.cfg.watcher == "fanotify":
            self._use(open_watcher(d.cfg.wpath, ExcludeMatcher(d.cfg.rexcludes),
                                   d.cfg.watcher, progress=d.walking))
            self._watched()
            return
        watcher = Watcher(d.cfg.wpath, ExcludeMatcher(d.cfg.rexcludes), progress=d.walking)
        self.splitter = Splitter()
        self.steps = watcher.watches.walk_steps(ROOT, None, self.splitter)
        d.watcher = watcher  # in the selector once the walk is over: its events wait till then
        try:
            while self.steps is not None and not self.splitter.pieces:
                self._advance()
        except WatchLimitError as limit:
            self._beyond_limit(limit)

    @property
    def walking(self) -> bool:
        """The start-up walk goes on, a step each turn of the loop."""
        return self.steps is not None

    def step(self, now: float) -> None:
        """One turn's share of the start-up walk; then the nodes waiting for a piece
        take the ones it finished."""
        d = self.daemon
        deadline = now + STEP_SECONDS
        try:
            while self.steps is not None and time.monotonic() < deadline:
                self._advance()
        except WatchLimitError as limit:
            try:
                self._beyond_limit(limit)
            except WatchLimitError as error:
                log.error("%s", error)
                d.fail()
                return
        if d.paused_reason or d.stop_requested:
            return  # no piece starts now; a source that is back is watched afresh
        free = d.starter.parallel_limit() - sum(1 for r in d.nodes if r.job is not None)
        for runner in d.nodes:
            if free > 0 and runner.pieces.active and runner.job is None \
                    and runner.pieces.can_take():
                runner.next_piece(d.cfg.dry_run)
                d.register_job(runner)
                free -= runner.job is not None

    def _advance(self) -> None:
        assert self.steps is not None
        try:
            next(self.steps)
        except StopIteration:
            self.steps = None
            watcher = self.daemon.watcher
            assert watcher is not None
            self._use(watcher)  # (its events were read ahead meanwhile)
            self._watched()

    def _beyond_limit(self, limit: WatchLimitError) -> None:
        """The walk ran out of watches: fanotify, with "auto", or WatchLimitError; pieces
        already sent were of watched subtrees, the rest starts over as one full sync."""
        d = self.daemon
        self.abandon_walk()
        self._use(beyond_limit(d.cfg.wpath, ExcludeMatcher(d.cfg.rexcludes), d.cfg.watcher,
                               limit, d.walking))
        self._watched()

    def abandon_walk(self) -> None:
        """The start-up walk will not finish (the tree is watched afresh): a node sending
        its pieces stops, and its full sync starts again."""
        d = self.daemon
        if self.steps is None:
            return
        self.steps = None
        if d.watcher is not None:  # (not in the selector yet)
            d.watcher.close()
            d.watcher = None
        now = time.monotonic()
        for runner in d.nodes:
            runner.pieces.source = None
            if runner.pieces.active:
                d.discard_job(runner, now)
                runner.pieces.active = False
                runner.phase = ""
                runner.pending.mark_all()
                runner.touched(now)

    def _watched(self) -> None:
        d = self.daemon
        watcher = d.watcher
        assert watcher is not None
        self.fanotify_refused = False
        took = (time.monotonic() - self.started) * 1000
        if watcher.kind == "fanotify":  # nothing walked: the first sync runs beside the count
            log.info("watching all of %s (one mark a filesystem; its entries are counted "
                     "as the first sync runs) in %d ms with fanotify", d.cfg.wpath, took)
        else:
            log.info("watching %d directories (%d entries) under %s in %d ms with inotify",
                     watcher.watch_count, watcher.entries, d.cfg.wpath, took)

    def _use(self, watcher: SourceWatcher) -> None:
        d = self.daemon
        if d.watcher is not None and d.watcher is not watcher:
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
