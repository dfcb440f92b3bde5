"""The fanotify backend with the real kernel, on an ext4 filesystem of the tests' own: the
facts its events become, and the daemon choosing it, falling back from it and handing over
to it. (INOSYNC_TEST_WATCHER=fanotify runs the other daemon tests on it too.)"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Mirror, inotify_watches_in_use, make_tree, sysctl, write
from helpers.fanotify_fs import LoopFilesystem, unavailable

from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.facts import Dirty, Fact, Moved, Overflow, SourceGone
from inosync.source.fanotify_watcher import FanotifyWatcher
from inosync.source.watch_limit import PROGRESS_EVERY

_names = itertools.count()
pytestmark = pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "-")


@pytest.fixture(scope="module")
def loop_fs() -> Iterator[Path]:
    filesystem = LoopFilesystem(size="1G")
    try:
        yield filesystem.root
    finally:
        filesystem.close()


@pytest.fixture
def top(loop_fs: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory of this test's own on the loop filesystem."""
    path = loop_fs / request.node.name.replace("[", "-").replace("]", "")
    path.mkdir()
    try:
        yield path
    finally:
        subprocess.run(["umount", "-R", "-l", str(path / "src" / "mnt")], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def read_all(watcher: FanotifyWatcher, until: float = 0.2) -> list[Fact]:
    """Every fact for what was done so far (the kernel queues at once; a short wait for
    events still on their way)."""
    time.sleep(0.02)
    facts = watcher.read()
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        more = watcher.read()
        if not more:
            break
        facts += more
    return facts


def dirty(facts: list[Fact]) -> set[str]:
    return {fact.path for fact in facts if isinstance(fact, Dirty)}


@pytest.fixture
def watched(top: Path) -> Iterator[tuple[Path, FanotifyWatcher]]:
    src = top / "src"
    (src / "a" / "b").mkdir(parents=True)
    write(src / "a" / "b" / "old", b"x")
    (top / "outside").mkdir()
    watcher = FanotifyWatcher(str(src), ExcludeMatcher(["*.tmp", "/cache/"]))
    try:
        assert watcher.watch_tree() == 1 and watcher.entries == 0  # marked, not walked
        assert watcher.current_entries() == 3 and watcher.watch_count == 3
        yield src, watcher
    finally:
        watcher.close()


def test_changes_inside_are_dirty_and_changes_outside_or_excluded_are_dropped(
        watched: tuple[Path, FanotifyWatcher]) -> None:
    src, watcher = watched
    write(src / "a" / "new", b"created")
    (src / "a" / "b" / "old").write_bytes(b"rewritten")
    os.chmod(src / "a", 0o700)
    os.mkdir(src / "fresh")
    write(src / "fresh" / "inside", b"written right after mkdir")
    os.unlink(src / "a" / "b" / "old")
    write(src / "a" / "x.tmp", b"excluded by name")
    os.mkdir(src / "cache")
    write(src / "cache" / "f", b"below an excluded directory")
    write(src.parent / "outside" / "f", b"outside wpath, on the same filesystem")
    facts = read_all(watcher)
    assert dirty(facts) == {"a/new", "a/b/old", "a", "fresh", "fresh/inside"}
    assert watcher.unsettled() == []


def test_a_rename_inside_is_a_move_and_across_the_edge_a_create_or_delete(
        watched: tuple[Path, FanotifyWatcher]) -> None:
    src, watcher = watched
    read_all(watcher)
    os.rename(src / "a", src / "c")
    write(src / "c" / "b" / "after", b"named by its directory's new name")
    facts = read_all(watcher)
    assert facts[:2] == [Moved("a", "c", True), Dirty("a")]
    assert dirty(facts[2:]) == {"c/b/after"}
    os.rename(src / "c" / "b", src.parent / "outside" / "b")
    assert read_all(watcher) == [Dirty("c/b")]
    os.rename(src.parent / "outside" / "b", src / "back")
    assert read_all(watcher) == [Dirty("back")]


def test_a_directory_removed_before_its_events_are_read_is_dirty_by_its_removal(
        watched: tuple[Path, FanotifyWatcher]) -> None:
    """Its own events carry a handle that no longer opens (ESTALE): the removal, an
    event of its parent's, covers everything that was below it."""
    src, watcher = watched
    read_all(watcher)
    os.makedirs(src / "short" / "lived")
    write(src / "short" / "lived" / "f", b"x")
    shutil.rmtree(src / "short")
    assert dirty(read_all(watcher)) == {"short"}


def test_wpath_moved_away_is_source_gone(watched: tuple[Path, FanotifyWatcher]) -> None:
    src, watcher = watched
    read_all(watcher)
    os.rename(src, src.parent / "src.old")
    assert SourceGone(f"{src} was moved away") in read_all(watcher)


def test_a_queue_overflow_is_the_overflow_fact(top: Path) -> None:
    src = top / "src"
    src.mkdir()
    # The limit is read when a group is made: lowered only for that moment.
    with sysctl("/proc/sys/fs/fanotify/max_queued_events", "64"):
        watcher = FanotifyWatcher(str(src), ExcludeMatcher(()))
    try:
        watcher.watch_tree()
        for index in range(200):
            write(src / f"f{index}", b"x")
        assert Overflow() in read_all(watcher)
        watcher.rewatch_all()
        assert watcher.current_entries() == 200
    finally:
        watcher.close()


def test_events_during_the_count_are_kept_not_overflowed(top: Path) -> None:
    """The count holds the loop for seconds at a million directories; what the kernel
    queues meanwhile (anything written on the filesystem) is read ahead, not overflowed."""
    src = top / "src"
    for index in range(12 * PROGRESS_EVERY):
        os.makedirs(src / f"d{index % 8}" / f"sub{index}")
    written: list[str] = []

    def busy_source() -> None:  # a writer beside the count: 20 new files (events) a call
        for _ in range(20):
            written.append(f"w{len(written)}")
            write(src / written[-1], b"written while the tree is counted")

    with sysctl("/proc/sys/fs/fanotify/max_queued_events", "64"):
        watcher = FanotifyWatcher(str(src), ExcludeMatcher(()), busy_source)
    try:
        watcher.watch_tree()
        watcher.current_entries()
        assert len(written) > 2 * 64, "the count must queue more than the kernel holds"
        assert watcher.next_deadline() == 0.0, "what was read ahead is due at once"
        facts = watcher.expire(time.monotonic())
        while watcher.next_deadline() == 0.0:
            facts += watcher.expire(time.monotonic())
        facts += read_all(watcher)
        assert Overflow() not in facts
        assert dirty(facts) >= set(written)
    finally:
        watcher.close()


def test_a_filesystem_mounted_below_wpath_is_marked_too(top: Path) -> None:
    src = top / "src"
    (src / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(src / "mnt")],
                   check=True)
    watcher = FanotifyWatcher(str(src), ExcludeMatcher(()))
    try:
        watcher.watch_tree()
        assert not watcher.unwatched
        write(src / "mnt" / "f", b"on the tmpfs")
        assert dirty(read_all(watcher)) == {"mnt/f"}
        subprocess.run(["umount", str(src / "mnt")], check=True)  # nothing holds it busy
        watcher.watch_subtree("mnt")
        write(src / "mnt" / "g", b"on wpath's own filesystem again")
        assert dirty(read_all(watcher)) == {"mnt/g"}
    finally:
        watcher.close()


# -- the daemon ----------------------------------------------------------------------


def mirror_on(top: Path, daemons: list, **keys: object) -> Mirror:
    from helpers import Node

    (top / "src").mkdir(exist_ok=True)
    node = Node("local", "", top / "dst")
    node.dst.mkdir()
    # an instance name of its own: other runs on this machine may hold "inosync"
    return Mirror(workdir=top, src=top / "src", rpath=str(node.dst), nodes=[node],
                  keys=dict(keys), registry=daemons,
                  config_name=f"fan{os.getpid()}-{next(_names)}.toml")


def test_fanotify_watches_and_mirrors_with_a_filesystem_mark(top: Path, daemons) -> None:
    m = mirror_on(top, daemons, watcher="fanotify")
    make_tree(m.src, dirs=20, files_per_dir=3)
    d = m.start()  # asserts "with fanotify" in the log
    m.converge()
    os.rename(m.src / "d0", m.src / "d0-renamed")
    write(m.src / "d0-renamed" / "new", b"x")
    shutil.rmtree(m.src / "d1")
    m.converge(what="a rename, a write below it and a delete")
    assert "fanotify unavailable" not in d.log()
    assert "watches" in d.wait_in_sync()


def test_the_first_sync_runs_while_the_tree_is_counted_and_the_count_bounds_deletions(
        top: Path, daemons) -> None:
    """The mark sees the whole tree before anything is walked, so the first full sync starts
    at once and the delete guard's count runs beside it. The `rsync` key is a script that
    waits for the count to be logged before it runs rsync: were the count before the sync
    (or after it), it would never see it."""
    runs, script = top / "rsync-runs", top / "rsync-waiting"
    log = top / "inosync.log"
    script.write_text(
        "#!/bin/sh\n"
        "case \"$*\" in *--max-delete=0*) for i in $(seq 200); do\n"
        f"  grep -q 'counted .* entries' {log} && break; sleep 0.05; done\n"
        f"  grep -q 'counted .* entries' {log} && echo counted-meanwhile >> {runs};;\n"
        "esac\n"
        'exec rsync "$@"\n')
    script.chmod(0o755)
    m = mirror_on(top, daemons, watcher="fanotify", log_level="debug", rsync=str(script))
    make_tree(m.src, dirs=300, files_per_dir=2)
    shutil.copytree(m.src, m.nodes[0].dst, dirs_exist_ok=True)
    for index in range(40):  # within the bound (a share of 0.5: up to as many as the source)
        write(m.nodes[0].dst / f"stale{index}", b"only on the node")
    d = m.start()
    m.converge(what="the first full sync with its deletions")
    d.wait_in_sync(10)
    text = d.log()
    assert runs.read_text().split() == ["counted-meanwhile"], text
    first_run = text.index("--max-delete=0")
    assert first_run < text.index("counted 907 entries in 308 directories"), text  # 7 + 300
    assert "held back 40 deletions, within the bound" in text


def test_without_cap_sys_admin_fanotify_falls_back_to_inotify_in_one_line(
        top: Path, daemons) -> None:
    m = mirror_on(top, daemons, watcher="fanotify")
    write(m.src / "f", b"x")
    d = m.start(wait_ready=False, prefix=["setpriv", "--bounding-set", "-sys_admin", "--"])
    d.wait_ready(30)
    m.converge()
    lines = [line for line in d.log().splitlines() if " WARNING " in line or " ERROR " in line]
    assert len(lines) == 1, lines
    assert f"fanotify unavailable on {m.src} (fanotify_mark: Operation not permitted - needs " \
           "CAP_SYS_ADMIN" in lines[0] and lines[0].endswith("watching with inotify"), lines
    assert " with inotify" in d.log()
    write(m.src / "g", b"seen by inotify")
    m.converge(what="a change after the fallback")




def test_auto_watches_with_fanotify_when_inotify_cannot_hold_the_tree(
        top: Path, daemons) -> None:
    m = mirror_on(top, daemons, watcher="auto")
    make_tree(m.src, dirs=300, files_per_dir=1)
    limit = inotify_watches_in_use() + 50
    with sysctl("/proc/sys/fs/inotify/max_user_watches", str(limit)):
        d = m.start()
    assert "cannot hold this tree: watching with fanotify" in d.log(), d.log_tail()
    assert " with fanotify" in d.log()
    m.converge()
    write(m.src / "d3" / "sub3" / "late", b"x")
    m.converge(what="a change seen by fanotify")
    assert d.wait_in_sync().startswith("in sync")


def test_auto_hands_over_to_fanotify_as_the_tree_outgrows_the_watch_limit(
        top: Path, daemons) -> None:
    m = mirror_on(top, daemons, watcher="auto")
    write(m.src / "seed", b"x")
    d = m.start()
    assert " with inotify" in d.log()
    m.converge()
    limit = inotify_watches_in_use() + 10
    with sysctl("/proc/sys/fs/inotify/max_user_watches", str(limit)):
        for index in range(40):
            os.makedirs(m.src / f"many/d{index}")
            write(m.src / f"many/d{index}/f", b"written as the tree grows")
        d.wait_log(lambda text: "cannot hold this tree any more: watching with fanotify"
                   in text, 20, "fanotify taking over")
    m.converge(what="the directories inotify could not watch")
    write(m.src / "many/d39/later", b"below a directory only fanotify sees")
    m.converge(what="a change after the hand-over")
    assert d.wait_in_sync().startswith("in sync")


def test_auto_takes_fanotify_when_the_walk_runs_out_of_watches_after_a_piece_went_out(
        top: Path, daemons, tmp_path: Path) -> None:
    """A large tree's first piece was sent while inotify still walked; then the watches ran
    out: fanotify watches instead, the piece's run is stopped, and the full sync runs again
    as one run of the whole tree."""
    from helpers import Node

    (top / "src").mkdir()
    node = Node("local", "", tmp_path / "dst")  # on a filesystem fanotify does not watch
    node.dst.mkdir()
    m = Mirror(workdir=top, src=top / "src", rpath=str(node.dst), nodes=[node],
               keys={"watcher": "auto"}, registry=daemons,
               config_name=f"fan{os.getpid()}-{next(_names)}.toml")
    for index in range(27):  # 27,027 directories: a piece of 25 subtrees, then the limit
        for sub in range(1000):
            os.makedirs(m.src / f"p{index:02}" / f"d{sub:03}")
        write(m.src / f"p{index:02}" / "d500" / "f", b"file %d" % index)
    limit = inotify_watches_in_use() + 26_000
    with sysctl("/proc/sys/fs/inotify/max_user_watches", str(limit)):
        d = m.start(wait_ready=False)
        d.wait_log(lambda text: "watching with fanotify" in text, 60, "fanotify taking over")
    d.wait_ready(120)
    m.converge(timeout=120, what="the full sync after fanotify took over")
    log = d.log()
    assert " -R " in log and "cannot hold this tree: watching with fanotify" in log, log[-3000:]
    assert "Traceback" not in log
    write(m.src / "p26" / "d999" / "late", b"seen by fanotify")
    m.converge(what="a change after the hand-over")
