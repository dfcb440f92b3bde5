"""The systemd protocol as seen from NOTIFY_SOCKET: readiness, status, watchdog, stopping."""

from __future__ import annotations

import os
import re
import time

import pytest
from helpers import Daemon, make_tree, write


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


EXTEND = "EXTEND_TIMEOUT_USEC="


def _extensions(d: Daemon, before: float) -> list[tuple[float, float]]:
    """(arrival, seconds asked for) of each EXTEND_TIMEOUT_USEC= that came before `before`."""
    return [(t, int(msg[len(EXTEND):]) / 1e6) for t, msg in list(d.messages)
            if msg.startswith(EXTEND) and t < before]


def _first(d: Daemon, message: str) -> float:
    return next(t for t, msg in list(d.messages) if msg.startswith(message))


@pytest.mark.parametrize("node_kind", ["local"])
def test_start_timeout_is_extended_while_a_slow_first_sync_runs_until_ready(mirror) -> None:
    """systemd kills a start that sends nothing for TimeoutStartSec=; a first full sync
    longer than that must keep asking for time, each request outlasting the gap to the next,
    and stop asking once READY=1 is out (in the running state an extension would put off
    the watchdog)."""
    m = mirror(rspeed=100)  # 100 KB/s: the first full sync of 400 KB takes about 4 s
    data = os.urandom(400_000)
    write(m.src / "big.bin", data)
    d = m.start(env={"WATCHDOG_USEC": "1000000"})  # pings, and so extensions, every 0.5 s
    assert (m.dst / "big.bin").read_bytes() == data, "READY=1 before the first sync was done"
    ready = _first(d, "READY=1")
    assert ready - d.started_at > 2.5, "the first sync was not slow: the test proves nothing"
    extensions = _extensions(d, ready)
    assert len(extensions) >= 4, f"{len(extensions)} extensions in {ready - d.started_at:.1f}s"
    asked = {seconds for _, seconds in extensions}
    assert asked == {1.0}, asked  # one watchdog interval, twice the 0.5 s between them
    gaps = [b - a for a, b in zip([d.started_at] + [t for t, _ in extensions],
                                  [t for t, _ in extensions] + [ready])]
    assert max(gaps) < 1.0, f"systemd's timeout would have run out: gaps {gaps}"
    pings = d.count("WATCHDOG=1")
    d.wait_message(lambda ms: ms.count("WATCHDOG=1") >= pings + 3, 10, "pings after READY=1")
    assert len(_extensions(d, float("inf"))) == len(extensions), "an extension after READY=1"


@pytest.mark.parametrize("node_kind", ["local"])
def test_the_watch_walk_feeds_the_watchdog_and_extends_the_start_as_it_goes(mirror) -> None:
    """The walk that installs the watches runs before the loop; on a big cold tree it takes
    minutes, so it keeps the watchdog fed and the start timeout extended itself."""
    m = mirror()
    for a in range(30):
        for b in range(1000):
            os.makedirs(m.src / f"a{a}" / f"b{b}")
    d = m.start(env={"WATCHDOG_USEC": "40000"})  # a ping due every 20 ms
    walked = re.search(r"watching 30031 directories .* in (\d+) ms", d.log())
    assert walked, d.log_tail()
    walk = int(walked.group(1)) / 1000
    began = _first(d, "STATUS=watching the tree")  # sent as the walk begins
    done = began + walk
    pings = [t for t, msg in list(d.messages) if msg == "WATCHDOG=1" and began <= t < done]
    assert len(pings) >= 3, f"{len(pings)} pings during a walk of {walk:.2f}s"
    gaps = [b - a for a, b in zip([began, *pings], [*pings, done])]
    assert max(gaps) < walk / 2, f"pings not spread over the {walk:.2f}s walk: gaps {gaps}"
    assert len([t for t, _ in _extensions(d, done) if t >= began]) >= 3


@pytest.mark.parametrize("node_kind", ["local"])
def test_sighup_during_start_up_waits_for_the_first_sync_before_ready(mirror) -> None:
    """A reload while systemd still waits for the start is no reload to systemd: no
    RELOADING=1, and READY=1 comes only once the first full sync is done, even when the new
    file is broken."""
    m = mirror(rspeed=100)
    data = os.urandom(300_000)
    write(m.src / "big.bin", data)
    d = m.start(wait_ready=False)
    d.wait_status(lambda s: "starting" in s or "syncing" in s or "initial" in s, 20,
                  "the first sync to run")
    m.config.write_text('wpath = "relative"\n')
    d.reload()
    d.wait_log(lambda text: "reload failed" in text, 10, "the refused reload")
    d.wait_ready(30)
    assert (m.dst / "big.bin").read_bytes() == data, "READY=1 before the first sync was done"
    assert d.count("READY=1") == 1 and d.count("RELOADING=1") == 0, d.values("READY")


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_reload_that_rewatches_extends_until_its_ready_and_not_after(mirror) -> None:
    """New excludes mean a new walk of the whole tree within the reload: systemd's reload
    timeout runs from RELOADING=1, so the walk asks for time too, until READY=1."""
    m = mirror()
    for a in range(30):
        for b in range(1000):
            os.makedirs(m.src / f"a{a}" / f"b{b}")
    d = m.start(env={"WATCHDOG_USEC": "40000"})  # a ping due every 20 ms
    m.write_config(rexcludes=["*.tmp"])
    d.reload()
    d.wait_ready(30, count=2)
    d.wait_log(lambda text: text.count("watching 30031 directories") == 2, 10, "the rewatch")
    reloading = _first(d, "RELOADING=1")
    ready = [t for t, msg in d.messages if msg == "READY=1"][1]
    during = [t for t, _ in _extensions(d, ready) if t > reloading]
    assert len(during) >= 3, f"{len(during)} extensions in a reload of {ready - reloading:.2f}s"
    pings = d.count("WATCHDOG=1")
    d.wait_message(lambda ms: ms.count("WATCHDOG=1") >= pings + 5, 10, "pings after READY=1")
    assert not [t for t, _ in _extensions(d, float("inf")) if t > ready], "extended after READY"
