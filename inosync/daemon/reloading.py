"""A reload (SIGHUP): the new config checked, then put in force by the plan `reload.plan`
draws from the old config and the new one, while the daemon keeps running on the old one
when the new one is broken. `RELOADING=1` and `READY=1` bracket the reload itself, not the
full syncs that follow it."""

from __future__ import annotations

import logging
import selectors
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from inosync.config import load as config_mod
from inosync.daemon import reload
from inosync.daemon.service import set_level
from inosync.node.runner import NodeRunner
from inosync.report.state_files import StatePublisher
from inosync.source.facts import WatchLimitError

if TYPE_CHECKING:
    from inosync.daemon.loop import Daemon

log = logging.getLogger("inosync")
REMOVED_GRACE_SECONDS = 1.0  # a removed node's children get this long after SIGTERM


class Reloader:
    """Puts a reloaded config in force for one daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def apply(self) -> None:
        d = self.daemon
        # During start-up systemd is waiting for the start's READY=1 already, which still
        # comes after every node's first full sync; a reload later is done once the new
        # config is in force, and its full syncs run on after READY=1.
        started = d.ready_sent
        if started:
            d.notifier.reloading()
        try:
            # A missing wpath is the source's state, not a config error: judged below.
            new = config_mod.load(d.cfg.path, exists=lambda path: True)
        except config_mod.ConfigError as error:
            d.reload_problem = "; ".join(error.problems)
            log.error("reload failed, still running on the previous config: %s",
                      d.reload_problem)
            if started:
                d.notifier.ready()
            return
        new = replace(new, dry_run=d.cfg.dry_run)
        old = d.cfg
        d.cfg = new
        change = reload.plan(old, new, [runner.configured for runner in d.nodes])
        d.reload_problem = ""
        set_level(new.log_level)
        now = time.monotonic()
        d.guard.wpath = new.wpath
        if d.paused_reason or not d.guard.same():
            # A reload always looks at the source afresh: resume if it is usable now.
            d.guard.paused_reason = d.paused_reason or "it changed before the reload"
            d.poll_source(now)
            if d.paused_reason:
                log.warning("reload: source %s is still missing or empty; staying paused",
                            new.wpath)
        elif change.rewatch:
            try:
                d.watching.start()
            except WatchLimitError as error:
                log.error("%s", error)
        d.look_at_mounts(keep=change.same_wpath and not d.paused_reason)
        if d.watcher is not None:  # a reload tries every unwatchable directory again
            d.apply(d.watcher.retry_unwatched())
        kept = [runner for runner in d.nodes if runner.configured in change.kept]
        for runner in d.nodes:
            if runner.configured in change.removed:
                self._drop(runner, now)
        added = [d.make_node(node) for node in change.added]
        for runner in added:
            log.info("reload: node %s added", runner.node.name)
        for runner in kept:  # a reload also verifies: every node gets a full sync
            interval = runner.cfg.verify_interval  # the node's own, maybe
            runner.cfg = new
            runner.unreadable.clear()  # and tries unreadable paths again
            runner.count_drift = True  # what its count finds is drift, as a verification's
            if change.reschedule_verification or runner.cfg.verify_interval != interval:
                runner.schedule_verification(now)
            runner.pending.mark_all()
            runner.touched(now)
        d.nodes = kept + added
        if change.new_metrics_file:
            d.publisher.remove()
            d.publisher = StatePublisher(d.runtime, new.metrics_file)
        log.info("reloaded %s", new.path)
        if started:
            d.notifier.ready()

    def _drop(self, runner: NodeRunner, now: float) -> None:
        """A reload removed the node: its children are stopped without waiting."""
        d = self.daemon
        log.info("reload: node %s removed", runner.node.name)
        for job in (runner.job, runner.hook.job):
            if job is not None:
                d.selector.unregister(job)
        for waited_on in (runner.link.probe, runner.link.lookup):
            if waited_on is not None:
                d.selector.unregister(waited_on)
        for child in runner.release():
            d.reaper.stop(child, now, REMOVED_GRACE_SECONDS)
            d.selector.register(child, selectors.EVENT_READ, "reap")
