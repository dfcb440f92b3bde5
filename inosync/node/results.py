"""What a finished job means for its node: the next step of a sequence (a full sync that
held its deletions back -> the one that makes them, count -> full, rename replay -> sync,
the shell probe -> the first sync), or the node in sync, or failing and backing off. The
runner starts jobs; this reads how they ended."""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

from inosync.node import restricted
from inosync.node.backoff import FIRST
from inosync.node.rename_replay import next_step, rebuilds
from inosync.node.sync_log import done_line, tail
from inosync.node.sync_log import problem as failure_name
from inosync.node.verification import repairable
from inosync.rsync.argv import max_delete_for
from inosync.rsync.outcomes import Outcome, classify_exit
from inosync.rsync.output import bytes_sent, deletions_held_back, parse_itemized

if TYPE_CHECKING:
    from inosync.node.runner import NodeRunner

log = logging.getLogger("inosync.node")


class JobResults:
    """Reads each finished job of one node and moves the node on."""

    def __init__(self, runner: NodeRunner) -> None:
        self.runner = runner
        self.earlier: tuple[float, int] | None = None  # (seconds, bytes) of a first pass

    def finished(self, code: int, stdout: bytes, stderr: bytes, seconds: float,
                  dry_run: bool) -> None:
        r = self.runner
        if r.pieces.active:  # a piece of the first full sync: the last one tells them all
            if r.pieces.ended(code, stdout, stderr, seconds):
                if not r.pieces.over():
                    r.next_piece(dry_run)
                    return
                code, stdout, stderr, seconds = r.pieces.as_one()
        if r.phase == "full" and r.bound.holding:
            self._held(code, stdout, stderr, seconds, dry_run)
            return
        if r.phase == "count" and classify_exit(code)[0] is Outcome.OK:
            self._counted(stdout, dry_run)
            return
        if r.phase == "verify" and classify_exit(code)[0] is Outcome.OK:
            self._verified(stdout)
            return
        if r.phase == "prune":  # the node's next job starts when it is due, as ever
            r.pruner.ended(code, stderr)
            r.phase = ""
            return
        if r.phase == "detect":
            self._detected(code, stderr, dry_run)
            return
        if r.phase == "moves":
            step = next_step(r.node.name, rebuilds(r.node, r.confined),
                             code, stdout, r.batch, r.pending)
            if step is not None:
                r.run_job("moves", step, dry_run)
            else:
                r.start_sync(dry_run)
            return
        outcome, meaning = classify_exit(code)
        if outcome is Outcome.OK and r.phase == "full" and deletions_held_back(
                stdout + b"\n" + stderr):  # an rsync daemon's limit hit ends in 0, not 25
            outcome = Outcome.GUARD
        if outcome is Outcome.OK:
            self.succeeded(code, stdout, seconds)
        elif outcome is Outcome.GUARD:
            self._guarded(stderr, code)
        else:
            self.failed(outcome, meaning, stderr, code)

    def _held(self, code: int, stdout: bytes, stderr: bytes, seconds: float,
              dry_run: bool) -> None:
        """The full sync that deleted nothing is over: most often that is all (nothing was
        to be deleted); else its deletions are allowed or refused all at once."""
        r = self.runner
        outcome, meaning = classify_exit(code)
        held_back = deletions_held_back(stdout + b"\n" + stderr)
        step = r.bound.held(outcome, held_back, dry_run)
        if step == "failed":
            self.failed(outcome, meaning, stderr, code)
        elif step == "done":
            self.succeeded(code, stdout, seconds)
        else:
            self.earlier = (seconds, bytes_sent(stdout) or 0)
            if step == "count":
                r.start_count(dry_run)
                return
            if r.bound.limit is not None and r.bound.would_delete:
                log.info("%s: the full sync held back %d deletions, within the bound (%d); "
                         "making them", r.node.name, r.bound.would_delete, r.bound.limit,
                         extra={"INOSYNC_NODE": r.node.name,
                                "INOSYNC_WOULD_DELETE": r.bound.would_delete,
                                "INOSYNC_DELETE_BOUND": r.bound.limit})
            r.start_full(dry_run)

    def _counted(self, stdout: bytes, dry_run: bool) -> None:
        """The delete bound is all-or-nothing: a full sync that would delete more than the
        bound deletes nothing at all (and still sends what is new or changed)."""
        r = self.runner
        items = parse_itemized(stdout)
        would_delete = sum(item.is_deletion for item in items)
        r.bound.counted(would_delete, dry_run)
        if r.count_drift:  # a reload: the full sync repairs what this finds
            r.count_drift = False
            refused = r.bound.limit is None
            drift = r.verifier.drift(items)
            r.verifier.record(r.facts, time.time(), drift,
                              [d for d in drift if not (refused and d.is_deletion)])
        r.start_full(dry_run)

    def _verified(self, stdout: bytes) -> None:
        r = self.runner
        now = time.monotonic()
        r.phase = ""
        r.schedule_verification(now)
        if r.pending.full:  # events were lost meanwhile: the full sync sees to it all
            r.verifier.changes = None
            return
        drift = r.verifier.drift(parse_itemized(stdout))
        bound = max_delete_for(r.cfg.max_delete_share, r.source_entries())
        repair = repairable(drift, bound)
        r.verifier.record(r.facts, time.time(), drift, repair)
        if len(repair) < len(drift):
            log.error("%s: not repairing %d extraneous paths: more than max_delete_share "
                      "allows (%d)", r.node.name, len(drift) - len(repair), bound,
                      extra={"INOSYNC_NODE": r.node.name})
        for item in repair:
            r.pending.mark(item.path)
        if repair:
            r.repairing = True
            r.touched(now)

    def _detected(self, code: int, stderr: bytes, dry_run: bool) -> None:
        """The shell command's answer: rrsync's refusal, a shell, or ssh failing (then the
        node backs off like any failed sync and is asked again)."""
        r = self.runner
        found = restricted.verdict(code, stderr)
        if found is None:
            outcome, meaning = classify_exit(code)
            self.failed(outcome, meaning, stderr, code)
            return
        r.node = r.confinement.answered(found, r.cfg.rsh, r.configured)
        r.phase = ""
        r.start(time.monotonic(), dry_run)

    def succeeded(self, code: int, stdout: bytes, seconds: float) -> None:
        r = self.runner
        full = r.phase == "full"
        sent = bytes_sent(stdout)
        if self.earlier is not None:  # the first pass of this full sync sent too
            seconds += self.earlier[0]
            sent = None if sent is None else sent + self.earlier[1]
            self.earlier = None
        if r.state == "retrying" and r.backoff.failures:
            log.warning("%s: back in sync after %d failed attempts", r.node.name,
                        r.backoff.failures)
        message, fields = done_line(
            r.node.name, full=full, paths=len(r.batch.paths), renames=len(r.batch.moves),
            refused=r.bound.would_delete if full and r.bound.limit is None else None,
            seconds=seconds, sent=sent, code=code)
        log.info("%s", message, extra=fields)
        if full:
            r.bound.full_done(time.monotonic(), r.node.name)
        r.hook.synced(r.cfg, "full" if full else r.batch.kind, r.batch.paths, r.batch.moves,
                      code, sent)
        r.link.stop_probing()
        r.batch.oldest = None
        r.facts.syncs += 1
        r.facts.bytes_sent += sent or 0
        if full and r.facts.last_success is None:
            r.schedule_verification(time.monotonic())
        r.backoff.succeeded()
        r.state = "ok"
        r.problem = ""
        r.initial_tried = True
        r.last_sync = time.time()
        r.phase = ""
        r.batch.clear()

    def _guarded(self, stderr: bytes, code: int) -> None:
        """rsync's --max-delete stopped a full sync: the source shrank after the count.
        Count again at once; the next full sync then refuses all or none."""
        r = self.runner
        self.earlier = None
        log.warning("%s: the source changed while a full sync ran and it hit the delete "
                    "bound; counting again. rsync said: %s", r.node.name, tail(stderr),
                    extra={"INOSYNC_NODE": r.node.name, "INOSYNC_RSYNC_EXIT": code})
        r.pending.mark_all()
        r.initial_tried = True
        r.phase = ""
        r.batch.clear()
        r.backoff.retry_at = time.monotonic() + FIRST  # a churning tree must not spin
        r.touched(time.monotonic())

    def failed(self, outcome: Outcome, meaning: str, stderr: bytes, code: int) -> None:
        r = self.runner
        now = time.monotonic()
        self.earlier = None
        if r.phase in ("full", "count"):
            r.pending.mark_all()
        elif r.phase != "verify":
            r.pending.give_back([], r.batch.paths)
        if r.phase == "verify":
            r.verifier.changes = None
            r.schedule_verification(now)
        r.oldest_change = r.batch.restore_oldest(r.pending, r.oldest_change, now)
        r.facts.failures += 1
        r.facts.last_error_code = code
        r.facts.last_error = (stderr.decode("utf-8", "backslashreplace").strip()
                                 or meaning)
        r.facts.last_error_at = time.time()
        if outcome is Outcome.PARTIAL and r.left_out.skip_unreadable(
                stderr, r.cfg.wpath, r.node.name):
            r.backoff.retry_at = now  # redo at once without them: not the node's fault
            r.phase = ""
            r.batch.clear()
            r.touched(now)
            return
        news = r.backoff.failed(now, time.time(), outcome, random.uniform)
        problem = failure_name(code, meaning, stderr)
        level = logging.ERROR if outcome is Outcome.ERROR else logging.WARNING
        # One line per change of state: a node that is down fails with 255 one time and
        # 12 the next (ssh dying before or after rsync starts); that is still one state.
        if news:
            said = f": {tail(stderr)}" if stderr.strip() else ""
            log.log(level, "%s: %s; keeping the paths and retrying with backoff%s",
                    r.node.name, problem, said,
                    extra={"INOSYNC_NODE": r.node.name, "INOSYNC_RSYNC_EXIT": code})
        else:
            log.debug("%s: still failing (%s), attempt %d", r.node.name, problem,
                      r.backoff.failures)
        if outcome is Outcome.TRANSIENT:
            r.link.failed(now)
        r.state = "retrying"
        r.problem = problem
        r.initial_tried = True
        r.phase = ""
        r.batch.clear()
