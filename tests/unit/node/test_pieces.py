"""A first full sync a piece at a time: the pieces run one after another as the walk hands
them out, a node waits (no job) for the next, their deletions are counted as one full
sync's, and a piece that fails ends the run; jobs recorded, never run."""

from __future__ import annotations

from inosync.changes import ROOT
from inosync.config.load import validate
from inosync.node.runner import NodeRunner
from inosync.rsync.argv import Command
from inosync.source.subtrees import Piece, Splitter

STOPPED = b"Deletions stopped due to --max-delete limit (%d skipped)\n"
KEPT = b"cannot delete non-empty directory: %s\n"


def _runner(jobs: list[tuple[str, tuple[str, ...]]], walk: Splitter) -> NodeRunner:
    cfg = validate({"wpath": "/src", "rpath": "/dst", "rnodes": [""]}, "x.toml",
                   exists=lambda path: True)
    runner = NodeRunner(cfg, cfg.nodes[0], None, lambda: 100)  # a bound of 100 at 0.5
    runner.pieces.source = walk

    def record(phase: str, command: Command, dry_run: bool) -> None:
        runner.phase = phase
        runner.job = object()  # type: ignore[assignment]
        jobs.append((phase, command.argv))

    runner.run_job = record  # type: ignore[method-assign]
    runner.pending.mark_all()
    runner.start(0.0, False)
    return runner


def _ended(runner: NodeRunner, code: int, stdout: bytes, stderr: bytes = b"") -> None:
    runner.job = None
    runner.results.finished(code, stdout, stderr, 1.0, False)


def test_the_pieces_run_as_the_walk_hands_them_out_and_count_as_one_full_sync() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    walk = Splitter()
    runner = _runner(jobs, walk)
    assert jobs == [] and runner.pieces.active and runner.deadline() is None  # waits
    walk.pieces.append(Piece(("a", "b")))
    assert runner.pieces.can_take()
    runner.next_piece(False)
    assert jobs[-1][1][-4:] == ("--", "/src/./a", "/src/./b", "/dst/")
    _ended(runner, 25, b"sent 10 bytes  received 1 bytes\n" + KEPT % b"a/old" + KEPT % b"a/old/x",
           STOPPED % 3)  # a/old is one more than rsync says
    assert len(jobs) == 1 and runner.phase == "full" and runner.job is None  # waits again
    walk.pieces.append(Piece((ROOT,), ("a", "b")))
    walk.done = True
    runner.next_piece(False)
    assert "--filter=-s /a" in jobs[-1][1] and jobs[-1][1][-3:] == ("--", "/src/", "/dst/")
    _ended(runner, 25, b"sent 5 bytes  received 1 bytes\n", STOPPED % 2)
    # six deletions, within the bound: the deleting run is the whole tree, in one
    assert not runner.pieces.active and runner.bound.would_delete == 6
    assert jobs[-1][0] == "full" and "--max-delete=100" in jobs[-1][1]
    assert not any("--filter" in word for word in jobs[-1][1])
    _ended(runner, 0, b"sent 7 bytes  received 1 bytes\n")
    assert runner.state == "ok" and runner.facts.bytes_sent == 22


def test_nothing_to_delete_in_any_piece_is_the_end_of_the_full_sync() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    walk = Splitter(pieces=[Piece(("a",))])
    runner = _runner(jobs, walk)
    walk.pieces.append(Piece((ROOT,), ("a",)))
    walk.done = True
    _ended(runner, 24, b"sent 1 bytes  received 1 bytes\n")
    _ended(runner, 0, b"sent 2 bytes  received 1 bytes\n")
    assert len(jobs) == 2 and runner.state == "ok" and runner.phase == ""
    assert (runner.facts.syncs, runner.facts.bytes_sent) == (1, 3)


def test_deletions_over_the_bound_summed_across_pieces_are_all_refused() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    walk = Splitter(pieces=[Piece(("a",)), Piece((ROOT,), ("a",))])
    runner = _runner(jobs, walk)
    walk.done = True
    _ended(runner, 25, b"", STOPPED % 60)
    _ended(runner, 25, b"", STOPPED % 60)  # each within 100, together over it
    assert len(jobs) == 2 and runner.refused == (120, 100)


def test_a_piece_that_fails_ends_the_run_and_the_full_sync_is_owed_again() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    walk = Splitter(pieces=[Piece(("a",)), Piece(("b",))])
    runner = _runner(jobs, walk)
    _ended(runner, 12, b"", b"rsync: connection unexpectedly closed\n")
    assert len(jobs) == 1 and not runner.pieces.active
    assert runner.state == "retrying" and runner.pending.full


def test_unreadable_paths_in_a_piece_are_left_out_when_the_full_sync_is_redone() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    walk = Splitter(pieces=[Piece(("a",)), Piece((ROOT,), ("a",))])
    runner = _runner(jobs, walk)
    walk.done = True
    _ended(runner, 23, b"", b'rsync: [sender] opendir "/src/a/locked" failed: '
           b"Permission denied (13)\n")
    _ended(runner, 0, b"")
    assert "a/locked" in runner.unreadable and runner.pending.full


def test_a_walk_over_before_the_node_starts_leaves_one_run_of_the_whole_tree() -> None:
    jobs: list[tuple[str, tuple[str, ...]]] = []
    walk = Splitter(pieces=[Piece(("a",)), Piece((ROOT,), ("a",))], done=True)
    runner = _runner(jobs, walk)
    assert not runner.pieces.active and len(jobs) == 1
    assert "-R" not in jobs[0][1] and not any("--filter" in word for word in jobs[0][1])
