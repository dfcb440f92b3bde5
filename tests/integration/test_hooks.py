"""on_sync hooks with the real daemon on every kind of node: what a hook is told, that one
that hangs or fails never holds back a sync, that syncs finishing while it runs are merged
into its next run, and that its failures are counted, shown and logged once."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import hooks, run_inosync
from helpers.tree import holds_for, wait_until

KINDS = ["local", "ssh", "restricted", "rsyncd"]


def status_of(config: Path) -> dict[str, Any]:
    ran = run_inosync("status", "-c", str(config), "--json")
    return json.loads(ran.stdout)[0]


@pytest.mark.parametrize("node_kind", KINDS)
def test_a_hook_is_told_the_node_the_kind_of_sync_and_the_changed_paths(
        mirror, tmp_path: Path) -> None:
    hook, out = hooks.recorder(tmp_path)
    m = mirror(on_sync=[str(hook), "--zone", "www"])
    m.config_name = f"hooked-{os.getpid()}.toml"
    (m.src / "old.html").write_text("old")
    daemon = m.start()
    m.converge()
    first = hooks.wait_records(out, lambda r: len(r) >= 1)[0]
    assert first["argv"] == ["--zone", "www"]
    assert first["env"]["INOSYNC_SYNC_KIND"] == "full"
    assert first["env"]["INOSYNC_PATHS"] == "everything" and first["paths"] == []
    assert first["env"]["INOSYNC_NODE_SPEC"] == m.node.rnode
    assert first["env"]["INOSYNC_WPATH"] == str(m.src)
    assert first["env"]["INOSYNC_INSTANCE"] == f"hooked-{os.getpid()}"
    assert first["cwd"] == "/"

    (m.src / "new.html").write_text("new")
    (m.src / "dir").mkdir()
    (m.src / "dir" / "page.html").write_text("page")
    m.converge()
    os.rename(m.src / "old.html", m.src / "renamed.html")
    (m.src / "dir" / "page.html").unlink()
    m.converge()
    found = hooks.wait_records(out, lambda r: {"renamed.html", "old.html", "dir/page.html"}
                               <= {p for rec in r for p in rec["paths"]})
    told = {p for rec in found[1:] for p in rec["paths"]}
    assert {"new.html", "old.html", "renamed.html"} <= told
    assert "dir" in told or "dir/page.html" in told
    later = found[1:]
    assert all(rec["env"]["INOSYNC_SYNC_KIND"] == "batch" for rec in later)
    assert all(rec["env"]["INOSYNC_PATHS"] == "listed" for rec in later)
    assert all(int(rec["env"]["INOSYNC_PATH_COUNT"]) == len(rec["paths"]) for rec in later)
    assert all(rec["reopened"] for rec in found), "INOSYNC_PATHS_FILE did not read the list"
    assert all(rec["env"]["INOSYNC_RSYNC_EXIT"] in ("0", "24") for rec in found)
    assert any(int(rec["env"]["INOSYNC_BYTES_SENT"]) > 0 for rec in later)
    assert len({rec["env"]["INOSYNC_NODE"] for rec in found}) == 1
    wait_until(lambda: status_of(m.config)["nodes"][0]["hook"]["runs"] >= len(found), 10,
               "the runs counted in the state file")
    assert status_of(m.config)["nodes"][0]["hook"]["failures"] == 0
    daemon.assert_alive()


@pytest.mark.parametrize("node_kind", ["local", "ssh"])
def test_a_hanging_hook_holds_back_no_sync_and_is_killed_with_its_children(
        mirror, tmp_path: Path) -> None:
    hook, pids = hooks.hanging(tmp_path)
    m = mirror(on_sync=[str(hook)], on_sync_timeout=3)
    m.config_name = f"hanging-{os.getpid()}.toml"
    daemon = m.start()
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, 10,
               "the hook to start")
    started = time.monotonic()
    for index in range(3):  # the node gets each change while the hook hangs
        (m.src / f"while-hanging-{index}").write_text(str(index))
        took = m.converge()
        assert took < 2.5, f"a sync waited on the hook: {took:.2f} s"
    assert time.monotonic() - started < 3, "the changes took longer than the hook's timeout"
    daemon.wait_log(lambda t: "ran longer than on_sync_timeout (3 s) and was killed" in t, 10,
                    "the hook to be killed")
    for pid in map(int, pids.read_text().split()[:2]):
        wait_until(lambda pid=pid: not hooks.alive(pid), 5, f"pid {pid} of the hook to be gone")
    facts = status_of(m.config)["nodes"][0]
    assert facts["hook"]["failures"] >= 1 and facts["state"] == "in sync"


@pytest.mark.parametrize("node_kind", ["local"])
def test_syncs_that_finish_while_the_hook_runs_are_merged_into_its_next_run(
        mirror, tmp_path: Path) -> None:
    hook, out = hooks.recorder(tmp_path, sleep=1.5)
    m = mirror(on_sync=[str(hook)])
    daemon = m.start()
    m.converge()
    time.sleep(0.3)  # the full sync's run is under way
    for index in range(4):
        (m.src / f"f{index}").write_text(str(index))
        m.converge()
        time.sleep(0.1)
    found = hooks.wait_records(out, lambda r: {f"f{i}" for i in range(4)}
                               <= {p for rec in r for p in rec["paths"]}, timeout=20)
    spans = sorted((rec["started"], rec["ended"]) for rec in found)
    for (_, end), (begin, _) in zip(spans, spans[1:]):
        assert begin >= end, "two runs of one node's hook overlapped"
    merged = [rec for rec in found if int(rec["env"]["INOSYNC_SYNCS"]) > 1]
    assert merged, f"no run was told of more than one sync: {found}"
    listed = [p for rec in found for p in rec["paths"]]
    assert len(listed) == len(set(listed)), "a path was told twice"
    assert len(found) <= 3, "each sync got its own run"
    daemon.assert_alive()


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_failing_hook_is_logged_once_counted_shown_and_recovers(
        mirror, tmp_path: Path) -> None:
    prom = tmp_path / "hooks.prom"
    failing = hooks.failing(tmp_path)
    m = mirror(on_sync=[str(failing)], metrics_file=str(prom))
    m.config_name = f"failing-hook-{os.getpid()}.toml"
    daemon = m.start()
    for index in range(3):
        (m.src / f"f{index}").write_text(str(index))
        m.converge()
        time.sleep(0.2)
    daemon.wait_log(lambda t: t.count("on_sync exited with 3") >= 1, 10, "the failure")
    wait_until(lambda: status_of(m.config)["nodes"][0]["hook"]["failures"] >= 3, 10,
               "three failures counted")
    log = daemon.log()
    assert log.count("on_sync exited with 3: purge refused: zone www is locked;") == 1, log
    facts = status_of(m.config)["nodes"][0]
    assert facts["state"] == "in sync" and "purge refused" in facts["hook"]["error"]
    plugin = run_inosync("status", "-c", str(m.config))
    assert plugin.returncode == 1, plugin.stdout
    assert "on_sync failing" in plugin.stdout.splitlines()[0]
    daemon.wait_status(lambda s: "on_sync failing on" in s, 10, "STATUS naming the hook")
    wait_until(lambda: prom.exists() and 'inosync_node_hook_failing{' in prom.read_text()
               and " 1\n" in next(line + "\n" for line in prom.read_text().splitlines()
                                  if line.startswith("inosync_node_hook_failing{")), 15,
               "the metric")
    failing.write_text("#!/bin/sh\nexit 0\n")  # fixed
    (m.src / "after-fix").write_text("x")
    m.converge()
    daemon.wait_log(lambda t: "on_sync works again after" in t, 10, "the recovery")
    wait_until(lambda: status_of(m.config)["nodes"][0]["hook"]["failing_since"] is None, 10,
               "the failure cleared")


@pytest.mark.parametrize("node_kind", ["local"])
def test_dry_run_logs_the_hook_it_would_run(mirror, tmp_path: Path) -> None:
    hook, out = hooks.recorder(tmp_path)
    m = mirror(on_sync=[str(hook), "--zone", "www"])
    (m.src / "a").write_text("a")
    daemon = m.start(args=("-v", "--dry-run"))
    daemon.wait_log(lambda t: "would run on_sync" in t, 10, "the dry run's hook line")
    line = next(ln for ln in daemon.log().splitlines() if "would run on_sync" in ln)
    assert f"{hook} --zone www" in line and "full sync, everything" in line
    holds_for(lambda: hooks.records(out) == [], 0.5, "a dry run running no hook")


def test_check_names_a_hook_that_cannot_run(tmp_path: Path) -> None:
    from helpers import write_config
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    not_executable = tmp_path / "purge"
    not_executable.write_text("#!/bin/sh\n")
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[
        "", ], on_sync=[str(tmp_path / "missing-hook")])
    ran = run_inosync("check", "-c", str(cfg))
    assert ran.returncode == 1
    assert f"{cfg}: on_sync: {tmp_path / 'missing-hook'} does not exist" in ran.stderr
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), on_sync=[
        str(not_executable)], rnodes=[{"node": "", "on_sync": ["no-such-hook-anywhere"]}])
    ran = run_inosync("check", "-c", str(cfg))
    assert ran.returncode == 1
    assert f"on_sync: {not_executable} is not executable - chmod +x it" in ran.stderr
    assert 'rnodes[0].on_sync: "no-such-hook-anywhere" is not found on PATH' in ran.stderr
