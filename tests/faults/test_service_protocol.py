"""The daemon's side of systemd's protocol, over a real NOTIFY_SOCKET, and hard faults."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.daemon import Daemon, run_inosync, write_config

from faults.support import local_mirror, notes, wait_for


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "a").write_text("a")
    return src, dst


@pytest.fixture
def started(tmp_path: Path, trees: tuple[Path, Path]) -> Iterator[Daemon]:
    src, dst = trees
    cfg = write_config(tmp_path / "www.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    daemon = Daemon(tmp_path, cfg, env={"WATCHDOG_USEC": "400000"}).start()
    try:
        yield daemon
    finally:
        if daemon.alive():
            daemon.stop(check=False)
        daemon.close()



def test_ready_then_status_in_sync_and_watchdog_pings(started: Daemon) -> None:
    wait_for(lambda: "READY=1" in notes(started), 10, "READY=1")
    wait_for(lambda: any(n.startswith("STATUS=in sync") for n in notes(started)), 10,
             "STATUS=in sync")
    pings = notes(started).count("WATCHDOG=1")
    wait_for(lambda: notes(started).count("WATCHDOG=1") >= pings + 3, 5,
             "watchdog pings every half interval")


def test_frozen_loop_stops_the_watchdog_pings(started: Daemon) -> None:
    wait_for(lambda: "WATCHDOG=1" in notes(started), 10, "first ping")
    os.kill(started.pid, signal.SIGSTOP)
    try:
        count = notes(started).count("WATCHDOG=1")
        time.sleep(0.6)  # a frozen process for longer than the 0.4 s interval
        assert notes(started).count("WATCHDOG=1") == count
    finally:
        os.kill(started.pid, signal.SIGCONT)
    wait_for(lambda: notes(started).count("WATCHDOG=1") > count, 5, "pings after SIGCONT")


def test_bad_reload_keeps_running_and_says_so(started: Daemon, tmp_path: Path,
                                              trees: tuple[Path, Path]) -> None:
    src, dst = trees
    wait_for(lambda: "READY=1" in notes(started), 10, "READY=1")
    (tmp_path / "www.toml").write_text('wpath = "relative"\n')
    started.reload()
    wait_for(lambda: any("reload failed" in n for n in notes(started)), 10, "reload failed")
    assert "RELOADING=1" in notes(started)
    (src / "after-bad-reload").write_text("still mirrored")
    wait_for(lambda: (dst / "after-bad-reload").exists(), 10, "sync on the old config")
    started.assert_alive()
    second = tmp_path / "second"
    write_config(tmp_path / "www.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                 rexcludes=["*.skip"])
    ready_before = notes(started).count("READY=1")
    started.reload()
    wait_for(lambda: notes(started).count("READY=1") > ready_before, 10, "READY=1 again")
    (src / "x.skip").write_text("excluded now")
    (src / "y.keep").write_text("kept")
    wait_for(lambda: (dst / "y.keep").exists(), 10, "sync on the new config")
    assert not (dst / "x.skip").exists()
    assert not any("reload failed" in n for n in notes(started)[-1:])
    assert not second.exists()


def test_sigterm_sends_stopping_and_exits_zero(started: Daemon) -> None:
    wait_for(lambda: "READY=1" in notes(started), 10, "READY=1")
    assert started.stop() < 5
    assert "STOPPING=1" in notes(started)


def test_config_error_exits_78(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('wpath = "relative"\nrpath = "/"\nrnodes = ["x"]\n')
    done = run_inosync("-c", str(cfg))
    assert done.returncode == 78
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{cfg}: ") for line in lines)


def test_watch_limit_gives_the_sysctl_to_raise(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for index in range(60):
        (src / f"d{index}").mkdir(parents=True)
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(tmp_path / "dst"),
                       rnodes=[""], watcher="inotify")  # "auto" would hand over to fanotify
    limit_file = Path("/proc/sys/fs/inotify/max_user_watches")
    if os.geteuid() != 0:
        pytest.skip("needs root to lower fs.inotify.max_user_watches")
    old = limit_file.read_text()
    used = sum(_watches(fd) for fd in Path("/proc").glob("*/fdinfo/*"))
    limit_file.write_text(str(used + 20))
    try:
        done = run_inosync("-c", str(cfg), timeout=30)
    finally:
        limit_file.write_text(old)
    assert done.returncode == 1, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert "out of inotify watches: 61 directories" in message, message
    assert "sysctl -w fs.inotify.max_user_watches=" in message
    assert not (tmp_path / "dst").exists()


def _watches(fdinfo: Path) -> int:
    try:
        return fdinfo.read_text().count("inotify wd:")
    except OSError:
        return 0


def test_missing_wpath_exits_1_so_systemd_retries(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "w.toml", wpath=str(tmp_path / "not-mounted-yet"),
                       rpath=str(tmp_path / "dst"), rnodes=[""])
    done = run_inosync("-c", str(cfg))
    assert done.returncode == 1
    assert "not-mounted-yet is missing" in done.stderr
    checked = run_inosync("check", "-c", str(cfg))
    assert checked.returncode == 78 and "is not an existing directory" in checked.stderr


def test_stop_sends_what_is_pending_before_exiting(tmp_path: Path) -> None:
    src, dst, cfg = local_mirror(tmp_path)
    daemon = Daemon(tmp_path, cfg).start()
    try:
        wait_for(lambda: "READY=1" in notes(daemon), 10, "READY=1")
        for index in range(200):
            (src / f"f{index}").write_text(str(index))
        daemon.stop()
    finally:
        daemon.close()
    assert sorted(os.listdir(dst)) == sorted(os.listdir(src))
