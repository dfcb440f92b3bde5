"""A node's on_sync hook: run after each good sync as a child of the loop, like rsync.

It never holds a node back: at most one runs per node, the syncs that finish meanwhile are
merged into its next run, a run longer than on_sync_timeout is killed, and its failures are
counted and logged once per change of state, never retried and never a node's failure.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from collections.abc import Iterable

from inosync.changes import Move
from inosync.config.load import Config, Node
from inosync.node.hook_input import HookRun, hook_env, synced_paths
from inosync.node.sync_log import tail
from inosync.process import Job
from inosync.rsync.argv import Command

log = logging.getLogger("inosync.node")
KILL_GRACE_SECONDS = 2.0  # after SIGTERM at the timeout, SIGKILL


def program_problem(argv: tuple[str, ...]) -> str:
    """Why the hook's program cannot run, "" when it can: `check` says it, and the daemon
    at start (its runs would fail each time otherwise, said once)."""
    program = argv[0]
    path = program if "/" in program else shutil.which(program)
    if path is None:
        return f'"{program}" is not found on PATH - write its full path (the service\'s ' \
            "PATH may differ from your shell's)"
    if not os.path.isfile(path):
        return f"{path} does not exist - install it or fix the path"
    if not os.access(path, os.X_OK):
        return f"{path} is not executable - chmod +x it"
    return ""


def hook_problems(cfg: Config) -> list[str]:
    """Every hook of the config that cannot run, naming its key."""
    problems = []
    if cfg.on_sync and (problem := program_problem(cfg.on_sync)):
        problems.append(f"on_sync: {problem}")
    for index, node in enumerate(cfg.nodes):
        own = node.settings.on_sync
        if own and (problem := program_problem(own)):
            problems.append(f"rnodes[{index}].on_sync: {problem}")
    return problems


class Hook:
    """One node's hook: what is queued for it, the run in flight, and how runs ended."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.queued: HookRun | None = None
        self.job: Job | None = None
        self.running: HookRun | None = None
        self.timeout_at: float | None = None
        self.kill_at: float | None = None
        self.timed_out = False
        self.timeout = 0.0  # the run's on_sync_timeout
        self.runs = 0
        self.failures = 0
        self.failures_in_row = 0
        self.failing_since: float | None = None  # wall clock of the first failure in a row
        self.last_error = ""

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def synced(self, cfg: Config, kind: str, paths: Iterable[str], moves: Iterable[Move],
               code: int, sent: int | None) -> None:
        """A good sync of the node (its paths and renames): the next run tells of it.
        Nothing is gathered when there is no hook."""
        if not cfg.on_sync:
            self.queued = None
            return
        if self.queued is None:
            self.queued = HookRun()
        self.queued.add(kind, synced_paths(paths, [(m.src, m.dst) for m in moves]), code,
                        sent)

    def due(self) -> bool:
        return self.queued is not None and self.job is None

    def start(self, cfg: Config, node: Node, instance: str, now: float, wall: float,
              dry_run: bool) -> Job | None:
        """Start the queued run; the job for the loop to wait on, or None."""
        run, self.queued = self.queued, None
        if run is None or not cfg.on_sync:
            return None
        what = f"{run.kind} sync, " + ("everything" if run.everything
                                       else f"{len(run.paths)} paths")
        if dry_run:
            log.info("dry run: %s: would run on_sync %s (%s)", self.name,
                     Command(cfg.on_sync).describe(), what)
            return None
        log.debug("%s: on_sync %s (%s)", self.name, Command(cfg.on_sync).describe(), what)
        try:
            self.job = Job(Command(cfg.on_sync, run.stdin()),
                           env=hook_env(cfg, node, run, instance, os.environ), cwd="/")
        except OSError as error:
            self._ended(f"cannot run {cfg.on_sync[0]} ({error.strerror}) - fix on_sync in "
                        f"{cfg.path}", b"", wall)
            return None
        self.running = run
        self.timeout = cfg.on_sync_timeout
        self.timeout_at = now + self.timeout
        self.timed_out = False
        return self.job

    def deadline(self) -> float | None:
        if self.job is None:
            return None
        return self.kill_at if self.kill_at is not None else self.timeout_at

    def expire(self, now: float) -> None:
        """A run past on_sync_timeout gets SIGTERM, then SIGKILL (its whole group)."""
        if self.job is None:
            return
        if self.kill_at is not None and now >= self.kill_at:
            self.job.kill()
            self.kill_at = None
        elif self.timeout_at is not None and now >= self.timeout_at and not self.timed_out:
            self.timed_out = True
            self.job.terminate()
            self.kill_at = now + KILL_GRACE_SECONDS
            self.timeout_at = None

    def done(self, wall: float) -> bool:
        """The run's pidfd is readable: True when it has ended (and was read)."""
        assert self.job is not None
        code = self.job.poll()
        if code is None:
            return False
        job, self.job = self.job, None
        self.running, self.timeout_at, self.kill_at = None, None, None
        if self.timed_out:
            problem = f"ran longer than on_sync_timeout ({self.timeout:g} s) and was killed"
        elif code < 0:
            problem = f"was killed by {signal.Signals(-code).name}"
        elif code:
            problem = f"exited with {code}"
        else:
            problem = ""
        self._ended(problem, job.stderr, wall)
        return True

    def _ended(self, problem: str, stderr: bytes, wall: float) -> None:
        """Count the run; one log line when the hook starts or stops failing."""
        self.runs += 1
        extra = {"INOSYNC_NODE": self.name}
        if not problem:
            if self.failing:
                log.warning("%s: on_sync works again after %d failed runs", self.name,
                            self.failures_in_row, extra=extra)
            self.failing_since, self.failures_in_row = None, 0
            return
        self.failures += 1
        self.failures_in_row += 1
        said = f": {tail(stderr)}" if stderr.strip() else ""
        self.last_error = problem + said
        if not self.failing:
            self.failing_since = wall
            log.error("%s: on_sync %s%s; syncing goes on, and it runs again after the next "
                      "sync", self.name, problem, said, extra=extra)
        else:
            log.debug("%s: on_sync still failing: %s", self.name, problem, extra=extra)

    def release(self) -> Job | None:
        """Give up the run in flight (the node is removed, or the daemon stops)."""
        job, self.job = self.job, None
        self.queued, self.running = None, None
        return job
