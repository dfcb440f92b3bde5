"""One mirror target: which job it runs next, and running it.

A node never blocks the others: everything it runs is a child process the main loop
waits on. What a finished job means is read by `JobResults`; failed batches go back into
`pending`, so nothing is dropped, and are retried with backoff (`Backoff`). It logs once
per change of state, not once per retry.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from inosync.changes import ROOT, PathSet, Pending
from inosync.config.load import Config, Node
from inosync.node import restricted
from inosync.node.backoff import Backoff
from inosync.node.batch import Batch
from inosync.node.delete_bound import DeleteBound
from inosync.node.hook import Hook
from inosync.node.keeping import Pruner, empty_dir
from inosync.node.left_out import LeftOut
from inosync.node.link import NodeLink
from inosync.node.pieces import PieceRun
from inosync.node.reach import PortProbe
from inosync.node.rename_replay import first_step, rebuilds
from inosync.node.results import JobResults
from inosync.node.verification import Verifier
from inosync.process import Job
from inosync.report.node_facts import NodeFacts, derive_state
from inosync.rsync import argv as rsync
from inosync.rsync import kept
from inosync.rsync.argv import Command
from inosync.rsync.outcomes import Outcome
from inosync.source.tree import listable, needs_move_check

log = logging.getLogger("inosync.node")
BATCH_DELAY = 0.015  # gather events that arrive together (a write and its close) into a batch


class NodeRunner:
    """Drives one node through: idle -> (moves) -> sync -> idle, or -> backoff."""

    def __init__(self, cfg: Config, node: Node, control_path: str | None,
                 source_entries: Callable[[], int]) -> None:
        self.bound = DeleteBound(cfg.max_delete_share, source_entries)
        self.verifier = Verifier(cfg.verify_interval)
        self.configured = node  # as the config names it: the runner's identity on reload
        self.cfg = cfg  # (after the parts that follow it on reload)
        self.node = node
        self.control_path = control_path if node.kind == "ssh" else None
        self.confinement = restricted.Confinement(node.kind)  # asked before the first sync
        self.source_entries = source_entries
        self.pending = Pending()
        self.job: Job | None = None
        self.phase = ""  # "detect", "verify", "count", "full", "moves" or "sync" while a job runs
        self.batch = Batch()
        self.left_out = LeftOut()
        self.backoff = Backoff()
        self.due_at: float | None = None
        self.state = "starting"  # starting, ok, retrying
        self.problem = ""
        self.initial_tried = False
        self.last_sync: float | None = None  # wall clock time of the last good sync
        self.link = NodeLink(node.name, self.control_path)
        self.facts = NodeFacts(node.name, node.spec, node.kind)
        self.results = JobResults(self)
        self.hook = Hook(node.name)
        self.pruner = Pruner(node.name)
        self.repairing = False  # the next batch repairs what a verification found
        self.oldest_change: float | None = None  # oldest change not yet in a batch
        self.pieces = PieceRun()  # the first full sync, while the start-up walk goes on

    @property
    def cfg(self) -> Config:
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: Config) -> None:
        """The config as this node runs it (its own table's settings applied); the bound
        and the verification interval follow a reload's."""
        self._cfg = cfg = cfg.for_node(self.configured)
        self.bound.share = cfg.max_delete_share
        self.verifier.interval = cfg.verify_interval

    @property
    def confined(self) -> bool:
        """rrsync confines the node's key (known after the first answer)."""
        return bool(self.confinement.confined)

    @property
    def batch_paths(self) -> list[str]:
        """What rsync may be reading on the source right now: a full sync reads it all."""
        return [ROOT] if self.phase == "full" else self.batch.paths

    @property
    def unreadable(self) -> PathSet:
        return self.left_out.unreadable

    @property
    def lost_mounts(self) -> frozenset[str]:
        return self.left_out.lost_mounts

    @lost_mounts.setter
    def lost_mounts(self, paths: frozenset[str]) -> None:
        self.left_out.lost_mounts = paths

    @property
    def retry_at(self) -> float:
        return self.backoff.retry_at

    @property
    def refused(self) -> tuple[int, int] | None:
        return self.bound.refused

    @property
    def count_drift(self) -> bool:
        return self.verifier.count_drift

    @count_drift.setter
    def count_drift(self, value: bool) -> None:
        """True at a reload: its count's findings are drift, but not what is pending now or
        changes from now on, which are on their way."""
        self.verifier.count_drift = value
        if value and self.verifier.changes is None:
            self.verifier.begin(self.pending)

    # -- scheduling -----------------------------------------------------------------

    def touched(self, now: float) -> None:
        """Something became pending: start a batch soon (not at once, to gather more)."""
        if self.due_at is None:
            self.due_at = now + BATCH_DELAY
        if self.oldest_change is None:
            self.oldest_change = now

    def deadline(self) -> float | None:
        if self.job is not None or self.pieces.active:  # (the walk's next piece wakes it)
            return None
        if not self.pending:
            due = [t for t in (self.bound.recheck_at, self.pruner.deadline(self.cfg),
                               self.verifier.deadline(self.state == "retrying"))
                   if t is not None]
            return min(due, default=None)
        return max(self.due_at or 0.0, self.retry_at)

    def schedule_verification(self, now: float) -> None:
        self.verifier.schedule(now, random.uniform)

    def wants_start(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    # -- running --------------------------------------------------------------------

    def start(self, now: float, dry_run: bool,
              kinds: dict[str, bool | None] | None = None) -> None:
        """Start the next job; `kinds` is the source's lstat cache for this moment, shared
        by every node that starts now (see sourcetree.listable)."""
        self.due_at = None
        self.link.ensure_master(self.cfg, self.node, now, dry_run)
        if self.confinement.must_ask(self.node.kind, self.cfg.rsh):
            self.node, self.confinement.confined = self.configured, None  # ask (a new key?)
            self.run_job("detect", restricted.probe(self.cfg, self.node, self.control_path),
                      False)  # a shell command that changes nothing: asked in dry runs too
            return
        if self.pruner.due(self.cfg, now):  # first, so the kept directory is made 0700
            self.pruner.started(self.cfg, now)
            self.run_job("prune", kept.prune(self.cfg, self.node, self.control_path,
                                             time.time(), empty_dir()), dry_run)
            return
        if self.bound.recheck_due(now):
            self.pending.mark_all()  # count again: is the source back within the bound?
        if not self.pending.full and self.verifier.due(now, self.state == "retrying"):
            self.verifier.begin(self.pending)
            self.run_job("verify", rsync.whole_tree_dry_run(
                self.cfg, self.node, self.control_path, self.left_out.paths()), dry_run)
            return
        self.batch.oldest = self.oldest_change
        self.oldest_change = None
        if self.pending.full:
            self.batch.clear()
            self.pending.take()
            self.bound.begin()  # bounded: it holds deletions back first
            if self.count_drift:  # a reload: what its count finds is drift too
                if self.verifier.changes is None:
                    self.verifier.changes = set()
                self.start_count(dry_run)
            else:
                self.start_full(dry_run)
            return
        moves, dirty = self.pending.take()
        self.batch.kind, self.repairing = "repair" if self.repairing else "batch", False
        # A failed rename is turned into "delete src, send dst". When excludes could mean
        # something else at the new place (patterns with a '/'), or for rsync daemons,
        # every destination is re-checked too: no data moves when the rename worked.
        self.batch.moves, self.batch.paths = moves, dirty
        if moves and (rebuilds(self.node, self.confined)
                      or needs_move_check(self.cfg.rexcludes)):
            self.batch.paths = dirty + [move.dst for move in moves]
        step = first_step(self.cfg, self.node, self.control_path, self.confined,
                          self.batch, self.pending, dry_run)
        if step is not None:
            self.run_job("moves", step, dry_run)
        else:
            self.start_sync(dry_run, kinds)

    def start_full(self, dry_run: bool) -> None:
        if self.pieces.wanted() and not dry_run:
            self.pieces.begin()
            self.next_piece(dry_run)
            return
        self.run_job("full", rsync.full_sync(self.cfg, self.node, self.control_path,
                                          self.bound.limit, self.left_out.paths()), dry_run)

    def next_piece(self, dry_run: bool) -> None:
        """The next piece of a full sync the start-up walk hands out, or, when it has none
        yet, wait for it (phase "full", no job)."""
        self.phase = "full"
        piece = self.pieces.take()
        if piece is not None:
            self.run_job("full", rsync.piece_sync(
                self.cfg, self.node, self.control_path, self.bound.limit,
                self.left_out.paths(), piece.tops, piece.inside), dry_run)

    def start_count(self, dry_run: bool) -> None:
        self.run_job("count", rsync.whole_tree_dry_run(
            self.cfg, self.node, self.control_path, self.left_out.paths()), dry_run)

    def start_sync(self, dry_run: bool, kinds: dict[str, bool | None] | None = None) -> None:
        if not self.batch.paths:  # only renames, and all of them worked
            self.phase = "sync"
            self.results.succeeded(0, b"", 0.0)
            return
        self.run_job("sync", rsync.batch_sync(self.cfg, self.node, self.control_path,
                                           listable(self.cfg.wpath, self.batch.paths, kinds),
                                           self.left_out.paths()), dry_run)

    def run_job(self, phase: str, command: Command, dry_run: bool) -> None:
        self.phase = phase
        if dry_run:
            log.info("dry run: %s: would run %s", self.node.name, command.describe())
            self.job = None
            self.results.finished(0, b"", b"", 0.0, dry_run)
            return
        log.debug("%s: %s", self.node.name, command.describe())
        if log.isEnabledFor(logging.DEBUG) and phase != "full":
            log.debug("%s: batch: moves %s; paths %s", self.node.name,
                      [(m.src, m.dst) for m in self.batch.moves[:20]], self.batch.paths[:50])
        try:
            self.job = Job(command)
        except OSError as error:
            key = "rsync" if command.argv[0] == self.cfg.rsync else "rsh"
            self.job = None
            self.results.failed(Outcome.ERROR, f"cannot run {command.argv[0]} "
                                f"({error.strerror}) - fix the {key} key in {self.cfg.path}",
                                b"", 127)

    def job_done(self, dry_run: bool) -> None:
        """Called when the job's pidfd is readable."""
        assert self.job is not None
        code = self.job.poll()
        if code is None:
            return
        job, self.job = self.job, None
        self.results.finished(code, job.stdout, job.stderr, job.seconds, dry_run)

    def changed(self, path: str) -> None:
        """An event for `path`: an unreadable path there may be readable now, and a
        comparison running now cannot count it as drift."""
        self.verifier.changed(path)
        self.left_out.changed(path)

    def update_facts(self, now: float, paused: bool, incomplete: bool = False) -> NodeFacts:
        """Bring the derived facts up to date (the counters are kept as things happen).
        `incomplete`: some directories of the source cannot be watched."""
        facts = self.facts
        owed = [t for t in (self.oldest_change, self.batch.oldest) if t is not None]
        if (self.pending or self.job is not None and self.phase != "verify") and not owed:
            owed = [now]
        wall = time.time()
        facts.behind_since = wall - (now - min(owed)) if owed else None
        facts.pending_paths = len(self.pending.dirty) + len(self.pending.moves) + (
            len(self.batch.paths) if self.job is not None else 0)
        facts.consecutive_failures = self.backoff.failures
        facts.verifying = self.verifier.changes is not None
        facts.last_success = self.last_sync
        facts.failing_since = self.backoff.down_since if self.state == "retrying" else None
        facts.next_retry = wall + self.retry_at - now if self.state == "retrying" else None
        facts.would_delete, facts.delete_bound = self.refused or (None, None)
        facts.lost_mounts = tuple(sorted(self.lost_mounts))
        facts.restricted = self.confined
        facts.hook_runs, facts.hook_failures = self.hook.runs, self.hook.failures
        facts.hook_failing_since = self.hook.failing_since
        facts.hook_error = self.hook.last_error if self.hook.failing else ""
        facts.state = derive_state(
            paused=paused, failing=self.state == "retrying", refused=self.refused is not None,
            lost_mounts=bool(self.lost_mounts),
            started=self.state != "starting",
            sending=self.job is not None and self.phase != "verify", pending=bool(self.pending),
            incomplete=incomplete)
        return facts

    # -- noticing a node's return ---------------------------------------------------

    def start_probe(self, now: float) -> PortProbe | Job | None:
        if self.state != "retrying":
            self.link.probe_at = None
            return None
        return self.link.start_probe(self.cfg, self.node, now)

    def lookup_done(self, now: float) -> Job | None:
        return self.link.lookup_done(now)

    def probe_done(self, now: float, answered: bool) -> None:
        if self.link.probe_done(now, answered) and self.retry_at > now:
            log.info("%s: answers again; retrying now", self.node.name,
                     extra={"INOSYNC_NODE": self.node.name})
            self.backoff.retry_at = now

    def release(self) -> list[Job]:
        """Give up the node (a reload removed it): its running children, for the loop to
        stop and reap without waiting."""
        children = [job for job in (self.job, self.hook.release(), *self.link.release())
                    if job is not None]
        self.job = None
        return children

    def close(self, grace: float) -> None:
        """Stop the job, the hook and the link, waiting for them: at shutdown, after the
        loop."""
        for job in (self.job, self.hook.release()):
            if job is not None:
                job.stop(grace)
        self.job = None
        self.link.close()

