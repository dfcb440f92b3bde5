"""Monitoring a monitoring system can trust, end to end with the real daemon: a non-root
agent reads the state of root's daemon but not its ssh sockets; a configured instance that
is not running is CRITICAL; `inosync list` shows configured and running side by side; and
no command leaves a traceback when its reader goes away."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Daemon, inosync_argv, inosync_env, write_config
from helpers.daemon import CODE

NOBODY = 65534
# /root is 0700 here, so an unprivileged user needs the system's interpreter (which may lack
# inotify_simple: status, list and --help must not need it).
SYSTEM_PYTHON = "/usr/bin/python3"


def as_nobody(*args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         python, "-m", "inosync", *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(CODE), "LANG": "C.UTF-8",
             **(env or {})},
        cwd="/", capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(inosync_argv(*args), env=inosync_env(env), cwd=CODE, text=True,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


def test_a_monitoring_user_reads_roots_state_but_not_its_ssh_sockets(sshd, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "f").write_text("x")
    name = f"monitored-{os.getpid()}"
    cfg = write_config(tmp_path / f"{name}.toml", wpath=str(src), rpath=str(dst),
                       rnodes=[sshd.rnode], rsh=sshd.rsh)
    daemon = Daemon(tmp_path, cfg).start()
    try:
        daemon.wait_in_sync(30)
        runtime = Path("/run/inosync") / name
        seen = as_nobody("status", name)
        assert seen.returncode == 0, seen.stdout + seen.stderr
        assert seen.stdout.startswith("INOSYNC OK - 1/1 nodes in sync"), seen.stdout
        assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o755
        assert stat.S_IMODE(os.stat(runtime / "status.json").st_mode) == 0o644
        sockets = runtime / "ssh"
        assert stat.S_IMODE(os.stat(sockets).st_mode) == 0o700
        assert any(entry.endswith(".sock") for entry in os.listdir(sockets)), \
            "the ssh master's socket is not in the private directory"
        assert not [e for e in os.listdir(runtime) if e.endswith(".sock")]
        peek = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                               "--clear-groups", "ls", str(sockets)], capture_output=True,
                              text=True, timeout=30)
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
        private = tmp_path / "etc"  # a config dir this user cannot list: not silence
        private.mkdir(mode=0o700)
        blind = as_nobody("status", env={"INOSYNC_CONFIG_DIR": str(private)})
        head = blind.stdout.splitlines()[0]  # other instances may run on this host
        assert blind.returncode in (2, 3) and f"cannot list {private}" in head, blind.stdout
    finally:
        daemon.stop()
        daemon.close()


def test_a_configured_instance_that_is_not_running_is_critical_and_listed(
        tmp_path: Path) -> None:
    configs, units = tmp_path / "etc", tmp_path / "units"
    configs.mkdir()
    (units / "multi-user.target.wants").mkdir(parents=True)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    live, dead = f"live-{os.getpid()}", f"dead-{os.getpid()}"
    cfg = write_config(configs / f"{live}.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    write_config(configs / f"{dead}.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    (units / "multi-user.target.wants" / f"inosync@{live}.service").symlink_to("/dev/null")
    env = {"INOSYNC_CONFIG_DIR": str(configs), "INOSYNC_UNIT_DIR": str(units)}
    daemon = Daemon(tmp_path, cfg).start()
    try:
        daemon.wait_in_sync(30)
        checked = run("status", env=env)
        assert checked.returncode == 2, checked.stdout + checked.stderr  # CRITICAL
        head = checked.stdout.splitlines()[0]
        assert head.startswith("INOSYNC CRITICAL - ") and f"{dead} not running" in head, head
        assert f"{dead}: not running" in checked.stdout and "it should run" in checked.stdout
        assert run("status", live, env=env).returncode == 0
        assert run("status", dead, env=env).returncode == 3  # named: UNKNOWN, as before
        listed = run("list", env=env)
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
        assert rows[live][1:4] == [str(cfg), "yes", "pid"], listed.stdout
        assert rows[dead][1:4] == [str(configs / f"{dead}.toml"), "no", "no"], listed.stdout
    finally:
        daemon.stop()
        daemon.close()


@pytest.mark.parametrize("args", [["status"], ["list"], ["status", "--json"]])
def test_a_reader_that_goes_away_leaves_no_traceback(args: list[str]) -> None:
    """`inosync status | head` with head gone: the write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        done = subprocess.run(inosync_argv(*args), env=inosync_env(), cwd=CODE,
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141
