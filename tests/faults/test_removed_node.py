"""A reload that removes nodes does not wait for their children in the loop: children that
ignore SIGTERM are killed after a grace and reaped when they exit, while the other nodes
keep their latency and the watchdog its rhythm."""

from __future__ import annotations

import time
from pathlib import Path

from helpers.daemon import Daemon, write_config

from faults.support import wait_for

WATCHDOG_USEC = 1_000_000  # pings every 0.5 s
REMOVED = 3


def _sleepers(daemon: Daemon) -> list[int]:
    return [pid for pid, name in daemon.children() if name == b"sleep"]


def test_removing_nodes_whose_children_ignore_sigterm_does_not_stall_the_loop(
        tmp_path: Path) -> None:
    # An rsh that ignores SIGTERM and never finishes: the node's first command (and its
    # ssh master) hang until killed.
    rsh = tmp_path / "stubborn-rsh"
    rsh.write_text("#!/bin/sh\ntrap '' TERM\nexec sleep 60\n")
    rsh.chmod(0o755)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "first").write_text("first")
    nodes = [f"deploy@stuck{index}:" for index in range(REMOVED)]
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst),
                       rnodes=["", *nodes], rsh=str(rsh))
    daemon = Daemon(tmp_path, cfg, env={"WATCHDOG_USEC": str(WATCHDOG_USEC)}).start()
    try:
        wait_for(lambda: (dst / "first").is_file(), 20, "the local node's initial sync")
        wait_for(lambda: len(_sleepers(daemon)) >= 2 * REMOVED, 20,
                 "every stuck node's command and ssh master")
        write_config(cfg, wpath=str(src), rpath=str(dst), rnodes=[""], rsh=str(rsh))
        reloaded = time.monotonic()
        daemon.reload()
        daemon.wait_log(lambda text: text.count("removed") >= REMOVED, 10, "the removals")
        lags = []
        for index in range(6):
            written = time.monotonic()
            (src / f"after-{index}").write_text(str(index))
            wait_for(lambda path=dst / f"after-{index}": path.is_file(), 10, "a change")
            lags.append(time.monotonic() - written)
        wait_for(lambda: not _sleepers(daemon), 10, "the removed nodes' children to be gone")
        window_end = time.monotonic()
        daemon.assert_alive()
        pings = [t for t, m in daemon.messages if m == "WATCHDOG=1"]
    finally:
        daemon.stop(check=False)
        daemon.close()
    before = [t for t in pings if t < reloaded][-1:] or [reloaded]
    marks = before + [t for t in pings if reloaded <= t <= window_end] + [window_end]
    widest = max(b - a for a, b in zip(marks, marks[1:]))
    print(f"after the reload: lag max {max(lags) * 1000:.0f} ms, widest ping gap "
          f"{widest * 1000:.0f} ms, children gone {window_end - reloaded:.1f} s after it")
    assert widest < 3 * WATCHDOG_USEC / 1e6 / 2, f"no watchdog ping for {widest:.1f} s"
    assert max(lags) < 1.0, f"a change took {max(lags):.1f} s after the reload"
