"""The systemd protocol as seen from NOTIFY_SOCKET: readiness, status, watchdog, stopping."""

from __future__ import annotations

import os
import time

import pytest
from helpers import make_tree, write


@pytest.mark.parametrize("node_kind", ["local", "ssh"])
def test_watchdog_pings_at_least_every_half_interval_even_when_busy(mirror) -> None:
    m = mirror()
    d = m.start(env={"WATCHDOG_USEC": "1000000"})
    t0 = time.monotonic()
    make_tree(m.src / "busy", dirs=60, files_per_dir=40, size=500)
    m.converge(timeout=60)
    # Keep it idle a little too: pings must go on without events.
    while time.monotonic() - t0 < 3:
        time.sleep(0.1)
    pings = [t for t, msg in list(d.messages) if msg == "WATCHDOG=1" and t >= t0]
    assert len(pings) >= 4, f"only {len(pings)} WATCHDOG=1 in {time.monotonic() - t0:.1f}s"
    gaps = [b - a for a, b in zip([t0, *pings], pings)]
    # Half of 1 s is the promise; allow scheduling noise on a shared machine.
    assert max(gaps) < 0.8, f"longest gap between watchdog pings {max(gaps):.2f}s"


@pytest.mark.parametrize("node_kind", ["local"])
def test_status_reports_pending_work_then_in_sync(mirror) -> None:
    m = mirror(rspeed=100)  # 100 KB/s: a 300 KB file keeps the node busy for seconds
    d = m.start()
    d.wait_in_sync(10)
    write(m.src / "slow.bin", os.urandom(300_000))
    d.wait_status(lambda s: not s.startswith("in sync"), 10, "a STATUS showing work")
    m.converge(timeout=60)
    d.wait_in_sync(30)
    assert "watch" in d.status, f"no watch count in STATUS: {d.status!r}"
