"""A sustained event storm over a tiny kernel queue: no rescan loop, no log flood."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import Daemon
from helpers.fsops import sysctl
from helpers.tree import wait_converged

from faults.support import local_mirror, wait_ready

QUEUE = "/proc/sys/fs/inotify/max_queued_events"


def test_overflow_storm_rescans_at_most_once_a_second_and_warns_once(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to lower fs.inotify.max_queued_events")
    src, dst, cfg = local_mirror(tmp_path)
    with sysctl(QUEUE, "16"):  # the queue size is fixed when the daemon opens inotify
        daemon = Daemon(tmp_path, cfg).start()
        try:
            wait_ready(daemon, 20)
        except BaseException:
            daemon.stop(check=False)
            daemon.close()
            raise
    try:
        started = time.monotonic()
        index = 0
        while time.monotonic() - started < 3.0:  # a bounded storm: 3 seconds of creates
            for _ in range(200):
                (src / f"f{index}").write_text(str(index))
                index += 1
        wait_converged(src, dst, timeout=60)
        log = daemon.log()
        assert log.count("inotify queue overflowed") == 1, "one warning per minute at most"
        rescans = log.count("rescanning") - 1  # the warning line says "rescanning" too
        print(f"overflow storm: {index} files, {rescans} rescans")
        assert 1 <= rescans <= 6, f"{rescans} rescans in a 3 s storm: a rescan loop"
        daemon.assert_alive()
    finally:
        daemon.stop(check=False)
        daemon.close()
