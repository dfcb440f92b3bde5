"""A bounded full sync's job sequence: the run that holds deletions back, then only when rsync
said it held some back within the bound the run that deletes; jobs recorded, never run."""

from __future__ import annotations

import pytest

from inosync.config.load import validate
from inosync.node.runner import NodeRunner
from inosync.rsync.argv import Command

STOPPED = b"Deletions stopped due to --max-delete limit (%d skipped)\n"
SENT = b"sent 1,000 bytes  received 10 bytes  100.00 bytes/sec\n"
KEPT = b"cannot delete non-empty directory: d\n"


def _runner(jobs: list[tuple[str, tuple[str, ...]]], **keys: object) -> NodeRunner:
    cfg = validate({"wpath": "/src", "rpath": "/dst", "rnodes": [""], **keys}, "x.toml",
                   exists=lambda path: True)
    runner = NodeRunner(cfg, cfg.nodes[0], None, lambda: 10)  # a bound of 10 at 0.5

    def record(phase: str, command: Command, dry_run: bool) -> None:
        runner.phase = phase
        jobs.append((phase, command.argv))

    runner.run_job = record  # type: ignore[method-assign]
    runner.pending.mark_all()
    runner.start(0.0, False)
    return runner


@pytest.mark.parametrize(("code", "stdout", "stderr", "second", "refused"), [
    (0, SENT, b"", None, None),  # in sync: one run
    (24, SENT, b"", None, None),
    (25, SENT, STOPPED % 4, "--max-delete=10", None),
    (0, SENT, STOPPED % 4, "--max-delete=10", None),  # an rsync daemon's exit
    (25, KEPT + SENT, STOPPED % 9, "--max-delete=10", None),  # d is the tenth
    (25, KEPT + SENT, STOPPED % 10, None, (11, 10)),
    (25, SENT, STOPPED % 50, None, (50, 10)),
    (23, SENT, STOPPED % 50, "no --delete", (50, 10)),  # resent, deletions refused
    (25, SENT, b"", "--dry-run", None),  # no count said: a counting pass
])
def test_the_run_that_follows_a_full_sync_that_held_deletions_back(
        code: int, stdout: bytes, stderr: bytes, second: str | None,
        refused: tuple[int, int] | None) -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    runner = _runner(jobs)
    assert [phase for phase, _ in jobs] == ["full"]
    assert "--delete" in jobs[0][1] and "--max-delete=0" in jobs[0][1]
    runner.results.finished(code, stdout, stderr, 1.5, False)
    if second is None:
        assert len(jobs) == 1 and runner.state == "ok" and runner.phase == ""
        assert runner.refused == refused
        assert (runner.facts.syncs, runner.facts.bytes_sent) == (1, 1000)
        return
    assert len(jobs) == 2
    argv = jobs[1][1]
    if second == "no --delete":
        assert jobs[1][0] == "full" and "--delete" not in argv
    elif second == "--dry-run":
        assert jobs[1][0] == "count" and "--dry-run" in argv
        runner.results.finished(0, b"", b"", 0.5, False)  # counted: none to delete
        assert jobs[2][0] == "full" and "--max-delete=10" in jobs[2][1]
    else:
        assert jobs[1][0] == "full" and second in argv and "--delete" in argv
    runner.results.finished(0, SENT, b"", 0.5, False)
    assert runner.state == "ok" and runner.refused == refused
    assert (runner.facts.syncs, runner.facts.bytes_sent) == (1, 2000)  # both runs' bytes


def test_a_failed_first_run_is_a_failed_full_sync() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    runner = _runner(jobs)
    runner.results.finished(12, b"", b"rsync: connection unexpectedly closed\n", 1.0, False)
    assert len(jobs) == 1 and runner.state == "retrying" and runner.pending.full


def test_a_deleting_run_stopped_by_its_limit_counts_again_even_when_it_exits_0() -> None:
    """The source shrank between the two runs; an rsync daemon's client then exits 0."""
    jobs: list[tuple[str, tuple[str, ...]]] = []
    runner = _runner(jobs)
    runner.results.finished(25, SENT, STOPPED % 4, 1.0, False)
    runner.results.finished(0, SENT, STOPPED % 2, 1.0, False)
    assert runner.pending.full and runner.state != "ok" and runner.facts.syncs == 0


def test_without_a_bound_the_full_sync_deletes_at_once() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    runner = _runner(jobs, max_delete_share=1.0)
    assert "--delete" in jobs[0][1] and not any("--max-delete" in w for w in jobs[0][1])
    runner.results.finished(0, SENT, b"", 1.0, False)
    assert len(jobs) == 1 and runner.state == "ok"


def _recording(jobs: list[tuple[str, tuple[str, ...]]]) -> NodeRunner:
    """A runner whose jobs are recorded, not run, and which has not started."""
    cfg = validate({"wpath": "/src", "rpath": "/dst", "rnodes": [""]}, "x.toml",
                   exists=lambda path: True)
    runner = NodeRunner(cfg, cfg.nodes[0], None, lambda: 10)
    runner.run_job = lambda phase, command, dry_run: (  # type: ignore[method-assign]
        setattr(runner, "phase", phase), jobs.append((phase, command.argv)))
    return runner


def test_a_reload_still_counts_first_its_count_is_drift() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    runner = _recording(jobs)
    runner.count_drift = True
    runner.pending.mark_all()
    runner.start(0.0, False)
    assert jobs[0][0] == "count" and "--dry-run" in jobs[0][1]
    runner.results.finished(0, b"*deleting   old\n", b"", 1.0, False)
    assert jobs[1][0] == "full" and "--max-delete=10" in jobs[1][1]


def test_a_change_pending_at_a_reload_or_made_after_it_is_not_the_counts_drift() -> None:
    """The reload's count runs a moment later: what was on its way (pending) and what
    changed since are being sent, not drift on the node."""
    jobs: list[tuple[str, tuple[str, ...]]] = []
    runner = _recording(jobs)
    runner.pending.mark("pending-before")
    runner.count_drift = True  # the reload, then its full sync owed
    runner.pending.mark_all()
    runner.pending.mark("made-after")
    runner.changed("made-after")
    runner.start(0.0, False)
    assert jobs[0][0] == "count"
    runner.results.finished(0, b">f+++++++++ made-after\n>f+++++++++ pending-before\n"
                            b"*deleting   old\n", b"", 1.0, False)
    verification = runner.facts.verification
    assert verification is not None and verification.drift == 1, verification
