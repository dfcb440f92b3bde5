"""Every walk of the tree reports progress as it goes, with real inotify on a real tree.

The daemon walks the whole tree before its loop runs (the watches at start-up) and within
it (an overflow's rescan, the delete guard's count before a full sync); on a million
directories each takes seconds to minutes, and the hook is what keeps the watchdog fed and
systemd's start timeout extended meanwhile.
"""

from __future__ import annotations

import os
from pathlib import Path

from inosync.rsync.excludes import ExcludeMatcher
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
