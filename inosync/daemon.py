"""The main loop: one thread, one selector, sleeping until the next deadline.

The selector holds the inotify fd, a wake-up fd for signals and a pidfd per child. Signal
handlers only set flags. The watchdog is pinged from this loop, so a hung loop stops the
pings and systemd restarts the daemon.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace

from inosync import config as config_mod
from inosync.changes import Move
from inosync.config import Config
from inosync.excludes import ExcludeMatcher
from inosync.node import NodeRunner
from inosync.service import Notifier, set_level
from inosync.watcher import (
    Dirty,
    Fact,
    Moved,
    Overflow,
    SourceGone,
    Watcher,
    WatchLimitError,
    identity_of,
)

log = logging.getLogger("inosync")
STOP_GRACE_SECONDS = 4.0
SOURCE_POLL_SECONDS = 1.0
RESCAN_MIN_SECONDS = 1.0
OVERFLOW_LOG_SECONDS = 60.0
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 78


def runtime_dir() -> tuple[str, bool]:
    """A directory only we can write, short enough for ssh control socket paths, and
    whether we made it (and so remove it at exit)."""
    given = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if given and os.path.isdir(given):
        return given, False
    return tempfile.mkdtemp(prefix="inosync-"), True


def _has_entries(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


class Daemon:
    def __init__(self, cfg: Config, notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self.selector = selectors.DefaultSelector()
        self.runtime, self._own_runtime = runtime_dir()
        self.watcher: Watcher | None = None
        self.nodes: list[NodeRunner] = []
        self.identity: tuple[int, int] | None = None
        self.paused_reason = ""
        self.next_source_poll = 0.0
        self.stop_requested = 0
        self.reload_requested = False
        self.stop_deadline: float | None = None
        self.ready_sent = False
        self.reload_problem = ""
        self.next_ping = 0.0
        self.rescan_at: float | None = None
        self.last_rescan = -RESCAN_MIN_SECONDS
        self.overflows = 0
        self.overflow_logged_at = -OVERFLOW_LOG_SECONDS
        self._wake_r, self._wake_w = socket.socketpair()
        self._node_ids = 0

    # -- setup ----------------------------------------------------------------------

    def _install_signals(self) -> None:
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        self.selector.register(self._wake_r, selectors.EVENT_READ, "signal")

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop_requested += 1  # only a flag: the loop does the work

    def _on_reload(self, signum: int, frame: object) -> None:
        self.reload_requested = True

    def _start_watching(self) -> None:
        started = time.monotonic()
        watcher = Watcher(self.cfg.wpath, ExcludeMatcher(self.cfg.rexcludes))
        try:
            count = watcher.watch_tree()
        except BaseException:
            watcher.close()
            raise
        if self.watcher is not None:
            self.selector.unregister(self.watcher)
            self.watcher.close()
        self.watcher = watcher
        self.selector.register(watcher, selectors.EVENT_READ, "inotify")
        self.identity = identity_of(self.cfg.wpath)
        log.info("watching %d directories (%d entries) under %s in %d ms", count,
                 watcher.entries, self.cfg.wpath, (time.monotonic() - started) * 1000)

    def _make_node(self, node: config_mod.Node) -> NodeRunner:
        self._node_ids += 1
        control = os.path.join(self.runtime, f"n{self._node_ids}.sock")
        runner = NodeRunner(self.cfg, node, control, self._source_entries)
        runner.pending.mark_all()
        runner.due_at = time.monotonic()  # the initial full sync starts at once
        return runner

    def _source_entries(self) -> int:
        return self.watcher.current_entries() if self.watcher is not None else 0

    # -- the loop -------------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        if identity_of(self.cfg.wpath) is None:
            log.error("%s: wpath: %s is missing or not a directory - create it, mount it "
                      "(add RequiresMountsFor= to the unit) or fix the config",
                      self.cfg.path, self.cfg.wpath)
            return EXIT_FAILURE
        try:
            self._start_watching()
        except WatchLimitError as error:
            log.error("%s", error)
            return EXIT_FAILURE
        self.nodes = [self._make_node(node) for node in self.cfg.nodes]
        self.notifier.status("initial sync running")
        try:
            while not self._finished():
                self._step()
        finally:
            for runner in self.nodes:
                runner.close(0.5)
            if self.watcher is not None:
                self.watcher.close()
            if self._own_runtime:
                shutil.rmtree(self.runtime, ignore_errors=True)
        log.info("stopped")
        return EXIT_OK

    def _finished(self) -> bool:
        """Stop once in-flight and pending work is done, or at the deadline, or at once
        on a second signal. Nodes in backoff are not waited for."""
        if not self.stop_requested:
            return False
        now = time.monotonic()
        if self.stop_deadline is None:
            self.notifier.stopping()
            log.info("stopping: finishing running and pending syncs for up to %ds",
                     STOP_GRACE_SECONDS)
            self.stop_deadline = now + STOP_GRACE_SECONDS
        busy = [r for r in self.nodes if r.job is not None or self._drainable(r, now)]
        if busy and self.stop_requested == 1 and now < self.stop_deadline:
            return False
        for runner in self.nodes:
            if runner.job is not None:
                log.warning("%s: abandoning a running sync to stop; the next start's full "
                            "sync redoes it", runner.node.name)
            elif runner.pending:
                log.warning("%s: stopping with %d paths not yet on the node; the next "
                            "start's full sync sends them", runner.node.name,
                            len(runner.pending.dirty) + len(runner.pending.moves))
        return True

    def _drainable(self, runner: NodeRunner, now: float) -> bool:
        return bool(runner.pending) and runner.retry_at <= now and not self.paused_reason

    def _timeout(self, now: float) -> float | None:
        deadlines: list[float] = []
        if not self.paused_reason:
            deadlines += [d for r in self.nodes if (d := r.deadline()) is not None]
        if self.watcher is not None and (d := self.watcher.next_deadline()) is not None:
            deadlines.append(d)
        if self.paused_reason:
            deadlines.append(self.next_source_poll)
        elif self.rescan_at is not None:
            deadlines.append(self.rescan_at)
        if self.stop_deadline is not None:
            deadlines.append(self.stop_deadline)
        if self.notifier.watchdog_interval:
            deadlines.append(self.next_ping)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _step(self) -> None:
        now = time.monotonic()
        for key, _ in self.selector.select(self._timeout(now)):
            if key.data == "signal":
                self._drain_wakeups()
            elif key.data == "inotify":
                self._apply(self.watcher.read() if self.watcher else [])
            elif isinstance(key.data, NodeRunner):
                self.selector.unregister(key.fileobj)
                key.data.job_done(self.cfg.dry_run)
                self._register_job(key.data)
        now = time.monotonic()
        if self.watcher is not None:
            self._apply(self.watcher.expire(now))
        if self.notifier.watchdog_interval and now >= self.next_ping:
            self.notifier.watchdog()
            self.next_ping = now + self.notifier.watchdog_interval
            # A mount on top of wpath sends no event: look while awake anyway.
            if not self.paused_reason and identity_of(self.cfg.wpath) != self.identity:
                self._pause("its device or inode changed, or it is gone (unmounted? hidden "
                            "by a mount?)")
        if self.reload_requested and not self.stop_requested:
            self.reload_requested = False
            self._reload()
        if self.rescan_at is not None and now >= self.rescan_at and not self.paused_reason:
            self._rescan(now)
        if self.paused_reason and now >= self.next_source_poll:
            self._poll_source(now)
        if not self.paused_reason and self.stop_requested <= 1:
            self._start_due(now)
        self._report()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(256):
                pass
        except BlockingIOError:
            pass  # drained

    def _register_job(self, runner: NodeRunner) -> None:
        if runner.job is not None:
            self.selector.register(runner.job, selectors.EVENT_READ, runner)

    def _start_due(self, now: float) -> None:
        due = [r for r in self.nodes if r.wants_start(now)]
        if not due:
            return
        if identity_of(self.cfg.wpath) != self.identity:
            self._pause("its device or inode changed, or it is gone (unmounted? hidden by "
                        "a mount?)")
            return
        for runner in due:
            runner.start(now, self.cfg.dry_run)
            self._register_job(runner)

    # -- facts from the watcher -----------------------------------------------------

    def _apply(self, facts: Sequence[Fact]) -> None:
        if not facts:
            return
        now = time.monotonic()
        if any(isinstance(fact, Overflow) for fact in facts):
            self._overflow()  # a rescan and full sync cover every other fact
            facts = [fact for fact in facts if isinstance(fact, SourceGone)]
        for fact in facts:
            if isinstance(fact, Dirty):
                log.debug("changed: %r", fact.path)
                for runner in self.nodes:
                    runner.pending.mark(fact.path)
                    runner.changed(fact.path)
                    runner.touched(now)
            elif isinstance(fact, Moved):
                log.debug("moved: %r -> %r", fact.src, fact.dst)
                move = Move(fact.src, fact.dst, fact.is_dir)
                for runner in self.nodes:
                    runner.pending.move(move, runner.batch_paths)
                    runner.changed(fact.src)
                    runner.touched(now)
            elif isinstance(fact, SourceGone):
                self._pause(fact.reason)

    def _overflow(self) -> None:
        """Events were lost: rescan and fully sync, at most once a second (a sustained
        storm must not become a rescan loop), saying so at most once a minute."""
        now = time.monotonic()
        self.overflows += 1
        if now - self.overflow_logged_at >= OVERFLOW_LOG_SECONDS:
            log.warning("inotify queue overflowed (events were lost) %d time(s) since the last "
                        "warning: rescanning %s and running a full sync of every node; if "
                        "this recurs, raise fs.inotify.max_queued_events", self.overflows,
                        self.cfg.wpath)
            self.overflow_logged_at = now
            self.overflows = 0
        if self.rescan_at is None:
            self.rescan_at = max(now, self.last_rescan + RESCAN_MIN_SECONDS)

    def _rescan(self, now: float) -> None:
        assert self.watcher is not None
        self.rescan_at = None
        self.last_rescan = now
        log.debug("rescanning %s after lost events", self.cfg.wpath)
        try:
            self.watcher.rewatch_all()
        except WatchLimitError as error:
            log.error("%s", error)
        for runner in self.nodes:
            runner.pending.mark_all()
            runner.touched(now)

    def _pause(self, reason: str) -> None:
        if not self.paused_reason:
            log.error("source %s looks wrong: %s. Not syncing anything, so the nodes keep "
                      "their data; resuming when it is back as it was.", self.cfg.wpath, reason)
        self.paused_reason = reason
        self.next_source_poll = time.monotonic() + SOURCE_POLL_SECONDS

    def _poll_source(self, now: float) -> None:
        self.next_source_poll = now + SOURCE_POLL_SECONDS
        current = identity_of(self.cfg.wpath)
        if current is None:
            return
        if current != self.identity:
            if not (os.path.islink(self.cfg.wpath) and _has_entries(self.cfg.wpath)):
                return
            # A symlink switched to another non-empty directory (a deploy's "current"
            # link) is a deliberate act; the full sync's delete bound still applies.
            log.warning("source %s now points to %s: watching it and running a full sync",
                        self.cfg.wpath, os.path.realpath(self.cfg.wpath))
        else:
            log.warning("source %s is back: watching it again and running a full sync",
                        self.cfg.wpath)
        self.paused_reason = ""
        try:
            self._start_watching()
        except WatchLimitError as error:
            log.error("%s", error)
        for runner in self.nodes:
            runner.pending.mark_all()
            runner.touched(now)

    # -- reload ---------------------------------------------------------------------

    def _reload(self) -> None:
        self.notifier.reloading()
        try:
            new = config_mod.load(self.cfg.path)
        except config_mod.ConfigError as error:
            self.reload_problem = "; ".join(error.problems)
            log.error("reload failed, still running on the previous config: %s",
                      self.reload_problem)
            self.notifier.ready()
            return
        new = replace(new, dry_run=self.cfg.dry_run)
        old = self.cfg
        self.cfg = new
        self.reload_problem = ""
        set_level(new.log_level)
        now = time.monotonic()
        if (new.wpath, new.rexcludes) != (old.wpath, old.rexcludes):
            try:
                self._start_watching()
            except WatchLimitError as error:
                log.error("%s", error)
        kept: list[NodeRunner] = []
        for runner in self.nodes:
            if runner.node in new.nodes:
                kept.append(runner)
            else:
                log.info("reload: node %s removed", runner.node.name)
                if runner.job is not None:
                    self.selector.unregister(runner.job)
                runner.close(1.0)
        known = {runner.node for runner in kept}
        added = [self._make_node(node) for node in new.nodes if node not in known]
        for runner in added:
            log.info("reload: node %s added", runner.node.name)
        for runner in kept:  # a reload also verifies: every node gets a full sync
            runner.cfg = new
            runner.unreadable.clear()  # and tries unreadable paths again
            runner.pending.mark_all()
            runner.touched(now)
        self.nodes = kept + added
        log.info("reloaded %s", new.path)
        self.ready_sent = False

    # -- reporting ------------------------------------------------------------------

    def _report(self) -> None:
        status = self.status_text(time.monotonic())
        if not self.ready_sent and all(r.initial_tried for r in self.nodes):
            self.ready_sent = True
            self.notifier.ready(status)
            return
        self.notifier.status(status)

    def status_text(self, now: float) -> str:
        pending = sum(len(r.pending.dirty) + len(r.pending.moves) for r in self.nodes)
        syncing = sum(len(r.batch_paths) for r in self.nodes if r.job is not None)
        if self.paused_reason:
            head = f"paused: source looks wrong ({self.paused_reason})"
        elif all(r.in_sync() for r in self.nodes):
            head = "in sync"
        elif any(r.job is not None and r.phase == "full" for r in self.nodes):
            head = "full sync running"
        elif syncing:
            head = f"syncing {syncing} paths"
        else:
            head = f"{pending} paths pending"
        parts = [head, "; ".join(r.describe(now) for r in self.nodes)]
        if self.watcher is not None:
            parts.append(f"{self.watcher.watch_count} watches")
        last = max((r.last_sync for r in self.nodes if r.last_sync), default=None)
        if last:
            parts.append("last sync " + time.strftime("%H:%M:%S", time.localtime(last)))
        if self.watcher is not None and self.watcher.limit_error:
            parts.append(self.watcher.limit_error)
        if self.reload_problem:
            parts.append(f"reload failed, running on previous config: {self.reload_problem}")
        return " | ".join(parts)
