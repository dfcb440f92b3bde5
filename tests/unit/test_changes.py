"""Merging events into the minimal work for a node, as tables of cases."""

from __future__ import annotations

import pytest

from inosync.changes import (
    ROOT,
    Move,
    OpenWrites,
    PathSet,
    Pending,
    is_under,
    rebase,
    rebase_through,
)


@pytest.mark.parametrize("added, expected", [
    (["a/b", "a/c", "d"], ["a/b", "a/c", "d"]),
    (["a/b", "a"], ["a"]),                       # a dir covers what is below it
    (["a", "a/b"], ["a"]),
    (["a/b/c", "a/b/d", "a/b"], ["a/b"]),
    (["ab", "a"], ["a", "ab"]),                  # siblings with a common prefix stay apart
    (["x", ROOT, "y"], [ROOT]),                  # the top covers everything
    (["f", "f"], ["f"]),
])
def test_pathset_keeps_only_topmost_paths(added: list[str], expected: list[str]) -> None:
    paths = PathSet(added)
    assert sorted(paths) == sorted(expected)
    assert len(paths) == len(expected)


def test_pathset_take_below_removes_the_subtree_only() -> None:
    paths = PathSet(["a/x", "a/y/z", "ab", "b"])
    assert sorted(paths.take_below("a")) == ["a/x", "a/y/z"]
    assert sorted(paths) == ["ab", "b"]
    assert paths.take_below("nothing") == []
    assert paths.take_below("ab") == ["ab"] and sorted(paths) == ["b"]


@pytest.mark.parametrize("paths, path, expected", [
    (["a/b"], "a/b", True),                      # in the set
    (["a/b"], "a/b/c/d", True),                  # below a path in it
    (["a/b/c"], "a", True),                      # above one
    (["a/b/c"], ROOT, True),                     # the root is above every path
    ([], ROOT, False),
    ([], "a", False),
    ([ROOT], "any/thing", True),
    (["a/b"], "a/bc", False),                    # a prefix that is not a parent
    (["a/bc"], "a/b", False),
    (["a/b"], "a/c", False),
    (["a b/c"], "a", False),
    (["a b/c"], "a b", True),
    (["new\nline/f"], "new", False),
    (["a/x", "a/y/z"], "a/y", True),
    (["a/x", "a/y/z"], "a/w", False),
])
def test_pathset_touches_paths_at_above_and_below(paths: list[str], path: str,
                                                  expected: bool) -> None:
    assert PathSet(paths).touches(path) is expected


def test_pathset_touches_nothing_once_taken_away() -> None:
    paths = PathSet(["a/b/c", "d"])
    paths.take_below("a/b")
    assert not paths.touches("a") and not paths.touches("a/b") and paths.touches(ROOT)


def test_pathset_burst_in_one_dir_is_cheap_and_collapses() -> None:
    paths = PathSet(["new"])
    for index in range(20000):
        paths.add(f"new/d{index % 1000}/f{index}")
    assert list(paths) == ["new"]


@pytest.mark.parametrize("path, top, expected", [
    ("a/b", "a", True), ("a", "a", True), ("ab", "a", False), ("x", ROOT, True),
])
def test_is_under(path: str, top: str, expected: bool) -> None:
    assert is_under(path, top) is expected


def test_rebase() -> None:
    assert rebase("a/x/y", "a", "b/c") == "b/c/x/y"
    assert rebase("a", "a", "b") == "b"


def run(steps: list[tuple[str, ...]]) -> tuple[list[Move], list[str]]:
    pending = Pending()
    for step in steps:
        if step[0] == "mark":
            pending.mark(step[1])
        elif step[0] == "create":
            pending.mark(step[1], created=True)
        elif step[0] == "move":
            pending.move(Move(step[1], step[2], step[3] == "dir"))
        elif step[0] == "full":
            pending.mark_all()
    moves, dirty = pending.take()
    return moves, sorted(dirty)


CASES = [
    ("create then modify", [("mark", "f"), ("mark", "f")], [], ["f"]),
    ("create then delete", [("mark", "f"), ("mark", "f")], [], ["f"]),
    ("rename of a modified file carries the change",
     [("mark", "a"), ("move", "a", "b", "file")], [("a", "b")], ["b"]),
    ("a file created and renamed over another is sent, not replayed (sed -i)",
     [("create", "d/sedAb12"), ("move", "d/sedAb12", "d/page", "file")], [],
     ["d/page", "d/sedAb12"]),
    ("the name a created file took may be on the node (the file sed replaced): replayed",
     [("create", "t"), ("move", "t", "u", "file"), ("move", "u", "v", "file")],
     [("u", "v")], ["t", "v"]),
    ("a created directory's rename is replayed: it may hold what the node already has",
     [("create", "d"), ("move", "d", "e", "dir")], [("d", "e")], ["e"]),
    ("a rename of a created file replays the moves before it in order",
     [("move", "a", "b", "file"), ("create", "t"), ("move", "t", "a", "file")],
     [("a", "b")], ["a", "t"]),
    ("rename chain collapses, the middle name is re-checked",
     [("move", "a", "b", "file"), ("move", "b", "c", "file")], [("a", "c")], ["b"]),
    ("swap through a temporary name is replayed in order",
     [("move", "x", "t", "file"), ("move", "y", "x", "file"), ("move", "t", "y", "file")],
     [("x", "t"), ("y", "x"), ("t", "y")], []),
    ("a rename back to the start is kept",
     [("move", "a", "b", "dir"), ("move", "b", "a", "dir")], [("a", "b"), ("b", "a")], []),
    ("dir rename with pending changes below it",
     [("mark", "d/x"), ("mark", "d/sub/y"), ("move", "d", "e", "dir")],
     [("d", "e")], ["e/sub/y", "e/x"]),
    ("change after the rename stays at the new place",
     [("move", "d", "e", "dir"), ("mark", "e/x")], [("d", "e")], ["e/x"]),
    ("recreate the old name after a rename",
     [("move", "a", "b", "file"), ("mark", "a")], [("a", "b")], ["a"]),
    ("a full sync makes moves pointless",
     [("move", "a", "b", "file"), ("full",), ("move", "c", "d", "file")], [], [ROOT]),
    ("a rename inside a dir that is resynced anyway is not replayed",
     [("mark", "new"), ("move", "new/a", "new/b", "file"), ("move", "new/c", "out", "dir")],
     [], ["new", "out"]),
    ("changes below a new dir collapse into it",
     [("mark", "new"), ("mark", "new/a/b"), ("mark", "new/c")], [], ["new"]),
]


@pytest.mark.parametrize("name, steps, moves, dirty", CASES, ids=[c[0] for c in CASES])
def test_merging(name: str, steps: list[tuple[str, ...]], moves: list[tuple[str, str]],
                 dirty: list[str]) -> None:
    got_moves, got_dirty = run(steps)
    assert [(m.src, m.dst) for m in got_moves] == moves
    assert got_dirty == dirty


def test_created_files_are_forgotten_once_a_batch_takes_them() -> None:
    """After the batch sent the new file, the node has it: a rename of it is replayed."""
    pending = Pending()
    pending.mark("t", created=True)
    pending.take()
    pending.move(Move("t", "page", False))
    moves, dirty = pending.take()
    assert [(m.src, m.dst) for m in moves] == [("t", "page")]
    assert dirty == []


@pytest.mark.parametrize("in_flight", [["conf/f"], ["conf"], [ROOT]],
                         ids=["the file", "its directory", "a full sync"])
def test_a_file_renamed_while_rsync_reads_it_is_sent_not_replayed(in_flight: list[str]) -> None:
    """sed -i.bak while a batch sends conf/f: rsync took the old file's size and mtime but
    may read the new one's data. Renamed on the node, that copy would match conf/f.bak's
    size and mtime with other data, so conf/f.bak is sent instead."""
    pending = Pending()
    pending.move(Move("conf/f", "conf/f.bak", False), in_flight=in_flight)
    moves, dirty = pending.take()
    assert moves == [] and sorted(dirty) == ["conf/f", "conf/f.bak"]


def test_a_directory_renamed_while_rsync_reads_it_is_replayed_and_rechecked() -> None:
    pending = Pending()
    pending.move(Move("d", "e", True), in_flight=[ROOT])
    moves, dirty = pending.take()
    assert [(m.src, m.dst) for m in moves] == [("d", "e")] and dirty == ["e"]


def test_created_files_are_forgotten_on_a_full_sync() -> None:
    pending = Pending()
    pending.mark("t", created=True)
    pending.mark_all()
    assert not pending.created


def test_move_rebases_paths_of_the_batch_in_flight() -> None:
    pending = Pending()
    pending.move(Move("a", "b", True), in_flight=["a/x", "c"])
    moves, dirty = pending.take()
    assert dirty == ["b/x"]


def test_failed_batch_goes_back_before_later_moves() -> None:
    pending = Pending()
    pending.mark("later")
    pending.move(Move("d", "e", True))
    pending.give_back([], ["d/old-change", "other"])
    moves, dirty = pending.take()
    assert [(m.src, m.dst) for m in moves] == [("d", "e")]
    assert sorted(dirty) == ["e/old-change", "later", "other"]


def test_rebase_through_follows_renames_in_order() -> None:
    moves = [Move("d", "e", True), Move("e/sub", "f", True), Move("x", "y", False)]
    assert rebase_through("d/sub/file", moves) == "f/file"
    assert rebase_through("d/other", moves) == "e/other"
    assert rebase_through("unrelated", moves) == "unrelated"


def test_carry_rechecks_a_path_renamed_after_its_batch_began() -> None:
    pending = Pending()
    pending.move(Move("d", "e", True))
    pending.carry(["d/f", "untouched"])
    moves, dirty = pending.take()
    assert dirty == ["e/f"]


def test_rename_below_a_dir_in_flight_rechecks_the_destination() -> None:
    pending = Pending()
    pending.move(Move("d/s", "n/t", True), in_flight=["d"])
    moves, dirty = pending.take()
    assert [(m.src, m.dst) for m in moves] == [("d/s", "n/t")] and dirty == ["n/t"]


def test_a_long_outage_collapses_into_one_full_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    import inosync.changes as changes

    monkeypatch.setattr(changes, "MAX_DIRTY_PATHS", 100)
    monkeypatch.setattr(changes, "MAX_MOVES", 10)
    pending = Pending()
    for index in range(101):
        pending.mark(f"d{index}/f")
    assert pending.full and len(pending.dirty) == 1
    other = Pending()
    for index in range(11):
        other.move(Move(f"a{index}", f"b{index}", False))
    assert other.full and other.moves == []


def test_open_writes_wait_for_close_quiet_or_age() -> None:
    writes = OpenWrites()
    writes.modified("log", 0.0)
    writes.modified("copy", 0.0)
    for moment in (0.3, 0.6, 0.9, 1.2, 1.5, 1.8):
        writes.modified("log", moment)  # a log appended to every 0.3 s, never quiet
    assert writes.due(0.4) == []
    assert writes.due(0.5) == ["copy"]  # quiet for 0.5 s
    assert writes.due(1.9) == [] and writes.deadline() == 2.0
    assert writes.due(2.0) == ["log"]  # two seconds after its first unsynced write
    writes.modified("d/f", 3.0)
    writes.rebase("d", "e")
    assert writes.due(4.0) == ["e/f"]
    writes.modified("gone/f", 5.0)
    writes.forget_below("gone")
    assert not writes
