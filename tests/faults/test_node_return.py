"""A node that was down is retried as soon as its port answers again, not at the end of
its backoff (which has grown to many seconds by then)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import Rsyncd, Sshd
from helpers.daemon import write_config
from helpers.tree import wait_converged

from faults.support import running, wait_ready

# The backoff's tries after the first failure land at 1, 3, 7 and 15 s, each +-20 %: the
# fourth by 18 s at the latest, the fifth not before 24.8 s. The node returns in between, so
# only the port probe can explain a retry within a second.
OUTAGE_SECONDS = 21


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ssh", "rsyncd"])
def test_a_node_that_comes_back_is_retried_within_a_second(tmp_path: Path, kind: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "first").write_text("before the outage")
    server: Sshd | Rsyncd
    if kind == "ssh":
        server = Sshd(tmp_path / "sshd")
        dst, rpath = tmp_path / "dst", str(tmp_path / "dst")
        keys = {"rnodes": [server.rnode], "rsh": server.rsh}
    else:
        server = Rsyncd(tmp_path / "rsyncd")
        dst, rpath = server.module_path / "dst", "/dst"
        keys = {"rnodes": [server.rnode]}
    server.start()
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=rpath, **keys)
    try:
        with running(tmp_path, cfg) as daemon:
            wait_ready(daemon, 30)
            wait_converged(src, dst, 15, what="the initial sync")
            server.stop()
            down_at = time.monotonic()
            for index in range(100):
                (src / f"during-{index}").write_text(str(index))
                time.sleep((OUTAGE_SECONDS - 1) / 100)
            daemon.wait_log(lambda text: "retrying with backoff" in text, 10, "the failure")
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
            server.start()
            took = wait_converged(src, dst, 30, what="after the node's return")
            assert "answers again; retrying now" in daemon.log()
            assert took < 6, f"converged {took:.1f} s after the node came back"
    finally:
        server.stop()
