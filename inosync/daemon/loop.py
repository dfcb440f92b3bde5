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
import time
from collections.abc import Sequence

from inosync import exitcodes
from inosync.changes import Move
from inosync.config import load as config_mod
from inosync.config.load import Config
from inosync.daemon.deadlines import next_timeout
from inosync.daemon.hooks import Hooks
from inosync.daemon.mount_watch import MountWatch
from inosync.daemon.node_return import ReturnWatch
from inosync.daemon.overflow import OverflowPacing
from inosync.daemon.reloading import Reloader
from inosync.daemon.reporting import Reporter
from inosync.daemon.runtime_dir import runtime_dir, sockets_dir
from inosync.daemon.service import Notifier
from inosync.daemon.signals import SIGNALS, install_signal_flags
from inosync.daemon.source_guard import POLL_SECONDS, SourceGuard
from inosync.daemon.starting import Starter
from inosync.daemon.stopping import STOP_GRACE_SECONDS, Stopper
from inosync.daemon.watching import Watching
from inosync.node.hook import Hook
from inosync.node.reach import PortProbe
from inosync.node.runner import NodeRunner
from inosync.process import Job, Reaper
from inosync.report.state_files import StatePublisher, instance_name
from inosync.source import mounts
from inosync.source.backends import SourceWatcher
from inosync.source.facts import Dirty, Fact, Moved, Overflow, SourceGone, WatchLimitError
from inosync.source.tree import identity_of

log = logging.getLogger("inosync")


class Daemon:
    def __init__(self, cfg: Config, notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self.selector = selectors.DefaultSelector()
        self.runtime, self._own_runtime = "", False  # made once the source looks usable
        self.sockets = ""  # the private part of runtime
        self.watcher: SourceWatcher | None = None
        self.nodes: list[NodeRunner] = []
        self.guard = SourceGuard(cfg.wpath)  # wpath is the tree watched, or syncing pauses
        self.stop_deadline: float | None = None
        self.ready_sent = False
        self.reload_problem = ""
        self.overflow = OverflowPacing()
        self.started_wall = time.time()
        self.publisher = StatePublisher("")
        self._wake_r, self._wake_w = socket.socketpair()
        self._node_ids = 0
        self.mount_watch = MountWatch()
        self.reaper = Reaper()  # children of removed nodes, until they have exited
        self.reloader = Reloader(self)
        self.stopper, self.reporter = Stopper(self), Reporter(self)
        self.returns, self.starter = ReturnWatch(self), Starter(self)
        self.hooks = Hooks(self)
        self.watching = Watching(self)
        self.failure = exitcodes.OK  # what run() returns: set when the daemon cannot go on

    # -- setup ----------------------------------------------------------------------

    @property
    def paused_reason(self) -> str:
        return self.guard.paused_reason

    @property
    def stop_requested(self) -> int:
        return SIGNALS.stop

    def _install_signals(self) -> None:
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        install_signal_flags()
        self.selector.register(self._wake_r, selectors.EVENT_READ, "signal")

    def walking(self) -> None:
        """Every walk of the tree calls this as it goes: the watches at start-up run before
        the loop, a rescan or the delete guard's count within one turn of it, and either may
        take longer than the watchdog or systemd's start timeout allow."""
        self.notifier.alive(time.monotonic())

    def make_node(self, node: config_mod.Node) -> NodeRunner:
        self._node_ids += 1
        control = os.path.join(self.sockets, f"n{self._node_ids}.sock")
        runner = NodeRunner(self.cfg, node, control, self._source_entries)
        runner.lost_mounts = self.mount_watch.state.lost
        runner.pending.mark_all()
        if self.watching.walking:  # the first full sync goes a piece at a time
            runner.pieces.source = self.watching.splitter
        runner.due_at = time.monotonic()  # the initial full sync starts at once
        runner.oldest_change = runner.due_at  # owed from now: the lag counts from here
        return runner

    def _source_entries(self) -> int:
        return self.watcher.current_entries() if self.watcher is not None else 0

    # -- the loop -------------------------------------------------------------------

    def run(self) -> int:
        self.notifier.alive(time.monotonic())  # systemd's start timeout runs: ask for time
        self._install_signals()
        if identity_of(self.cfg.wpath) is None:
            log.error("%s: wpath: %s is missing or not a directory - create it, mount it "
                      "(add RequiresMountsFor= to the unit) or fix the config",
                      self.cfg.path, self.cfg.wpath)
            return exitcodes.FAILURE
        self.notifier.status("watching the tree")  # a million directories take a while
        try:
            self.watching.start(stepped=True)
        except WatchLimitError as error:
            log.error("%s", error)
            return exitcodes.FAILURE
        self.look_at_mounts(keep=False)
        self.runtime, self._own_runtime, lock = runtime_dir(instance_name(self.cfg.path))
        self.sockets = sockets_dir(self.runtime)
        self.publisher = StatePublisher(self.runtime, self.cfg.metrics_file)
        self.nodes = [self.make_node(node) for node in self.cfg.nodes]
        self.notifier.status("initial sync running")
        try:
            while not self.stopper.finished():
                self._step()
        finally:
            for runner in self.nodes:
                runner.close(0.5)
            self.reaper.close()
            if self.watcher is not None:
                self.watcher.close()
            self.publisher.remove()
            self.stopper.last_words()
            if self._own_runtime:
                shutil.rmtree(self.runtime, ignore_errors=True)
            if lock is not None:
                os.close(lock)
        log.info("stopped")
        return self.failure

    def _step(self) -> None:
        now = time.monotonic()
        # inotify first: a comparison that just ended must know every change made while
        # it ran, or it would count them as drift.
        ready = self.selector.select(next_timeout(self, now))
        for key, _ in sorted(ready, key=lambda item: item[0].data != "watcher"):
            if key.data == "signal":
                self._drain_wakeups()
            elif key.data == "watcher":
                self.apply(self.watcher.read() if self.watcher else [])
            elif key.data == "reap":  # a child of a removed node exited
                assert isinstance(key.fileobj, Job)
                if self.reaper.reaped(key.fileobj):
                    self.selector.unregister(key.fileobj)
            elif isinstance(key.data, NodeRunner):
                self.selector.unregister(key.fileobj)
                self.poll_mounts()  # the runner may go on to its next command at once
                if key.data.phase in ("verify", "count") and self.watcher is not None:
                    for path in self.watcher.unsettled():  # changing now: not drift
                        key.data.changed(path)
                key.data.job_done(self.cfg.dry_run)
                self.register_job(key.data)
            elif isinstance(key.data, Hook):
                self.hooks.ended(key.data)
            elif isinstance(key.data, tuple):  # a node that was down: lookup or probe
                kind, runner = key.data
                self.selector.unregister(key.fileobj)
                if kind == "lookup":
                    self.returns.register(runner, runner.lookup_done(time.monotonic()))
                else:
                    assert isinstance(key.fileobj, PortProbe)
                    runner.probe_done(time.monotonic(), key.fileobj.answered())
        now = time.monotonic()
        if self.watcher is not None and not self.watching.walking:
            self.apply(self.watcher.expire(now))
            if self.watcher.watch_limit_reached:
                self.watching.outgrown()
        self.notifier.alive(now)  # watchdog ping; more start time while systemd waits
        if not self.paused_reason and now >= self.guard.next_poll:
            # A mount on top of wpath sends no event: look at it every second anyway.
            self.guard.next_poll = now + POLL_SECONDS
            if not self.guard.same():
                self.guard.pause("its device or inode changed, or it is gone (unmounted? "
                                 "hidden by a mount? replaced?)", now)
            else:
                self.poll_mounts()
        self.returns.probe(now)
        self.reaper.expire(now)
        self.hooks.expire(now)
        if SIGNALS.reload and not self.stop_requested and not self.watching.walking:
            SIGNALS.reload = False
            self.reloader.apply()
        if self.overflow.rescan_due(now) and not self.paused_reason:
            self._rescan(now)
        if self.paused_reason and now >= self.guard.next_poll:
            self.poll_source(now)
        if not self.paused_reason and self.stop_requested <= 1:
            self.starter.start_due(now)
        if self.watching.walking:  # after the nodes started: the first piece is out already
            self.watching.step(now)  # (the walk's events wait until it is over)
        if self.stop_requested <= 1:
            self.hooks.start_due(now)
        self.reporter.report()
        self.notifier.flush()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(256):
                pass
        except BlockingIOError:
            pass  # drained

    def register_job(self, runner: NodeRunner) -> None:
        if runner.job is not None:
            self.selector.register(runner.job, selectors.EVENT_READ, runner)

    def discard_job(self, runner: NodeRunner, now: float) -> None:
        """Stop the node's running job without waiting for it, nor for what it did."""
        if runner.job is not None:
            self.selector.unregister(runner.job)
            self.reaper.stop(runner.job, now, STOP_GRACE_SECONDS)
            self.selector.register(runner.job, selectors.EVENT_READ, "reap")
            runner.job = None

    def fail(self) -> None:
        """Stop at once and exit with a failure: the daemon cannot go on."""
        self.failure = exitcodes.FAILURE
        SIGNALS.stop = 2

    # -- facts from the watcher -----------------------------------------------------

    def apply(self, facts: Sequence[Fact]) -> None:
        if not facts:
            return
        now = time.monotonic()
        if any(isinstance(fact, Overflow) for fact in facts):
            self._overflow(time.monotonic())  # a rescan and full sync cover the rest
            facts = [fact for fact in facts if isinstance(fact, SourceGone)]
        for fact in facts:
            if isinstance(fact, Dirty):
                log.debug("changed: %r", fact.path)
                for runner in self.nodes:
                    runner.pending.mark(fact.path, fact.created)
                    runner.changed(fact.path)
                    runner.touched(now)
            elif isinstance(fact, Moved):
                log.debug("moved: %r -> %r", fact.src, fact.dst)
                move = Move(fact.src, fact.dst, fact.is_dir)
                if fact.is_dir and self.mount_watch.state.lost:
                    self._set_mounts(mounts.moved(self.mount_watch.state, fact.src, fact.dst))
                for runner in self.nodes:
                    runner.pending.move(move, runner.batch_paths)
                    runner.changed(fact.src)
                    runner.changed(fact.dst)
                    runner.touched(now)
            elif isinstance(fact, SourceGone):
                self.guard.pause(fact.reason, time.monotonic())

    def _overflow(self, now: float) -> None:
        """Events were lost: rescan and fully sync, paced by `OverflowPacing`."""
        if (count := self.overflow.lost(now)) is not None:
            kind = self.watcher.kind if self.watcher is not None else "inotify"
            log.warning("%s queue overflowed (events were lost) %d time(s) since the last "
                        "warning: rescanning %s and running a full sync of every node; if "
                        "this recurs, raise fs.%s.max_queued_events", kind, count,
                        self.cfg.wpath, kind)

    def _rescan(self, now: float) -> None:
        assert self.watcher is not None
        self.overflow.rescanned(now)
        log.debug("rescanning %s after lost events", self.cfg.wpath)
        try:
            self.watcher.rewatch_all()
        except WatchLimitError as error:
            log.error("%s", error)
        for runner in self.nodes:
            runner.pending.mark_all()
            runner.touched(now)

    def poll_source(self, now: float) -> None:
        """While paused: resume once wpath is a non-empty directory again."""
        if not self.guard.back(now):
            return
        try:
            self.watching.start()
        except WatchLimitError as error:
            log.error("%s", error)
        for runner in self.nodes:
            runner.pending.mark_all()
            runner.touched(now)

    # -- filesystems mounted below wpath ---------------------------------------------

    def look_at_mounts(self, keep: bool) -> None:
        """At start and reload: what is mounted below wpath, and lost."""
        self._set_mounts(self.mount_watch.look(self.cfg.wpath, self.cfg.rexcludes, keep))

    def _set_mounts(self, state: mounts.MountState) -> None:
        self.mount_watch.state = state
        for runner in self.nodes:
            runner.lost_mounts = state.lost

    def poll_mounts(self) -> None:
        """Read the mount table (a mount sends no event) and act on what changed."""
        if self.paused_reason:
            return  # wpath itself looks wrong: the look once it is back decides
        changes = self.mount_watch.poll(self.cfg.wpath, self.cfg.rexcludes)
        if changes is None:
            return
        self._set_mounts(self.mount_watch.state)
        where = self.cfg.wpath
        if self.watcher is not None:
            for path in sorted(changes.appeared | changes.unmounted):
                if mounts.is_dir_at(where)(path):
                    self.watcher.watch_subtree(path)  # the directory there is another one
        self.apply([Dirty(path) for path in sorted(
            changes.appeared | changes.back | changes.released)])

    # -- reporting ------------------------------------------------------------------
