"""A directory the daemon cannot watch is remembered, said everywhere, and watched once it
can be: the daemon runs without privileges (no capabilities), as an unprivileged user's
instance would."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_trees_equal
from helpers.daemon import run_inosync, write_config

from faults.support import notes, open_world, running, wait_for

NOBODY = 65534
# The daemon, and the rsync it runs, without any capability: root's uid without
# CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH is refused what another user's mode forbids. Nor
# can it give files away (CAP_CHOWN): owners stay as an unprivileged rsync leaves them.
UNPRIVILEGED = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
AS_A_USER = "--no-owner --no-group"


@pytest.fixture
def world() -> Iterator[Path]:
    with open_world("inosync-unwatchable-") as top:
        yield top


def _locked_tree(src: Path) -> Path:
    """src/locked: another user's directory, mode 700, with a file and a subdirectory."""
    locked = src / "locked"
    (locked / "sub").mkdir(parents=True)
    (locked / "a").write_text("a")
    (locked / "sub/b").write_text("b")
    for path in (locked, locked / "sub", locked / "a", locked / "sub/b"):
        os.chown(path, NOBODY, NOBODY)
    locked.chmod(0o700)
    return locked


def _status(daemon) -> str:  # type: ignore[no-untyped-def]
    return next((m[len("STATUS="):] for m in reversed(notes(daemon)) if m.startswith("STATUS=")),
                "")


def _state_file(config: Path) -> dict:  # type: ignore[type-arg]
    """What `inosync status --json` reads from the running instance's state file."""
    done = run_inosync("status", "-c", str(config), "--json")
    try:
        states = json.loads(done.stdout)
    except ValueError:
        return {}
    return dict(states[0]) if states else {}


def test_an_unwatchable_directory_is_said_everywhere_and_watched_after_a_chmod(
        world: Path) -> None:
    src, dst = world / "src", world / "dst"
    src.mkdir()
    (src / "ok").write_text("readable")
    locked = _locked_tree(src)
    metrics = world / "inosync.prom"
    cfg = write_config(world / "unwatchable.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       metrics_file=str(metrics), extra=AS_A_USER)
    with running(world, cfg, prefix=UNPRIVILEGED) as daemon:
        daemon.wait_log(lambda text: "locked: cannot watch (Permission denied)" in text, 20,
                        "the unwatchable directory named in the log")
        wait_for(lambda: "READY=1" in notes(daemon), 20, "READY=1")
        wait_for(lambda: "not watched" in _status(daemon), 10, "STATUS naming it")
        status = _status(daemon)
        assert not status.startswith("in sync"), status
        assert "1 directories not watched" in status and "locked (Permission denied)" in status
        wait_for(lambda: _state_file(cfg).get("unwatched", {}).get("count") == 1, 10,
                 "the state file's count")
        state = _state_file(cfg)
        assert state["unwatched"]["paths"] == [{"path": "locked",
                                                "reason": "Permission denied"}]
        assert {n["state"] for n in state["nodes"]} == {"incomplete"}
        assert run_inosync("status", "-c", str(cfg)).returncode == 2  # CRITICAL
        wait_for(lambda: metrics.exists() and "inosync_unwatched_directories" in
                 metrics.read_text(), 10, "the metric")
        assert ('inosync_unwatched_directories{inosync_instance="unwatchable"} 1'
                in metrics.read_text())
        assert (dst / "ok").read_text() == "readable"

        for path in (locked, locked / "sub"):
            path.chmod(0o755)
        wait_for(lambda: (dst / "locked/sub/b").exists(), 10, "the directory once readable")
        # The promise kept: a change below it now arrives, which needs a watch on it.
        (locked / "sub/later").write_text("written after the chmod")
        wait_for(lambda: (dst / "locked/sub/later").exists(), 10,
                 "a change below the directory now watched")
        wait_for(lambda: _status(daemon).startswith("in sync"), 10, "in sync again")
        wait_for(lambda: 'inosync_unwatched_directories{inosync_instance="unwatchable"} 0' in
                 metrics.read_text(), 10, "the metric back to 0")
        assert_trees_equal(src, dst)


def test_a_reload_tries_unwatchable_directories_again(world: Path) -> None:
    """Readable now without an event of its own: the parent of the one that could not be
    watched lost its search permission and got it back (each chmod an event on a directory
    the daemon could not see into), then a reload."""
    src, dst = world / "src", world / "dst"
    (src / "outer").mkdir(parents=True)
    locked = _locked_tree(src / "outer")
    cfg = write_config(world / "unwatchable.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       extra=AS_A_USER)
    with running(world, cfg, prefix=UNPRIVILEGED) as daemon:
        wait_for(lambda: "READY=1" in notes(daemon), 20, "READY=1")
        wait_for(lambda: "not watched" in _status(daemon), 10, "STATUS naming it")
        # Made readable by root behind a directory the daemon cannot enter: the event
        # goes to nobody, as with a group membership granted later.
        (src / "outer").chmod(0o700)
        os.chown(src / "outer", NOBODY, NOBODY)
        for path in (locked, locked / "sub"):
            path.chmod(0o755)
        (src / "outer").chmod(0o755)
        daemon.reload()
        wait_for(lambda: (dst / "outer/locked/sub/b").exists(), 15,
                 "the directory tried again on reload")
        (locked / "sub/later").write_text("after the reload")
        wait_for(lambda: (dst / "outer/locked/sub/later").exists(), 10,
                 "a change below it, now watched")
        wait_for(lambda: _status(daemon).startswith("in sync"), 10, "in sync again")
