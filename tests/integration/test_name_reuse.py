"""A name taken again at once: swapped release directories, `mv d out && mkdir d`, a file
renamed over one just moved away. What arrives below the reused name must keep arriving."""

from __future__ import annotations

import os
import time

import pytest
from helpers import make_tree, write

DELAYS = (0.0, 0.01, 0.06, 0.1)  # around the 50 ms a move out waits for its pair


@pytest.mark.parametrize("delay", DELAYS)
def test_directory_swapped_in_under_the_same_name_keeps_being_mirrored(
        mirror, tmp_path, delay) -> None:
    stage = tmp_path / "stage"
    m = mirror()
    make_tree(m.src / "current", dirs=12, files_per_dir=3, depth=2)
    m.start()
    m.converge(what="initial tree")
    make_tree(stage / "new", dirs=12, files_per_dir=3, depth=2)
    write(stage / "new/VERSION", b"2")
    os.rename(m.src / "current", stage / "old")
    os.rename(stage / "new", m.src / "current")
    for i in range(8):  # hotfixes below the swapped-in tree over the next moments
        time.sleep(delay)
        write(m.src / f"current/hotfix{i}", b"fix %d" % i)
        write(m.src / f"current/d0/hotfix{i}", b"deep fix %d" % i)
        os.makedirs(m.src / f"current/new{i}/sub")
        write(m.src / f"current/new{i}/sub/f", b"new dir")
    m.converge(what="swap, then hotfixes below the new tree")
    time.sleep(0.3)  # well past the pairing window: the old tree's watches are forgotten
    write(m.src / "current/d0/later", b"written after the old tree was forgotten")
    m.converge(what="a write below the reused name after the old tree left")


@pytest.mark.parametrize("delay", DELAYS)
def test_moved_out_and_made_again_with_mkdir(mirror, tmp_path, delay) -> None:
    m = mirror()
    make_tree(m.src / "d", dirs=5, files_per_dir=2, depth=2)
    m.start()
    m.converge()
    os.rename(m.src / "d", tmp_path / "elsewhere")
    os.mkdir(m.src / "d")
    time.sleep(delay)
    write(m.src / "d/f", b"the new d")
    os.makedirs(m.src / "d/sub")
    time.sleep(delay)
    write(m.src / "d/sub/g", b"below the new d")
    m.converge(what="mv d out && mkdir d")
    time.sleep(0.3)
    write(m.src / "d/sub/h", b"later")
    write(tmp_path / "elsewhere/outside-now", b"must not appear")
    m.converge(what="writes below the new d after the old one was forgotten")


@pytest.mark.parametrize("delay", DELAYS)
def test_file_renamed_over_one_just_moved_away(mirror, tmp_path, delay) -> None:
    m = mirror()
    write(m.src / "a/site.conf", b"old")
    write(m.src / "a/site.conf.new", b"new")
    m.start()
    m.converge()
    os.rename(m.src / "a/site.conf", tmp_path / "site.conf.bak")
    time.sleep(delay)
    os.rename(m.src / "a/site.conf.new", m.src / "a/site.conf")
    time.sleep(delay)
    with open(m.src / "a/site.conf", "ab") as f:  # appended and held open, like a log
        f.write(b" and more")
        f.flush()
        m.converge(what="rename over a name just moved away, then an append still open")


def test_directory_moved_back_before_its_pair_expires_stays_watched(mirror, tmp_path) -> None:
    m = mirror()
    make_tree(m.src / "d", dirs=3, files_per_dir=2)
    m.start()
    m.converge()
    os.rename(m.src / "d", tmp_path / "out")
    os.rename(tmp_path / "out", m.src / "d")
    time.sleep(0.3)
    write(m.src / "d/d0/after", b"the same directory, back")
    m.converge(what="moved out and straight back in")


def _read_all(watcher, settle: float = 0.08) -> list:
    """Every fact the watcher has for what was done so far, the pairing window included."""
    facts: list = []
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        facts += watcher.read()
        facts += watcher.expire(time.monotonic())
        time.sleep(0.005)
    return facts


def _bounce(src, tmp_path) -> None:
    """p walked again (renamed away and back) after the new p/d took the name."""
    os.rename(src / "p/d", tmp_path / "away")
    os.makedirs(src / "p/d/new-inner")
    os.rename(src / "p", src / "p-tmp")
    os.rename(src / "p-tmp", src / "p")


def _parent_renamed(src, tmp_path) -> None:
    """p renamed after the new p/d took the name: the walk of its new place meets it."""
    os.rename(src / "p/d", tmp_path / "away")
    os.makedirs(src / "p/d/new-inner")
    os.rename(src / "p", src / "q")


@pytest.mark.parametrize(("change", "top"), [(_bounce, "p"), (_parent_renamed, "q")])
def test_watches_of_a_new_occupant_met_before_the_old_ones_left_are_kept(
        tmp_path, change, top) -> None:
    """The events are read late: a walk already watched the new `d` when the move out of
    the old `d` is read. Forgetting by path would drop the new one's watches too."""
    from inosync.rsync.excludes import ExcludeMatcher
    from inosync.source.facts import Dirty
    from inosync.source.watcher import Watcher

    src = tmp_path / "src"
    os.makedirs(src / "p/d/old-inner")
    watcher = Watcher(str(src), ExcludeMatcher(()))
    try:
        watcher.watch_tree()
        change(src, tmp_path)  # its events are not read yet
        _read_all(watcher)
        assert sorted(watcher.path_of[wd] for wd in watcher.path_of) == [
            "", top, f"{top}/d", f"{top}/d/new-inner"]
        write(src / top / "d/new-inner/f", b"x")
        write(tmp_path / "away/old-inner/g", b"outside now")
        facts = _read_all(watcher)
        assert Dirty(f"{top}/d/new-inner/f") in facts
        assert not [f for f in facts if isinstance(f, Dirty) and "old-inner" in f.path]
    finally:
        watcher.close()


def test_paths_of_a_tree_that_left_never_name_the_new_directory(tmp_path) -> None:
    from inosync.rsync.excludes import ExcludeMatcher
    from inosync.source.facts import Dirty
    from inosync.source.watcher import Watcher

    src = tmp_path / "src"
    make_tree(src / "d", dirs=3, files_per_dir=1)
    watcher = Watcher(str(src), ExcludeMatcher(()))
    try:
        watcher.watch_tree()
        os.rename(src / "d", tmp_path / "old")
        os.mkdir(src / "d")
        facts = watcher.read()  # inside the pairing window: the old tree still travels
        write(tmp_path / "old/d0/written-outside", b"not ours")
        write(src / "d/ours", b"ours")
        facts += _read_all(watcher)
        dirty = [f.path for f in facts if isinstance(f, Dirty)]
        assert "d/ours" in dirty and "d/d0/written-outside" not in dirty
        assert sorted(watcher.path_of[wd] for wd in watcher.path_of) == ["", "d"]
    finally:
        watcher.close()
