"""A name reused at once: a directory or file moved away and its name taken again right after,
then written below, as shell scripts and deploy tools do. Every node kind must converge."""

from __future__ import annotations

import os
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


# A directory that leaves the tree is forgotten by its path once its IN_MOVED_FROM goes
# unpaired (50 ms), and with it the watch of the new directory that took the name.
FORGETS_NEW_WATCHES = pytest.mark.xfail(
    strict=False, reason="the watcher drops the new directory's watches along with the "
    "old one's when the unpaired IN_MOVED_FROM expires")
AWAY = ["inside", pytest.param("outside", marks=FORGETS_NEW_WATCHES)]


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
