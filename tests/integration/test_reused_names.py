"""A name reused at once: a directory or file moved away and its name taken again right after,
then written below, as shell scripts and deploy tools do. Every node kind must converge."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Daemon, Mirror, Rsyncd, Sshd, make_tree, write
from helpers.clients import converged, every_kind_mirror, run

CONVERGE_SECONDS = 15.0  # a tree of a few dozen entries: seconds to spare
# When the writes below the reused name come, after the name was taken again: at once,
# within the watcher's move-pairing window (50 ms), and after it.
DELAYS = [0.0, 0.02, 0.1]


@pytest.fixture
def mirror3(tmp_path: Path, sshd_factory: Callable[..., Sshd], rsyncd: Rsyncd,
            daemons: list[Daemon]) -> Mirror:
    return every_kind_mirror(tmp_path, sshd_factory, rsyncd, daemons)


def started(m: Mirror) -> Path:
    """Small trees d0, d1, ... and files f0, g0, ..., one set for each delay, mirrored;
    returns a scratch dir outside wpath (on the same file system)."""
    for i in range(len(DELAYS)):
        make_tree(m.src / f"d{i}", dirs=4, files_per_dir=3, seed=i)
        write(m.src / f"f{i}", b"the old f")
        write(m.src / f"g{i}", b"the new f")
    outside = m.workdir / "outside"
    outside.mkdir()
    m.start()
    converged(m, "the start-up sync", CONVERGE_SECONDS)
    return outside


def writes_below(m: Mirror, top: str, delay: float) -> None:
    # The client's own timing (what is being tested), not a wait for a result.
    time.sleep(delay)
    write(m.src / top / "later", b"written %.0f ms after" % (delay * 1000))
    write(m.src / top / "sub/deeper/file", b"deeper")
    os.makedirs(m.src / top / "empty-dir")


AWAY = ["inside", "outside"]


@pytest.mark.parametrize("away", AWAY)
def test_dir_moved_away_then_recreated_and_written_at_once(mirror3, away) -> None:
    """`mv d out && mkdir d && echo x > d/f`, out inside wpath or outside it."""
    m = mirror3
    outside = started(m)
    for i, delay in enumerate(DELAYS):
        out = f"d{i}.old" if away == "inside" else str(outside / f"d{i}.old")
        run(["sh", "-c", f"mv d{i} '{out}' && mkdir d{i} && echo x > d{i}/f"], cwd=m.src)
        writes_below(m, f"d{i}", delay)
        converged(m, f"mv d{i} {away} && mkdir d{i}, writes {delay * 1000:.0f} ms later",
                  CONVERGE_SECONDS)


@pytest.mark.parametrize("away", AWAY)
def test_dir_moved_out_and_another_moved_in_under_the_same_name(mirror3, away) -> None:
    m = mirror3
    outside = started(m)
    for i, delay in enumerate(DELAYS):
        staged = outside / f"new-d{i}"
        make_tree(staged, dirs=2, files_per_dir=2, seed=10 + i)
        # the old one kept beside (a rename in the tree) or gone (moved out)
        os.rename(m.src / f"d{i}", (m.src if away == "inside" else outside) / f"d{i}.old")
        os.rename(staged, m.src / f"d{i}")
        writes_below(m, f"d{i}", delay)
        converged(m, f"d{i} moved {away}, another moved in, writes {delay * 1000:.0f} ms later",
                  CONVERGE_SECONDS)


@pytest.mark.parametrize("away", ["inside", "outside"])
def test_file_renamed_over_one_that_was_just_moved_away(mirror3, away) -> None:
    m = mirror3
    outside = started(m)
    for i, delay in enumerate(DELAYS):
        os.rename(m.src / f"f{i}", (m.src if away == "inside" else outside) / f"f{i}.old")
        os.rename(m.src / f"g{i}", m.src / f"f{i}")
        time.sleep(delay)  # the client's timing, as above
        with open(m.src / f"f{i}", "ab") as f:
            f.write(b", appended %.0f ms later" % (delay * 1000))
        converged(m, f"f{i} moved {away}, g{i} renamed to f{i}, appended "
                  f"{delay * 1000:.0f} ms later", CONVERGE_SECONDS)


# When events are read late (the daemon busy, or stopped), every walk sees the disk as it is
# at the end of all the swaps; the names it finds must not run ahead of the queued events.
@pytest.mark.parametrize("reader", ["keeping up", "stopped meanwhile"])
def test_two_directories_swapped_through_a_third_name_again_and_again(mirror3, reader) -> None:
    """`mv live swap && mv spare live && mv swap spare`, written into after every swap; the
    daemon reads as it goes, or (stopped while the swaps run) finds them all queued."""
    m = mirror3
    make_tree(m.src / "live", dirs=3, files_per_dir=3, seed=1)
    make_tree(m.src / "spare", dirs=3, files_per_dir=3, seed=2)
    d = m.start()
    converged(m, "the start-up sync", CONVERGE_SECONDS)
    if reader == "stopped meanwhile":
        d.signal(signal.SIGSTOP)
    try:
        for i in range(20):
            os.rename(m.src / "live", m.src / "swap")
            os.rename(m.src / "spare", m.src / "live")
            os.rename(m.src / "swap", m.src / "spare")
            write(m.src / f"live/live-{i}", b"%d" % i)  # each name written in one place only
            write(m.src / f"spare/spare-{i}", b"%d" % i)
    finally:
        d.signal(signal.SIGCONT)
    converged(m, f"20 swaps of two directories, each followed by writes (daemon {reader})",
              CONVERGE_SECONDS)


def test_watcher_names_writes_after_a_swap_it_reads_late(tmp_path) -> None:
    """The same swap at the watcher alone, all events queued before it reads: each write
    must be named after the directory it went to at the time."""
    from inosync.rsync.excludes import ExcludeMatcher
    from inosync.source.facts import Dirty
    from inosync.source.watcher import Watcher

    src = tmp_path / "src"
    for name in ("live", "spare"):
        (src / name).mkdir(parents=True)
    watcher = Watcher(str(src), ExcludeMatcher([]))
    try:
        watcher.watch_tree()
        expected = set()
        for i in range(2):
            os.rename(src / "live", src / "swap")
            os.rename(src / "spare", src / "live")
            os.rename(src / "swap", src / "spare")
            for name in ("live", "spare"):
                write(src / name / f"{name}-{i}", b"x")
                expected.add(f"{name}/{name}-{i}")
        dirty = {fact.path for fact in watcher.read() if isinstance(fact, Dirty)}
    finally:
        watcher.close()
    assert dirty == expected, f"named wrongly: {sorted(dirty - expected)}"
