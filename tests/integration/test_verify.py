"""Seeing and proving that every node is right: periodic verification finds and repairs
drift made behind the daemon's back; `inosync status`, `inosync verify` and the metrics
file say so, with real rsync, a real sshd and the real Prometheus parser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run_inosync
from helpers.daemon import node_with_extras, write_config
from helpers.servers import descendants
from helpers.tree import wait_converged
from prometheus_client.parser import text_string_to_metric_families

# Drift made on a node by hand, and the paths rsync then has to change (directory times
# are not counted: they follow from the changes inside them).
EXPECTED_DRIFT = 7


def make_drift(dst: Path) -> None:
    (dst / "docs" / "edited.txt").write_text("edited on the node by hand")  # content
    (dst / "docs" / "deleted.txt").unlink()  # missing
    (dst / "stray.txt").write_text("only on the node")  # extra
    os.chmod(dst / "docs" / "mode.txt", 0o600)  # attributes
    shutil.rmtree(dst / "tree")  # a directory replaced by a file: tree, tree/a, tree/b
    (dst / "tree").write_text("was a directory")


def fill(src: Path) -> None:
    (src / "docs").mkdir()
    for name in ("edited.txt", "deleted.txt", "mode.txt", "same.txt"):
        (src / "docs" / name).write_text(f"source {name}")
    os.chmod(src / "docs" / "mode.txt", 0o644)
    (src / "tree").mkdir()
    (src / "tree" / "a").write_text("a")
    (src / "tree" / "b").write_text("b")


def status_json(config: Path) -> tuple[int, list[dict[str, Any]]]:
    res = run_inosync("status", "-c", str(config), "--json")
    return res.returncode, json.loads(res.stdout or "[]")


def metrics(path: Path) -> dict[tuple[str, str | None], float]:
    return {(s.name, s.labels.get("node")): s.value
            for family in text_string_to_metric_families(path.read_text())
            for s in family.samples}


@pytest.mark.parametrize("node_kind", ["local", "ssh"])
def test_drift_behind_the_daemons_back_is_found_counted_repaired_and_shown(
        mirror, tmp_path: Path) -> None:
    prom = tmp_path / "inosync.prom"
    m = mirror(verify_interval=3, metrics_file=str(prom))
    m.config_name = f"drift-{os.getpid()}.toml"
    fill(m.src)
    daemon = m.start()
    m.converge(what="the initial sync")
    daemon.wait_log(lambda text: "verified: no drift" in text, 15, "a first verification")
    make_drift(m.dst)
    daemon.wait_log(lambda text: "verification found drift" in text, 15, "the drift")
    line = next(ln for ln in daemon.log().splitlines() if "verification found drift" in ln)
    assert f"found drift: {EXPECTED_DRIFT} paths (4 missing, 1 extra, 1 content, " \
           "1 attributes)" in line, line
    m.converge(what="the repair")
    daemon.wait_status(lambda s: f"drift found: {EXPECTED_DRIFT} paths" in s, 10, "STATUS")
    code, states = status_json(m.config)
    node = states[0]["nodes"][0]
    assert node["last_drift"]["drift"] == EXPECTED_DRIFT
    assert node["last_drift"]["repaired"] == EXPECTED_DRIFT
    assert node["drift_total"] == EXPECTED_DRIFT
    deadline = time.monotonic() + 10
    # The file is rewritten at most every few seconds: wait for the one after the repair.
    while (values := metrics(prom))[("inosync_node_drift_paths_total", node["name"])] \
            != EXPECTED_DRIFT or values[("inosync_node_syncs_total", node["name"])] < 2:
        assert time.monotonic() < deadline, f"the metrics file never showed the repair: {values}"
        time.sleep(0.2)
    assert values[("inosync_node_up", node["name"])] == 1
    assert values[("inosync_watches", None)] >= 3
    assert code == 0


def test_status_exit_codes_and_the_lag_of_a_node_held_back(sshd_factory,
                                                           tmp_path: Path) -> None:
    server = sshd_factory()
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    name = f"held-{os.getpid()}"
    cfg = write_config(tmp_path / f"{name}.toml", wpath=str(src), rpath=str(dst),
                       rnodes=[server.rnode], rsh=server.rsh)
    from helpers import Daemon

    daemon = Daemon(tmp_path, cfg).start()
    try:
        daemon.wait_in_sync(30)
        assert status_json(cfg)[0] == 0
        assert run_inosync("status", name).returncode == 0
        assert server.proc is not None
        held = [server.proc.pid, *descendants(server.proc.pid)]  # its live sessions too
        for pid in held:
            os.kill(pid, signal.SIGSTOP)  # the node hangs: no answer, no error
        try:
            written = time.time()
            (src / "waiting").write_text("held back")
            time.sleep(2.5)
            asked = time.time()
            code, states = status_json(cfg)
            answered = time.time()
            lag = states[0]["nodes"][0]["lag_seconds"]  # computed between asked and answered
            assert asked - written - 0.2 <= lag <= answered - written + 0.2, \
                (lag, asked - written, answered - written)
            assert run_inosync("status", name, "--warn", "1").returncode == 1
            assert run_inosync("status", name, "--warn", "60").returncode == 0
        finally:
            for pid in held:
                os.kill(pid, signal.SIGCONT)
        wait_converged(src, dst, 30, what="after the node is let go")
        server.stop()  # now it fails outright
        (src / "while-down").write_text("x")
        daemon.wait_status(lambda s: "failing since" in s, 30, "failing")
        assert run_inosync("status", name, "--crit", "3600").returncode == 1
        time.sleep(1.1)
        assert run_inosync("status", name, "--crit", "1").returncode == 2
        table = run_inosync("status", name).stdout
        assert "failing" in table and "exit " in table
    finally:
        daemon.stop()
        daemon.close()
    assert run_inosync("status", name).returncode == 3  # not running


def test_status_is_critical_for_refused_deletions_and_a_paused_source(tmp_path: Path) -> None:
    from helpers import Daemon

    src, dst, cfg = node_with_extras(tmp_path, {"one": "1"}, 10, f"crit-{os.getpid()}.toml")
    daemon = Daemon(tmp_path, cfg).start()
    try:
        daemon.wait_status(lambda s: "deletions refused" in s, 20, "refused")
        assert run_inosync("status", "-c", str(cfg)).returncode == 2
        src.rename(tmp_path / "gone")
        daemon.wait_status(lambda s: s.startswith("paused"), 20, "paused")
        code, states = status_json(cfg)
        assert code == 2 and states[0]["paused"] is True
    finally:
        daemon.stop()
        daemon.close()


def test_verify_command_exit_codes_and_repair(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    fill(src)
    shutil.copytree(src, dst, symlinks=True)
    cfg = write_config(tmp_path / "v.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    res = run_inosync("verify", "-c", str(cfg))
    assert res.returncode == 0 and "in sync" in res.stdout, res.stdout + res.stderr
    make_drift(dst)
    res = run_inosync("verify", "-c", str(cfg))
    assert res.returncode == 1 and f"drift: {EXPECTED_DRIFT} paths" in res.stdout, res.stdout
    assert "stray.txt" in res.stdout
    res = run_inosync("verify", "-c", str(cfg), "--repair")
    assert res.returncode == 1 and "repaired 7 paths" in res.stdout, res.stdout
    wait_converged(src, dst, 5, what="the repair")
    assert run_inosync("verify", "-c", str(cfg)).returncode == 0
    assert run_inosync("verify", "-c", str(cfg), "--node", "nope").returncode == 2
    broken = write_config(tmp_path / "b.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                          rsync="/nonexistent/rsync")
    assert run_inosync("verify", "-c", str(broken)).returncode == 2


def test_verify_while_the_daemon_runs_and_repair_within_the_bound(tmp_path: Path) -> None:
    from helpers import Daemon

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    fill(src)
    cfg = write_config(tmp_path / "v.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       verify_interval=0)
    daemon = Daemon(tmp_path, cfg).start()
    try:
        daemon.wait_in_sync(20)
        assert run_inosync("verify", "-c", str(cfg)).returncode == 0
        for index in range(30):
            (dst / f"stray{index}").write_text("x")  # more than the bound allows to delete
        res = run_inosync("verify", "-c", str(cfg), "--repair")
        assert res.returncode == 1 and "NOT deleted" in res.stdout, res.stdout
        assert len(list(dst.glob("stray*"))) == 30
    finally:
        daemon.stop()
        daemon.close()


def test_verify_checksum_finds_and_repairs_data_that_kept_its_size_and_mtime(
        tmp_path: Path) -> None:
    """A file rewritten with the same size in the clock tick rsync listed it in keeps its
    mtime: the quick check says "in sync", --checksum finds it and --repair sends it."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    fill(src)
    shutil.copytree(src, dst, symlinks=True)
    edited = dst / "docs" / "same.txt"
    stat = edited.stat()
    edited.write_bytes(b"X" * stat.st_size)
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    cfg = write_config(tmp_path / "v.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    res = run_inosync("verify", "-c", str(cfg))
    assert res.returncode == 0 and "in sync" in res.stdout, res.stdout + res.stderr
    res = run_inosync("verify", "-c", str(cfg), "--checksum")
    assert res.returncode == 1 and "drift: 1 paths (1 content)" in res.stdout, res.stdout
    assert "docs/same.txt" in res.stdout
    res = run_inosync("verify", "-c", str(cfg), "--checksum", "--repair")
    assert res.returncode == 1 and "repaired 1 paths" in res.stdout, res.stdout
    assert edited.read_bytes() == (src / "docs" / "same.txt").read_bytes()
    assert run_inosync("verify", "-c", str(cfg), "--checksum").returncode == 0
