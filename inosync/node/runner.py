"""One mirror target: its pending changes, the batch in flight, backoff, its ssh master.

A node never blocks the others: everything it runs is a child process the main loop
waits on. Failed batches go back into `pending`, so nothing is dropped, and are retried
with capped exponential backoff. It logs once per change of state, not once per retry.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterable

from inosync.changes import Move, PathSet, Pending
from inosync.config.load import Config, Node
from inosync.node import restricted
from inosync.node.backoff import FIRST, Backoff
from inosync.node.delete_bound import DeleteBound
from inosync.node.link import NodeLink
from inosync.node.reach import PortProbe
from inosync.node.renames import rename_locally, resend_paths
from inosync.node.verification import Verifier, repairable
from inosync.process import Job
from inosync.report.node_facts import NodeFacts, derive_state
from inosync.rsync import argv as rsync
from inosync.rsync.argv import Command
from inosync.rsync.moves import failed_moves, remote_moves
from inosync.rsync.outcomes import Outcome, classify_exit
from inosync.rsync.output import bytes_sent, parse_itemized, sender_failures
from inosync.source.tree import listable, needs_move_check

log = logging.getLogger("inosync.node")
BATCH_DELAY = 0.015  # gather events that arrive together (a write and its close) into a batch
MAX_LINKED_MOVES = 16  # more renames in one batch to a daemon node: plain delete and send


class NodeRunner:
    """Drives one node through: idle -> (moves) -> sync -> idle, or -> backoff."""

    def __init__(self, cfg: Config, node: Node, control_path: str | None,
                 source_entries: Callable[[], int]) -> None:
        self.bound = DeleteBound(cfg.max_delete_share)
        self.verifier = Verifier(cfg.verify_interval)
        self.cfg = cfg  # (after the parts that follow it on reload)
        self.node = node
        self.configured = node  # as the config names it: the runner's identity on reload
        self.control_path = control_path if node.kind == "ssh" else None
        # Whether rrsync confines the node's key: asked before its first sync (ssh only).
        self.restricted: bool | None = None if node.kind == "ssh" else False
        self.asked_with: tuple[str, ...] = ()  # the rsh the answer came through
        self.source_entries = source_entries
        self.pending = Pending()
        self.job: Job | None = None
        self.phase = ""  # "moves", "sync" or "full" while a job runs
        self.batch_moves: list[Move] = []
        self.batch_paths: list[str] = []
        self.linked_queue: list[Command] = []
        # source paths rsync could not read (topmost only: an excluded directory leaves out
        # what is below it too), a trie so an event forgets those below it in O(depth)
        self.unreadable = PathSet()
        # Mount points below wpath that lost their filesystem (the daemon's MountState):
        # left out of every command like unreadable paths, so --delete spares their copies.
        self.lost_mounts: frozenset[str] = frozenset()
        self.backoff = Backoff()
        self.due_at: float | None = None
        self.state = "starting"  # starting, ok, retrying
        self.problem = ""
        self.initial_tried = False
        self.last_sync: float | None = None  # wall clock time of the last good sync
        self.link = NodeLink(node.name, self.control_path)
        self.facts = NodeFacts(node.name, node.spec, node.kind)
        self.oldest_change: float | None = None  # oldest change not yet in a batch
        self.batch_oldest: float | None = None  # oldest change in the batch in flight

    @property
    def cfg(self) -> Config:
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: Config) -> None:
        """A reload's config: the bound and the verification interval follow it."""
        self._cfg = cfg
        self.bound.share = cfg.max_delete_share
        self.verifier.interval = cfg.verify_interval

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
        self.verifier.count_drift = value

    # -- scheduling -----------------------------------------------------------------

    def touched(self, now: float) -> None:
        """Something became pending: start a batch soon (not at once, to gather more)."""
        if self.due_at is None:
            self.due_at = now + BATCH_DELAY
        if self.oldest_change is None:
            self.oldest_change = now

    def deadline(self) -> float | None:
        if self.job is not None:
            return None
        if not self.pending:
            due = [t for t in (self.bound.recheck_at,
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
        if self.node.kind == "ssh" and (self.restricted is None
                                        or self.asked_with != self.cfg.rsh):
            self.node, self.restricted = self.configured, None  # ask (again: a new key?)
            self._run("detect", restricted.probe(self.cfg, self.node, self.control_path),
                      False)  # a shell command that changes nothing: asked in dry runs too
            return
        if self.bound.recheck_due(now):
            self.pending.mark_all()  # count again: is the source back within the bound?
        if not self.pending.full and self.verifier.due(now, self.state == "retrying"):
            self.verifier.begin(self.pending)
            self._run("verify", rsync.whole_tree_dry_run(
                self.cfg, self.node, self.control_path, self._left_out()), dry_run)
            return
        self.batch_oldest = self.oldest_change
        self.oldest_change = None
        if self.pending.full:
            self.batch_moves, self.batch_paths = [], []
            self.pending.take()
            counts = self.bound.begin(self.source_entries())
            if self.count_drift:
                self.verifier.changes = set()
            if not counts and not self.count_drift:  # no bound: nothing to count
                self._start_full(dry_run)
            else:
                self._run("count", rsync.whole_tree_dry_run(
                    self.cfg, self.node, self.control_path, self._left_out()), dry_run)
            return
        moves, dirty = self.pending.take()
        # A failed rename is turned into "delete src, send dst". When excludes could mean
        # something else at the new place (patterns with a '/'), or for rsync daemons,
        # every destination is re-checked too: no data moves when the rename worked.
        self.batch_moves = moves
        self.batch_paths = dirty
        if moves and (self._rebuilds_moves() or needs_move_check(self.cfg.rexcludes)):
            self.batch_paths = dirty + [move.dst for move in moves]
        if moves and self.node.kind == "ssh" and not self.restricted:
            self._run("moves", remote_moves(self.cfg, self.node, self.control_path,
                                                  moves), dry_run)
            return
        if moves and self.node.kind == "local":
            self._resend_moves(rename_locally(self.cfg.rpath, self.node.name, moves, dry_run))
        elif moves:  # an rsync daemon or rrsync cannot rename: rebuild from the old copy,
            self._resend_moves(range(len(moves)))  # then the batch deletes it
            self.linked_queue = restricted.linked_moves(
                self.cfg, self.node, self.control_path, moves, bool(self.restricted)
            ) if len(moves) <= MAX_LINKED_MOVES else []
            if self.linked_queue:
                self._run("moves", self.linked_queue.pop(0), dry_run)
                return
        self._start_sync(dry_run, kinds)

    def _rebuilds_moves(self) -> bool:
        """No mv on the node (an rsync daemon, an rrsync key): renames are rebuilt by rsync
        from the old copy, and the batch re-checks each destination."""
        return self.node.kind == "daemon" or bool(self.restricted)

    def _detected(self, code: int, stderr: bytes, dry_run: bool) -> None:
        """The shell command's answer: rrsync's refusal, a shell, or ssh failing (then the
        node backs off like any failed sync and is asked again)."""
        found = restricted.verdict(code, stderr)
        if found is None:
            outcome, meaning = classify_exit(code)
            self._failed(outcome, meaning, stderr, code)
            return
        self.restricted, self.asked_with = found, self.cfg.rsh
        if found:
            self.node = restricted.rooted(self.configured)
            log.info("%s: restricted by rrsync on the node: paths are relative to its "
                     "directory (rpath), renames go through rsync alone", self.node.name,
                     extra={"INOSYNC_NODE": self.node.name})
        else:
            log.debug("%s: a shell answers on the node: renames are replayed with mv",
                      self.node.name)
        self.phase = ""
        self.start(time.monotonic(), dry_run)

    def _resend_moves(self, failed: Iterable[int]) -> None:
        """Turn failed renames into "delete src, send dst" in this batch; renames recorded
        since the batch began are replayed next, so the ends go back pending as named now."""
        for path, here in resend_paths(self.batch_moves, failed):
            self.batch_paths += [path, here] if here != path else [path]
            self.pending.carry([here])

    def _start_full(self, dry_run: bool) -> None:
        self._run("full", rsync.full_sync(self.cfg, self.node, self.control_path,
                                          self.bound.limit, self._left_out()), dry_run)

    def _counted(self, stdout: bytes, dry_run: bool) -> None:
        """The delete bound is all-or-nothing: a full sync that would delete more than the
        bound deletes nothing at all (and still sends what is new or changed)."""
        items = parse_itemized(stdout)
        would_delete = sum(item.is_deletion for item in items)
        if self.count_drift:  # a reload: the full sync repairs what this finds
            self.count_drift = False
            refused = self.bound.refuses(would_delete, dry_run)
            drift = self.verifier.drift(items)
            self.verifier.record(self.facts, time.time(), drift,
                                 [d for d in drift if not (refused and d.is_deletion)])
        self.bound.counted(would_delete, dry_run)
        self._start_full(dry_run)

    def _verified(self, stdout: bytes) -> None:
        now = time.monotonic()
        self.phase = ""
        self.schedule_verification(now)
        if self.pending.full:  # events were lost meanwhile: the full sync sees to it all
            self.verifier.changes = None
            return
        drift = self.verifier.drift(parse_itemized(stdout))
        bound = rsync.max_delete_for(self.cfg.max_delete_share, self.source_entries())
        repair = repairable(drift, bound)
        self.verifier.record(self.facts, time.time(), drift, repair)
        if len(repair) < len(drift):
            log.error("%s: not repairing %d extraneous paths: more than max_delete_share "
                      "allows (%d)", self.node.name, len(drift) - len(repair), bound,
                      extra={"INOSYNC_NODE": self.node.name})
        for item in repair:
            self.pending.mark(item.path)
        if repair:
            self.touched(now)

    def _start_sync(self, dry_run: bool, kinds: dict[str, bool | None] | None = None) -> None:
        if not self.batch_paths:  # only renames, and all of them worked
            self.phase = "sync"
            self._succeeded(0, b"", 0.0)
            return
        self._run("sync", rsync.batch_sync(self.cfg, self.node, self.control_path,
                                           listable(self.cfg.wpath, self.batch_paths, kinds),
                                           self._left_out()), dry_run)

    def _left_out(self) -> set[str]:
        """Source paths no command may touch on the node: unreadable ones, lost mounts."""
        return set(self.unreadable) | self.lost_mounts

    def _run(self, phase: str, command: Command, dry_run: bool) -> None:
        self.phase = phase
        if dry_run:
            log.info("dry run: %s: would run %s", self.node.name, command.describe())
            self.job = None
            self._finished(0, b"", b"", 0.0, dry_run)
            return
        log.debug("%s: %s", self.node.name, command.describe())
        if log.isEnabledFor(logging.DEBUG) and phase != "full":
            log.debug("%s: batch: moves %s; paths %s", self.node.name,
                      [(m.src, m.dst) for m in self.batch_moves[:20]], self.batch_paths[:50])
        try:
            self.job = Job(command)
        except OSError as error:
            key = "rsync" if command.argv[0] == self.cfg.rsync else "rsh"
            self.job = None
            self._failed(Outcome.ERROR, f"cannot run {command.argv[0]} ({error.strerror}) - "
                         f"fix the {key} key in {self.cfg.path}", b"", 127)

    def job_done(self, dry_run: bool) -> None:
        """Called when the job's pidfd is readable."""
        assert self.job is not None
        code = self.job.poll()
        if code is None:
            return
        job, self.job = self.job, None
        self._finished(code, job.stdout, job.stderr, job.seconds, dry_run)

    def _finished(self, code: int, stdout: bytes, stderr: bytes, seconds: float,
                  dry_run: bool) -> None:
        if self.phase == "count" and classify_exit(code)[0] is Outcome.OK:
            self._counted(stdout, dry_run)
            return
        if self.phase == "verify" and classify_exit(code)[0] is Outcome.OK:
            self._verified(stdout)
            return
        if self.phase == "detect":
            self._detected(code, stderr, dry_run)
            return
        if self.phase == "moves" and self._rebuilds_moves():
            if code not in (0, 24):
                log.debug("%s: rebuilding a renamed path from its old copy failed (exit %d); "
                          "the batch sends it instead", self.node.name, code)
            else:
                log.debug("%s: rebuilt a renamed path from its old copy, %s bytes sent",
                          self.node.name, bytes_sent(stdout))
            if self.linked_queue and classify_exit(code)[0] is not Outcome.TRANSIENT:
                self._run("moves", self.linked_queue.pop(0), dry_run)
            else:
                self.linked_queue = []
                self._start_sync(dry_run)
            return
        if self.phase == "moves":
            failed = failed_moves(stdout)
            if code != 0:  # the script did not run through: assume none of them moved
                failed = set(range(len(self.batch_moves)))
            self._resend_moves(sorted(failed))
            log.debug("%s: replayed %d of %d moves", self.node.name,
                      len(self.batch_moves) - len(failed), len(self.batch_moves))
            self._start_sync(dry_run)
            return
        outcome, meaning = classify_exit(code)
        if outcome is Outcome.OK:
            self._succeeded(code, stdout, seconds)
        elif outcome is Outcome.GUARD:
            self._guarded(stderr)
        else:
            self._failed(outcome, meaning, stderr, code)

    def _succeeded(self, code: int, stdout: bytes, seconds: float) -> None:
        full = self.phase == "full"
        count = len(self.batch_paths)
        sent = bytes_sent(stdout)
        if self.state == "retrying" and self.backoff.failures:
            log.warning("%s: back in sync after %d failed attempts", self.node.name,
                        self.backoff.failures)
        what = f"synced {count} paths"
        if full and self.bound.limit is None:
            what = f"full sync done, {self.bound.would_delete} deletions refused"
        elif full:
            what = "full sync done"
        if self.batch_moves:
            what += f" after replaying {len(self.batch_moves)} renames"
        log.info("%s: %s in %d ms, %s bytes sent", self.node.name, what,
                 seconds * 1000, sent if sent is not None else "?",
                 extra={"INOSYNC_NODE": self.node.name, "INOSYNC_PATHS": "all" if full
                        else count, "INOSYNC_RSYNC_EXIT": code,
                        "INOSYNC_DURATION_MS": int(seconds * 1000),
                        "INOSYNC_BYTES": sent if sent is not None else -1,
                        "INOSYNC_FULL": int(full)})
        if full:
            self.bound.full_done(time.monotonic(), self.node.name)
        self.link.stop_probing()
        self.batch_oldest = None
        self.facts.syncs += 1
        self.facts.bytes_sent += sent or 0
        if full and self.facts.last_success is None:
            self.schedule_verification(time.monotonic())
        self.backoff.succeeded()
        self.state = "ok"
        self.problem = ""
        self.initial_tried = True
        self.last_sync = time.time()
        self.phase = ""
        self.batch_moves, self.batch_paths = [], []

    def _guarded(self, stderr: bytes) -> None:
        """rsync's --max-delete stopped a full sync: the source shrank after the count.
        Count again at once; the next full sync then refuses all or none."""
        log.warning("%s: the source changed while a full sync ran and it hit the delete "
                    "bound; counting again. rsync said: %s", self.node.name, _tail(stderr),
                    extra={"INOSYNC_NODE": self.node.name, "INOSYNC_RSYNC_EXIT": 25})
        self.pending.mark_all()
        self.initial_tried = True
        self.phase = ""
        self.batch_moves, self.batch_paths = [], []
        self.backoff.retry_at = time.monotonic() + FIRST  # a churning tree must not spin
        self.touched(time.monotonic())

    def changed(self, path: str) -> None:
        """An event for `path`: an unreadable path there may be readable now, and a
        comparison running now cannot count it as drift."""
        self.verifier.changed(path)
        if self.unreadable:
            self.unreadable.take_below(path)

    def _skip_unreadable(self, stderr: bytes) -> bool:
        """After exit 23: leave out what the source would not let rsync read. True when
        that is all that went wrong, so the batch can be redone at once."""
        found = sender_failures(stderr, self.cfg.wpath)
        new = {path: why for path, why in found.items() if not self.unreadable.covers(path)}
        for path, why in new.items():
            log.error("%s: cannot read %r on the source (%s); it is left out, and left "
                      "alone on the node, until it changes", self.node.name,
                      os.path.join(self.cfg.wpath, path), why,
                      extra={"INOSYNC_NODE": self.node.name, "INOSYNC_RSYNC_EXIT": 23})
        for path in new:
            self.unreadable.add(path)
        lowered = stderr.lower()
        node_side = b"[receiver]" in lowered or b"[generator]" in lowered
        return bool(new) and not node_side

    def _failed(self, outcome: Outcome, meaning: str, stderr: bytes, code: int) -> None:
        now = time.monotonic()
        if self.phase in ("full", "count"):
            self.pending.mark_all()
        elif self.phase != "verify":
            self.pending.give_back([], self.batch_paths)
        if self.phase == "verify":
            self.verifier.changes = None
            self.schedule_verification(now)
        self._restore_oldest(now)
        self.facts.failures += 1
        self.facts.last_error_code = code
        self.facts.last_error = (stderr.decode("utf-8", "backslashreplace").strip()
                                 or meaning)
        self.facts.last_error_at = time.time()
        if outcome is Outcome.PARTIAL and self._skip_unreadable(stderr):
            self.backoff.retry_at = now  # redo at once without them: not the node's fault
            self.phase = ""
            self.batch_moves, self.batch_paths = [], []
            self.touched(now)
            return
        news = self.backoff.failed(now, time.time(), outcome, random.uniform)
        problem = meaning if code == 127 and not stderr else f"rsync exit {code} ({meaning})"
        level = logging.ERROR if outcome is Outcome.ERROR else logging.WARNING
        # One line per change of state: a node that is down fails with 255 one time and
        # 12 the next (ssh dying before or after rsync starts); that is still one state.
        if news:
            said = f": {_tail(stderr)}" if stderr.strip() else ""
            log.log(level, "%s: %s; keeping the paths and retrying with backoff%s",
                    self.node.name, problem, said,
                    extra={"INOSYNC_NODE": self.node.name, "INOSYNC_RSYNC_EXIT": code})
        else:
            log.debug("%s: still failing (%s), attempt %d", self.node.name, problem,
                      self.backoff.failures)
        if outcome is Outcome.TRANSIENT:
            self.link.failed(now)
        self.state = "retrying"
        self.problem = problem
        self.initial_tried = True
        self.phase = ""
        self.batch_moves, self.batch_paths = [], []

    def _restore_oldest(self, now: float) -> None:
        """A batch that did not make it: its changes are the oldest still owed."""
        if self.batch_oldest is not None and self.pending:
            self.oldest_change = min(self.oldest_change or now, self.batch_oldest)
        self.batch_oldest = None

    def update_facts(self, now: float, paused: bool, incomplete: bool = False) -> NodeFacts:
        """Bring the derived facts up to date (the counters are kept as things happen).
        `incomplete`: some directories of the source cannot be watched."""
        facts = self.facts
        owed = [t for t in (self.oldest_change, self.batch_oldest) if t is not None]
        if (self.pending or self.job is not None and self.phase != "verify") and not owed:
            owed = [now]
        wall = time.time()
        facts.behind_since = wall - (now - min(owed)) if owed else None
        facts.pending_paths = len(self.pending.dirty) + len(self.pending.moves) + (
            len(self.batch_paths) if self.job is not None else 0)
        facts.consecutive_failures = self.backoff.failures
        facts.verifying = self.verifier.changes is not None
        facts.last_success = self.last_sync
        facts.failing_since = self.backoff.down_since if self.state == "retrying" else None
        facts.next_retry = wall + self.retry_at - now if self.state == "retrying" else None
        facts.would_delete, facts.delete_bound = self.refused or (None, None)
        facts.lost_mounts = tuple(sorted(self.lost_mounts))
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
        children = [job for job in (self.job, *self.link.release()) if job is not None]
        self.job = None
        return children

    def close(self, grace: float) -> None:
        """Stop the job and the link, waiting for them: at shutdown, after the loop."""
        if self.job is not None:
            self.job.terminate()
            if self.job.wait(grace) is None:
                self.job.kill()
                self.job.wait(1.0)
            self.job = None
        self.link.close()


def _tail(stderr: bytes, limit: int = 400) -> str:
    text = stderr.decode("utf-8", "backslashreplace").strip().replace("\n", " | ")
    return text[-limit:] if text else "(no message)"
