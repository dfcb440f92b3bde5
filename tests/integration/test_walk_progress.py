"""Every walk of the tree reports progress as it goes, with real inotify on a real tree.

The daemon walks the whole tree before its loop runs (the watches at start-up) and within
it (an overflow's rescan, the delete guard's count before a full sync); on a million
directories each takes seconds to minutes, and the hook is what keeps the watchdog fed and
systemd's start timeout extended meanwhile.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import sysctl

from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.facts import Dirty, Overflow
from inosync.source.watch_limit import PROGRESS_EVERY
from inosync.source.watcher import Watcher

DIRS = 4 * PROGRESS_EVERY


def test_watching_rescanning_and_counting_each_call_the_progress_hook(tmp_path: Path) -> None:
    for index in range(DIRS):
        os.makedirs(tmp_path / f"d{index % 8}" / f"sub{index}")
    calls: list[str] = []
    watcher = Watcher(str(tmp_path), ExcludeMatcher(()), progress=lambda: calls.append(""))
    try:
        assert watcher.watch_tree() == DIRS + 9  # and the 8 parents and the root
        walked = len(calls)
        assert walked >= DIRS // PROGRESS_EVERY, walked
        watcher.rewatch_all()
        rescanned = len(calls) - walked
        assert rescanned >= DIRS // PROGRESS_EVERY, rescanned
        (tmp_path / "d0" / "new-file").write_text("an event: the entry count is stale")
        watcher.read()
        assert watcher.current_entries() == DIRS + 8 + 1
        counted = len(calls) - walked - rescanned
        assert counted >= DIRS // PROGRESS_EVERY, counted
    finally:
        watcher.close()


QUEUE = "/proc/sys/fs/inotify/max_queued_events"
QUEUED = 64  # the kernel's queue in the test below; each progress call adds 30 events
BUSY_DIRS = 12 * PROGRESS_EVERY


def test_events_during_a_long_walk_or_count_are_kept_not_overflowed(tmp_path: Path) -> None:
    """A walk keeps the loop from reading for as long as it takes (seconds at a million
    directories); what the kernel queues meanwhile is read ahead, so a busy source does not
    overflow the queue, and every change comes out once the loop looks again."""
    if os.geteuid() != 0:
        pytest.skip("needs root to lower fs.inotify.max_queued_events")
    src = tmp_path / "src"
    for index in range(BUSY_DIRS):
        os.makedirs(src / f"d{index % 8}" / f"sub{index}")
    written: list[str] = []

    def busy_source() -> None:  # a writer beside the walk: 10 files (30 events) a call
        for _ in range(10):
            name = f"w{len(written)}"
            (src / name).write_text("written while the tree is walked")
            written.append(name)

    with sysctl(QUEUE, str(QUEUED)):  # the size is fixed when inotify is opened
        watcher = Watcher(str(src), ExcludeMatcher(()), progress=busy_source)
    try:
        watcher.watch_tree()
        walked = len(written)
        assert walked * 3 > 2 * QUEUED, "the walk must queue more than the kernel holds"
        assert watcher.next_deadline() == 0.0, "what was read ahead is due at once"
        facts = watcher.expire(time.monotonic())  # nothing left to read on the fd itself
        assert Overflow() not in facts
        assert {f.path for f in facts if isinstance(f, Dirty)} >= set(written)
        assert watcher.next_deadline() != 0.0

        (src / "d0" / "stale").write_text("an event: the next count walks the tree")
        watcher.read()
        watcher.current_entries()
        counted = written[walked:]
        assert len(counted) * 3 > 2 * QUEUED
        facts = watcher.read()
        assert Overflow() not in facts
        assert {f.path for f in facts if isinstance(f, Dirty)} >= set(counted)
    finally:
        watcher.close()
