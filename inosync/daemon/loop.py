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
from dataclasses import replace

from inosync import exitcodes
from inosync.changes import Move
from inosync.config import load as config_mod
from inosync.config.load import Config
from inosync.daemon import reload
from inosync.daemon.mount_watch import MountWatch
from inosync.daemon.runtime_dir import runtime_dir, sockets_dir
from inosync.daemon.service import Notifier, set_level
from inosync.daemon.signals import SIGNALS, install_signal_flags
from inosync.node.reach import PortProbe
from inosync.node.runner import NodeRunner
from inosync.process import Job, Reaper
from inosync.report.state_files import StatePublisher, instance_name
from inosync.report.views import Instance, status_line
from inosync.rsync.excludes import ExcludeMatcher
from inosync.source import mounts
from inosync.source.facts import Dirty, Fact, Moved, Overflow, SourceGone, WatchLimitError
from inosync.source.tree import identity_of
from inosync.source.watcher import Watcher

log = logging.getLogger("inosync")
STOP_GRACE_SECONDS = 4.0
REMOVED_GRACE_SECONDS = 1.0  # a removed node's children get this long after SIGTERM
SOURCE_POLL_SECONDS = 1.0  # how often wpath is looked at (a mount on top sends no event)
RESCAN_MIN_SECONDS = 1.0
OVERFLOW_LOG_SECONDS = 60.0
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = exitcodes.OK, exitcodes.FAILURE, exitcodes.CONFIG


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
        self.runtime, self._own_runtime = "", False  # made once the source looks usable
        self.sockets = ""  # the private part of runtime
        self.watcher: Watcher | None = None
        self.nodes: list[NodeRunner] = []
        self.identity: tuple[int, int] | None = None
        self.paused_reason = ""
        self.next_source_poll = 0.0
        self.stop_deadline: float | None = None
        self.ready_sent = False
        self.reload_problem = ""
        self.rescan_at: float | None = None
        self.last_rescan = -RESCAN_MIN_SECONDS
        self.overflows = 0
        self.overflows_total = 0
        self.started_wall = time.time()
        self.publisher = StatePublisher("")
        self.overflow_logged_at = -OVERFLOW_LOG_SECONDS
        self._wake_r, self._wake_w = socket.socketpair()
        self._node_ids = 0
        self.mount_watch = MountWatch()
        self.reaper = Reaper()  # children of removed nodes, until they have exited

    # -- setup ----------------------------------------------------------------------

    @property
    def stop_requested(self) -> int:
        return SIGNALS.stop

    def _install_signals(self) -> None:
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        install_signal_flags()
        self.selector.register(self._wake_r, selectors.EVENT_READ, "signal")

    def _start_watching(self) -> None:
        started = time.monotonic()
        watcher = Watcher(self.cfg.wpath, ExcludeMatcher(self.cfg.rexcludes),
                          progress=self._walking)
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

    def _walking(self) -> None:
        """Every walk of the tree calls this as it goes: the watches at start-up run before
        the loop, a rescan or the delete guard's count within one turn of it, and either may
        take longer than the watchdog or systemd's start timeout allow."""
        self.notifier.alive(time.monotonic())

    def _make_node(self, node: config_mod.Node) -> NodeRunner:
        self._node_ids += 1
        control = os.path.join(self.sockets, f"n{self._node_ids}.sock")
        runner = NodeRunner(self.cfg, node, control, self._source_entries)
        runner.lost_mounts = self.mount_watch.state.lost
        runner.pending.mark_all()
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
            return EXIT_FAILURE
        self.notifier.status("watching the tree")  # a million directories take a while
        try:
            self._start_watching()
        except WatchLimitError as error:
            log.error("%s", error)
            return EXIT_FAILURE
        self._look_at_mounts(keep=False)
        self.runtime, self._own_runtime, lock = runtime_dir(instance_name(self.cfg.path))
        self.sockets = sockets_dir(self.runtime)
        self.publisher = StatePublisher(self.runtime, self.cfg.metrics_file)
        self.nodes = [self._make_node(node) for node in self.cfg.nodes]
        self.notifier.status("initial sync running")
        try:
            while not self._finished():
                self._step()
        finally:
            for runner in self.nodes:
                runner.close(0.5)
            self.reaper.close()
            if self.watcher is not None:
                self.watcher.close()
            self.publisher.remove()
            self._last_words()
            if self._own_runtime:
                shutil.rmtree(self.runtime, ignore_errors=True)
            if lock is not None:
                os.close(lock)
        log.info("stopped")
        return EXIT_OK

    def _last_words(self) -> None:
        """STOPPING=1 goes out even if the receiver is slow, within a short grace."""
        deadline = time.monotonic() + 1.0
        while self.notifier.deadline() is not None and time.monotonic() < deadline:
            self.notifier.flush()
            time.sleep(0.01)  # the receiver has no room: give it a moment, then give up
        self.notifier.close()

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
        running = sum(1 for r in self.nodes if r.job is not None)
        if not self.paused_reason and running < self._parallel_limit():
            # (when all slots are taken, a finishing job wakes the loop)
            deadlines += [d for r in self.nodes if (d := r.deadline()) is not None]
        if self.watcher is not None and (d := self.watcher.next_deadline()) is not None:
            deadlines.append(d)
        if self.paused_reason:
            deadlines.append(self.next_source_poll)
        elif self.rescan_at is not None:
            deadlines.append(self.rescan_at)
        if self.stop_deadline is not None:
            deadlines.append(self.stop_deadline)
        if (d := self.notifier.alive_deadline()) is not None:
            deadlines.append(d)
        if (d := self.notifier.deadline()) is not None:
            deadlines.append(d)
        if (d := self.reaper.deadline()) is not None:
            deadlines.append(d)
        deadlines += [d for r in self.nodes if (d := r.link.probe_deadline()) is not None]
        if not self.paused_reason:
            deadlines.append(self.next_source_poll)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _step(self) -> None:
        now = time.monotonic()
        # inotify first: a comparison that just ended must know every change made while
        # it ran, or it would count them as drift.
        ready = self.selector.select(self._timeout(now))
        for key, _ in sorted(ready, key=lambda item: item[0].data != "inotify"):
            if key.data == "signal":
                self._drain_wakeups()
            elif key.data == "inotify":
                self._apply(self.watcher.read() if self.watcher else [])
            elif key.data == "reap":  # a child of a removed node exited
                assert isinstance(key.fileobj, Job)
                if self.reaper.reaped(key.fileobj):
                    self.selector.unregister(key.fileobj)
            elif isinstance(key.data, NodeRunner):
                self.selector.unregister(key.fileobj)
                self._poll_mounts()  # the runner may go on to its next command at once
                if key.data.phase in ("verify", "count") and self.watcher is not None:
                    for path in self.watcher.unsettled():  # changing now: not drift
                        key.data.changed(path)
                key.data.job_done(self.cfg.dry_run)
                self._register_job(key.data)
            elif isinstance(key.data, tuple):  # a node that was down: lookup or probe
                kind, runner = key.data
                self.selector.unregister(key.fileobj)
                if kind == "lookup":
                    self._register_probe(runner, runner.lookup_done(time.monotonic()))
                else:
                    assert isinstance(key.fileobj, PortProbe)
                    runner.probe_done(time.monotonic(), key.fileobj.answered())
        now = time.monotonic()
        if self.watcher is not None:
            self._apply(self.watcher.expire(now))
        self.notifier.alive(now)  # watchdog ping; more start time while systemd waits
        if not self.paused_reason and now >= self.next_source_poll:
            # A mount on top of wpath sends no event: look at it every second anyway.
            self.next_source_poll = now + SOURCE_POLL_SECONDS
            if identity_of(self.cfg.wpath) != self.identity:
                self._pause("its device or inode changed, or it is gone (unmounted? hidden "
                            "by a mount? replaced?)")
            else:
                self._poll_mounts()
        self._probe_nodes(now)
        self.reaper.expire(now)
        if SIGNALS.reload and not self.stop_requested:
            SIGNALS.reload = False
            self._reload()
        if self.rescan_at is not None and now >= self.rescan_at and not self.paused_reason:
            self._rescan(now)
        if self.paused_reason and now >= self.next_source_poll:
            self._poll_source(now)
        if not self.paused_reason and self.stop_requested <= 1:
            self._start_due(now)
        self._report()
        self.notifier.flush()

    def _probe_nodes(self, now: float) -> None:
        for runner in self.nodes:
            link = runner.link
            link.lookup_expired(now)
            if link.probe is not None and now >= (link.probe_deadline() or now):
                self.selector.unregister(link.probe)
                runner.probe_done(now, False)  # no answer in time: still down
            if (link.probe is None and link.lookup is None and link.probe_at is not None
                    and now >= link.probe_at):
                self._register_probe(runner, runner.start_probe(now))

    def _register_probe(self, runner: NodeRunner, waited_on: PortProbe | Job | None) -> None:
        """A probe's connect ends when its socket is writable, a lookup when it exits."""
        if isinstance(waited_on, PortProbe):
            self.selector.register(waited_on, selectors.EVENT_WRITE, ("probe", runner))
        elif waited_on is not None:
            self.selector.register(waited_on, selectors.EVENT_READ, ("lookup", runner))

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
        self._poll_mounts()  # so no command starts without a filesystem lost just now
        # At most max_parallel rsyncs at once, longest waiting first: fifty at once on two
        # cores slow every one of them, the first nodes as much as the last.
        free = self._parallel_limit() - sum(1 for r in self.nodes if r.job is not None)
        kinds: dict[str, bool | None] = {}  # one lstat per source path for all of them
        for runner in sorted(due, key=lambda r: r.deadline() or 0.0):
            if free <= 0:
                break
            runner.start(now, self.cfg.dry_run, kinds)
            if runner.job is not None:
                free -= 1
            self._register_job(runner)

    def _parallel_limit(self) -> int:
        # Most of a small run is waiting on the node, so a few per core keep the cores busy
        # without swamping them (fifty nodes here: 8 at once beat 4, 12 and 50).
        return self.cfg.max_parallel or 4 * (os.cpu_count() or 1)

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
                if fact.is_dir and self.mount_watch.state.lost:
                    self._set_mounts(mounts.moved(self.mount_watch.state, fact.src, fact.dst))
                for runner in self.nodes:
                    runner.pending.move(move, runner.batch_paths)
                    runner.changed(fact.src)
                    runner.changed(fact.dst)
                    runner.touched(now)
            elif isinstance(fact, SourceGone):
                self._pause(fact.reason)

    def _overflow(self) -> None:
        """Events were lost: rescan and fully sync, at most once a second (a sustained
        storm must not become a rescan loop), saying so at most once a minute."""
        now = time.monotonic()
        self.overflows += 1
        self.overflows_total += 1
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
                      "their data; resuming once it is a non-empty directory again.",
                      self.cfg.wpath, reason)
        self.paused_reason = reason
        self.next_source_poll = time.monotonic() + SOURCE_POLL_SECONDS

    def _poll_source(self, now: float) -> None:
        """Resume once wpath is a non-empty directory again, whatever its device or inode:
        back as it was, replaced by a new tree (a deploy's swap), a switched symlink or a
        mount with content on top. Missing or empty stays paused: an empty-looking source
        is exactly what must never be mirrored. The full sync that follows deletes only
        within the all-or-nothing delete bound."""
        self.next_source_poll = now + SOURCE_POLL_SECONDS
        current = identity_of(self.cfg.wpath)
        if current is None or not _has_entries(self.cfg.wpath):
            return
        if current == self.identity:
            log.warning("source %s is back: watching it again and running a full sync",
                        self.cfg.wpath)
        else:
            log.warning("source %s is a new non-empty directory (%s): watching it and "
                        "running a full sync", self.cfg.wpath, os.path.realpath(self.cfg.wpath))
        self.paused_reason = ""
        try:
            self._start_watching()
        except WatchLimitError as error:
            log.error("%s", error)
        for runner in self.nodes:
            runner.pending.mark_all()
            runner.touched(now)

    # -- filesystems mounted below wpath ---------------------------------------------

    def _look_at_mounts(self, keep: bool) -> None:
        """At start and reload: what is mounted below wpath, and lost."""
        self._set_mounts(self.mount_watch.look(self.cfg.wpath, self.cfg.rexcludes, keep))

    def _set_mounts(self, state: mounts.MountState) -> None:
        self.mount_watch.state = state
        for runner in self.nodes:
            runner.lost_mounts = state.lost

    def _poll_mounts(self) -> None:
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
        self._apply([Dirty(path) for path in sorted(
            changes.appeared | changes.back | changes.released)])

    # -- reload ---------------------------------------------------------------------

    def _reload(self) -> None:
        # During start-up systemd is waiting for the start's READY=1 already, which still
        # comes after every node's first full sync; a reload later is done once the new
        # config is in force, and its full syncs run on after READY=1.
        started = self.ready_sent
        if started:
            self.notifier.reloading()
        try:
            # A missing wpath is the source's state, not a config error: judged below.
            new = config_mod.load(self.cfg.path, exists=lambda path: True)
        except config_mod.ConfigError as error:
            self.reload_problem = "; ".join(error.problems)
            log.error("reload failed, still running on the previous config: %s",
                      self.reload_problem)
            if started:
                self.notifier.ready()
            return
        new = replace(new, dry_run=self.cfg.dry_run)
        old = self.cfg
        self.cfg = new
        change = reload.plan(old, new, [runner.configured for runner in self.nodes])
        self.reload_problem = ""
        set_level(new.log_level)
        now = time.monotonic()
        if self.paused_reason or identity_of(new.wpath) != self.identity:
            # A reload always looks at the source afresh: resume if it is usable now.
            self.paused_reason = self.paused_reason or "it changed before the reload"
            self._poll_source(now)
            if self.paused_reason:
                log.warning("reload: source %s is still missing or empty; staying paused",
                            new.wpath)
        elif change.rewatch:
            try:
                self._start_watching()
            except WatchLimitError as error:
                log.error("%s", error)
        self._look_at_mounts(keep=change.same_wpath and not self.paused_reason)
        if self.watcher is not None:  # a reload tries every unwatchable directory again
            self._apply(self.watcher.retry_unwatched())
        kept = [runner for runner in self.nodes if runner.configured in change.kept]
        for runner in self.nodes:
            if runner.configured in change.removed:
                self._drop(runner, now)
        added = [self._make_node(node) for node in change.added]
        for runner in added:
            log.info("reload: node %s added", runner.node.name)
        for runner in kept:  # a reload also verifies: every node gets a full sync
            runner.cfg = new
            runner.unreadable.clear()  # and tries unreadable paths again
            runner.count_drift = True  # what its count finds is drift, as a verification's
            if change.reschedule_verification:
                runner.schedule_verification(now)
            runner.pending.mark_all()
            runner.touched(now)
        self.nodes = kept + added
        if change.new_metrics_file:
            self.publisher.remove()
            self.publisher = StatePublisher(self.runtime, new.metrics_file)
        log.info("reloaded %s", new.path)
        if started:
            self.notifier.ready()

    def _drop(self, runner: NodeRunner, now: float) -> None:
        """A reload removed the node: its children are stopped without waiting."""
        log.info("reload: node %s removed", runner.node.name)
        if runner.job is not None:
            self.selector.unregister(runner.job)
        for waited_on in (runner.link.probe, runner.link.lookup):
            if waited_on is not None:
                self.selector.unregister(waited_on)
        for child in runner.release():
            self.reaper.stop(child, now, REMOVED_GRACE_SECONDS)
            self.selector.register(child, selectors.EVENT_READ, "reap")

    # -- reporting ------------------------------------------------------------------

    def _report(self) -> None:
        now, wall = time.monotonic(), time.time()
        incomplete = self.watcher is not None and bool(self.watcher.unwatched)
        facts = [r.update_facts(now, bool(self.paused_reason), incomplete) for r in self.nodes]
        instance = self.instance_facts()
        status = status_line(instance, facts, wall)
        self.publisher.publish(instance, facts, now, wall)
        # READY=1 once every node has tried its first full sync (a node that is down does
        # not hold it up), or syncing is paused because the source looks wrong: the unit is
        # then active, and its Status says why nothing is synced.
        if not self.ready_sent and (all(r.initial_tried for r in self.nodes)
                                    or self.paused_reason):
            self.ready_sent = True
            self.notifier.ready(status)
            return
        self.notifier.status(status)

    def instance_facts(self) -> Instance:
        notes = []
        unwatched: tuple[tuple[str, str], ...] = ()
        count = 0
        if self.watcher is not None and self.watcher.unwatched:
            unwatched, count = self.watcher.unwatched.sample(), len(self.watcher.unwatched)
        if self.reload_problem:
            notes.append(f"reload failed, running on previous config: {self.reload_problem}")
        return Instance(
            name=instance_name(self.cfg.path), config=self.cfg.path, wpath=self.cfg.wpath,
            pid=os.getpid(), started=self.started_wall,
            watches=self.watcher.watch_count if self.watcher is not None else 0,
            overflows=self.overflows_total, paused_reason=self.paused_reason,
            notes=tuple(notes), unwatched=unwatched, unwatched_count=count)
