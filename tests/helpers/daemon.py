"""Run the real inosync daemon as a subprocess and listen to it like systemd would."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# Where `python3 -m inosync` is imported from: this checkout, or INOSYNC_TEST_TREE (e.g. an
# exported commit, to test it while the working tree is being edited).
CODE = Path(os.environ.get("INOSYNC_TEST_TREE") or REPO)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (str, os.PathLike)):
        return json.dumps(os.fspath(v))  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table, e.g. one node's own settings in rnodes
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def write_config(path: Path, **keys: Any) -> Path:
    """Write a TOML config; keys whose value is None are left out."""
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items() if v is not None))
    return path


def node_with_extras(top: Path, source_files: dict[str, str], extras: int,
                     config_name: str = "w.toml", **keys: Any) -> tuple[Path, Path, Path]:
    """A local mirror whose node holds `extras` files the source does not: src, dst and
    the config (a full sync would delete them, bound permitting)."""
    src, dst = top / "src", top / "dst"
    src.mkdir()
    dst.mkdir()
    for name, text in source_files.items():
        (src / name).write_text(text)
    for index in range(extras):
        (dst / f"old{index}").write_text("only on the node")
    config = write_config(top / config_name, wpath=str(src), rpath=str(dst), rnodes=[""],
                          **keys)
    return src, dst, config


def logging_rsync(top: Path, fail_first: str = "") -> tuple[Path, Path]:
    """(an `rsync` key's value, the file it appends one line per run to): a script that
    logs its argv, then is the real rsync. With `fail_first`, the first run whose argv
    holds those words exits 12 instead, as if the node's connection broke."""
    runs, script = top / "rsync-runs", top / "rsync-logged"
    failing = ""
    if fail_first:
        flag = top / "rsync-failed-once"
        failing = (f'case "$*" in *{shlex.quote(fail_first)}*) [ -e {shlex.quote(str(flag))} ] '
                   f'|| {{ touch {shlex.quote(str(flag))}; exit 12; }};; esac\n')
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(runs))}\n'
                      f'{failing}exec rsync "$@"\n')
    script.chmod(0o755)
    return script, runs


def inosync_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "inosync", *args]


def inosync_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(CODE) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                     else "")
    for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID",
              "RUNTIME_DIRECTORY", "LISTEN_FDS"):
        env.pop(k, None)
    env.update(extra or {})
    return env


def run_inosync(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a short inosync command (check, --version, ...) to completion."""
    return subprocess.run(inosync_argv(*args), env=inosync_env(), cwd=CODE, text=True,
                          errors="replace", capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class Daemon:
    """One `python3 -m inosync -c CFG -v` process with a NOTIFY_SOCKET we listen on.

    `prefix` goes before its argv (e.g. nsenter into a mount namespace: it execs, so the
    pid stays the daemon's)."""

    def __init__(self, workdir: Path, config: Path, args: Sequence[str] = ("-v",),
                 env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> None:
        """`prefix` runs the daemon through another command that execs it in place (so the
        pid stays the daemon's), e.g. `unshare` for a private mount namespace."""
        self.workdir = workdir
        self.prefix = list(prefix)
        self.config = config
        self.args = list(args)
        self.log_path = workdir / "inosync.log"
        self.messages: list[tuple[float, str]] = []  # (monotonic time, one notify assignment)
        self._cond = threading.Condition()
        # AF_UNIX paths are short (108 bytes): keep the socket in its own dir under /tmp.
        self._sockdir = tempfile.mkdtemp(prefix="inosync-notify-", dir="/tmp")
        self.notify_path = os.path.join(self._sockdir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.notify_path)
        self._sock.settimeout(0.2)
        self._closing = False
        self._reader = threading.Thread(target=self._read_notify, daemon=True)
        self._reader.start()
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_env = env or {}
        self.started_at = 0.0

    # ---- process ----

    def start(self) -> Daemon:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, *inosync_argv("-c", str(self.config), *self.args)],
                env=inosync_env({"NOTIFY_SOCKET": self.notify_path, **self.extra_env}),
                cwd=CODE, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self) -> None:
        if not self.alive():
            assert self.proc is not None
            pytest.fail(f"inosync died with exit status {self.proc.returncode}\n"
                        + self.log_tail(), pytrace=False)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def reload(self) -> None:
        self.signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0, check: bool = True) -> float:
        """SIGTERM; expect exit 0 within timeout (else SIGKILL and fail); return seconds taken."""
        if self.proc is None:
            return 0.0
        if self.proc.poll() is not None:
            if check and self.proc.returncode != 0:
                pytest.fail(f"inosync had already exited with {self.proc.returncode}\n"
                            + self.log_tail(), pytrace=False)
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            if check:
                pytest.fail(f"inosync did not exit within {timeout}s of SIGTERM\n"
                            + self.log_tail(), pytrace=False)
            return time.monotonic() - t0
        took = time.monotonic() - t0
        if check and rc != 0:
            pytest.fail(f"inosync exited with {rc} after SIGTERM (expected 0)\n"
                        + self.log_tail(), pytrace=False)
        return took

    def kill(self) -> None:
        """SIGKILL the daemon and anything it left behind (its rsync/ssh children)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        from .servers import descendants

        kids = descendants(self.proc.pid)
        self.proc.kill()
        self.proc.wait()
        for p in kids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.kill()
        self._closing = True
        self._reader.join(2)
        self._sock.close()
        shutil.rmtree(self._sockdir, ignore_errors=True)

    def children(self) -> list[tuple[int, bytes]]:
        """(pid, argv0 basename) of the daemon's live descendants."""
        from .servers import descendants

        out = []
        for p in descendants(self.pid):
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            out.append((p, os.path.basename(argv[0])))
        return out

    # ---- log ----

    def log(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        text = self.log().splitlines()
        return f"--- inosync log ({self.log_path}), last {lines} lines ---\n" + "\n".join(
            text[-lines:])

    def wait_log(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if predicate(text):
                return text
            self.assert_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what} in the log\n"
                            + self.log_tail(), pytrace=False)
            time.sleep(0.02)

    # ---- sd_notify ----

    def _read_notify(self) -> None:
        while not self._closing:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self._cond:
                for line in data.decode("utf-8", "replace").split("\n"):
                    if line:
                        self.messages.append((now, line))
                self._cond.notify_all()

    def values(self, key: str) -> list[str]:
        prefix = key + "="
        with self._cond:
            return [m[len(prefix):] for _, m in self.messages if m.startswith(prefix)]

    @property
    def status(self) -> str:
        values = self.values("STATUS")
        return values[-1] if values else ""

    def count(self, message: str) -> int:
        with self._cond:
            return sum(1 for _, m in self.messages if m == message)

    def wait_message(self, predicate: Callable[[list[str]], bool], timeout: float,
                     what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate([m for _, m in self.messages]):
                if self.proc is not None and self.proc.poll() is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
            else:
                return
        self.assert_alive()
        pytest.fail(f"timed out after {timeout}s waiting for {what}; notify messages so far: "
                    f"{[m for _, m in self.messages][-15:]}\n" + self.log_tail(), pytrace=False)

    def wait_ready(self, timeout: float = 30.0, count: int = 1) -> float:
        """Wait for the count-th READY=1; return seconds since start."""
        self.wait_message(lambda ms: ms.count("READY=1") >= count, timeout,
                          f"READY=1 (#{count})")
        return time.monotonic() - self.started_at

    def wait_status(self, predicate: Callable[[str], bool], timeout: float = 30.0,
                    what: str = "STATUS") -> str:
        def latest_ok(ms: list[str]) -> bool:
            statuses = [m[7:] for m in ms if m.startswith("STATUS=")]
            return bool(statuses) and predicate(statuses[-1])

        self.wait_message(latest_ok, timeout, what)
        return self.status

    def wait_in_sync(self, timeout: float = 30.0) -> str:
        return self.wait_status(lambda s: s.startswith("in sync"), timeout, "STATUS=in sync")
