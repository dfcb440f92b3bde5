"""Settings of one node's own, as tables in rnodes, with the real daemon: its own rsh reaches
it where the instance's would not, its own rspeed limits it and no other, its own on_sync
runs for it alone, and a reload that changes them keeps the node's state."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import hooks
from helpers.tree import wait_until


@pytest.mark.parametrize("node_kind", ["ssh", "restricted"])
def test_a_nodes_own_rsh_reaches_it_where_the_instances_would_not(mirror) -> None:
    m = mirror()
    (m.src / "f").write_text("f")
    m.write_config(rsh="ssh -p 1", rnodes=[{"node": m.node.rnode, "rsh": m.node.rsh}])
    m.start()
    m.converge()


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_nodes_own_rspeed_limits_that_node_and_no_other(mirror) -> None:
    m = mirror(kinds=("local", "rsyncd"))
    fast, slow = m.nodes
    m.write_config(rnodes=[fast.rnode, {"node": slow.rnode, "rspeed": 100}])
    m.start()
    m.converge_all()
    (m.src / "big.bin").write_bytes(os.urandom(400 * 1024))  # 4 s at 100 KB/s
    started = time.monotonic()
    m.converge(fast)
    fast_took = time.monotonic() - started
    m.converge(slow, timeout=30)
    slow_took = time.monotonic() - started
    assert slow_took >= 2.5, f"the limited node got 400 KB in {slow_took:.2f} s"
    assert fast_took < slow_took / 2, (fast_took, slow_took)
    argv_lines = [ln for ln in m.daemon.log().splitlines() if "--files-from" in ln]
    assert any("--bwlimit=100" in ln and slow.rnode in ln for ln in argv_lines)
    assert not any("--bwlimit" in ln and fast.rnode not in ln and str(fast.dst) in ln
                   for ln in argv_lines)


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_nodes_own_on_sync_runs_for_that_node_alone(mirror, tmp_path: Path) -> None:
    hook, out = hooks.recorder(tmp_path)
    m = mirror(kinds=("local", "rsyncd"))
    plain, hooked = m.nodes
    m.write_config(rnodes=[plain.rnode, {"node": hooked.rnode, "on_sync": [str(hook)]}])
    m.start()
    (m.src / "a").write_text("a")
    m.converge_all()
    found = hooks.wait_records(out, lambda r: any("a" in rec["paths"] for rec in r))
    assert {rec["env"]["INOSYNC_NODE_SPEC"] for rec in found} == {hooked.rnode}


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_reload_that_changes_a_nodes_own_settings_keeps_the_node(mirror) -> None:
    m = mirror(kinds=("local", "rsyncd"))
    fast, slow = m.nodes
    m.write_config(rnodes=[fast.rnode, {"node": slow.rnode, "rspeed": 50}])
    daemon = m.start()
    m.converge_all()
    m.write_config(rnodes=[fast.rnode, {"node": slow.rnode, "rspeed": 0,
                                        "verify_interval": "10m"}])
    daemon.reload()
    daemon.wait_log(lambda t: "reloaded" in t, 10, "the reload")
    # after the reload's full syncs, or the change would be one of them, not a batch
    daemon.wait_log(lambda t: t[t.index("reloaded"):].count("full sync done") == 2, 20,
                    "the reload's full syncs")
    (m.src / "after-reload").write_text("x")
    m.converge_all()
    log = daemon.log()
    assert "removed" not in log and "added" not in log, log
    after = log[log.index("reloaded"):]
    wait_until(lambda: "--files-from" in daemon.log()[daemon.log().index("reloaded"):], 10,
               "a batch after the reload")
    after = daemon.log()[daemon.log().index("reloaded"):]
    assert "--bwlimit" not in after, after
